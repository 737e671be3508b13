"""Collections: mine and shared with me; a collection's page (thumbnails in pages, order,
descriptions, uploads, sharing with users and by link, export, a dataset from it); "add to
collection" for an image; and the public read-only page of a share link (``/c/{token}``).

Every change is a form post that calls the workflow and redirects back (post/redirect/get).
A refused change shows the collection again with the reason. Another user's collection is
the 404 page; an expired or revoked link is a 410 page that says which."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import FormData, UploadFile

from stationthis.core.collections import Collection
from stationthis.core.errors import Forbidden, InvalidInput, StationError
from stationthis.core.users import Account
from stationthis.platforms.web.auth import optional_account, station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import (
    PageRoute,
    SignedIn,
    form_of,
    page,
    redirect,
    text,
)
from stationthis.workflows.services import Services

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PER_PAGE = 24
EXPIRY_CHOICES = (("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"),
                  ("never", "never"))


def _number(raw: str, default: int = 1) -> int:
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a whole number") from None


@router.get("/collections")
async def collections(request: Request, account: SignedIn) -> Response:
    return await _list(request, account)


@router.post("/collections")
async def create(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    name, description = text(form, "name"), text(form, "description")
    try:
        made = await station(request).collections.create(account, name, description or None)
    except StationError as exc:
        return await _list(request, account, exc.message, status_of(exc),
                           {"name": name, "description": description})
    return redirect(f"/collections/{made.id}")


@router.get("/collections/add")
async def add_form(request: Request, account: SignedIn, media: str = "") -> Response:
    """Choose the collection an image goes to (from the job and gallery pages)."""
    return await _add(request, account, media)


@router.post("/collections/add")
async def add(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    media_id, target = text(form, "media"), text(form, "collection")
    new_name = text(form, "new_name").strip()
    try:
        await app.media.get(media_id, owner_id=account.id)  # someone else's: 404
        if new_name:
            target = (await app.collections.create(account, new_name)).id
        if not target:
            raise InvalidInput("choose a collection, or name a new one")
        await app.collections.add_output(account, target, media_id,
                                         text(form, "description") or None)
    except StationError as exc:
        if status_of(exc) == 404 and not new_name and not target:
            raise
        return await _add(request, account, media_id, exc.message, status_of(exc))
    return redirect(f"/collections/{target}?added=1")


@router.get("/collections/{collection_id}")
async def collection(collection_id: str, request: Request, account: SignedIn,
                     number: int = Query(1, alias="page")) -> Response:
    return await _collection(request, account, collection_id, number)


Action = Callable[[Services, Account, str, FormData, Request], Awaitable[str | None]]


def _change(path: str) -> Callable[[Action], Action]:
    """A form post on a collection: run ``action`` and come back (or to the page it
    answers), or show the collection again with why not."""

    def register(action: Action) -> Action:
        async def handle(collection_id: str, request: Request, account: SignedIn) -> Response:
            form = await form_of(request)
            app = station(request)
            try:
                target = await action(app, account, collection_id, form, request)
            except StationError as exc:
                if status_of(exc) == 404 and not await _visible(request, account,
                                                                collection_id):
                    raise
                return await _collection(request, account, collection_id,
                                         _number(text(form, "page"), 1), exc.message,
                                         status_of(exc))
            return redirect(target or f"/collections/{collection_id}")

        handle.__name__ = action.__name__
        router.post("/collections/{collection_id}" + path)(handle)
        return action

    return register


@_change("/edit")
async def edit(app: Services, account: Account, cid: str, form: FormData,
               _: Request) -> str | None:
    current = await app.collections.view(account, cid)
    name, description = text(form, "name"), text(form, "description")
    if name and name != current.name:
        await app.collections.rename(account, cid, name)
    if description != (current.description or ""):
        await app.collections.describe(account, cid, description or None)
    return None


@_change("/delete")
async def delete(app: Services, account: Account, cid: str, form: FormData,
                 _: Request) -> str | None:
    await app.collections.delete(account, cid)
    return "/collections"


@_change("/uploads")
async def upload(app: Services, account: Account, cid: str, form: FormData,
                 _: Request) -> str | None:
    limit = app.settings.max_upload_bytes
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise InvalidInput("choose one or more PNG, JPEG or WEBP images to upload")
    await app.collections.view(account, cid)
    batch = []
    for file in files:  # every size is checked before anything is added
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(f"{file.filename} is larger than {limit} bytes")
        batch.append(data)
    for data in batch:
        await app.collections.add_upload(account, cid, data)
    return None


@_change("/items/{item_id}/describe")
async def describe_item(app: Services, account: Account, cid: str, form: FormData,
                        request: Request) -> str | None:
    item_id = request.path_params["item_id"]
    await app.collections.edit_item(account, cid, item_id, text(form, "description") or None)
    return _back(cid, form, item_id)


@_change("/items/{item_id}/move")
async def move_item(app: Services, account: Account, cid: str, form: FormData,
                    request: Request) -> str | None:
    position = _number(text(form, "position"), 0)
    await app.collections.move_item(account, cid, request.path_params["item_id"], position)
    return f"/collections/{cid}?page={(position - 1) // PER_PAGE + 1}"


@_change("/items/{item_id}/remove")
async def remove_item(app: Services, account: Account, cid: str, form: FormData,
                      request: Request) -> str | None:
    await app.collections.remove_item(account, cid, request.path_params["item_id"])
    return _back(cid, form)


@_change("/shares")
async def share(app: Services, account: Account, cid: str, form: FormData,
                _: Request) -> str | None:
    user = text(form, "user").strip()
    if not user:
        raise InvalidInput("name the user to share with (a username, or PLATFORM:ID)")
    await app.collections.share(account, cid, user, text(form, "permission") or "view")
    return f"/collections/{cid}#sharing"


@_change("/shares/remove")
async def unshare(app: Services, account: Account, cid: str, form: FormData,
                  _: Request) -> str | None:
    await app.collections.unshare(account, cid, text(form, "user"))
    return f"/collections/{cid}#sharing"


@_change("/links")
async def create_link(app: Services, account: Account, cid: str, form: FormData,
                      _: Request) -> str | None:
    await app.collections.create_link(account, cid, text(form, "expires") or "7d")
    return f"/collections/{cid}#links"


@_change("/links/{token}/revoke")
async def revoke_link(app: Services, account: Account, cid: str, form: FormData,
                      request: Request) -> str | None:
    await app.collections.revoke_link(account, cid, request.path_params["token"])
    return f"/collections/{cid}#links"


@_change("/dataset")
async def to_dataset(app: Services, account: Account, cid: str, form: FormData,
                     _: Request) -> str | None:
    made = await app.training.dataset_from_collection(
        account, app.collections, cid, text(form, "name").strip(),
        text(form, "trigger").strip() or None)
    return f"/datasets/{made.id}"


# ----- the public page of a share link ----------------------------------------------------

@router.get("/c/{token}")
async def shared(token: str, request: Request, page_number: int = Query(1, alias="page"),
                 _: Account | None = Depends(optional_account)) -> Response:
    """Read-only, without signing in. Expired or revoked: 410 with the reason."""
    try:
        view = await station(request).collections.open_link(token, max(page_number, 1),
                                                            PER_PAGE)
    except Forbidden as exc:
        answer = page(request, "shared_collection.html", 410, gone=exc.message, view=None,
                      token=token)
    else:
        answer = page(request, "shared_collection.html", view=view, token=token, gone=None)
    answer.headers["Referrer-Policy"] = "no-referrer"  # the token is the URL: keep it here
    return answer


# ----- internals ------------------------------------------------------------------------------

def _back(cid: str, form: Any, item_id: str | None = None) -> str:
    number = _number(text(form, "page"), 1)
    anchor = f"#item-{item_id}" if item_id else ""
    return f"/collections/{cid}?page={number}{anchor}"


async def _visible(request: Request, account: Account, cid: str) -> bool:
    try:
        await station(request).collections.view(account, cid)
    except StationError:
        return False
    return True


async def _list(request: Request, account: Account, error: str | None = None,
                status_code: int = 200, values: dict[str, str] | None = None) -> Response:
    c = station(request).collections
    return page(request, "collections.html", status_code, mine=await c.mine(account),
                shared=await c.shared_with_me(account), error=error,
                values=values or {"name": "", "description": ""})


async def _writable(request: Request, account: Account) -> list[Collection]:
    c = station(request).collections
    shared = [x for x in await c.shared_with_me(account) if x.access == "edit"]
    return [*await c.mine(account), *shared]


async def _add(request: Request, account: Account, media_id: str, error: str | None = None,
               status_code: int = 200) -> Response:
    item = await station(request).media.get(media_id, owner_id=account.id)
    return page(request, "collection_add.html", status_code, item=item,
                targets=await _writable(request, account), error=error)


async def _collection(request: Request, account: Account, cid: str, number: int = 1,
                      error: str | None = None, status_code: int = 200) -> Response:
    app = station(request)
    view = await app.collections.items(account, cid, max(number, 1), PER_PAGE)
    c = view.collection
    owner = c.access == "owner"
    shares = await app.collections.shares(account, cid) if owner else []
    links = await app.collections.links(account, cid) if owner else []
    run = None
    if c.cook:
        try:
            run = await app.cook.status(account, cid)
        except StationError:
            run = None
    return page(request, "collection.html", status_code, c=c, view=view, owner=owner,
                can_edit=c.access in ("owner", "edit"), shares=shares, links=links,
                run=run, error=error, expiries=EXPIRY_CHOICES, per_page=PER_PAGE,
                added=request.query_params.get("added") == "1")
