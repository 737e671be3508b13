"""Settings: a user's defaults for generation, a group's defaults for its members, reset.

Value order for each input of a request: explicit option → the user's settings → the group's
defaults (requests made in that group only) → the tool's default (docs/decisions/0009).
Values are checked when they are set, against the tool's input bounds and the tier's limits
(``workflows/limits.py``); a refusal names the allowed range.

Group defaults: the *caller* checks that the user changing them is an admin of that group
(a Telegram group's or Discord guild's admins are known to the platform, not to us).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stationthis.core.errors import Forbidden, InvalidInput, NotFound
from stationthis.core.moderation import PromptFilter
from stationthis.core.preferences import Preferences
from stationthis.core.tools import SEED_MAX, Tool, ToolInput, ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.limits import Limits, TierPolicy

DEFAULT_TOOL = "make"
TXT2IMG = "txt2img"
# Settings that fill tool inputs of the same name; ``tool`` picks the default txt2img tool.
PARAM_KEYS = ("width", "height", "steps", "cfg", "strength", "seed", "batch", "negative",
              "checkpoint")
# ``notify_everywhere``: completion notices also on the user's other linked platforms.
EVERYWHERE = "notify_everywhere"
KEYS = (*PARAM_KEYS, "tool", EVERYWHERE)
_TYPES = {"width": "int", "height": "int", "steps": "int", "cfg": "float", "strength": "float",
          "seed": "int", "batch": "int", "negative": "str", "checkpoint": "str", "tool": "str",
          EVERYWHERE: "bool"}
_YES, _NO = ("on", "yes", "true", "1"), ("off", "no", "false", "0")
_SIZE = re.compile(r"\s*(\d+)\s*(?:[x×*,]|\s)\s*(\d+)\s*", re.IGNORECASE)
_STR_MAX = 2000


@dataclass(frozen=True)
class SettingView:
    key: str
    value: Any  # the effective value; None when nothing sets it
    source: str  # "user" | "group" | "default"
    low: float | None = None  # the allowed range (numbers)
    high: float | None = None
    tier: str | None = None  # the tier whose limit sets the range, where one does
    choices: tuple[str, ...] | None = None  # the allowed values (tool)


@dataclass(frozen=True)
class SettingsView:
    tier: str  # the account's tier
    tool: str  # the default txt2img tool
    max_pixels: int
    items: dict[str, SettingView]

    def __getitem__(self, key: str) -> SettingView:
        return self.items[key]


async def layers(
    preferences: Preferences, user: Account, group: Account | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The user's settings and the group's defaults (empty outside a group)."""
    mine = await preferences.get(user.id)
    theirs = await preferences.get(group.id) if group is not None and group.id != user.id else {}
    return mine, theirs


def preferred_tool(tools: ToolRegistry, *prefs: dict[str, Any]) -> Tool:
    """The first preferred ``tool`` that still exists and is txt2img, else ``make``."""
    for layer in prefs:
        name = layer.get("tool")
        if isinstance(name, str):
            try:
                tool = tools.get(name)
            except NotFound:  # removed since it was chosen
                continue
            if tool.category == TXT2IMG:
                return tool
    return tools.get(DEFAULT_TOOL)


