"""The admin console (``/admin``): the instance at a glance, users, jobs, moderation, the
servers' LoRAs, the audit log, purchases. Admins only (``stationthis users admin NAME``);
anyone else gets the 404 page, as if it did not exist. Every form posts with the session's
CSRF token and every action goes through ``workflows/operators.py``, which writes the audit
entry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response

from stationthis.core.engine import server_lister
from stationthis.core.errors import InvalidInput, NotFound, StationError
from stationthis.core.server_loras import MAX_FACTOR, MIN_FACTOR, ServerLora
from stationthis.core.users import Account
from stationthis.platforms.web.auth import runtime, station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import (
    PageRoute,
    SignedIn,
    form_of,
    page,
    redirect,
    text,
)
from stationthis.workflows.operators import Operators

router = APIRouter(prefix="/admin", route_class=PageRoute, include_in_schema=False)


async def _admin(request: Request, account: SignedIn) -> Account:
    operators = station(request).operators
    if operators is None or not await operators.is_admin(account):
        raise NotFound("no such page")
    return account


Admin = Annotated[Account, Depends(_admin)]


def ops(request: Request) -> Operators:
    operators = station(request).operators
    assert operators is not None
    return operators


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    return page(request, template, status, admin_section=template.removeprefix("admin_")
                .removesuffix(".html"), **context)


def _servers(request: Request) -> list[dict[str, Any]]:
    """Each ComfyUI server of the engine's pool, when the engine has one."""
    lister = server_lister(runtime(request).engine)
    return [] if lister is None else [asdict(server) for server in lister.servers()]


@router.get("")
async def overview(request: Request, admin: Admin) -> Response:
    return _render(request, "admin_overview.html", overview=await ops(request).overview(),
                   servers=_servers(request))


@router.get("/users")
async def users(request: Request, admin: Admin, q: str = "") -> Response:
    return _render(request, "admin_users.html", q=q, found=await ops(request).find_users(q))


@router.get("/users/{account_id}")
async def user(request: Request, account_id: str, admin: Admin) -> Response:
    return await _user(request, account_id)


async def _user(request: Request, account_id: str, status: int = 200, **extra: Any) -> Response:
    view = await ops(request).user(account_id)
    app = station(request)
    return _render(request, "admin_user.html", status, view=view, tiers=sorted(app.tiers.tiers),
                   purchases=await _purchases(request, account_id), **extra)


@router.post("/users/{account_id}/{action}")
async def user_action(request: Request, account_id: str, action: str, admin: Admin) -> Response:
    form = await form_of(request)
    o = ops(request)
    reason = text(form, "reason")
    try:
        if action in ("ban", "unban"):
            await o.ban(admin, account_id, reason, banned=action == "ban")
        elif action in ("grant", "deduct"):
            amount = _amount(text(form, "amount"))
            await (o.grant if action == "grant" else o.deduct)(admin, account_id, amount, reason)
        elif action == "tier":
            await o.set_tier(admin, account_id, text(form, "tier"), reason)
        else:
            raise NotFound("no such action")
    except (InvalidInput, StationError) as exc:
        if isinstance(exc, NotFound):
            raise
        return await _user(request, account_id, status_of(exc), error=exc.message)
    return redirect(f"/admin/users/{account_id}?done={action}")


def _amount(value: str) -> int:
    try:
        amount = int(value.strip())
    except ValueError:
        raise InvalidInput("the amount is a whole number of points", input="amount") from None
    if not 0 < amount <= 10_000_000:
        raise InvalidInput("the amount is between 1 and 10,000,000 points", input="amount")
    return amount


@router.get("/jobs")
async def jobs(request: Request, admin: Admin, state: str = "", tool: str = "",
               user: str = "") -> Response:
    found = await ops(request).list_jobs(state=state, tool=tool, user=user)
    return _render(request, "admin_jobs.html", jobs=found, state=state, tool=tool, user=user,
                   tools=sorted(t.name for t in station(request).tools.all()))


@router.get("/jobs/{job_id}")
async def job(request: Request, job_id: str, admin: Admin) -> Response:
    app = station(request)
    found = await app.jobs.get(job_id)
    flagged = [e for e in await ops(request).flagged() if e.job_id == job_id]
    return _render(request, "admin_job.html", job=found, flagged=flagged)


@router.post("/jobs/{job_id}/cancel")
async def cancel(request: Request, job_id: str, admin: Admin) -> Response:
    form = await form_of(request)
    await ops(request).cancel_job(admin, job_id, text(form, "reason"))
    return redirect(f"/admin/jobs/{job_id}")


@router.get("/moderation")
async def moderation(request: Request, admin: Admin) -> Response:
    return await _moderation(request)


async def _moderation(request: Request, status: int = 200, **extra: Any) -> Response:
    o = ops(request)
    app = station(request)
    return _render(request, "admin_moderation.html", status, rules=await o.rules.list(),
                   settings_words=app.settings.blocked_words,
                   settings_patterns=app.settings.blocked_patterns,
                   held=await o.flagged("held"), reviewed=await o.flagged(), refused=
                   await o.refused(), check=o.review.enabled, **extra)


