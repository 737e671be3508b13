"""The studio (the home page when signed in), a job's page with its live progress, and the
actions on a result: regenerate, variations, upscale, remove background, zoom out, pan,
cancel.

The studio is one page: the prompt bar and the tool's inputs above, the feed of the user's
jobs below (``feed.py``). Running is a plain form post, so it works without JS (it then goes
to the job's page); the page's JS posts the same forms with ``X-Studio: feed`` and gets the
new job's tile (or what went wrong) back to put in place, and adds the live price
(``POST /api/v1/quotes``), image uploads (``POST /api/v1/media``) and progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import text as sql

from stationthis import __version__
from stationthis.core.db import utcnow
from stationthis.core.errors import InsufficientPoints, InvalidInput, NotFound, StationError
from stationthis.core.jobs import Job
from stationthis.core.replies import WebReply
from stationthis.core.tools import Tool
from stationthis.core.users import Account
from stationthis.platforms.web.auth import optional_account, runtime, station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import (
    PageRoute,
    SignedIn,
    form_of,
    page,
    redirect,
    text,
)
from stationthis.platforms.web.pages.feed import feed, tile_of, ui_tools
from stationthis.platforms.web.pages.forms import STUDIO_CATEGORIES, aspects, fields_of, options_of
from stationthis.platforms.web.pages.short import GET_POINTS_URL, explain
from stationthis.workflows import describe as describing
from stationthis.workflows.make_image import Request as MakeRequest
from stationthis.workflows.settings import PARAM_KEYS

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def reply_to(user: Account) -> WebReply:
    return WebReply(user.id)


@router.get("/")
async def home(
    request: Request, tool: str | None = None, prompt: str | None = None,
    image: str | None = None, account: Account | None = Depends(optional_account),
) -> Response:
    if account is None or request.state.auth_via != "session":
        return page(request, "landing.html", health=await _health(request))
    values: dict[str, Any] = {"prompt": prompt} if prompt else {}
    return await _studio(request, account, tool, values, image=image)


@router.get("/status")
async def status(request: Request, _: Account | None = Depends(optional_account)) -> Response:
    return page(request, "status.html", health=await _health(request))


@router.post("/studio/run")
async def run(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    tool = app.tools.get(text(form, "tool") or "make")
    options, images = options_of(tool, form)
    if text(form, "style"):  # the prompt bar's style select (workflows/styles.py)
        options["style"] = text(form, "style")
    try:
        _check_images(tool, images, app.settings.max_upload_bytes)
        job = await app.make_image.make(account, MakeRequest(tool.name, options, images),
                                        reply=reply_to(account))
    except StationError as exc:
        if in_feed(request):
            return await _problem(request, account, exc)
        values = {**options, **images}
        return await _studio(request, account, tool.name, values, exc, status_of(exc))
    return await _started(request, account, job)


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
    if in_feed(request):
        job = await station(request).jobs.get_owned(job_id, account.id)
        return await _tile(request, account, job)
    return redirect(f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/regenerate")
async def regenerate(
    job_id: str, request: Request, account: SignedIn
) -> Response:
    await form_of(request)
    try:
        job = await station(request).again.regenerate(account, job_id, reply=reply_to(account))
    except StationError as exc:
        if in_feed(request):
            return await _problem(request, account, exc)
        raise
    return await _started(request, account, job)


@router.post("/media/{media_id}/{action}")
async def image_action(
    media_id: str, action: str, request: Request, account: SignedIn
) -> Response:
    form = await form_of(request)
    again = station(request).again
    reply = reply_to(account)
    try:
        if action == "variations":
            job = await again.vary(account, media_id, _strength(text(form, "strength")),
                                   reply=reply)
        elif action == "upscale":
            scale = 4 if text(form, "scale") == "4" else 2
            job = await again.upscale(account, media_id, scale, reply=reply)
        elif action == "rmbg":
            job = await again.remove_background(account, media_id, reply=reply)
        elif action == "zoom-out":
            factor = 2.0 if text(form, "factor") == "2" else 1.5
            job = await again.zoom_out(account, media_id, factor, reply=reply)
        elif action == "pan":
            job = await again.pan(account, media_id, text(form, "direction"), reply=reply)
        else:
            raise NotFound("no such action")
    except StationError as exc:
        if in_feed(request) and not isinstance(exc, NotFound):
            return await _problem(request, account, exc)
        raise
    return await _started(request, account, job)


# ----- internals ------------------------------------------------------------------------------


def in_feed(request: Request) -> bool:
    """Posted by the studio's JS, which puts the answer in the feed (not a whole page)."""
    return request.headers.get("x-studio") == "feed"


