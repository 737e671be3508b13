"""Collections and cook runs → Discord message payloads (embeds, buttons, selects, modals).
Pure functions, like ``render``. Custom ids carry the collection id (and a piece number or a
link token); what a button does is decided by reading the database when it is pressed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stationthis.core.collections import Collection
from stationthis.core.collections_runs import Piece
from stationthis.core.collections_sharing import Link
from stationthis.core.collections_traits import CookConfig, PiecePlan
from stationthis.platforms.chat import collections as cc
from stationthis.platforms.discord.ids import pack
from stationthis.platforms.discord.render import (
    COLOR,
    DANGER,
    PRIMARY,
    SUCCESS,
    WORDS,
    Payload,
    button,
    clip,
    message,
    modal,
    row,
    select,
    text_input,
)
from stationthis.workflows.collections import ShareView
from stationthis.workflows.cook import CookQuote, CookStatus

EXPIRY_NAMES = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "never": "never expires"}
REVIEW_PAGE = 4  # pieces per review message: one row of buttons each, and a row to page
NEW = "new"


def access_text(c: Collection) -> str:
    return {"owner": "yours", "edit": "shared with you (can edit)",
            "view": "shared with you (view only)"}.get(c.access, c.access)


def plain(content: str = "", **kwargs: Any) -> Payload:
    """A message with no attachments left over from what it replaces."""
    payload = message(content, **kwargs)
    payload["attachments"] = []
    return payload


# ----- lists and views ----------------------------------------------------------------------

def listing(mine: Sequence[Collection], shared: Sequence[Collection]) -> Payload:
    if not mine and not shared:
        return plain("No collections yet. `/collections new name:…` makes one, or press "
                     "📚 under any image you made.", components=[])
    lines = []
    if mine:
        lines.append("**Your collections**")
        lines += [f"{n}. **{c.name}** · {_items(c.items)}" for n, c in enumerate(mine, 1)]
    if shared:
        lines.append("**Shared with you**")
        lines += [f"{n}. **{c.name}** · {_items(c.items)} · {c.access}"
                  for n, c in enumerate(shared, len(mine) + 1)]
    options = [(f"{c.name} ({_items(c.items)})", c.id) for c in [*mine, *shared]]
    return plain("\n".join(lines), components=[row(select(pack("cvs"), options,
                                                              "Open a collection"))])


def _items(count: int) -> str:
    return f"{count} item{'s' if count != 1 else ''}"


def view(c: Collection, shares: Sequence[ShareView], cooked: bool, note: str = "") -> Payload:
    """The collection's embed (its first thumbnails go along as attachments)."""
    lines = [c.description or "", f"**{_items(c.items)}** · {access_text(c)}"]
    if shares:
        lines.append("Shared with " + ", ".join(f"{s.user} ({s.share.permission})"
                                                for s in shares))
    if not c.items:
        lines.append("Add images with 📚 under any image you make.")
    embed: dict[str, Any] = {"title": f"📚 {c.name}", "color": COLOR,
                             "description": clip("\n".join(x for x in lines if x), 4000)}
    return message(note, embeds=[embed], components=view_components(c, cooked))


def view_components(c: Collection, cooked: bool) -> list[dict[str, Any]]:
    refresh = button("🔄 Refresh", "cv", c.id)
    export = button("📦 Export", "cz", c.id)
    if c.access == "view":
        return [row(export, refresh)]
    if c.access == "edit":
        return [row(button("✏️ Edit", "ce", c.id), export, refresh)]
    second = [button("🔍 Review", "cr", c.id)] if cooked else []
    return [row(button("✏️ Edit", "ce", c.id), button("🔗 Share links", "cl", c.id),
                button("🍳 Cook", "ck", c.id), export,
                button("🗑 Delete", "cx", c.id, style=DANGER)),
            row(*second, refresh)]


def confirm_delete(c: Collection) -> Payload:
    return plain(cc.delete_question(c, WORDS), embeds=[],
                 components=[row(button("🗑 Yes, delete it", "cxy", c.id, style=DANGER),
                                 button("Keep it", "cv", c.id))])


def edit_modal(c: Collection) -> Payload:
    return modal(pack("mce", c.id), "Edit the collection",
                 text_input("name", "Name", value=c.name, max_length=100),
                 text_input("description", "Description", long=True, required=False,
                            value=c.description, max_length=2000))


def new_modal(media_id: str | None = None) -> Payload:
    custom = pack("mcn", media_id) if media_id else pack("mcn")
    return modal(custom, "New collection",
                 text_input("name", "Name", max_length=100, placeholder="Foxes"),
                 text_input("description", "Description", long=True, required=False,
                            max_length=2000))


def pick(media_id: str, collections: Sequence[Collection]) -> Payload:
    options = [(f"{c.name} ({_items(c.items)})", c.id) for c in collections[:24]]
    options.append(("➕ New collection…", NEW))
    return plain(cc.PICK,
                 components=[row(select(pack("cas", media_id), options,
                                        "Choose a collection"))])


def added(c: Collection) -> Payload:
    return plain(cc.added_text(c, WORDS),
                 components=[row(button("📚 Open", "cv", c.id, style=PRIMARY))])


# ----- sharing ------------------------------------------------------------------------------

