"""``stationthis dataset …``, ``stationthis train …`` and ``stationthis models``: datasets,
trainings and trained models from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stationthis.cli.common import UserOpt, assignments, confirm, fail, given, resolve_user, run
from stationthis.core.events import Event, JobProgressed
from stationthis.core.replies import CliReply
from stationthis.core.users import Account
from stationthis.workflows.app import App

dataset_cli = typer.Typer(help="Training datasets: images with captions.", no_args_is_help=True)
train_cli = typer.Typer(help="Train a personal model from a dataset.", no_args_is_help=True)


async def _image_id(app: App, owner: Account, dataset_id: str, number: int) -> str:
    dataset = await app.datasets.get(owner.id, dataset_id)
    if not 1 <= number <= len(dataset.images):
        raise typer.BadParameter(f"image numbers go from 1 to {len(dataset.images)}")
    return dataset.images[number - 1].id


@dataset_cli.command("create")
def dataset_create(
    name: str, user: UserOpt = "local",
    trigger: Annotated[str | None, typer.Option(help="default: the name")] = None,
    base_model: str = "sd15",
) -> None:
    """Create a dataset."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        dataset = await app.datasets.create(owner.id, name, trigger=trigger,
                                            base_model=base_model)
        typer.echo(f"dataset {dataset.id} {dataset.name!r} (trigger word {dataset.trigger!r})")

    run(body, start=True)


@dataset_cli.command("list")
def dataset_list(user: UserOpt = "local") -> None:
    """Your datasets."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        for dataset in await app.datasets.list_for(owner.id):
            readiness = app.datasets.readiness(dataset)
            typer.echo(f"{dataset.id}  {dataset.name:<24} {readiness.images}/"
                       f"{readiness.max_images} images  {readiness.reason}")

    run(body, start=True)


@dataset_cli.command("show")
def dataset_show(dataset_id: str, user: UserOpt = "local") -> None:
    """Images n/max, captions c/n, and why it is (not) ready."""

    async def body(app: App) -> None:
        view = await app.training.view(await resolve_user(app, user), dataset_id)
        d, r = view.dataset, view.readiness
        typer.echo(f"{d.name} (trigger {d.trigger!r}, base {d.base_model})")
        typer.echo(f"Images {r.images}/{r.max_images}, Captions {r.captioned}/{r.images}: "
                   f"{r.reason}")
        for number, image in enumerate(d.images, start=1):
            typer.echo(f"  {number:2d}. {image.width}×{image.height}  "
                       f"{image.caption or '(no caption)'}")
        for warning in r.warnings:
            typer.echo(f"  warning: {warning}")

    run(body, start=True)


@dataset_cli.command("add")
def dataset_add(
    dataset_id: str, files: list[Path], user: UserOpt = "local",
    caption: Annotated[str | None, typer.Option(help="caption for every added image")] = None,
) -> None:
    """Add images (PNG, JPEG, WEBP) or a zip of images with same-stem .txt captions."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        added = 0
        batch = []
        for path in files:
            data = path.read_bytes()
            if path.suffix.lower() == ".zip":
                added += await app.training.import_zip(owner, dataset_id, data)
            else:
                batch.append((data, caption))
        if batch:
            added += len(await app.datasets.add_images(owner.id, dataset_id, batch))
        readiness = (await app.training.view(owner, dataset_id)).readiness
        typer.echo(f"added {added} · {readiness.images}/{readiness.max_images} images · "
                   f"{readiness.reason}")

    run(body, start=True)


@dataset_cli.command("caption")
def dataset_caption(
    dataset_id: str, number: int, text: Annotated[str, typer.Argument()] = "",
    user: UserOpt = "local",
) -> None:
    """Set (or, with no text, clear) the caption of image NUMBER."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        image_id = await _image_id(app, owner, dataset_id, number)
        await app.datasets.set_caption(owner.id, dataset_id, image_id, text or None)
        typer.echo((await app.training.view(owner, dataset_id)).readiness.reason)

    run(body, start=True)


@dataset_cli.command("autocaption")
def dataset_autocaption(
    dataset_id: str, user: UserOpt = "local",
    overwrite: Annotated[bool, typer.Option(help="also replace existing captions")] = False,
) -> None:
    """Caption the images that have none, with the backend's captioning tool."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        written = await app.training.auto_caption(owner, dataset_id, app.make_image,
                                                  overwrite=overwrite)
        readiness = (await app.training.view(owner, dataset_id)).readiness
        typer.echo(f"captioned {written} · {readiness.reason}")

    run(body, start=True)