class SettingsWorkflow:
    def __init__(self, tools: ToolRegistry, preferences: Preferences, tiers: TierPolicy,
                 prompt_filter: PromptFilter | None = None) -> None:
        self.tools = tools
        self.preferences = preferences
        self.tiers = tiers
        self.prompt_filter = prompt_filter or PromptFilter()

    # ----- users ---------------------------------------------------------------------------

    async def show(self, user: Account, group: Account | None = None) -> SettingsView:
        """Each setting's effective value for requests by ``user`` (in ``group``), where it
        comes from, and its allowed range on the user's tier."""
        mine, theirs = await layers(self.preferences, user, group)
        return self._view(user, self.tiers.limits(user, group), [("user", mine),
                                                                ("group", theirs)])

    async def set(self, user: Account, key: str, value: Any) -> SettingsView:
        """Set one of the user's settings (``size`` sets width and height)."""
        mine = await self.preferences.get(user.id)
        changes = self._check(mine, self.tiers.limits(user), key, value)
        for name, new in changes.items():
            await self.preferences.set(user.id, name, new)
        return await self.show(user)

    async def reset(self, user: Account, key: str | None = None) -> SettingsView:
        """Forget one of the user's settings (``size``: both), or all of them."""
        await self._reset(user.id, key)
        return await self.show(user)

    # ----- groups --------------------------------------------------------------------------

    async def show_group(self, group: Account) -> SettingsView:
        """The group's defaults for its members (over the tool defaults)."""
        prefs = await self.preferences.get(self._group(group).id)
        return self._view(group, self.tiers.limits(group), [("group", prefs)])

    async def set_group(
        self, admin_user: Account | None, group: Account, key: str, value: Any
    ) -> SettingsView:
        """Set a default for the group's members. The caller has checked that ``admin_user``
        is an admin of ``group`` on its platform (``None``: an operator, e.g. the CLI).
        Values are checked against the group's tier."""
        self._admin(admin_user)
        if key.strip().lower() == EVERYWHERE:
            raise InvalidInput(f"{EVERYWHERE} is each member's own choice, not a group default",
                               input="key")
        prefs = await self.preferences.get(self._group(group).id)
        for name, new in self._check(prefs, self.tiers.limits(group), key, value).items():
            await self.preferences.set(group.id, name, new)
        return await self.show_group(group)

    async def reset_group(
        self, admin_user: Account | None, group: Account, key: str | None = None
    ) -> SettingsView:
        """Forget one of the group's defaults, or all. The caller checks admin rights."""
        self._admin(admin_user)
        await self._reset(self._group(group).id, key)
        return await self.show_group(group)

    # ----- internals -----------------------------------------------------------------------

    async def _reset(self, account_id: str, key: str | None) -> None:
        if key is None:
            await self.preferences.reset(account_id)
            return
        for name in _names(key):
            await self.preferences.unset(account_id, name)

    def _check(self, current: dict[str, Any], limits: Limits, key: str,
               value: Any) -> dict[str, Any]:
        """The preferences to store for ``key = value`` (None: remove), or InvalidInput."""
        names = _names(key)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            return dict.fromkeys(names)  # an empty value clears the setting
        tool = preferred_tool(self.tools, current)
        if names == ("width", "height"):
            width, height = _parse_size(value)
            changes = {"width": self._number("width", width, tool, limits),
                       "height": self._number("height", height, tool, limits)}
        elif names == ("tool",):
            return {"tool": self._tool(str(value))}
        elif _TYPES[names[0]] == "bool":
            return {names[0]: _switch(names[0], value)}
        elif _TYPES[names[0]] == "str":
            return {names[0]: self._text(names[0], value, tool)}
        else:
            changes = {names[0]: self._number(names[0], value, tool, limits)}
        if "width" in changes or "height" in changes:
            width = changes.get("width", current.get("width", _default(tool, "width")))
            height = changes.get("height", current.get("height", _default(tool, "height")))
            if width and height and int(width) * int(height) > limits.max_pixels:
                raise InvalidInput(limits.pixels_refusal(int(width), int(height)), input="size")
        return changes

    def _number(self, key: str, value: Any, tool: Tool, limits: Limits) -> int | float:
        if key == "seed" and str(value).lower() == "random":
            return -1
        number: int | float = ToolInput(key, _TYPES[key]).check(value)
        spec = self._spec(key, tool)
        if key == "seed" and spec is None:
            spec = ToolInput("seed", "int", min=-1, max=SEED_MAX)
        bound = limits.bound(key, spec)
        if not bound.allows(number):
            raise InvalidInput(bound.refusal(number), input=key, min=bound.low, max=bound.high)
        return number

    def _text(self, key: str, value: Any, tool: Tool) -> str:
        spec = self._spec(key, tool)
        limit = spec.max_length if spec is not None and spec.max_length else _STR_MAX
        text = str(ToolInput(key, "str", max_length=limit).check(value))
        if key == "negative":
            self.prompt_filter.check(text, field="negative")
        return text

    def _tool(self, name: str) -> str:
        allowed = sorted(t.name for t in self.tools.by_category(TXT2IMG))
        if name not in allowed:
            raise InvalidInput(
                f"tool must be a text-to-image tool: {', '.join(allowed)} (got {name!r})",
                input="tool",
            )
        return name

    def _spec(self, key: str, tool: Tool) -> ToolInput | None:
        """The input a setting fills: the default tool's, else the first generation tool's
        that has it (``strength`` lives in img2img tools)."""
        if key in tool.inputs:
            return tool.inputs[key]
        for other in [*self.tools.by_category(TXT2IMG), *self.tools.by_category("img2img")]:
            if key in other.inputs:
                return other.inputs[key]
        return None

    def _view(self, account: Account, limits: Limits,
              sources: list[tuple[str, dict[str, Any]]]) -> SettingsView:
        tool = preferred_tool(self.tools, *(prefs for _, prefs in sources))
        items: dict[str, SettingView] = {}
        for key in KEYS:
            source, value = "default", None
            for name, prefs in sources:
                if prefs.get(key) not in (None, ""):
                    source, value = name, prefs[key]
                    break
            if _TYPES[key] == "bool":
                items[key] = SettingView(key, bool(value), source, choices=("on", "off"))
                continue
            if key == "tool":
                choices = tuple(sorted(t.name for t in self.tools.by_category(TXT2IMG)))
                source = source if value == tool.name else "default"
                items[key] = SettingView(key, tool.name, source, choices=choices)
                continue
            spec = self._spec(key, tool)
            if source == "default":
                value = spec.default if spec is not None else None
            if _TYPES[key] == "str":
                items[key] = SettingView(key, value, source)
                continue
            if _TYPES[key] == "float" and isinstance(value, int):
                value = float(value)  # SQLite's JSON keeps 5.0 as 5
            bound = limits.bound(key, spec)
            items[key] = SettingView(key, value, source, bound.low, bound.high, bound.tier)
        tier = self.tiers.name(account.tier)
        return SettingsView(tier, tool.name, limits.max_pixels, items)

    @staticmethod
    def _group(group: Account) -> Account:
        if group.kind != "group":
            raise InvalidInput(f"{group.name} is not a group")
        return group

    @staticmethod
    def _admin(admin_user: Account | None) -> None:
        if admin_user is not None and admin_user.banned:
            raise Forbidden("This account is blocked from changing settings.")


def _names(key: str) -> tuple[str, ...]:
    name = key.strip().lower()
    if name == "size":
        return ("width", "height")
    if name not in _TYPES:
        raise InvalidInput(
            f"unknown setting {key!r}; settings: size, {', '.join(KEYS)}", input="key"
        )
    return (name,)


def _switch(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES or text in _NO:
        return text in _YES
    raise InvalidInput(f"{key} is on or off (got {value!r})", input=key)


def _parse_size(value: Any) -> tuple[Any, Any]:
    """``1024x768``, ``1024 768``, ``1024×768``, ``[1024, 768]``, or ``1024`` (square)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, int):
        return value, value
    text = str(value)
    match = _SIZE.fullmatch(text)
    if match:
        return match.group(1), match.group(2)
    if text.strip().isdigit():
        return text.strip(), text.strip()
    raise InvalidInput(f"size takes WIDTH HEIGHT, e.g. 1024x768 (got {text!r})", input="size")


def _default(tool: Tool, key: str) -> Any:
    spec = tool.inputs.get(key)
    return spec.default if spec is not None else None
