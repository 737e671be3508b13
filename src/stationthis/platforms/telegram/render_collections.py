"""Collections and cook runs → Telegram text and inline keyboards. Pure functions, plain text.

Button actions (ids only, see ``callbacks.py``): ``k`` pick a collection for an image,
``ka`` add it, ``kn`` add it to a new one, ``kv`` view, ``kx``/``ky`` delete (ask, confirm),
``kl``/``kc`` share link (ask expiry, create), ``kk`` list links, ``kr`` revoke one, ``ke``
export; ``qs`` cook overview, ``qg`` start, ``qp``/``qu``/``qc`` pause, resume, cancel,
``qv`` review, ``qk``/``qj``/``qr`` keep, reject, regenerate a piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardMarkup

from stationthis.core.collections import Collection, Item
from stationthis.core.collections_runs import Piece
from stationthis.core.collections_sharing import EXPIRIES, Link
from stationthis.core.collections_traits import CookConfig, PiecePlan
from stationthis.platforms.telegram.render import Keyboard, button
from stationthis.workflows.collections import ShareView
from stationthis.workflows.cook import CookQuote, CookStatus

ACCESS = {"owner": "yours", "edit": "shared with you: edit", "view": "shared with you: view"}
USAGE = ("/collections — yours and those shared with you\n"
         "/collection new NAME · /collection NAME (view)\n"
         "/collection rename NAME NEW NAME · /collection describe NAME TEXT\n"
         "/collection share NAME USER [view|edit] · /collection unshare NAME USER\n"
         "  (USER is a StationThis identity: telegram:123, discord:456 or a web name)\n"
         "/collection link NAME · /collection links NAME · /collection export NAME\n"
         "/collection delete NAME · /cook NAME\n"
         "NAME may also be the number from /collections.")
COOK_USAGE = ("Set up cooking with\n"
              "/cook NAME set SUPPLY | MASTER PROMPT | TYPE: trait, trait | TYPE: …\n"
              "e.g. /cook pets set 3 | a [animal] in the snow | animal: fox, owl*2, cat\n"
              "(*2 makes a trait twice as likely; a JSON configuration works too)")
PAGE = 10
STATE_ICON = {"running": "🍳", "paused": "⏸", "finished": "✅", "cancelled": "✖️"}


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


# ----- collections ---------------------------------------------------------------------------

def collections_text(mine: Sequence[Collection], shared: Sequence[Collection]) -> str:
    if not mine and not shared:
        return ("No collections yet. /collection new NAME makes one; the 📚 button under any "
                "image adds it.")
    lines = []
    number = 0
    if mine:
        lines.append("Your collections:")
        for c in mine:
            number += 1
            lines.append(f"{number}. {c.name} · {plural(c.items, 'item')}")
    if shared:
        lines.append("Shared with you:")
        for c in shared:
            number += 1
            lines.append(f"{number}. {c.name} · {plural(c.items, 'item')} ({c.access})")
    lines.append("Press one to open it; /collection for more.")
    return "\n".join(lines)


def collections_keyboard(found: Sequence[Collection]) -> Keyboard | None:
    if not found:
        return None
    return InlineKeyboardMarkup([[button(f"📚 {c.name} ({c.items})", "kv", c.id)]
                                 for c in found[:20]])


def collection_text(c: Collection, items: Sequence[Item], total: int,
                    shares: Sequence[ShareView] = (), prompts: dict[str, str] | None = None
                    ) -> str:
    lines = [f"📚 {c.name} · {plural(total, 'item')} · {ACCESS.get(c.access, c.access)}"]
    if c.description:
        lines.append(c.description)
    for number, item in enumerate(items, start=1):
        lines.append(f"{number}. {item_label(item, (prompts or {}).get(item.id))}")
    if total > len(items):
        lines.append(f"… and {total - len(items)} more")
    if shares:
        lines.append("Shared with: " + ", ".join(f"{s.user} ({s.share.permission})"
                                                 for s in shares))
    if not total:
        lines.append("Empty: press 📚 under any image to add it here.")
    return "\n".join(lines)


def item_label(item: Item, prompt: str | None = None) -> str:
    label = item.name or item.description or prompt or "image"
    traits = ", ".join(f"{a.get('trait_type')}: {a.get('value')}" for a in item.attributes)
    return f"{label} ({traits})" if traits else label


def collection_keyboard(c: Collection) -> Keyboard:
    rows = [[button("📦 Export", "ke", c.id)]]
    if c.access == "owner":
        rows[0].insert(0, button("🍳 Cook", "qs", c.id))
        rows.append([button("🔗 New share link", "kl", c.id), button("🔗 Links", "kk", c.id)])
        rows.append([button("🗑 Delete", "kx", c.id)])
    return InlineKeyboardMarkup(rows)


def pick_collection_keyboard(media_id: str, found: Sequence[Collection]) -> Keyboard:
    rows = [[button(f"📚 {c.name} ({c.items})", "ka", media_id, c.id)] for c in found[:10]]
    rows.append([button("➕ New collection", "kn", media_id)])
    return InlineKeyboardMarkup(rows)


def delete_keyboard(c: Collection) -> Keyboard:
    return InlineKeyboardMarkup([[button("🗑 Delete", "ky", c.id), button("Cancel", "no", c.id)]])


# ----- share links ---------------------------------------------------------------------------

def expiry_keyboard(c: Collection) -> Keyboard:
    return InlineKeyboardMarkup([[button(name if name != "never" else "never expires",
                                         "kc", c.id, name) for name in EXPIRIES]])


def link_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/c/{token}"


def _until(link: Link) -> str:
    if link.status == "revoked":
        return "revoked"
    if link.expires_at is None:
        return "never expires"
    if link.status == "expired":
        return "expired"
    return f"until {_utc(link.expires_at)}"


def _utc(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def link_text(c: Collection, link: Link, base: str) -> str:
    return (f"🔗 Share link for {c.name} (read-only, {_until(link)}):\n"
            f"{link_url(base, link.token)}")


def revoke_keyboard(c: Collection, links: Sequence[Link]) -> Keyboard | None:
    rows = [[button(f"🚫 Revoke {n}" if len(links) > 1 else "🚫 Revoke", "kr", c.id, link.token)]
            for n, link in enumerate(links, start=1) if link.status == "active"]
    return InlineKeyboardMarkup(rows) if rows else None


def links_text(c: Collection, links: Sequence[Link], base: str) -> str:
    active = [link for link in links if link.status == "active"]
    if not active:
        return f"{c.name} has no active share links. /collection link {c.name} makes one."
    lines = [f"Share links of {c.name}:"]
    for number, link in enumerate(active, start=1):
        lines.append(f"{number}. {link_url(base, link.token)} · {_until(link)}")
    return "\n".join(lines)


# ----- cook ----------------------------------------------------------------------------------

def cook_text(c: Collection, config: CookConfig, plans: Sequence[PiecePlan],
              quote: CookQuote | None) -> str:
    lines = [f"🍳 Cook {c.name}: {plural(config.supply, 'piece')} with {config.tool}",
             f"Master prompt: {config.master_prompt}"]
    for kind in config.trait_types:
        lines.append(f"• {kind.name}: " + ", ".join(
            t.name if t.weight == 1 else f"{t.name} ×{t.weight:g}" for t in kind.traits))
    if plans:
        lines.append("First pieces:")
        lines += [f"#{p.number}: {p.prompt}" for p in plans]
    if quote is not None:
        lines.append(f"Price: {quote.pieces} × {quote.per_piece} = {quote.points} points "
                     f"(you have {quote.available}).")
        if not quote.enough:
            lines.append(f"Your balance covers {quote.fits} now; the run pauses when it runs "
                         "short and continues when you resume.")
        lines.append("Each piece is charged when it is made; nothing is held up front.")
    return "\n".join(lines)


def cook_start_keyboard(c: Collection) -> Keyboard:
    return InlineKeyboardMarkup([[button("🍳 Start cooking", "qg", c.id),
                                  button("Cancel", "no", c.id)]])


def cook_status_text(name: str, s: CookStatus) -> str:
    icon = STATE_ICON.get(s.state, "🍳")
    words = {"running": "cooking", "paused": "paused", "finished": "cooked",
             "cancelled": "cancelled"}.get(s.state, s.state)
    parts = [f"{icon} {name}: {words} {s.progress}"]
    if s.failed:
        parts.append(f"{s.failed} failed")
    if s.kept or s.rejected:
        parts.append(f"{s.kept} kept, {s.rejected} rejected")
    text = " · ".join(parts)
    if s.reason and s.state == "paused":
        text += f"\n{s.reason}"
    return text


def cook_progress_text(name: str, state: str, done: int, total: int, failed: int) -> str:
    icon = STATE_ICON.get(state, "🍳")
    words = {"running": "cooking", "paused": "paused", "cancelled": "cancelled"}.get(state, state)
    extra = f" · {failed} failed" if failed else ""
    return f"{icon} {name}: {words} {done}/{total}{extra}"


def cook_finished_text(name: str, done: int, total: int, failed: int) -> str:
    extra = f" ({failed} failed: regenerate them in the review)" if failed else ""
    return f"✅ {name}: cooked {done}/{total}{extra}. Review the pieces to keep them."


def cook_controls(collection_id: str, state: str) -> Keyboard:
    if state == "running":
        row = [button("⏸ Pause", "qp", collection_id), button("✖️ Cancel", "qc", collection_id)]
    elif state in ("paused", "cancelled"):
        row = [button("▶️ Resume", "qu" if state == "paused" else "qg", collection_id)]
        if state == "paused":
            row.append(button("✖️ Cancel", "qc", collection_id))
    else:
        row = [button("📦 Export", "ke", collection_id)]
    return InlineKeyboardMarkup([row, [button("🔎 Review", "qv", collection_id, "1")]])


def review_text(name: str, pieces: Sequence[Piece], page: int) -> str:
    if not pieces:
        return f"{name}: no pieces on page {page}." if page > 1 else f"{name}: no pieces yet."
    lines = [f"🔎 Review {name} (page {page}):"]
    for p in pieces:
        traits = ", ".join(str(a.get("value")) for a in p.attributes)
        review = f" · {p.review}" if p.review else ""
        error = f" · {p.error}" if p.state == "failed" and p.error else ""
        lines.append(f"#{p.number} {traits} · {p.state}{review}{error}")
    return "\n".join(lines)


def review_keyboard(collection_id: str, pieces: Sequence[Piece], page: int,
                    more: bool) -> Keyboard | None:
    rows = []
    for p in pieces:
        number = str(p.number)
        if p.state == "done":
            rows.append([button(f"✅ #{number}", "qk", collection_id, number),
                         button(f"❌ #{number}", "qj", collection_id, number),
                         button(f"🔄 #{number}", "qr", collection_id, number)])
        elif p.state in ("failed", "cancelled"):
            rows.append([button(f"🔄 #{number}", "qr", collection_id, number)])
    if more:
        rows.append([button("Next page ▶️", "qv", collection_id, str(page + 1))])
    return InlineKeyboardMarkup(rows) if rows else None
