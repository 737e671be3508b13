"""``stationthis collections …`` and ``stationthis cook …``: collections, items, sharing,
share links, cook mode, review and export from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .core.collections import Collection
from .core.users import Account, Identity
from .workflows.app import App

collections_cli = typer.Typer(help="Collections: items, sharing, links, export.",
                              no_args_is_help=True)
cook_cli = typer.Typer(help="Cook a collection from a master prompt and traits.",
                       no_args_is_help=True)
UserOpt = Annotated[str, typer.Option("--user", "-u", help="NAME or PLATFORM:ID")]


def register(cli: typer.Typer) -> None:
    cli.add_typer(collections_cli, name="collections")
    cli.add_typer(cook_cli, name="cook")


def _run(body: Any) -> None:
    from .cli import _run as run

    run(body, start=True)


async def _user(app: App, user: str) -> Account:
    return await app.users.resolve(Identity.parse(user))


def _line(c: Collection) -> str:
    access = "" if c.access == "owner" else f"  ({c.access})"
    return f"{c.id}  {c.name:<24} {c.items} item{'s' if c.items != 1 else ''}{access}"


# ----- collections ---------------------------------------------------------------------------


@collections_cli.command("create")
def create(name: str, user: UserOpt = "local",
           description: Annotated[str | None, typer.Option()] = None) -> None:
    """Create a collection."""

    async def body(app: App) -> None:
        c = await app.collections.create(await _user(app, user), name, description)
        typer.echo(f"collection {c.id} {c.name!r}")

    _run(body)


@collections_cli.command("list")
def list_(user: UserOpt = "local",
          shared: Annotated[bool, typer.Option(help="those shared with you")] = False) -> None:
    """Your collections (or, with --shared, those shared with you)."""

    async def body(app: App) -> None:
        owner = await _user(app, user)
        found = await (app.collections.shared_with_me(owner) if shared
                       else app.collections.mine(owner))
        for c in found:
            typer.echo(_line(c))
        if not found:
            typer.echo("no collections shared with you" if shared else "no collections yet")

    _run(body)


@collections_cli.command("show")
def show(collection_id: str, user: UserOpt = "local", page: int = 1,
         per_page: int = 20) -> None:
    """A collection and one page of its items."""

    async def body(app: App) -> None:
        view = await app.collections.items(await _user(app, user), collection_id, page,
                                           per_page)
        c = view.collection
        typer.echo(f"{c.name} ({c.access}) · {view.total} items · page {view.page}/{view.pages}")
        if c.description:
            typer.echo(c.description)
        for item in view.items:
            traits = ", ".join(f"{a['trait_type']}: {a['value']}" for a in item.attributes)
            typer.echo(f"  {item.position:3d}. {item.id}  {item.name or ''} "
                       f"{item.description or ''} {('[' + traits + ']') if traits else ''}"
                       .rstrip())

    _run(body)


@collections_cli.command("rename")
def rename(collection_id: str, name: str, user: UserOpt = "local") -> None:
    """Rename a collection."""

    async def body(app: App) -> None:
        c = await app.collections.rename(await _user(app, user), collection_id, name)
        typer.echo(f"renamed to {c.name!r}")

    _run(body)


@collections_cli.command("describe")
def describe(collection_id: str, text: str, user: UserOpt = "local") -> None:
    """Set the description ("" clears it)."""

    async def body(app: App) -> None:
        await app.collections.describe(await _user(app, user), collection_id, text or None)
        typer.echo("description saved")

    _run(body)


@collections_cli.command("delete")
def delete(collection_id: str, user: UserOpt = "local",
           yes: Annotated[bool, typer.Option("--yes", help="confirm")] = False) -> None:
    """Delete a collection (owner only; its images stay in your history). Needs --yes."""
    if not yes:
        typer.echo("error: deleting a collection cannot be undone: add --yes to confirm",
                   err=True)
        raise typer.Exit(2)

    async def body(app: App) -> None:
        await app.collections.delete(await _user(app, user), collection_id)
        typer.echo("deleted")

    _run(body)


@collections_cli.command("add")
def add(collection_id: str, images: list[str], user: UserOpt = "local",
        description: Annotated[str | None, typer.Option()] = None) -> None:
    """Add images: media ids of your outputs, or image files to upload."""

    async def body(app: App) -> None:
        owner = await _user(app, user)
        for image in images:
            path = Path(image)
            if path.is_file():
                item = await app.collections.add_upload(owner, collection_id,
                                                        path.read_bytes(), description)
            else:
                item = await app.collections.add_output(owner, collection_id, image,
                                                        description)
            typer.echo(f"added {item.id} at position {item.position}")

    _run(body)


@collections_cli.command("edit-item")
def edit_item(collection_id: str, item_id: str, description: str,
              user: UserOpt = "local") -> None:
    """Set an item's description."""

    async def body(app: App) -> None:
        await app.collections.edit_item(await _user(app, user), collection_id, item_id,
                                        description or None)
        typer.echo("saved")

    _run(body)


