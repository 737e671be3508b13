"""Results → Discord message payloads (content, embeds, components). Pure functions.

Discord's limits that shape them: 5 action rows of 5 buttons per message, 25 options per
select, 5 text inputs per modal, 2000 characters of content, 100-character custom ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stationthis.core.datasets import Dataset, Readiness
from stationthis.core.models import Model
from stationthis.core.notify import JobNotice
from stationthis.platforms import chat
from stationthis.platforms.chat.actions import result_layout
from stationthis.platforms.chat.describe import RUN, run_labels
from stationthis.platforms.chat.texts import failed_text as failed_text
from stationthis.platforms.chat.texts import fmt_delta, fmt_number
from stationthis.platforms.chat.texts import progress_text as progress_text
from stationthis.platforms.chat.texts import result_text as result_text
from stationthis.platforms.chat.turn import Words
from stationthis.platforms.discord.ids import pack
from stationthis.workflows.account import BalanceView
from stationthis.workflows.groups import GroupView
from stationthis.workflows.history import HistoryEntry
from stationthis.workflows.make_image import Quote
from stationthis.workflows.settings import SettingsView
from stationthis.workflows.status import ActiveJob
from stationthis.workflows.training import TrainingQuote

Payload = dict[str, Any]
WORDS = Words("the server", "`{}`", "**{}**", "/make prompt:")
EPHEMERAL = 64
PRIMARY, SECONDARY, SUCCESS, DANGER = 1, 2, 3, 4
SIZES = ("512x512", "768x768", "1024x1024", "1024x768", "768x1024")
STEPS = (20, 30, 40)
BATCHES = (1, 2, 4)
PAYER_NAMES = {"user": "each member pays", "group": "the server pays (pool)",
               "user_first": "members first, then the server"}
CONTENT_MAX = 2000
COLOR = 0x5865F2


# ----- components -------------------------------------------------------------------------

def button(label: str, action: str, *parts: str, style: int = SECONDARY) -> dict[str, Any]:
    return {"type": 2, "style": style, "label": label[:80], "custom_id": pack(action, *parts)}


def link(label: str, url: str) -> dict[str, Any]:
    """A link button (style 5): opens ``url``, sends no interaction."""
    return {"type": 2, "style": 5, "label": label[:80], "url": url}


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def select(custom_id: str, options: Sequence[tuple[str, str]], placeholder: str,
           current: str | None = None) -> dict[str, Any]:
    return {"type": 3, "custom_id": custom_id, "placeholder": placeholder[:150],
            "options": [{"label": label[:100], "value": value[:100],
                         **({"default": True} if value == current else {})}
                        for label, value in options[:25]]}


def text_input(custom_id: str, label: str, *, long: bool = False, required: bool = True,
               value: str | None = None, max_length: int = 200,
               placeholder: str | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {"type": 4, "custom_id": custom_id, "label": label[:45],
                             "style": 2 if long else 1, "required": required,
                             "max_length": max_length}
    if value:
        field["value"] = value[:max_length]
    if placeholder:
        field["placeholder"] = placeholder[:100]
    return row(field)


def modal(custom_id: str, title: str, *inputs: dict[str, Any]) -> Payload:
    """An interaction response that opens a modal (it cannot be deferred)."""
    return {"type": 9, "data": {"custom_id": custom_id, "title": title[:45],
                                "components": list(inputs[:5])}}


def message(content: str = "", *, embeds: Sequence[dict[str, Any]] = (),
            components: Sequence[dict[str, Any]] | None = None,
            ephemeral: bool = False) -> Payload:
    payload: Payload = {"content": clip(content), "embeds": list(embeds),
                        "allowed_mentions": {"parse": []}}
    if components is not None:
        payload["components"] = list(components)
    if ephemeral:
        payload["flags"] = EPHEMERAL
    return payload


def clip(text: str, limit: int = CONTENT_MAX) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ----- help and errors ----------------------------------------------------------------------

def help_text() -> str:
    return "\n".join([
        "StationThis makes images for points.",
        "`/make prompt:a red fox` — make an image (add `image:` for image-to-image)",
        "`/upscale` · `/rmbg` — on an image you attach",
        "`/ref prompt:… image:…` — a new picture that follows an image's edges "
        "(`kind:` pose, depth or style for its pose, depth or look)",
        "`/describe image:…` — 3–4 prompts for a picture, each with ▶️ to make it",
        "`/loras` — the server's LoRAs: use one with `<lora:Name:0.8>` or its trigger word",
        "`/settings` — your defaults · `/server` — this server's defaults and who pays",
        "`/balance` · `/history` · `/status` · `/cancel` · `/link`",
        "`/regen` · `/seed` · `/card` — your last image again, its seed, its recipe "
        "(`which:2` for the one before; on any result: its menu → Apps)",
        "`/train create` — datasets and trainings · `/models` — your trained models",
        "`/collections` — collections: share them, cook pieces from traits, export",
        "Every image has buttons: 🔄 regenerate, ⬆️ upscale, 🎲 variations, "
        "🔍 zoom out (×1.5, ×2), ⬅️⬆️➡️⬇️ pan, 📁 add to dataset, 📚 add to collection.",
    ])


def short_of_points(quote: Quote | TrainingQuote) -> str:
    return chat.short_of_points(quote, balance="`/balance`")


# ----- jobs ---------------------------------------------------------------------------------

def result_components(job_id: str, media_ids: Sequence[str], web: str | None = None
                      ) -> list[dict[str, Any]]:
    """The buttons under a result (``chat/actions.py`` lays them out): 🔄 the whole job;
    ⬆️ 🎲 🔍 📁 📚 per image (the first four: five rows at most); with ``web`` (the web
    app's public address) a single image's 🖌 link into the mask painter."""
    return [row(*(link(k.text, k.url) if k.url else button(k.text, k.code, k.object_id)
                  for k in line))
            for line in result_layout(job_id, media_ids, max_images=4, web=web)]


def prompts_components(job_id: str, count: int) -> list[dict[str, Any]]:
    """▶️ under a describe's prompts: each makes one (chat/describe.py)."""
    if not count:
        return []
    return [row(*(button(label, RUN, job_id, index, style=PRIMARY)
                  for label, index in run_labels(count)))]


def model_ready_text(model: Model | None, notice: JobNotice) -> str:
    return chat.model_ready_text(model, notice, WORDS)


# ----- account ------------------------------------------------------------------------------

def balance_text(view: BalanceView, typical: Quote | None, pool: GroupView | None) -> str:
    b = view.balance
    lines = [f"💰 **{b.total} points**: {b.allowance}/{b.allowance_max} free allowance + "
             f"{b.credit} purchased"]
    lines.append(f"The allowance is full again in {fmt_delta(view.full_in)}."
                 if view.full_in is not None else "The free allowance is full.")
    if typical is not None:
        p = typical.params
        lines.append(f"A typical image ({typical.tool}, {p.get('width')}×{p.get('height')}, "
                     f"{p.get('steps')} steps) costs {typical.points} points.")
    if pool is not None:
        lines.append(f"This server: {PAYER_NAMES[pool.payer]}, pool {pool.pool} points.")
    return "\n".join(lines)


def history_text(entries: Sequence[HistoryEntry]) -> str:
    return chat.history_text(entries, "`/make prompt:a red fox`")


def status_text(active: Sequence[ActiveJob]) -> str:
    return chat.status_text(active, "Nothing is running. `/make` something!")


def status_components(active: Sequence[ActiveJob]) -> list[dict[str, Any]]:
    buttons = [button(f"✖️ Cancel {n}", "c", job.job_id, style=DANGER)
               for n, job in enumerate(active[:25], start=1)]
    return [row(*buttons[i:i + 5]) for i in range(0, len(buttons), 5)]


# ----- settings -----------------------------------------------------------------------------

def settings_embed(view: SettingsView, title: str, pool: GroupView | None = None
                   ) -> dict[str, Any]:
    fields = []
    for key, item in view.items.items():
        value = "—" if item.value in (None, "") else str(item.value)
        if item.high is not None:
            value += f" (max {fmt_number(item.high)})"
        if item.source == "group" and pool is None:
            value += " (server)"
        fields.append({"name": key, "value": clip(value, 1000), "inline": True})
    description = f"Tier **{view.tier}** · default tool **{view.tool}**"
    if pool is not None:
        description += (f"\nWho pays: **{PAYER_NAMES[pool.payer]}** · pool **{pool.pool}** "
                        "points")
    return {"title": title, "description": description, "color": COLOR, "fields": fields[:25]}


def settings_components(scope: str, tools: Sequence[str], current_tool: str,
                        payer: bool = False) -> list[dict[str, Any]]:
    """``scope`` is ``s`` (one's own settings) or ``g`` (the server's)."""
    rows = [
        row(*(button(s.replace("x", "×"), scope, "size", s) for s in SIZES)),
        row(*(button(f"{n} steps", scope, "steps", str(n)) for n in STEPS),
            button("🎲 random seed", scope, "seed", "-1")),
        row(*(button(f"batch {n}", scope, "batch", str(n)) for n in BATCHES),
            button("✏️ Other value…", scope, "edit", style=PRIMARY),
            button("↩️ Reset", scope, "reset", style=DANGER)),
        row(select(pack(scope, "tool"), [(t, t) for t in tools], "Default tool", current_tool)),
    ]
    if payer:
        rows.append(row(button("👤 Members pay", scope, "payer", "user"),
                        button("👥 Server pays", scope, "payer", "group"),
                        button("Members first, then server", scope, "payer", "user_first")))
    return rows


def settings_modal(scope: str) -> Payload:
    return modal(pack("m" + scope), "Change a setting",
                 text_input("key", "Setting (e.g. cfg, negative, size)", max_length=40),
                 text_input("value", "New value", long=True, max_length=2000))


# ----- training -----------------------------------------------------------------------------

def datasets_text(views: Sequence[tuple[Dataset, Readiness]]) -> str:
    if not views:
        return ("No datasets yet. `/train create` makes one; then `/train add` uploads "
                "images with captions.")
    lines = ["Your datasets:"]
    for ds, r in views:
        lines.append(f"• **{ds.name}** (trigger `{ds.trigger}`) · images {r.images}/"
                     f"{r.max_images} · captions {r.captioned}/{r.images} · {r.reason}")
    return "\n".join(lines)


def dataset_embed(ds: Dataset, r: Readiness) -> dict[str, Any]:
    lines = [f"Trigger `{ds.trigger}` · base {ds.base_model}",
             f"Images {r.images}/{r.max_images} · captions {r.captioned}/{r.images}",
             *chat.dataset_lines(ds, r)]
    return {"title": f"📁 {ds.name}", "description": clip("\n".join(lines), 4000),
            "color": COLOR}


def dataset_components(ds: Dataset, ready: bool) -> list[dict[str, Any]]:
    buttons = [button("✏️ Captions", "tcap", ds.id), button("🗑 Delete", "xd", ds.id,
                                                            style=DANGER)]
    if ready:
        buttons.insert(0, button("🚀 Train", "ts", ds.id, style=SUCCESS))
    return [row(*buttons)]


def caption_modal(ds: Dataset) -> Payload:
    """Up to five images' captions, uncaptioned first."""
    order = sorted(enumerate(ds.images, start=1), key=lambda p: bool(p[1].caption))[:5]
    inputs = [text_input(image.id, f"Image {number}", long=True, required=False,
                         value=image.caption or None, max_length=1000)
              for number, image in sorted(order)]
    return modal(pack("mcap", ds.id), f"Captions: {ds.name}", *inputs)


def training_quote_components(ds: Dataset, steps: int | None = None) -> list[dict[str, Any]]:
    extra = (str(steps),) if steps is not None else ()
    return [row(button("✅ Confirm", "tc", ds.id, *extra, style=SUCCESS),
                button("Cancel", "no", ds.id))]


def delete_dataset_components(ds: Dataset) -> list[dict[str, Any]]:
    return [row(button("🗑 Delete", "xc", ds.id, style=DANGER), button("Cancel", "no", ds.id))]


def pick_dataset_components(media_id: str, datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    options = [(f"{ds.name} ({len(ds.images)} images)", ds.id) for ds in datasets]
    return [row(select(pack("da", media_id), options, "Add to which dataset?"))]


def create_dataset_modal() -> Payload:
    return modal(pack("mtc"), "New dataset",
                 text_input("name", "Name", max_length=100, placeholder="mydog"),
                 text_input("trigger", "Trigger word (default: the name)", required=False,
                            max_length=100))


def models_text(models: Sequence[Model]) -> str:
    return chat.models_text(models, "`/train create`", "**{}**", "`{}`")
