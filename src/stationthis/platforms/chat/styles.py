"""Styles in chat, worded alike on Telegram and Discord: ``/styles`` lists what one can use
where one is (one's own styles and lists, and the group's), ``/style`` shows, saves or
removes one:

    /style noir                                   show it
    /style noir = film noir photo of {prompt}, grainy --no colour --steps 30 --ar 3:2
    /style rm noir                                remove yours
    /style group noir = …   /style group rm noir  the group's (its admins only)

In a definition, ``{prompt}`` marks where the prompt goes (without it the text is a
prefix); ``--no`` is the style's negative and ``--steps``/``--batch``/``--ar`` its defaults,
written as in a prompt. The platform says whether the speaker may change the group's."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.styles import Style
from stationthis.core.users import Account
from stationthis.platforms.chat.turn import Words
from stationthis.workflows.prompt_params import parse
from stationthis.workflows.services import Services
from stationthis.workflows.styles import Shelf, Styles

GROUP_WORDS = ("group", "server")
NOT_ADMIN = "Only {}'s admins can change its styles."


def flow_of(app: Services) -> Styles:
    if app.styles is None:
        raise InvalidInput("styles are not available here")
    return app.styles


def usage(words: Words) -> str:
    example = "/style noir = film noir photo of {prompt}, grainy --no colour"
    return (f"Save a style: {words.command(example)}"
            f"\nUse it: {words.command(words.make + 'a fox at dusk --style noir')}"
            f"\nWildcards in any prompt: {{fox|wolf|owl}}, {{fox:3|wolf}} (weighted) or "
            "__colours__ (a saved list; lists are kept on the web and with the CLI)")


def shelf_text(shelf: Shelf, words: Words) -> str:
    lines = []
    for title, found in (("🎨 Your styles", shelf.styles),
                         (f"👥 {words.group.capitalize()}'s styles", shelf.group_styles)):
        if found:
            lines.append(f"{title}:")
            lines += [f"• {words.strong(s.name)} — {_short(s)}" for s in found]
    lists = [*shelf.lists, *shelf.group_lists]
    if lists:
        lines.append("🃏 Wildcard lists: " + ", ".join(
            f"__{w.name}__ ({len(w.items)})" for w in lists))
    if not lines:
        lines.append("No styles yet.")
    return "\n".join([*lines, "", usage(words)])


def style_text(style: Style, words: Words, whose: str = "") -> str:
    lines = [f"🎨 {words.strong(style.name)}{whose}: {style.template}"]
    if style.negative:
        lines.append(f"negative: {style.negative}")
    if style.defaults:
        lines.append(" · ".join(f"{k} {v}" for k, v in style.defaults.items()))
    lines.append(f"Use it: {words.command(words.make + 'a fox --style ' + style.name)}")
    return "\n".join(lines)


async def list_styles(app: Services, user: Account, group: Account | None, words: Words) -> str:
    return shelf_text(await flow_of(app).shelf(user, group), words)


async def style_command(app: Services, user: Account, group: Account | None, text: str,
                        words: Words, *, admin: bool) -> str:
    """``/style …`` (the text after the command); ``admin``: the speaker may change the
    group's styles."""
    flow = flow_of(app)
    head, sep, body = text.partition("=")
    names = head.split()
    owner, whose = user, ""
    if names and names[0].lower() in GROUP_WORDS:
        if group is None:
            raise InvalidInput(f"{words.group.capitalize()}'s styles are changed in "
                               f"{words.group}.")
        if not admin:
            raise Forbidden(NOT_ADMIN.format(words.group))
        owner, whose, names = group, f" ({words.group})", names[1:]
    if not names:
        return await list_styles(app, user, group, words)
    if names[0].lower() in ("rm", "remove", "delete") and len(names) == 2 and not body:
        await flow.delete_style(owner, names[1], by=user)
        return f"Removed the style {names[1]}{whose}."
    if len(names) != 1:
        raise InvalidInput("Write /style NAME = what it adds, e.g. " + usage(words))
    if not sep:
        style = await flow.find(user, group, names[0])
        return style_text(style, words)
    template, negative, defaults = definition(body)
    saved = await flow.save_style(owner, names[0], template, negative, defaults,
                                  by=user)
    return "Saved. " + style_text(saved, words, whose)


def definition(text: str) -> tuple[str, str | None, dict[str, Any]]:
    """A style written as a prompt: its text, ``--no`` and the defaults (``--steps``,
    ``--batch``, ``--ar``)."""
    found = parse(text.strip())
    if found.style is not None or "seed" in found.options:
        raise InvalidInput("a style cannot name a style or fix the seed")
    defaults: dict[str, Any] = {k: _number(v) for k, v in found.options.items()}
    if found.ratio is not None:
        defaults["ar"] = f"{found.ratio[0]}:{found.ratio[1]}"
    return found.prompt, found.no, defaults


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _short(style: Style) -> str:
    return style.template if len(style.template) <= 60 else style.template[:59] + "…"
