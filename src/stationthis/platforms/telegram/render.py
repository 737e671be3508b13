"""Results → Telegram text and inline keyboards. Pure functions; plain text (no parse mode),
so nothing a user typed can break the formatting."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from stationthis.core.datasets import Dataset, Readiness
from stationthis.core.models import Model
from stationthis.core.notify import JobNotice
from stationthis.platforms.chat import texts
from stationthis.platforms.chat.actions import result_layout
from stationthis.platforms.chat.describe import RUN, run_labels
from stationthis.platforms.chat.texts import failed_text as failed_text
from stationthis.platforms.chat.texts import fmt_delta, fmt_number
from stationthis.platforms.chat.texts import progress_text as progress_text
from stationthis.platforms.chat.texts import result_text as result_text
from stationthis.platforms.chat.turn import Words
from stationthis.platforms.telegram.callbacks import pack
from stationthis.workflows.account import BalanceView
from stationthis.workflows.groups import GroupView
from stationthis.workflows.history import HistoryEntry
from stationthis.workflows.make_image import Quote
from stationthis.workflows.settings import SettingsView
from stationthis.workflows.status import ActiveJob

Keyboard = InlineKeyboardMarkup
WORDS = Words("the group")
SIZES = ("512x512", "768x768", "1024x1024", "1024x768", "768x1024")
STEPS = (20, 30, 40)
BATCHES = (1, 2, 4)
PAYER_NAMES = {"user": "each member pays", "group": "the group pays (pool)",
               "user_first": "members first, then the group"}


def button(text: str, action: str, *parts: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=pack(action, *parts))


# ----- help -------------------------------------------------------------------------------

def help_text(username: str, trigger: str | None) -> str:
    lines = [
        "StationThis makes images for points.",
        "",
        "/make a red fox in the snow — make an image",
        "/effect watercolor (reply to a photo) — restyle a photo; /img2img works too",
        "/upscale or /rmbg (reply to a photo or one of my images)",
        "/inpaint PROMPT — as the caption of a mask (white = repaint) sent as a reply to an "
        "image: repaints that region",
        "/ref PROMPT (reply to a photo or one of my images) — a new picture that follows its "
        "edges; /ref pose|depth|style PROMPT follows its pose, depth or look",
        "/describe (reply to a photo or one of my images) — 3–4 prompts for it, each with ▶️ "
        "to make it",
        "/loras — the server's LoRAs: use one with <lora:Name:0.8> or its trigger word",
        "/settings — your defaults; /settings steps 30, /settings size 1024x768",
        "/balance · /history · /status · /cancel",
        "/regen · /seed · /card — your last image again, its seed, its recipe (or reply "
        "with one to a result)",
        "/train create mydog — datasets and trainings; /train for more",
        "/models — your trained models",
        "/link — connect this account with the web or Discord",
        "/web — a one-time sign-in link for the web studio",
        "/collections — your collections; /collection new NAME; /cook NAME",
        "",
        "Every image has buttons: 🔄 regenerate, ⬆️ upscale, 🎲 variations,"
        " 🔍 zoom out (×1.5, ×2), ⬅️⬆️➡️⬇️ pan, 📁 add to dataset, 📚 add to collection.",
    ]
    if trigger:
        lines.append(f"In groups: /make@{username} <prompt>, or start a message with {trigger}")
    return "\n".join(lines)


# ----- jobs -------------------------------------------------------------------------------

def result_keyboard(job_id: str, media_ids: Sequence[str], web: str | None = None) -> Keyboard:
    """The buttons under a result (``chat/actions.py`` lays them out; ``web``: the web
    app's public address, for the 🖌 link into the mask painter)."""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(k.text, url=k.url) if k.url else button(k.text, k.code, k.object_id)
         for k in line]
        for line in result_layout(job_id, media_ids, web=web)])


def prompts_keyboard(job_id: str, count: int) -> Keyboard | None:
    """▶️ under a describe's prompts: each makes one (chat/describe.py)."""
    if not count:
        return None
    return InlineKeyboardMarkup([[button(label, RUN, job_id, index)
                                  for label, index in run_labels(count)]])


def model_ready_text(model: Model | None, notice: JobNotice) -> str:
    return texts.model_ready_text(model, notice, WORDS)


# ----- account ----------------------------------------------------------------------------