@collections_cli.command("remove")
def remove(collection_id: str, item_id: str, user: UserOpt = "local") -> None:
    """Remove an item (the image stays in your history)."""

    async def body(app: App) -> None:
        await app.collections.remove_item(await _user(app, user), collection_id, item_id)
        typer.echo("removed")

    _run(body)


@collections_cli.command("move")
def move(collection_id: str, item_id: str, position: int, user: UserOpt = "local") -> None:
    """Move an item to POSITION (1 = first)."""

    async def body(app: App) -> None:
        await app.collections.move_item(await _user(app, user), collection_id, item_id,
                                        position)
        typer.echo(f"moved to {position}")

    _run(body)


@collections_cli.command("share")
def share(collection_id: str, other: str, user: UserOpt = "local",
          permission: Annotated[str, typer.Option(help="view or edit")] = "view",
          revoke: Annotated[bool, typer.Option(help="stop sharing")] = False) -> None:
    """Share with another user (NAME or PLATFORM:ID), change the permission, or --revoke."""

    async def body(app: App) -> None:
        owner = await _user(app, user)
        if revoke:
            await app.collections.unshare(owner, collection_id, other)
            typer.echo(f"no longer shared with {other}")
            return
        view = await app.collections.share(owner, collection_id, other, permission)
        typer.echo(f"shared with {view.user} ({view.share.permission})")

    _run(body)


@collections_cli.command("link")
def link(collection_id: str, user: UserOpt = "local",
         expires: Annotated[str, typer.Option(help="24h, 7d, 30d or never")] = "7d",
         revoke: Annotated[str | None, typer.Option(help="revoke this token")] = None,
         list_links: Annotated[bool, typer.Option("--list", help="list links")] = False
         ) -> None:
    """Create a read-only share link (or --list them, or --revoke TOKEN)."""

    async def body(app: App) -> None:
        owner = await _user(app, user)
        if list_links:
            for found in await app.collections.links(owner, collection_id):
                until = found.expires_at.isoformat(timespec="minutes") if found.expires_at \
                    else "never"
                typer.echo(f"{found.token}  {found.status:<8} expires {until}")
            return
        if revoke:
            await app.collections.revoke_link(owner, collection_id, revoke)
            typer.echo("revoked")
            return
        made = await app.collections.create_link(owner, collection_id, expires)
        until = made.expires_at.isoformat(timespec="minutes") if made.expires_at else "never"
        typer.echo(f"link {made.token} (expires {until})")

    _run(body)


@collections_cli.command("open")
def open_link(token: str) -> None:
    """What a share link shows (as anyone would see it)."""

    async def body(app: App) -> None:
        view = await app.collections.open_link(token)
        typer.echo(f"{view.collection.name} · {view.items.total} items (read-only)")
        for item in view.items.items:
            typer.echo(f"  {item.position:3d}. {item.id}  {item.description or ''}".rstrip())

    _run(body)


@collections_cli.command("export")
def export(collection_id: str, out: Path, user: UserOpt = "local",
           layout: Annotated[str, typer.Option(help="nft or captions")] = "nft") -> None:
    """Write a zip: nft (images/1.png + metadata/1.json) or captions (001.png + 001.txt)."""
    if layout not in ("nft", "captions"):
        typer.echo("error: the layout is nft or captions", err=True)
        raise typer.Exit(2)

    async def body(app: App) -> None:
        owner = await _user(app, user)
        export = app.collections.export
        data = await (export.nft_zip(owner, collection_id) if layout == "nft"
                      else export.captions_zip(owner, collection_id))
        out.write_bytes(data)
        typer.echo(f"wrote {out}")

    _run(body)


@collections_cli.command("to-dataset")
def to_dataset(collection_id: str, name: str, user: UserOpt = "local",
               trigger: Annotated[str | None, typer.Option()] = None) -> None:
    """Make a training dataset from the collection's images and captions."""

    async def body(app: App) -> None:
        owner = await _user(app, user)
        dataset = await app.training.dataset_from_collection(owner, app.collections,
                                                             collection_id, name, trigger)
        typer.echo(f"dataset {dataset.id} {dataset.name!r} with {len(dataset.images)} images")

    _run(body)


# ----- cook ----------------------------------------------------------------------------------


