"""Which LoRAs a request uses — the user's own models and the servers' — and what that adds
to its parameters and price (the rules are in workflows/server_loras.py)."""

from __future__ import annotations

import difflib
import math
from typing import Any

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.models import Model, ModelRegistry
from stationthis.core.server_loras import ServerLora
from stationthis.core.users import Account
from stationthis.workflows.server_loras import ServerLoras, split_strength, take_tags

MIN_STRENGTH, MAX_STRENGTH = -4.0, 4.0


async def apply_loras(
    user: Account, params: dict[str, Any], *, models: ModelRegistry | None,
    server_loras: ServerLoras | None, engine_name: str,
) -> dict[str, Any]:
    out = dict(params)
    prompt = str(params.get("prompt") or "")
    prompt, tags = take_tags(prompt)
    if tags:
        out["prompt"] = prompt
    wanted = [split_strength(str(n)) for n in params.get("loras") or []] + tags
    usable = "style" if engine_name == "preview" else "lora"
    mine: list[Model] = []
    servers: list[ServerLora] = []
    scales: dict[str, float] = {}
    for name, strength in wanted:
        chosen = await _own(models, user, name)
        if chosen is not None:
            if chosen.kind != usable:
                raise InvalidInput(
                    f"your model '{chosen.name}' was trained on the {chosen.engine} engine "
                    f"(a {chosen.kind}); the {engine_name} engine can only use a {usable}",
                    model=chosen.name,
                )
            if all(chosen.id != m.id for m in mine):
                mine.append(chosen)
            key = chosen.name
        else:
            lora = await _server(server_loras, models, user, name)
            if all(lora.file_name != s.file_name for s in servers):
                servers.append(lora)
            key = lora.name
        if strength is not None:
            if not MIN_STRENGTH <= strength <= MAX_STRENGTH:
                raise InvalidInput(f"the strength of LoRA '{key}' must be between -4 and 4",
                                   input="loras")
            scales[key] = strength
    if models is not None:
        for model in await models.in_prompt(user.id, prompt):
            # A trigger word of a model this engine cannot load is just a word of the prompt.
            if model.kind == usable and all(model.id != m.id for m in mine):
                mine.append(model)
    if server_loras is not None:
        taken = {m.name.lower() for m in mine}
        for lora in await server_loras.in_prompt(prompt):
            if lora.name.lower() not in taken and all(
                    lora.file_name != s.file_name for s in servers):
                servers.append(lora)
    if not mine and not servers:
        return out
    out["loras"] = [m.name for m in mine] + [s.name for s in servers]
    if mine:
        out["_assets"] = {m.name: m.media_id for m in mine}
    if servers:
        out["server_loras"] = {s.name: s.file_name for s in servers}
        factor = math.prod(s.price_factor for s in servers)
        if factor != 1.0:
            out["_price_factor"] = factor
    if scales:
        out["lora_scales"] = scales
    return out


async def _own(models: ModelRegistry | None, user: Account, name: str) -> Model | None:
    if models is None:
        return None
    try:
        return await models.find(user.id, name)
    except NotFound:
        return None


async def _server(
    server_loras: ServerLoras | None, models: ModelRegistry | None, user: Account, name: str
) -> ServerLora:
    mine = [m.name for m in await models.list_for(user.id)] if models is not None else []
    servers = await server_loras.all() if server_loras is not None else []
    if server_loras is not None:
        try:
            return await server_loras.find(name)
        except NotFound:
            pass
    names = mine + [s.name for s in servers]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = (f"; did you mean {', '.join(close)}?" if close
            else f"; LoRAs you can use: {', '.join(names[:8])}" if names else "")
    where = " (see /loras)" if server_loras is not None else ""
    raise NotFound(f"you have no model called {name!r} and there is no LoRA by that name"
                   f"{hint}{where}", input="loras", lora=name, close=close)
