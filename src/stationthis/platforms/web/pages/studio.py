"""The studio (the home page when signed in), a job's page with its live progress, and the
actions on a result: regenerate, variations, upscale, remove background, cancel.

Running is a plain form post (so it works without JS); the page's JS adds the live price
(``POST /api/v1/quotes``), image uploads (``POST /api/v1/media``) and the progress stream
(``GET /api/v1/jobs/{id}/events``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import text as sql

from .... import __version__
from ....core.errors import InvalidInput, NotFound, StationError
from ....core.jobs import Job
from ....core.users import Account
from ....workflows.make_image import Request as MakeRequest
from ....workflows.settings import PARAM_KEYS
from ..auth import optional_account, station
from ..errors import status_of
from .common import PageRoute, SignedIn, form_of, page, redirect, text
from .forms import STUDIO_CATEGORIES, fields_of, options_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)
WEB_REPLY = "web"


def reply_to(user: Account) -> dict[str, Any]:
    return {"platform": WEB_REPLY, "address": {"account_id": user.id}}


@router.get("/")
async def home(
    request: Request, tool: str | None = None, prompt: str | None = None,
    account: Account | None = Depends(optional_account),
) -> Response:
    if account is None or request.state.auth_via != "session":
        return page(request, "landing.html", health=await _health(request))
    return await _studio(request, account, tool, {"prompt": prompt} if prompt else {})


@router.get("/status")
async def status(request: Request, _: Account | None = Depends(optional_account)) -> Response:
    return page(request, "status.html", health=await _health(request))


@router.post("/studio/run")
async def run(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    tool = app.tools.get(text(form, "tool") or "make")
    options, images = options_of(tool, form)
    try:
        job = await app.make_image.make(account, MakeRequest(tool.name, options, images),
                                        reply=reply_to(account))
    except StationError as exc:
        values = {**options, **images}
        return await _studio(request, account, tool.name, values, exc.message, status_of(exc))
    return redirect(f"/jobs/{job.id}")


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request, account: SignedIn) -> Response:
    job = await station(request).jobs.get_owned(job_id, account.id)
    return page(request, "job.html", job=job, **await _results(request, account, job))


@router.get("/jobs/{job_id}/results")
async def job_results(
    job_id: str, request: Request, account: SignedIn
) -> Response:
    """The results part of the job page, fetched by the page's JS when the job ends."""
    job = await station(request).jobs.get_owned(job_id, account.id)
    return page(request, "_results.html", job=job, **await _results(request, account, job))


@router.post("/jobs/{job_id}/cancel")
async def cancel(job_id: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    await station(request).status.cancel(account, job_id)
    return redirect(f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/regenerate")
async def regenerate(
    job_id: str, request: Request, account: SignedIn
) -> Response:
    await form_of(request)
    job = await station(request).again.regenerate(account, job_id, reply=reply_to(account))
    return redirect(f"/jobs/{job.id}")


@router.post("/media/{media_id}/{action}")
async def image_action(
    media_id: str, action: str, request: Request, account: SignedIn
) -> Response:
    form = await form_of(request)
    again = station(request).again
    reply = reply_to(account)
    if action == "variations":
        job = await again.vary(account, media_id, _strength(text(form, "strength")),
                               reply=reply)
    elif action == "upscale":
        scale = 4 if text(form, "scale") == "4" else 2
        job = await again.upscale(account, media_id, scale, reply=reply)
    elif action == "rmbg":
        job = await again.remove_background(account, media_id, reply=reply)
    else:
        raise NotFound("no such action")
    return redirect(f"/jobs/{job.id}")


# ----- internals ------------------------------------------------------------------------------


def _strength(raw: str) -> float:
    try:
        value = float(raw) if raw.strip() else 0.5
    except ValueError:
        raise InvalidInput("strength must be a number from 0 to 1") from None
    if not 0 <= value <= 1:
        raise InvalidInput("strength must be a number from 0 to 1")
    return value


async def _studio(
    request: Request, account: Account, tool_name: str | None, values: dict[str, Any],
    error: str | None = None, status_code: int = 200,
) -> Response:
    app = station(request)
    tools = [t for t in app.tools.all() if t.category in STUDIO_CATEGORIES]
    name = tool_name or await app.make_image.default_tool(account)
    tool = app.tools.get(name)
    if tool.category not in STUDIO_CATEGORIES:
        raise NotFound(f"{tool.name} is not run from the studio")
    view = await app.user_settings.show(account)
    takes_image = any(spec.type == "image" for spec in tool.inputs.values())
    mine = {k: v.value for k, v in view.items.items()
            if k in PARAM_KEYS and v.source != "default" and v.value is not None
            and not (takes_image and k in ("width", "height"))}  # the image's size wins
    balance = await app.account.balance(account)
    models = await app.training.my_models(account) if "loras" in tool.inputs else []
    active = await app.status.active(account)
    return page(
        request, "studio.html", status_code, tools=tools, tool=tool,
        fields=fields_of(tool, {**mine, **values}), error=error, balance=balance,
        models=models, active=active,
    )


async def _results(request: Request, account: Account, job: Job) -> dict[str, Any]:
    app = station(request)
    outputs = []
    for media_id in job.outputs:
        try:
            outputs.append(await app.media.get(media_id, owner_id=account.id))
        except NotFound:
            continue
    texts = {}
    for item in outputs:
        if item.media_type.startswith("text/"):
            texts[item.id] = (await app.media.read(item)).decode("utf-8", "replace")
    model = None
    if job.category == "train" and job.state == "succeeded":
        model = next((m for m in await app.training.my_models(account) if m.job_id == job.id),
                     None)
    return {"outputs": outputs, "texts": texts, "model": model,
            "ui_tools": {t.category for t in app.tools.all()}}


async def _health(request: Request) -> dict[str, Any]:
    app = station(request)
    engine = await app.engine.health()
    try:
        async with app.db.read() as conn:
            await conn.execute(sql("SELECT 1"))
        database = "ok"
    except Exception as exc:  # reported, not raised: this is the status page
        database = f"error: {type(exc).__name__}"
    ok = engine.ok and database == "ok"
    return {"status": "ok" if ok else "degraded", "version": __version__,
            "engine": engine.name, "engine_detail": engine.detail, "database": database}
