"""Datasets (captioned images for training), trainings (quote, submit) and trained models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.web.api.media import read_upload
from stationthis.platforms.web.api.views import WEB_REPLY, Done, JobOut
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.training import DatasetView

router = APIRouter(prefix="/api/v1", tags=["training"])
_AUTH = (401, 403)


class NewDataset(BaseModel):
    name: str = Field(max_length=100)
    trigger: str | None = Field(None, max_length=100, description="default: the name")
    base_model: str = Field("sd15", max_length=100)


class Rename(BaseModel):
    name: str = Field(max_length=100)


class Caption(BaseModel):
    caption: str | None = Field(max_length=1000, description="null or empty: no caption")


class DatasetImageOut(BaseModel):
    id: str
    media_id: str
    caption: str | None
    position: int
    width: int
    height: int
    thumbnail_url: str


class ReadinessOut(BaseModel):
    images: int
    max_images: int
    captioned: int
    ready: bool
    reason: str = Field(description="why it is not ready, or 'ready to train'")
    warnings: list[str]


class DatasetOut(BaseModel):
    id: str
    name: str
    trigger: str
    base_model: str
    created_at: datetime
    updated_at: datetime
    images: list[DatasetImageOut]
    readiness: ReadinessOut


class Added(BaseModel):
    added: int
    dataset: DatasetOut


class TrainingRequest(BaseModel):
    dataset_id: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="training inputs: steps, rank, …")
    name: str | None = Field(None, max_length=100, description="the model's name")


class TrainingQuoteOut(BaseModel):
    dataset_id: str
    points: int
    available: int
    fits: bool
    params: dict[str, Any]


class ModelOut(BaseModel):
    id: str
    name: str
    trigger: str
    base_model: str
    kind: str = Field(description="lora | style")
    engine: str
    dataset_id: str | None
    job_id: str | None
    created_at: datetime


def dataset_out(view: DatasetView) -> DatasetOut:
    d, r = view.dataset, view.readiness
    return DatasetOut(
        id=d.id, name=d.name, trigger=d.trigger, base_model=d.base_model,
        created_at=d.created_at, updated_at=d.updated_at,
        images=[DatasetImageOut(id=i.id, media_id=i.media_id, caption=i.caption,
                                position=i.position, width=i.width, height=i.height,
                                thumbnail_url=f"/api/v1/media/{i.media_id}/thumbnail")
                for i in d.images],
        readiness=ReadinessOut(images=r.images, max_images=r.max_images, captioned=r.captioned,
                               ready=r.ready, reason=r.reason, warnings=list(r.warnings)))


async def _view(request: Request, user: Account, dataset_id: str) -> DatasetOut:
    return dataset_out(await station(request).training.view(user, dataset_id))


@router.get("/datasets", response_model=list[DatasetOut], responses=documented(*_AUTH))
async def list_datasets(request: Request,
                        user: Account = Depends(current_account)) -> list[DatasetOut]:
    app = station(request)
    found = await app.datasets.list_for(user.id)
    return [await _view(request, user, d.id) for d in found]


@router.post("/datasets", status_code=201, response_model=DatasetOut,
             responses=documented(*_AUTH, 400, 409, 422))
async def create_dataset(body: NewDataset, request: Request,
                         user: Account = Depends(current_account)) -> DatasetOut:
    d = await station(request).datasets.create(user.id, body.name, body.trigger,
                                               body.base_model)
    return await _view(request, user, d.id)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut,
            responses=documented(*_AUTH, 404))
async def get_dataset(dataset_id: str, request: Request,
                      user: Account = Depends(current_account)) -> DatasetOut:
    """The dataset with its images, captions and what it still needs to be trainable."""
    return await _view(request, user, dataset_id)


@router.patch("/datasets/{dataset_id}", response_model=DatasetOut,
              responses=documented(*_AUTH, 400, 404, 409, 422))
async def rename_dataset(dataset_id: str, body: Rename, request: Request,
                         user: Account = Depends(current_account)) -> DatasetOut:
    await station(request).datasets.rename(user.id, dataset_id, body.name)
    return await _view(request, user, dataset_id)


@router.delete("/datasets/{dataset_id}", response_model=Done, responses=documented(*_AUTH, 404))
async def delete_dataset(dataset_id: str, request: Request,
                         user: Account = Depends(current_account)) -> Done:
    await station(request).datasets.delete(user.id, dataset_id)
    return Done()


@router.post("/datasets/{dataset_id}/images", response_model=Added,
             responses=documented(*_AUTH, 400, 404, 413, 422))
async def add_images(
    dataset_id: str, request: Request,
    files: list[UploadFile] = File(description="PNG, JPEG or WEBP images"),
    captions: list[str] | None = Form(None, description="a caption per file, in order"),
    user: Account = Depends(current_account),
) -> Added:
    """Add images (all or nothing): each goes through the hardened loader and is
    centre-cropped to the training resolution."""
    texts = captions or []
    if len(texts) > len(files):
        raise InvalidInput("more captions than files")
    batch = [(await read_upload(request, f), texts[i] if i < len(texts) else None)
             for i, f in enumerate(files)]
    added = await station(request).datasets.add_images(user.id, dataset_id, batch)
    return Added(added=len(added), dataset=await _view(request, user, dataset_id))


@router.put("/datasets/{dataset_id}/images/{image_id}/caption", response_model=DatasetOut,
            responses=documented(*_AUTH, 400, 404, 422))
async def set_caption(dataset_id: str, image_id: str, body: Caption, request: Request,
                      user: Account = Depends(current_account)) -> DatasetOut:
    await station(request).datasets.set_caption(user.id, dataset_id, image_id, body.caption)
    return await _view(request, user, dataset_id)


@router.delete("/datasets/{dataset_id}/images/{image_id}", response_model=DatasetOut,
               responses=documented(*_AUTH, 404))
async def remove_image(dataset_id: str, image_id: str, request: Request,
                       user: Account = Depends(current_account)) -> DatasetOut:
    await station(request).datasets.remove_image(user.id, dataset_id, image_id)
    return await _view(request, user, dataset_id)


@router.post("/datasets/{dataset_id}/import", response_model=Added,
             responses=documented(*_AUTH, 400, 404, 413, 422))
async def import_zip(dataset_id: str, request: Request,
                     file: UploadFile = File(description="a zip: images + same-stem .txt"),
                     user: Account = Depends(current_account)) -> Added:
    app = station(request)
    limit = app.settings.max_upload_bytes * app.settings.dataset_max_images
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput("the zip is too large")
    added = await app.training.import_zip(user, dataset_id, data)
    return Added(added=added, dataset=await _view(request, user, dataset_id))


@router.get("/datasets/{dataset_id}/export", response_class=Response,
            responses={200: {"description": "001.png + 001.txt, …", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                **documented(*_AUTH, 404)})
async def export_zip(dataset_id: str, request: Request,
                     user: Account = Depends(current_account)) -> Response:
    data = await station(request).training.export_zip(user, dataset_id)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="dataset-{dataset_id}.zip"'})


@router.post("/trainings/quote", response_model=TrainingQuoteOut,
             responses=documented(*_AUTH, 400, 404, 422))
async def quote_training(body: TrainingRequest, request: Request,
                         user: Account = Depends(current_account)) -> TrainingQuoteOut:
    """The price of training on a dataset: base + per image + per 100 steps."""
    q = await station(request).training.quote(user, body.dataset_id, body.options)
    params = {k: v for k, v in q.params.items() if k != "captions"}
    return TrainingQuoteOut(dataset_id=q.dataset_id, points=q.points, available=q.available,
                            fits=q.fits, params=params)


@router.post("/trainings", status_code=202, response_model=JobOut,
             responses=documented(*_AUTH, 400, 402, 404, 422, 429))
async def submit_training(body: TrainingRequest, request: Request,
                          user: Account = Depends(current_account)) -> JobOut:
    """Hold the quote and start training; follow it like any job. The model is the user's
    when it succeeds."""
    job = await station(request).training.submit(user, body.dataset_id, body.options,
                                                  name=body.name, reply=WEB_REPLY)
    return JobOut.of(job)


@router.get("/models", response_model=list[ModelOut], responses=documented(*_AUTH))
async def my_models(request: Request, user: Account = Depends(current_account)
                    ) -> list[ModelOut]:
    """The user's trained models: use them by name (``loras``) or trigger word."""
    return [ModelOut(id=m.id, name=m.name, trigger=m.trigger, base_model=m.base_model,
                     kind=m.kind, engine=m.engine, dataset_id=m.dataset_id, job_id=m.job_id,
                     created_at=m.created_at)
            for m in await station(request).training.my_models(user)]
