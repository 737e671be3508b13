"""Datasets and training: create a dataset, upload images (several at once), edit captions
in place, see whether it is ready (and why not), the price, train, and my models.

A training is a job like any other: submitting one leads to its job page with live progress.
Another user's dataset does not exist here (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from stationthis.core.errors import InvalidInput, StationError
from stationthis.core.users import Account
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import (
    PageRoute,
    SignedIn,
    form_of,
    page,
    redirect,
    text,
)
from stationthis.platforms.web.pages.studio import reply_to

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/datasets")
async def datasets(request: Request, account: SignedIn) -> Response:
    return await _list(request, account)


@router.post("/datasets")
async def create(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    name, trigger = text(form, "name").strip(), text(form, "trigger").strip()
    try:
        dataset = await station(request).datasets.create(account.id, name, trigger or None)
    except StationError as exc:
        return await _list(request, account, exc.message, status_of(exc),
                           {"name": name, "trigger": trigger})
    return redirect(f"/datasets/{dataset.id}")


@router.get("/datasets/{dataset_id}")
async def dataset(dataset_id: str, request: Request, account: SignedIn) -> Response:
    return await _dataset(request, account, dataset_id)


@router.get("/datasets/{dataset_id}/quote")
async def quote(
    dataset_id: str, request: Request, account: SignedIn, steps: str = ""
) -> Response:
    """The training price for other options (the page's JS asks as the steps change)."""
    try:
        found = await station(request).training.quote(account, dataset_id,
                                                      {"steps": steps} if steps else {})
    except StationError as exc:
        if status_of(exc) == 404:
            raise
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                            status_code=status_of(exc))
    return JSONResponse({"points": found.points, "available": found.available,
                         "fits": found.fits})


@router.post("/datasets/{dataset_id}/images")
async def upload(dataset_id: str, request: Request, account: SignedIn) -> Response:
    app = station(request)
    await app.datasets.get(account.id, dataset_id)  # someone else's: 404 before reading files
    form = await form_of(request)
    limit = app.settings.max_upload_bytes
    batch: list[tuple[bytes, str | None]] = []
    try:
        for index, upload in enumerate(form.getlist("files"), start=1):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            data = await upload.read(limit + 1)
            if len(data) > limit:
                raise InvalidInput(f"{upload.filename} is larger than {limit} bytes")
            caption = text(form, f"caption-{index}").strip() or None
            batch.append((data, caption))
        if not batch:
            raise InvalidInput("choose one or more PNG, JPEG or WEBP images to upload")
        await app.datasets.add_images(account.id, dataset_id, batch)
    except StationError as exc:
        return await _dataset(request, account, dataset_id, exc.message, status_of(exc))
    return redirect(f"/datasets/{dataset_id}")


@router.post("/datasets/{dataset_id}/captions")
async def captions(dataset_id: str, request: Request, account: SignedIn) -> Response:
    """Save every caption of the page's inline editor (only those that changed are written)."""
    form = await form_of(request)
    app = station(request)
    current = await app.datasets.get(account.id, dataset_id)
    try:
        for image in current.images:
            new = form.get(f"caption-{image.id}")
            if isinstance(new, str) and " ".join(new.split()) != (image.caption or ""):
                await app.datasets.set_caption(account.id, dataset_id, image.id, new)
    except StationError as exc:
        return await _dataset(request, account, dataset_id, exc.message, status_of(exc))
    return redirect(f"/datasets/{dataset_id}")


@router.post("/datasets/{dataset_id}/images/{image_id}/remove")
async def remove(
    dataset_id: str, image_id: str, request: Request, account: SignedIn
) -> Response:
    await form_of(request)
    await station(request).datasets.remove_image(account.id, dataset_id, image_id)
    return redirect(f"/datasets/{dataset_id}")


@router.post("/datasets/{dataset_id}/delete")
async def delete(dataset_id: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    await station(request).datasets.delete(account.id, dataset_id)
    return redirect("/datasets")


@router.post("/datasets/{dataset_id}/train")
async def train(dataset_id: str, request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    options = _train_options(form)
    try:
        job = await app.training.submit(account, dataset_id, options,
                                        name=text(form, "name").strip() or None,
                                        reply=reply_to(account))
    except StationError as exc:
        return await _dataset(request, account, dataset_id, exc.message, status_of(exc),
                              options)
    return redirect(f"/jobs/{job.id}")


# ----- internals ------------------------------------------------------------------------------


def _train_options(form: Any) -> dict[str, Any]:
    steps = text(form, "steps").strip()
    return {"steps": steps} if steps else {}


async def _list(
    request: Request, account: Account, error: str | None = None, status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    app = station(request)
    found = await app.datasets.list_for(account.id)
    rows = [(d, app.datasets.readiness(d)) for d in found]
    models = await app.training.my_models(account)
    return page(request, "datasets.html", status_code, rows=rows, models=models, error=error,
                values=values or {"name": "", "trigger": ""})


async def _dataset(
    request: Request, account: Account, dataset_id: str, error: str | None = None,
    status_code: int = 200, options: dict[str, Any] | None = None,
) -> Response:
    app = station(request)
    view = await app.training.view(account, dataset_id)
    quote = None
    quote_error = None
    try:
        quote = await app.training.quote(account, dataset_id, options or {})
    except StationError as exc:
        quote_error = exc.message
    steps = app.tools.get("train").inputs.get("steps")
    return page(request, "dataset.html", status_code, dataset=view.dataset,
                readiness=view.readiness, quote=quote, quote_error=quote_error, error=error,
                steps=steps, options=options or {})
