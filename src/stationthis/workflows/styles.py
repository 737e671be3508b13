"""Styles and wildcards: saving them (a user's own; a group's by its admins — the *caller*
checks that, as for group settings, since the platform knows its admins) and using them in
a request.

Using them, where make-image prepares a request's options (once per request):

1. ``--style noir`` in the prompt (or a request's ``style`` option, the studio's select)
   names a style: the user's, else the group's of that name. Its template takes the prompt,
   its negative is added to the request's, and its defaults replace the request's options
   for the inputs the tool has (a style can serve several tools; the others are skipped),
   each checked as that input is. Parameters written in the prompt (``--steps 20``) still
   win, and tier limits bring a style's values within range as they do a setting's.
2. Once the inputs are resolved (the seed made concrete), the wildcards in the prompt and
   negative are drawn — ``{fox|wolf}`` and ``__colours__`` from the user's lists, else the
   group's — from a generator seeded by the job's seed: the same seed draws the same. The
   draws are recorded in the job's params (``_wildcards``, with ``_style``) and shown on
   its reproducibility card; the prompt that runs is the drawn one.

An unknown style or list is an ``InvalidInput`` naming the ones there are: it is raised
before anything is priced or held, so it costs nothing.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, replace
from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.styles import Style, StyleBook, WildcardList, check_name, make_style
from stationthis.core.tools import Tool
from stationthis.core.users import Account
from stationthis.core.wildcards import Item, expand, has_wildcards, lists_named
from stationthis.workflows.prompt_params import Inline
from stationthis.workflows.prompt_params import _ratio as ratio_of

DRAWN_KEY, STYLE_KEY = "_wildcards", "_style"


@dataclass(frozen=True)
class Shelf:
    """What a user can use where they are: their own styles and lists, and the group's."""

    styles: list[Style]
    lists: list[WildcardList]
    group_styles: list[Style]
    group_lists: list[WildcardList]

    @property
    def style_names(self) -> list[str]:
        return sorted({s.name for s in [*self.styles, *self.group_styles]})

    @property
    def list_names(self) -> list[str]:
        return sorted({s.name for s in [*self.lists, *self.group_lists]})