def links(c: Collection, found: Sequence[Link], base: str | None, note: str = "") -> Payload:
    active = [link for link in found if link.status == "active"]
    lines = [note] if note else []
    lines.append(f"🔗 Share links of **{c.name}** (read-only, anyone with the link):")
    for n, link in enumerate(active, 1):
        until = (f"until {link.expires_at:%Y-%m-%d %H:%M} UTC" if link.expires_at
                 else "never expires")
        lines.append(f"{n}. {link_url(base, link.token)} · {until}")
    if not active:
        lines.append("No active links. Choose how long a new one lasts:")
    rows = [row(select(pack("cln", c.id), [(f"New link: {name}", key) for key, name in
                                           EXPIRY_NAMES.items()], "Create a link that lasts…"))]
    revokes = [button(f"✖️ Revoke {n}", "clr", c.id, link.token, style=DANGER)
               for n, link in enumerate(active[:15], 1)]
    rows += [row(*revokes[i:i + 5]) for i in range(0, len(revokes), 5)]
    rows.append(row(button("📚 Back", "cv", c.id)))
    return plain("\n".join(lines), embeds=[], components=rows)


def link_url(base: str | None, token: str) -> str:
    return f"{base.rstrip('/')}/c/{token}" if base else f"<public url>/c/{token}"


# ----- cook ---------------------------------------------------------------------------------

def traits_text(config: CookConfig) -> str:
    """Trait types as lines: ``animal: fox*3, owl`` (the form the cook modal reads)."""
    lines = []
    for t in config.trait_types:
        parts = []
        for trait in t.traits:
            text = trait.name if trait.prompt == trait.name else f"{trait.name}={trait.prompt}"
            if trait.weight != 1:
                weight = int(trait.weight) if trait.weight.is_integer() else trait.weight
                text += f"*{weight}"
            parts.append(text)
        lines.append(f"{t.name}: {', '.join(parts)}")
    return "\n".join(lines)


def cook_modal(c: Collection, config: CookConfig | None) -> Payload:
    return modal(pack("mck", c.id), f"Cook {c.name}"[:45],
                 text_input("prompt", "Master prompt: use [trait type]", long=True,
                            value=config.master_prompt if config else None, max_length=2000,
                            placeholder="a [animal] in [place], watercolor"),
                 text_input("traits", "Traits: one type a line, or JSON", long=True,
                            value=traits_text(config) if config else None, max_length=4000,
                            placeholder="animal: fox*3, owl\nplace: forest, city=a big city"),
                 text_input("supply", "Supply (pieces)", max_length=6,
                            value=str(config.supply) if config else None, placeholder="10"))


def cook_quote(c: Collection, q: CookQuote, plans: Sequence[PiecePlan]) -> Payload:
    lines = [f"🍳 Cook **{c.name}**: {q.pieces} pieces × {q.per_piece} = **{q.points} points** "
             f"(you have {q.available})."]
    if not q.enough:
        lines.append(f"Your balance covers {q.fits} of {q.pieces}: the run pauses when it "
                     "runs out.")
    lines += [f"#{p.number}: {clip(p.prompt, 150)}" for p in plans]
    return plain("\n".join(lines), embeds=[], components=[row(
        button("✅ Start cooking", "cks", c.id, style=SUCCESS),
        button("Not now", "ckn", c.id))])


def cook_status(name: str, s: CookStatus) -> Payload:
    failed = f" · {s.failed} failed" if s.failed else ""
    reason = f"\n{s.reason}" if s.reason else ""
    cid = s.collection_id
    if s.state == "running":
        text = f"🍳 Cooking **{name}**: {s.progress} made{failed}…"
        buttons = [button("⏸ Pause", "ckp", cid), button("✖️ Cancel", "ckc", cid,
                                                             style=DANGER)]
    elif s.state == "paused":
        text = f"⏸ Cooking **{name}** paused at {s.progress}{failed}.{reason}"
        buttons = [button("▶️ Resume", "ckr", cid, style=SUCCESS),
                   button("✖️ Cancel", "ckc", cid, style=DANGER)]
    elif s.state == "cancelled":
        text = (f"✖️ Cooking **{name}** cancelled at {s.progress}{failed}. Points of the "
                "pieces not made were released; start again to continue.")
        buttons = [button("🔍 Review", "cr", cid)]
    else:
        text = f"✅ Cooked **{name}**: {s.progress} made{failed}. Keep the ones you like."
        buttons = [button("🔍 Review", "cr", cid, style=PRIMARY), button("📦 Export", "cz", cid)]
    return plain(text, embeds=[], components=[row(*buttons)])


def review(c: Collection, pieces: Sequence[Piece], page: int, more: bool,
           thumbnails: Sequence[str]) -> Payload:
    if not pieces:
        return plain(f"No made pieces of **{c.name}** to review yet.", embeds=[],
                     components=[row(button("📚 Back", "cv", c.id))])
    marks = {"kept": "✅ kept", "rejected": "❌ rejected", None: "not reviewed"}
    lines = [f"🔍 Review **{c.name}** (page {page}):"]
    rows = []
    for p in pieces:
        traits = ", ".join(f"{a['trait_type']}: {a['value']}" for a in p.attributes)
        lines.append(f"#{p.number} · {marks.get(p.review, p.review)} · {traits}")
        n, pg = str(p.number), str(page)
        rows.append(row(button(f"✅ Keep #{n}", "crk", c.id, n, pg, style=SUCCESS),
                        button(f"❌ Reject #{n}", "crx", c.id, n, pg, style=DANGER),
                        button(f"🔄 Again #{n}", "crg", c.id, n, pg)))
    nav = []
    if page > 1:
        nav.append(button("◀️ Previous", "cr", c.id, str(page - 1)))
    if more:
        nav.append(button("Next ▶️", "cr", c.id, str(page + 1)))
    nav.append(button("📚 Back", "cv", c.id))
    rows.append(row(*nav))
    embeds = [{"title": f"#{p.number}", "color": COLOR, "image": {"url": f"attachment://{t}"}}
              for p, t in zip(pieces, thumbnails, strict=False)]
    return message("\n".join(lines), embeds=embeds, components=rows)
