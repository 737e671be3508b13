"""Request body limits: an upload may be as large as ``STATIONTHIS_MAX_UPLOAD_BYTES`` (plus
room for the multipart framing), a dataset upload or import (API or the page's form) that
many times the dataset's image slots (a collection page's upload form, which also takes
several images, too), anything else ``web.max_json_bytes``. A declared Content-Length over
the limit is refused before the body is read; a chunked body is counted as it arrives."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stationthis.platforms.web.errors import error_response

_FRAMING = 64 * 1024
# The API's routes and the no-JS page forms that post the same files.
_DATASET_UPLOAD = re.compile(
    r"^(/api/v1)?/datasets/[^/]+/(images|import)$|^/collections/[^/]+/uploads$")
_UPLOAD = re.compile(r"^/api/v1/(media|collections/[^/]+/uploads)$")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, upload: int, dataset: int, other: int) -> None:
        self.app = app
        self.upload = upload
        self.dataset = dataset
        self.other = other

    def limit_for(self, path: str) -> int:
        if _DATASET_UPLOAD.match(path):
            return self.dataset + _FRAMING
        if _UPLOAD.match(path):
            return self.upload + _FRAMING
        return self.other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(
                413, "too_large", f"the request body is larger than {limit} bytes",
                {"limit": limit},
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"the request body is larger than {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
