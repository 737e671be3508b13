"""Training: datasets of captioned images → a quoted, held, tracked LoRA training → a model the
owner can use at once in make image (by name or trigger word)."""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

from stationthis.core.datasets import Dataset, DatasetService, Readiness
from stationthis.core.engine import Capability
from stationthis.core.errors import InsufficientPoints, InvalidInput, Unsupported
from stationthis.core.events import Event, EventBus, JobSucceeded
from stationthis.core.jobs import Job, JobService, NewJob
from stationthis.core.media import MediaService
from stationthis.core.models import Model, ModelRegistry
from stationthis.core.points import Ledger
from stationthis.core.queue import JobQueue
from stationthis.core.replies import Reply
from stationthis.core.tools import ToolRegistry
from stationthis.core.users import Account
from stationthis.workflows.make_image import Request

log = logging.getLogger(__name__)
TRAIN_TOOL = "train"
TRAIN_CATEGORY = "train"  # the category of a training job


@dataclass(frozen=True)
class TrainingCosts:
    """points = base + per_image × images + per_100_steps × ⌊steps / 100⌋ (the original's)."""

    base: int = 1000
    per_image: int = 50
    per_100_steps: int = 20

    def price(self, images: int, steps: int) -> int:
        return self.base + self.per_image * images + self.per_100_steps * (steps // 100)


@dataclass(frozen=True)
class DatasetView:
    dataset: Dataset
    readiness: Readiness


@dataclass(frozen=True)
class TrainingQuote:
    dataset_id: str
    params: dict[str, Any]
    points: int
    available: int

    @property
    def fits(self) -> bool:
        return self.points <= self.available


class Training:
    def __init__(
        self, datasets: DatasetService, models: ModelRegistry, jobs: JobService, ledger: Ledger,
        tools: ToolRegistry, media: MediaService, queue: JobQueue, bus: EventBus,
        engine_name: str, costs: TrainingCosts, *, capabilities: frozenset[Capability],
    ) -> None:
        self.datasets = datasets
        self.models = models
        self.jobs = jobs
        self.ledger = ledger
        self.tools = tools
        self.media = media
        self.queue = queue
        self.engine_name = engine_name
        self.costs = costs
        self.capabilities = capabilities  # the engine's: a training needs Capability.TRAIN

    # ----- datasets ----------------------------------------------------------------------

    async def view(self, user: Account, dataset_id: str) -> DatasetView:
        dataset = await self.datasets.get(user.id, dataset_id)
        return DatasetView(dataset, self.datasets.readiness(dataset))

    async def import_zip(self, user: Account, dataset_id: str, data: bytes | BinaryIO) -> int:
        """Add the images of a zip in the trainers' layout (image + same-stem .txt caption).
        Returns how many were added; all or nothing. Checked before it is read: see
        `core.archives`."""
        return len(await self.datasets.import_zip(user.id, dataset_id, data))

    async def dataset_from_collection(
        self, user: Account, collections: Any, collection_id: str, name: str,
        trigger: str | None = None,
    ) -> Dataset:
        """A new dataset from a collection's images, captioned by their descriptions or
        prompts (``collections`` is the Collections workflow). All or nothing."""
        data = await collections.export.captions_zip(user, collection_id)
        dataset = await self.datasets.create(user.id, name, trigger=trigger)
        try:
            await self.import_zip(user, dataset.id, data)
        except Exception:
            await self.datasets.delete(user.id, dataset.id)
            raise
        return await self.datasets.get(user.id, dataset.id)

    async def export_zip(self, user: Account, dataset_id: str) -> bytes:
        """The dataset in the layout trainers use: 001.png + 001.txt (trigger included)."""
        dataset = await self.datasets.get(user.id, dataset_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, image in enumerate(dataset.images, start=1):
                item = await self.media.get(image.media_id)
                archive.writestr(f"{number:03d}.png", await self.media.read(item))
                archive.writestr(f"{number:03d}.txt", dataset.caption_for(image))
        return buffer.getvalue()

    async def auto_caption(
        self, user: Account, dataset_id: str, caption_jobs: Any, *, overwrite: bool = False
    ) -> int:
        """Caption the dataset's uncaptioned images (all, with ``overwrite``) with the
        backend's captioning tool; each caption is a small paid job like any other.
        ``caption_jobs`` is the MakeImage workflow. Returns how many captions were written."""
        tools = self.tools.by_category("caption")
        if not tools:
            raise InvalidInput("auto-captioning needs a captioning tool, and none is installed")
        dataset = await self.datasets.get(user.id, dataset_id)
        todo = [i for i in dataset.images if overwrite or not (i.caption or "").strip()]
        written = 0
        for image in todo:
            job = await caption_jobs.make(
                user, Request(tools[0].name, images={"image": image.media_id})
            )
            done = await self.jobs.wait(job.id, timeout=300)
            if done.state != "succeeded" or not done.outputs:
                raise InvalidInput(f"captioning stopped: {done.error or done.state}")
            text = (await self.media.read(await self.media.get(done.outputs[0]))).decode()
            await self.datasets.set_caption(user.id, dataset_id, image.id, text.strip())
            written += 1
        return written

    # ----- trainings ---------------------------------------------------------------------

    async def quote(
        self, user: Account, dataset_id: str, options: dict[str, Any] | None = None
    ) -> TrainingQuote:
        self._can_train()
        dataset = await self.datasets.get(user.id, dataset_id)
        params = self._params(dataset, options or {})
        points = self.costs.price(len(dataset.images), int(params["steps"]))
        balance = await self.ledger.balance(user.id)
        return TrainingQuote(dataset.id, params, points, balance.total)

    async def submit(
        self, user: Account, dataset_id: str, options: dict[str, Any] | None = None, *,
        name: str | None = None, reply: Reply | None = None,
    ) -> Job:
        """Hold the quote and queue the training; refused with the exact reason when the
        dataset is not ready or the balance is short."""
        self._can_train()
        dataset = await self.datasets.get(user.id, dataset_id)
        readiness = self.datasets.readiness(dataset)
        if not readiness.ready:
            raise InvalidInput(f"this dataset is not ready: {readiness.reason}")
        params = self._params(dataset, {**(options or {}), "name": name or dataset.name})
        points = self.costs.price(len(dataset.images), int(params["steps"]))
        try:
            job = await self.jobs.create(NewJob(
                owner_id=user.id, payer_id=user.id, tool=TRAIN_TOOL, category=TRAIN_CATEGORY,
                params=params, quote=points, engine=self.engine_name, reply=reply,
                inputs={str(i): image.media_id for i, image in enumerate(dataset.images)},
                tool_version=self.tools.get(TRAIN_TOOL).version,
            ))
        except InsufficientPoints as exc:
            raise InsufficientPoints(
                f"Training costs {points} points but only {exc.details.get('available', 0)} "
                "are available.", **exc.details,
            ) from None
        await self.queue.enqueue(job.id)
        return job

    async def my_models(self, user: Account) -> list[Model]:
        # A training that finished a moment ago is listed even if its completion event has
        # not been handled yet: registering is idempotent per job.
        for job in await self.jobs.list_for(user.id, states=("succeeded",), limit=50):
            if job.category == TRAIN_CATEGORY:
                await self._register(job)
        return await self.models.list_for(user.id)

    async def model_of_job(self, job_id: str) -> Model | None:
        """The model a training job made; None when it made none (yet). Registered here if
        its completion event has not been handled yet (registering is idempotent)."""
        job = await self.jobs.get(job_id)
        await self._register(job)
        for model in await self.models.list_for(job.owner_id):
            if model.job_id == job.id:
                return model
        return None

    def _can_train(self) -> None:
        if Capability.TRAIN not in self.capabilities:
            raise Unsupported(f"the {self.engine_name} engine cannot train models; nothing "
                              "was charged", engine=self.engine_name, capability="train")

    def _params(self, dataset: Dataset, options: dict[str, Any]) -> dict[str, Any]:
        tool = self.tools.get(TRAIN_TOOL)
        explicit = {
            **options,
            "trigger": dataset.trigger,
            "base_model": dataset.base_model,
            "dataset_id": dataset.id,
            "captions": {str(i): dataset.caption_for(img)
                         for i, img in enumerate(dataset.images)},
        }
        explicit.setdefault("name", dataset.name)
        return tool.resolve(explicit)

    async def on_job_succeeded(self, event: Event) -> None:
        """A finished training becomes a model of its owner (idempotent per job). Other
        jobs are skipped without a read (an event older than its category is read)."""
        assert isinstance(event, JobSucceeded)
        if event.category not in (None, TRAIN_CATEGORY):
            return
        await self._register(await self.jobs.get(event.job_id))

    async def _register(self, job: Job) -> None:
        if job.category != TRAIN_CATEGORY or not job.outputs:
            return
        item = await self.media.get(job.outputs[0])
        model = await self.models.register(
            owner_id=job.owner_id, name=str(job.params.get("name") or "model"),
            trigger=str(job.params["trigger"]), base_model=str(job.params["base_model"]),
            kind=str(item.meta.get("kind") or ("style" if job.engine == "preview" else "lora")),
            engine=job.engine, media_id=item.id, dataset_id=job.params.get("dataset_id"),
            job_id=job.id,
        )
        log.info("model %r registered for %s", model.name, job.owner_id)