def balance_text(view: BalanceView, typical: Quote | None) -> str:
    b = view.balance
    lines = [f"💰 {b.total} points: {b.allowance}/{b.allowance_max} free allowance + "
             f"{b.credit} purchased"]
    if view.full_in is not None:
        lines.append(f"The allowance is full again in {fmt_delta(view.full_in)}.")
    else:
        lines.append("The free allowance is full.")
    if typical is not None:
        w, h = typical.params.get("width"), typical.params.get("height")
        lines.append(f"A typical image ({typical.tool}, {w}×{h}, {typical.params.get('steps')} "
                     f"steps) costs {typical.points} points.")
    return "\n".join(lines)


def history_text(entries: Sequence[HistoryEntry]) -> str:
    return texts.history_text(entries, "/make a red fox")


def status_text(active: Sequence[ActiveJob]) -> str:
    return texts.status_text(active, "Nothing is running. /make something!",
                             "/cancel N cancels one, /cancel all every job.")


def status_keyboard(active: Sequence[ActiveJob]) -> Keyboard | None:
    if not active:
        return None
    return InlineKeyboardMarkup([[button(f"✖️ Cancel {n}", "c", job.job_id)]
                                 for n, job in enumerate(active, start=1)])


# ----- settings ---------------------------------------------------------------------------

def settings_text(view: SettingsView, title: str = "Your settings") -> str:
    lines = [f"⚙️ {title} (tier {view.tier}):"]
    for key, item in view.items.items():
        value = "—" if item.value in (None, "") else item.value
        limit = ""
        if item.low is not None or item.high is not None:
            limit = f" (max {fmt_number(item.high)})" if item.high is not None else ""
        source = " (group)" if item.source == "group" else ""
        lines.append(f"• {key}: {value}{limit}{source}")
    lines.append("Change one: /settings steps 30 · /settings size 1024x768 · "
                 "/settings reset [key]")
    return "\n".join(lines)


def settings_keyboard(action: str = "s", payer: bool = False) -> Keyboard:
    rows = [
        [button(s.replace("x", "×"), action, "size", s) for s in SIZES[:3]],
        [button(f"{n} steps", action, "steps", str(n)) for n in STEPS],
        [button(f"batch {n}", action, "batch", str(n)) for n in BATCHES],
        [button("🎲 random seed", action, "seed", "random"), button("↩️ reset", action, "reset")],
    ]
    if payer:
        rows.append([button("👤 members pay", action, "payer", "user"),
                     button("👥 group pays", action, "payer", "group")])
        rows.append([button("members first, then the group", action, "payer", "user_first")])
    return InlineKeyboardMarkup(rows)


def group_text(view: SettingsView, group: GroupView) -> str:
    head = (f"👥 {group.group.name}: {PAYER_NAMES[group.payer]} · pool {group.pool} points\n"
            "Admins: /settings pay user|group|user_first")
    return head + "\n" + settings_text(view, "Group defaults")


# ----- training ---------------------------------------------------------------------------

def datasets_text(datasets: Sequence[Dataset], readiness: Sequence[Readiness]) -> str:
    if not datasets:
        return ("No datasets yet. /train create mydog [trigger] makes one; then send photos "
                "captioned /train add mydog (an album works too).")
    lines = ["Your datasets:"]
    for number, (ds, r) in enumerate(zip(datasets, readiness, strict=True), start=1):
        lines.append(f"{number}. {ds.name} (trigger {ds.trigger}) · images {r.images}/"
                     f"{r.max_images} · captions {r.captioned}/{r.images} · {r.reason}")
    lines.append("/train view N · add · caption N IMAGE TEXT · submit N · delete N")
    return "\n".join(lines)


def dataset_text(ds: Dataset, r: Readiness) -> str:
    lines = [f"📁 {ds.name} — trigger {ds.trigger}, base {ds.base_model}",
             f"Images {r.images}/{r.max_images}, Captions {r.captioned}/{r.images}",
             *texts.dataset_lines(ds, r)]
    return "\n".join(lines)


def dataset_keyboard(ds: Dataset, ready: bool) -> Keyboard:
    row = [button("🗑 Delete", "xd", ds.id)]
    if ready:
        row.insert(0, button("🚀 Train", "ts", ds.id))
    return InlineKeyboardMarkup([row])


def pick_dataset_keyboard(media_id: str, datasets: Sequence[Dataset]) -> Keyboard:
    return InlineKeyboardMarkup([[button(f"📁 {ds.name} ({len(ds.images)})", "da", media_id,
                                         ds.id)] for ds in datasets[:10]])


def confirm_keyboard(action: str, object_id: str, label: str) -> Keyboard:
    return InlineKeyboardMarkup([[button(label, action, object_id),
                                  button("Cancel", "no", object_id)]])


def models_text(models: Sequence[Model]) -> str:
    return texts.models_text(models, "/train")