@cook_cli.command("configure")
def configure(collection_id: str, config: Path, user: UserOpt = "local") -> None:
    """Set the cook configuration from a JSON file (master_prompt, trait_types, supply, …)."""
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {config}: {exc}", err=True)
        raise typer.Exit(2) from None

    async def body(app: App) -> None:
        owner = await _user(app, user)
        parsed = await app.cook.configure(owner, collection_id, data)
        typer.echo(f"cook configuration saved: {parsed.supply} pieces, "
                   f"{len(parsed.trait_types)} trait types, hash {parsed.hash[:12]}")
        for plan in await app.cook.preview(owner, collection_id, 3):
            typer.echo(f"  #{plan.number}: {plan.prompt}")

    _run(body)


@cook_cli.command("quote")
def quote(collection_id: str, user: UserOpt = "local") -> None:
    """The price of the pieces still to make, and how many your balance covers."""

    async def body(app: App) -> None:
        q = await app.cook.quote(await _user(app, user), collection_id)
        typer.echo(f"cook: {q.pieces} pieces × {q.per_piece} = {q.points} points "
                   f"(you have {q.available})")
        if not q.enough:
            typer.echo(f"your balance covers {q.fits} of {q.pieces} pieces")

    _run(body)


def _status_line(s: Any) -> str:
    reason = f" · {s.reason}" if s.reason else ""
    return (f"{s.state} {s.progress} made · {s.failed} failed · {s.kept} kept · "
            f"{s.rejected} rejected{reason}")


@cook_cli.command("start")
def start(collection_id: str, user: UserOpt = "local",
          again: Annotated[bool, typer.Option(help="a fresh run of a cooked config")] = False,
          wait: Annotated[bool, typer.Option(help="stay until the run stops")] = True) -> None:
    """Start (or continue) cooking, with progress, until it finishes or pauses."""

    async def body(app: App) -> None:
        from .core.collections_runs import CookProgressed
        from .core.events import Event

        owner = await _user(app, user)
        last = {"text": ""}

        async def show(event: Event) -> None:
            if isinstance(event, CookProgressed) and event.collection_id == collection_id:
                text = f"  {event.done}/{event.total}"
                if text != last["text"]:
                    last["text"] = text
                    typer.echo(text, err=True)

        app.bus.subscribe(show, CookProgressed)
        status = await app.cook.start(owner, collection_id, again=again,
                                      reply={"platform": "cli"})
        if status.recognised:
            typer.echo(f"same configuration as run {status.run_id}: continuing it")
        if wait:
            status = await app.cook.drive(owner, collection_id)
        typer.echo(_status_line(status))

    _run(body)


def _simple(action: str) -> Any:
    def command(collection_id: str, user: UserOpt = "local") -> None:
        async def body(app: App) -> None:
            owner = await _user(app, user)
            status = await getattr(app.cook, action)(owner, collection_id)
            typer.echo(_status_line(status))

        _run(body)

    command.__doc__ = {"status": "Where the run stands.", "pause": "Pause: no new pieces start.",
                       "resume": "Resume a paused run (run `cook start` to stay with it).",
                       "cancel": "Cancel: running pieces stop and their points come back."
                       }[action]
    return command


for _action in ("status", "pause", "resume", "cancel"):
    cook_cli.command(_action)(_simple(_action))


@cook_cli.command("pieces")
def pieces(collection_id: str, user: UserOpt = "local", page: int = 1,
           state: Annotated[str | None, typer.Option(help="e.g. done, failed")] = None) -> None:
    """The pieces of the latest run: traits, state and review."""

    async def body(app: App) -> None:
        for p in await app.cook.pieces(await _user(app, user), collection_id, state=state,
                                       page=page):
            traits = ", ".join(f"{a['trait_type']}: {a['value']}" for a in p.attributes)
            review = f" ({p.review})" if p.review else ""
            error = f" — {p.error}" if p.error else ""
            typer.echo(f"  #{p.number:<4} {p.state}{review}  [{traits}]{error}")

    _run(body)


def _review(action: str) -> Any:
    def command(collection_id: str, numbers: list[int], user: UserOpt = "local") -> None:
        async def body(app: App) -> None:
            owner = await _user(app, user)
            for number in numbers:
                await getattr(app.cook, action)(owner, collection_id, number)
                typer.echo(f"#{number}: {action}")
            if action == "regenerate":
                typer.echo(_status_line(await app.cook.drive(owner, collection_id)))

        _run(body)

    command.__doc__ = {"keep": "Keep pieces: they become items with their traits.",
                       "reject": "Reject pieces (a kept one leaves the collection).",
                       "regenerate": "Make pieces again (same traits, new seed); retries "
                                     "failed ones."}[action]
    return command


for _action in ("keep", "reject", "regenerate"):
    cook_cli.command(_action)(_review(_action))
