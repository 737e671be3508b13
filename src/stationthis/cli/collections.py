"""``stationthis collections …``: collections, items, sharing, share links and export from the
command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stationthis.cli.common import UserOpt, confirm, fail, resolve_user, run
from stationthis.core.collections import Collection
from stationthis.workflows.app import App

collections_cli = typer.Typer(help="Collections: items, sharing, links, export.",
                              no_args_is_help=True)


def _line(c: Collection) -> str:
    access = "" if c.access == "owner" else f"  ({c.access})"
    return f"{c.id}  {c.name:<24} {c.items} item{'s' if c.items != 1 else ''}{access}"


@collections_cli.command("create")
def create(name: str, user: UserOpt = "local",
           description: Annotated[str | None, typer.Option()] = None) -> None:
    """Create a collection."""

    async def body(app: App) -> None:
        c = await app.collections.create(await resolve_user(app, user), name, description)
        typer.echo(f"collection {c.id} {c.name!r}")

    run(body, start=True)


@collections_cli.command("list")
def list_(user: UserOpt = "local",
          shared: Annotated[bool, typer.Option(help="those shared with you")] = False) -> None:
    """Your collections (or, with --shared, those shared with you)."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        found = await (app.collections.shared_with_me(owner) if shared
                       else app.collections.mine(owner))
        for c in found:
            typer.echo(_line(c))
        if not found:
            typer.echo("no collections shared with you" if shared else "no collections yet")

    run(body, start=True)


@collections_cli.command("show")
def show(collection_id: str, user: UserOpt = "local", page: int = 1,
         per_page: int = 20) -> None:
    """A collection and one page of its items."""

    async def body(app: App) -> None:
        view = await app.collections.items(await resolve_user(app, user), collection_id, page,
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

    run(body, start=True)


@collections_cli.command("rename")
def rename(collection_id: str, name: str, user: UserOpt = "local") -> None:
    """Rename a collection."""

    async def body(app: App) -> None:
        c = await app.collections.rename(await resolve_user(app, user), collection_id, name)
        typer.echo(f"renamed to {c.name!r}")

    run(body, start=True)


@collections_cli.command("describe")
def describe(collection_id: str, text: str, user: UserOpt = "local") -> None:
    """Set the description ("" clears it)."""

    async def body(app: App) -> None:
        await app.collections.describe(await resolve_user(app, user), collection_id, text or None)
        typer.echo("description saved")

    run(body, start=True)


@collections_cli.command("delete")
def delete(collection_id: str, user: UserOpt = "local",
           yes: Annotated[bool, typer.Option("--yes", help="confirm")] = False) -> None:
    """Delete a collection (owner only; its images stay in your history). Needs --yes."""
    confirm(yes, "a collection")

    async def body(app: App) -> None:
        await app.collections.delete(await resolve_user(app, user), collection_id)
        typer.echo("deleted")

    run(body, start=True)


@collections_cli.command("add")
def add(collection_id: str, images: list[str], user: UserOpt = "local",
        description: Annotated[str | None, typer.Option()] = None) -> None:
    """Add images: media ids of your outputs, or image files to upload."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        for image in images:
            path = Path(image)
            if path.is_file():
                item = await app.collections.add_upload(owner, collection_id,
                                                        path.read_bytes(), description)
            else:
                item = await app.collections.add_output(owner, collection_id, image,
                                                        description)
            typer.echo(f"added {item.id} at position {item.position}")

    run(body, start=True)


@collections_cli.command("edit-item")
def edit_item(collection_id: str, item_id: str, description: str,
              user: UserOpt = "local") -> None:
    """Set an item's description."""

    async def body(app: App) -> None:
        await app.collections.edit_item(await resolve_user(app, user), collection_id, item_id,
                                        description or None)
        typer.echo("saved")

    run(body, start=True)


@collections_cli.command("remove")
def remove(collection_id: str, item_id: str, user: UserOpt = "local") -> None:
    """Remove an item (the image stays in your history)."""

    async def body(app: App) -> None:
        await app.collections.remove_item(await resolve_user(app, user), collection_id, item_id)
        typer.echo("removed")

    run(body, start=True)


@collections_cli.command("move")
def move(collection_id: str, item_id: str, position: int, user: UserOpt = "local") -> None:
    """Move an item to POSITION (1 = first)."""

    async def body(app: App) -> None:
        await app.collections.move_item(await resolve_user(app, user), collection_id, item_id,
                                        position)
        typer.echo(f"moved to {position}")

    run(body, start=True)


@collections_cli.command("share")
def share(collection_id: str, other: str, user: UserOpt = "local",
          permission: Annotated[str, typer.Option(help="view or edit")] = "view",
          revoke: Annotated[bool, typer.Option(help="stop sharing")] = False) -> None:
    """Share with another user (NAME or PLATFORM:ID), change the permission, or --revoke."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        if revoke:
            await app.collections.unshare(owner, collection_id, other)
            typer.echo(f"no longer shared with {other}")
            return
        view = await app.collections.share(owner, collection_id, other, permission)
        typer.echo(f"shared with {view.user} ({view.share.permission})")

    run(body, start=True)


@collections_cli.command("link")
def link(collection_id: str, user: UserOpt = "local",
         expires: Annotated[str, typer.Option(help="24h, 7d, 30d or never")] = "7d",
         revoke: Annotated[str | None, typer.Option(help="revoke this token")] = None,
         list_links: Annotated[bool, typer.Option("--list", help="list links")] = False
         ) -> None:
    """Create a read-only share link (or --list them, or --revoke TOKEN)."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
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

    run(body, start=True)


@collections_cli.command("open")
def open_link(token: str) -> None:
    """What a share link shows (as anyone would see it)."""

    async def body(app: App) -> None:
        view = await app.collections.open_link(token)
        typer.echo(f"{view.collection.name} · {view.items.total} items (read-only)")
        for item in view.items.items:
            typer.echo(f"  {item.position:3d}. {item.id}  {item.description or ''}".rstrip())

    run(body, start=True)


@collections_cli.command("export")
def export(collection_id: str, out: Path, user: UserOpt = "local",
           layout: Annotated[str, typer.Option(help="nft or captions")] = "nft") -> None:
    """Write a zip: nft (images/1.png + metadata/1.json) or captions (001.png + 001.txt)."""
    if layout not in ("nft", "captions"):
        fail("the layout is nft or captions")

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        export = app.collections.export
        data = await (export.nft_zip(owner, collection_id) if layout == "nft"
                      else export.captions_zip(owner, collection_id))
        out.write_bytes(data)
        typer.echo(f"wrote {out}")

    run(body, start=True)


@collections_cli.command("to-dataset")
def to_dataset(collection_id: str, name: str, user: UserOpt = "local",
               trigger: Annotated[str | None, typer.Option()] = None) -> None:
    """Make a training dataset from the collection's images and captions."""

    async def body(app: App) -> None:
        owner = await resolve_user(app, user)
        dataset = await app.training.dataset_from_collection(owner, app.collections,
                                                             collection_id, name, trigger)
        typer.echo(f"dataset {dataset.id} {dataset.name!r} with {len(dataset.images)} images")

    run(body, start=True)