@dataset_cli.command("remove-image")
def dataset_remove_image(dataset_id: str, number: int, user: UserOpt = "local") -> None:
    """Remove image NUMBER from the dataset."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        await app.datasets.remove_image(owner.id, dataset_id,
                                        await _image_id(app, owner, dataset_id, number))
        typer.echo("removed")

    run(body, start=True)


@dataset_cli.command("rename")
def dataset_rename(dataset_id: str, name: str, user: UserOpt = "local") -> None:
    """Rename a dataset."""

    async def body(app: App) -> None:
        dataset = await app.datasets.rename((await resolve_user(app, user)).id, dataset_id, name)
        typer.echo(f"renamed to {dataset.name!r}")

    run(body, start=True)


@dataset_cli.command("delete")
def dataset_delete(
    dataset_id: str, user: UserOpt = "local",
    yes: Annotated[bool, typer.Option("--yes", help="confirm")] = False,
) -> None:
    """Delete a dataset (its images too). Needs --yes."""
    confirm(yes, "a dataset")

    async def body(app: App) -> None:
        await app.datasets.delete((await resolve_user(app, user)).id, dataset_id)
        typer.echo("deleted")

    run(body, start=True)


@dataset_cli.command("export")
def dataset_export(dataset_id: str, out: Path, user: UserOpt = "local") -> None:
    """Write the dataset as a zip: 001.png + 001.txt, …"""

    async def body(app: App) -> None:
        out.write_bytes(await app.training.export_zip(await resolve_user(app, user), dataset_id))
        typer.echo(f"wrote {out}")

    run(body, start=True)


SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="any other training input: NAME=VALUE (e.g. lora_dtype=fp32)"),
]


def _options(steps: int | None, rank: int | None, learning_rate: float | None,
             seed: int | None, extra: list[str] | None = None) -> dict[str, Any]:
    return given({"steps": steps, "rank": rank, "learning_rate": learning_rate, "seed": seed,
                  **assignments(extra or [], "--set")})


@train_cli.command("quote")
def train_quote(
    dataset_id: str, user: UserOpt = "local", steps: int | None = None,
    rank: int | None = None, learning_rate: float | None = None, option: SetOpt = None,
) -> None:
    """What a training would cost, without starting it."""
    options = _options(steps, rank, learning_rate, None, option)

    async def body(app: App) -> None:
        quote = await app.training.quote(await resolve_user(app, user), dataset_id, options)
        typer.echo(f"training: {quote.points} points (you have {quote.available}) · "
                   f"{quote.params['steps']} steps, rank {quote.params['rank']}")

    run(body, start=True)


@train_cli.command("start")
def train_start(
    dataset_id: str, user: UserOpt = "local", name: str | None = None,
    steps: int | None = None, rank: int | None = None, learning_rate: float | None = None,
    seed: int | None = None, option: SetOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the price; run nothing")
                       ] = False,
) -> None:
    """Train: hold the quote, show progress, register the model when done."""
    options = _options(steps, rank, learning_rate, seed, option)

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        if dry_run:
            quote = await app.training.quote(owner, dataset_id, options)
            typer.echo(f"training: {quote.points} points (you have {quote.available}) · "
                       f"{quote.params['steps']} steps, rank {quote.params['rank']}")
            typer.echo("dry run: nothing was held or run")
            return

        async def show(event: Event) -> None:
            if isinstance(event, JobProgressed) and event.owner_id == owner.id:
                p = event.progress
                if p.get("percent") is not None:
                    loss = f" loss {p['loss']:.4f}" if isinstance(p.get("loss"), float) else ""
                    eta = f" eta {p['eta']}s" if p.get("eta") is not None else ""
                    typer.echo(f"  {p['percent']:3d}%{loss}{eta}", err=True)

        app.bus.subscribe(show, JobProgressed)
        job = await app.training.submit(owner, dataset_id, options, name=name,
                                        reply=CliReply())
        typer.echo(f"training {job.id} started: {job.quote} points held")
        job = await app.jobs.wait(job.id)
        if job.state != "succeeded":
            fail(f"training {job.state}: {job.error or ''} (nothing was charged)", 1)
        models = [m for m in await app.training.my_models(owner) if m.job_id == job.id]
        for model in models:
            typer.echo(f"model {model.name!r} ready (trigger word {model.trigger!r}); "
                       f"use it: stationthis make \"… {model.trigger}\"")
        typer.echo(f"cost {job.cost} points")

    run(body, start=True)


def models_list(user: UserOpt = "local") -> None:
    """Your trained models."""

    async def body(app: App) -> None:
        for model in await app.training.my_models(await resolve_user(app, user)):
            typer.echo(f"{model.name:<24} trigger {model.trigger!r:<16} {model.kind} "
                       f"({model.engine}, {model.base_model})")

    run(body, start=True)