async def _started(request: Request, account: Account, job: Job) -> Response:
    if in_feed(request):
        return await _tile(request, account, job, 201)
    return redirect(f"/jobs/{job.id}")


async def _tile(request: Request, account: Account, job: Job, status_code: int = 200
                ) -> Response:
    return page(request, "_tile.html", status_code, t=await tile_of(request, account, job),
                ui_tools=ui_tools(request))


async def _problem(request: Request, account: Account, exc: StationError) -> Response:
    """What went wrong, as a fragment for the feed: the message, and for a user short of
    points the ways forward."""
    short = (await explain(station(request), account.id, exc)
             if isinstance(exc, InsufficientPoints) else None)
    return page(request, "_problem.html", status_of(exc), message=exc.message, short=short,
                get_points=GET_POINTS_URL)


def _check_images(tool: Tool, images: dict[str, str], max_bytes: int) -> None:
    """A required image that is missing says what to do (the upload may have been refused:
    the page shows why next to the file input)."""
    for name, spec in tool.inputs.items():
        if spec.type == "image" and spec.required and not images.get(name):
            raise InvalidInput(
                f"Choose an image for “{name.replace('_', ' ')}” first: a PNG, JPEG or WebP "
                f"file of at most {max_bytes // (1024 * 1024)} MB.", input=name)


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
    error: StationError | None = None, status_code: int = 200, image: str | None = None,
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
    image_input = next((n for n, s in tool.inputs.items() if s.type == "image"), None)
    if image and image_input and image_input not in values:
        values = {**values, image_input: image}  # "use as input" from a tile
    limits = app.tiers.limits(account)
    filled = {**mine, **values}
    balance = await app.account.balance(account)
    models = await app.training.my_models(account) if "loras" in tool.inputs else []
    loras = (await app.server_loras.all()
             if app.server_loras is not None and {"loras", "prompt"} <= set(tool.inputs) else [])
    styles = (await app.styles.book.styles(account.id)
              if app.styles is not None and "prompt" in tool.inputs else [])
    short = (await explain(app, account.id, error)
             if isinstance(error, InsufficientPoints) else None)
    policy = app.account.policy
    next_at = balance.balance.next_refill_at
    refill_next = max(0, round((next_at - utcnow()).total_seconds())) if next_at else None
    return page(
        request, "studio.html", status_code, tools=tools, tool=tool,
        fields=fields_of(tool, filled, limits), aspects=aspects(tool, filled, limits),
        error=error.message if error and short is None else None, short=short,
        balance=balance, models=models, server_loras=loras, tier=limits.tier,
        get_points=GET_POINTS_URL,
        styles=styles, style=str(values.get("style") or ""),
        max_upload=app.settings.max_upload_bytes, refill_step=policy.step_amount,
        refill_every=policy.interval_seconds, refill_next=refill_next,
        allowance_room=balance.balance.allowance_max - balance.balance.allowance,
        **await feed(request, account, None),
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
    return {"outputs": outputs, "texts": texts, "model": model, "ui_tools": ui_tools(request),
            "prompts": await describing.prompts(app.media, job)}  # a describe's, to use


async def _health(request: Request) -> dict[str, Any]:
    app = runtime(request)  # the status of the process itself
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