class Styles:
    def __init__(self, book: StyleBook) -> None:
        self.book = book

    # ----- what there is -----------------------------------------------------------------

    async def shelf(self, user: Account, group: Account | None = None) -> Shelf:
        theirs_s = await self.book.styles(group.id) if group is not None else []
        theirs_l = await self.book.lists(group.id) if group is not None else []
        return Shelf(await self.book.styles(user.id), await self.book.lists(user.id),
                     theirs_s, theirs_l)

    async def find(self, user: Account, group: Account | None, name: str) -> Style:
        """The user's style of that name, else the group's; else an ``InvalidInput`` that
        lists the names there are."""
        key = name.strip().lower()
        for account in (user, group):
            if account is not None:
                style = await self.book.find_style(account.id, key)
                if style is not None:
                    return style
        names = (await self.shelf(user, group)).style_names
        known = ", ".join(names) if names else "none yet — save one with /style or the web"
        raise InvalidInput(f"there is no style {name!r} (your styles: {known})",
                           input="style", style=name)

    async def own_style(self, account: Account, name: str) -> Style:
        style = await self.book.find_style(account.id, check_name(name))
        if style is None:
            raise NotFound(f"no style named {name!r}")
        return style

    async def own_list(self, account: Account, name: str) -> WildcardList:
        found = await self.book.find_list(account.id, check_name(name, "a wildcard list"))
        if found is None:
            raise NotFound(f"no wildcard list named {name!r}")
        return found

    # ----- changing them ----------------------------------------------------------------

    async def save_style(self, owner: Account, name: Any, template: Any, negative: Any = None,
                         defaults: Any = None, *, by: Account | None = None) -> Style:
        """Save ``owner``'s style (a user's, or a group's: then the caller has checked that
        ``by`` is an admin of it; ``None``: an operator)."""
        _allowed(owner, by)
        return await self.book.save_style(owner.id, make_style(name, template, negative,
                                                               defaults))

    async def delete_style(self, owner: Account, name: str, *,
                           by: Account | None = None) -> None:
        _allowed(owner, by)
        if not await self.book.delete_style(owner.id, check_name(name)):
            raise NotFound(f"no style named {name!r}")

    async def save_list(self, owner: Account, name: Any, items: Any, *,
                        by: Account | None = None) -> WildcardList:
        _allowed(owner, by)
        return await self.book.save_list(owner.id, name, items)

    async def delete_list(self, owner: Account, name: str, *,
                          by: Account | None = None) -> None:
        _allowed(owner, by)
        if not await self.book.delete_list(owner.id, check_name(name, "a wildcard list")):
            raise NotFound(f"no wildcard list named {name!r}")

    # ----- using them --------------------------------------------------------------------

    async def lists_for(self, user: Account, group: Account | None
                        ) -> dict[str, list[Item]]:
        """The lists a prompt can use: the group's, with the user's of the same name over
        them."""
        found: dict[str, list[Item]] = {}
        for account in (group, user):
            if account is not None:
                for wl in await self.book.lists(account.id):
                    found[wl.name] = wl.items
        return found

    async def draw(self, user: Account, group: Account | None, tool: Tool,
                   params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the wildcards of the prompt and negative drawn and recorded."""
        texts = {k: str(params[k]) for k in ("prompt", "negative")
                 if isinstance(params.get(k), str) and has_wildcards(str(params[k]))}
        if not texts:
            return params
        needs_lists = any(lists_named(t) for t in texts.values())
        lists = await self.lists_for(user, group) if needs_lists else {}
        seed = params.get("seed")
        rng = random.Random(f"wildcards:{seed if seed is not None else secrets.randbits(31)}")
        out, drawn = dict(params), []
        for key, text in texts.items():
            value, picks = expand(text, lists, rng)
            out[key] = tool.inputs[key].check(value) if key in tool.inputs else value
            drawn += [{**d.to_dict(), "in": key} for d in picks]
        out[DRAWN_KEY] = drawn
        return out


def apply_style(style: Style, tool: Tool, options: dict[str, Any],
                inline: Inline | None) -> tuple[dict[str, Any], Inline | None, set[str]]:
    """``options`` with ``style`` applied, the prompt's parameters with its ratio (when the
    prompt gave none), and the inputs the style set."""
    if "prompt" not in tool.inputs:
        raise InvalidInput(f"a style does not apply to {tool.name}: it takes no prompt",
                           input="style")
    out = dict(options)
    out["prompt"] = style.apply(str(out.get("prompt") or ""))
    if style.negative and "negative" in tool.inputs:
        before = str(out.get("negative") or "").strip(" ,")
        out["negative"] = f"{before}, {style.negative}" if before else style.negative
    typed = set(inline.options) if inline is not None else set()
    styled: set[str] = set()
    for key, value in style.defaults.items():
        if key == "ar":
            if inline is None or inline.ratio is None:
                base = inline if inline is not None else Inline(str(out["prompt"]))
                inline = replace(base, ratio=ratio_of(str(value)))
            continue
        spec = tool.inputs.get(key)
        if spec is None or spec.type == "image" or key in typed:
            continue
        try:
            out[key] = spec.check(value)
        except InvalidInput as exc:
            raise InvalidInput(f"the style {style.name!r} sets {key}: {exc.message}",
                               input="style") from None
        styled.add(key)
    return out, inline, styled


def _allowed(owner: Account, by: Account | None) -> None:
    if by is not None and by.banned:
        raise Forbidden("This account is blocked.")
    if owner.kind != "group" and by is not None and by.id != owner.id:
        raise Forbidden("only its owner can change a user's styles and lists")