@router.post("/moderation/rules")
async def add_rule(request: Request, admin: Admin) -> Response:
    form = await form_of(request)
    try:
        await ops(request).add_rule(admin, text(form, "kind"), text(form, "value"))
    except StationError as exc:
        return await _moderation(request, status_of(exc), error=exc.message)
    return redirect("/admin/moderation#rules")


@router.post("/moderation/rules/{rule_id}/delete")
async def remove_rule(request: Request, rule_id: int, admin: Admin) -> Response:
    await form_of(request)
    await ops(request).remove_rule(admin, rule_id)
    return redirect("/admin/moderation#rules")


@router.post("/moderation/review/{job_id}/{verdict}")
async def review(request: Request, job_id: str, verdict: str, admin: Admin) -> Response:
    form = await form_of(request)
    o = ops(request)
    try:
        if verdict == "release":
            await o.release(admin, job_id)
        elif verdict == "reject":
            await o.reject(admin, job_id, text(form, "reason"))
        else:
            raise NotFound("no such verdict")
    except StationError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _moderation(request, status_of(exc), error=exc.message)
    return redirect("/admin/moderation#review")


@router.get("/loras")
async def loras(request: Request, admin: Admin, saved: str = "") -> Response:
    return await _loras(request, saved=saved)


async def _loras(request: Request, status: int = 200, **extra: Any) -> Response:
    catalog = station(request).server_loras
    found = [] if catalog is None else await catalog.all(include_hidden=True)
    return _render(request, "admin_loras.html", status, loras=found,
                   catalog=catalog is not None, low=MIN_FACTOR, high=MAX_FACTOR, **extra)


@router.post("/loras")
async def set_lora(request: Request, admin: Admin) -> Response:
    """Set what users see of one server LoRA file: only what changed is written (and audited)."""
    form = await form_of(request)
    catalog = station(request).server_loras
    if catalog is None:
        raise NotFound("no such page")
    file_name = text(form, "file")
    try:
        known = {lora.file_name: lora for lora in await catalog.all(include_hidden=True)}
        if file_name not in known:
            raise NotFound(f"the servers have no LoRA file {file_name!r}")
        changes = _lora_changes(known[file_name], form)
        if changes:
            await ops(request).set_server_lora(admin, catalog, file_name, **changes)
    except StationError as exc:
        return await _loras(request, status_of(exc), error=exc.message, editing=file_name)
    return redirect(f"/admin/loras?saved={quote(file_name, safe='')}")


def _lora_changes(lora: ServerLora, form: Any) -> dict[str, Any]:
    name = " ".join(text(form, "name").split())
    triggers = [t.strip() for t in text(form, "triggers").split(",") if t.strip()]
    preview = text(form, "preview").strip()
    factor = _factor(text(form, "price_factor"))
    hidden = text(form, "hidden") == "on"
    wanted = {"name": name, "triggers": triggers, "preview": preview,
              "price_factor": factor, "hidden": hidden}
    now = {"name": lora.name, "triggers": list(lora.triggers), "preview": lora.preview or "",
           "price_factor": lora.price_factor, "hidden": lora.hidden}
    return {key: value for key, value in wanted.items() if value != now[key]}


def _factor(value: str) -> float:
    value = value.strip() or "1"
    try:
        factor = float(value)
    except ValueError:
        factor = float("nan")
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise InvalidInput(f"the price factor is a number from {MIN_FACTOR:g} to "
                           f"{MAX_FACTOR:g}, like 1.5 (got {value[:20]!r})", input="price_factor")
    return factor


@router.get("/media/{media_id}")
async def media(request: Request, media_id: str, admin: Admin) -> Response:
    """Any stored image, for review (held outputs are not in their owner's gallery)."""
    app = station(request)
    item = await app.media.get(media_id)
    return Response(await app.media.read(item), media_type=item.media_type,
                    headers={"Cache-Control": "private, no-store"})


@router.get("/audit")
async def audit(request: Request, admin: Admin) -> Response:
    return _render(request, "admin_audit.html", entries=await ops(request).recent_audit(200))


@router.get("/purchases")
async def purchases(request: Request, admin: Admin) -> Response:
    found = await _purchases(request, None)
    if found is None:
        raise NotFound("purchases are not part of this instance")
    return _render(request, "admin_purchases.html", purchases=found)


@router.post("/purchases/{purchase_id}/refund")
async def refund(request: Request, purchase_id: str, admin: Admin) -> Response:
    """Refund a paid purchase at its provider (Stripe, Telegram Stars) and take the points
    back, once; the audit log records who, why, and the purchase before and after."""
    form = await form_of(request)
    app = runtime(request)  # the payment provider is bootstrap's
    try:
        if app.payment_provider is None:
            raise InvalidInput("refunds are not set up on this instance")
        purchase = await app.purchases.get(purchase_id)
        await ops(request).refund_purchase(
            admin, purchase, app.purchases, app.payment_provider, text(form, "reason")
        )
    except StationError as exc:
        found = await _purchases(request, None)
        return _render(request, "admin_purchases.html", status_of(exc),
                       purchases=found or [], error=exc.message)
    return redirect("/admin/purchases")


async def _purchases(request: Request, account_id: str | None) -> list[Any] | None:
    """Purchases (issue 18) when this instance has them; None otherwise."""
    found: list[Any] = await station(request).purchases.list_all(account_id)
    return found
