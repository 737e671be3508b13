"""Styles in chat, worded alike on Telegram and Discord: ``/styles`` lists what one can use
where one is (one's own styles and lists, and the group's), ``/style`` shows, saves or
removes one:

    /style noir                                   show it
    /style noir = film noir photo of {prompt}, grainy --no colour --steps 30 --ar 3:2
    /style rm noir                                remove yours
    /style group noir = …   /style group rm noir  the group's (its admins only)

In a definition, ``{prompt}`` marks where the prompt goes (without it the text is a
prefix); ``--no`` is the style's negative and ``--steps``/``--batch``/``--ar`` its defaults,
written as in a prompt. The platform says whether the speaker may change the group's.

Wildcard lists (``__colours__`` in a prompt draws one of them) the same way:

    /wildcards                                    yours and the group's
    /wildcard colours                             show it
    /wildcard colours = red | teal:3 | gold       save it (``:3``: three times as likely)
    /wildcard colours =                           remove it
    /wildcard group colours = …                   the group's (its admins only)"""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.styles import Style, WildcardList, check_name
from stationthis.core.users import Account
from stationthis.platforms.chat.turn import Words
from stationthis.workflows.prompt_params import parse
from stationthis.workflows.services import Services
from stationthis.workflows.styles import Shelf, Styles

GROUP_WORDS = ("group", "server")
NOT_ADMIN = "Only {}'s admins can change its styles."
NOT_ADMIN_LISTS = "Only {}'s admins can change its wildcard lists."
REMOVE_WORDS = ("rm", "remove", "delete")


def flow_of(app: Services) -> Styles:
    if app.styles is None:
        raise InvalidInput("styles are not available here")
    return app.styles


def usage(words: Words) -> str:
    example = "/style noir = film noir photo of {prompt}, grainy --no colour"
    return (f"Save a style: {words.command(example)}"
            f"\nUse it: {words.command(words.make + 'a fox at dusk --style noir')}"
            f"\nWildcards in any prompt: {{fox|wolf|owl}}, {{fox:3|wolf}} (weighted) or "
            f"__colours__ (a saved list: {words.command('/wildcard colours = red | teal:3')})")


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
            f"{words.command('__' + w.name + '__')} ({len(w.items)})" for w in lists))
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


def whose_shelf(names: list[str], user: Account, group: Account | None, words: Words, *,
                admin: bool, what: str, not_admin: str) -> tuple[Account, str, list[str]]:
    """Whose styles or lists a command changes: the group's when its first word says so
    (only its admins may), else the speaker's; with the words left after that one."""
    if not names or names[0].lower() not in GROUP_WORDS:
        return user, "", names
    if group is None:
        raise InvalidInput(f"{words.group.capitalize()}'s {what} are changed in {words.group}.")
    if not admin:
        raise Forbidden(not_admin.format(words.group))
    return group, f" ({words.group})", names[1:]


async def style_command(app: Services, user: Account, group: Account | None, text: str,
                        words: Words, *, admin: bool) -> str:
    """``/style …`` (the text after the command); ``admin``: the speaker may change the
    group's styles."""
    flow = flow_of(app)
    head, sep, body = text.partition("=")
    names = head.split()
    owner, whose, names = whose_shelf(names, user, group, words, admin=admin,
                                      what="styles", not_admin=NOT_ADMIN)
    if not names:
        return await list_styles(app, user, group, words)
    if names[0].lower() in REMOVE_WORDS and len(names) == 2 and not body:
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


# ----- wildcard lists ---------------------------------------------------------------------


def wildcards_usage(words: Words) -> str:
    return (f"Save a list: {words.command('/wildcard colours = red | teal:3 | gold')} "
            "(:3 makes one three times as likely)"
            f"\nUse it: {words.command(words.make + 'a __colours__ fox')}"
            f"\nRemove it: {words.command('/wildcard colours =')}")


def list_text(found: WildcardList, words: Words, whose: str = "") -> str:
    items = " | ".join(i.value if i.weight == 1 else f"{i.value}:{i.weight:g}"
                       for i in found.items)
    count = f"{len(found.items)} item" + ("s" if len(found.items) != 1 else "")
    return (f"🃏 {words.command('__' + found.name + '__')}{whose} — {count}: {items}"
            f"\nUse it: {words.command(words.make + 'a __' + found.name + '__ fox')}")


def lists_text(shelf: Shelf, words: Words) -> str:
    lines = []
    for title, found in (("🃏 Your wildcard lists", shelf.lists),
                         (f"👥 {words.group.capitalize()}'s wildcard lists", shelf.group_lists)):
        if found:
            lines.append(f"{title}:")
            lines += [f"• {words.command('__' + w.name + '__')} — {_items(w)}" for w in found]
    if not lines:
        lines.append("No wildcard lists yet.")
    return "\n".join([*lines, "", wildcards_usage(words)])


async def list_wildcards(app: Services, user: Account, group: Account | None,
                         words: Words) -> str:
    return lists_text(await flow_of(app).shelf(user, group), words)


async def show_list(app: Services, user: Account, group: Account | None, name: str,
                    words: Words) -> str:
    """The user's list of that name, else the group's (as a prompt would draw it)."""
    flow = flow_of(app)
    for owner, whose in ((user, ""), (group, f" ({words.group})")):
        if owner is not None:
            try:
                return list_text(await flow.own_list(owner, name), words, whose)
            except NotFound:
                pass
    names = (await flow.shelf(user, group)).list_names
    raise NotFound(f"There is no wildcard list {name!r} (yours: "
                   f"{', '.join(names) if names else 'none yet'}).\n" + wildcards_usage(words))


def items_of(text: str) -> list[str]:
    """``red | teal:3 | gold`` (or, without a ``|``, ``red, teal:3, gold``) → the items."""
    parts = text.split("|") if "|" in text else text.replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


async def save_or_remove(app: Services, owner: Account, name: str, values: str, *,
                         by: Account, whose: str, words: Words) -> str:
    """Save ``owner``'s list from ``values``; empty ``values`` removes it."""
    flow = flow_of(app)
    items = items_of(values)
    if not items:
        await flow.delete_list(owner, name, by=by)
        removed = words.command(f"__{check_name(name, 'a wildcard list')}__")
        return f"Removed the wildcard list {removed}{whose}."
    saved = await flow.save_list(owner, name, items, by=by)
    return "Saved. " + list_text(saved, words, whose)


async def wildcard_command(app: Services, user: Account, group: Account | None, text: str,
                           words: Words, *, admin: bool) -> str:
    """``/wildcard …`` (the text after the command); ``admin``: the speaker may change the
    group's lists."""
    head, sep, body = text.partition("=")
    names = head.split()
    owner, whose, names = whose_shelf(names, user, group, words, admin=admin,
                                      what="wildcard lists", not_admin=NOT_ADMIN_LISTS)
    if not names:
        return await list_wildcards(app, user, group, words)
    if len(names) != 1:
        raise InvalidInput("Write /wildcard NAME = one | two | three.\n"
                           + wildcards_usage(words))
    if not sep:
        return await show_list(app, user, group, names[0], words)
    return await save_or_remove(app, owner, names[0], body, by=user, whose=whose, words=words)


def _items(found: WildcardList) -> str:
    text = ", ".join(i.value for i in found.items[:6])
    return text + (f", … ({len(found.items)})" if len(found.items) > 6 else "")
