"""HTTP client for the hosted ComfyUI Deploy API (shared/reference/comfyui-protocol.md).

Three routes: queue a run for a deployment, read a run, cancel a run. Every failure becomes an
``EngineFailed`` subclass whose message a user can read as it is, so the engine only has to
decide which failures are worth waiting out (``Unreachable``) and which are final.

The API key goes to the service's own origin only: output URLs usually point at a storage
bucket, and a download must never carry our key there.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from stationthis.core.errors import EngineFailed, RunLost

MAX_OUTPUT_BYTES = 256 * 1024 * 1024
# Run ids are UUIDs; anything else must not be spliced into a path that carries our key.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class Unreachable(EngineFailed):
    """Nothing usable came back: connection refused/reset/timed out, or a 5xx answer."""


class KeyRefused(EngineFailed):
    """401/403: the API key is wrong, revoked, or not allowed to use this deployment."""


class DeployClient:
    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http
        self._origin = _origin(self.base_url)
        # The outcome of the last API call, for health(): (monotonic time, error or None).
        self.last_outcome: tuple[float, str | None] | None = None

    # ----- the three routes --------------------------------------------------------------

    async def queue(
        self, deployment_id: str, inputs: dict[str, Any], webhook: str | None
    ) -> str:
        body: dict[str, Any] = {"deployment_id": deployment_id, "inputs": inputs}
        if webhook is not None:
            body["webhook"] = webhook
            body["webhook_intermediate_status"] = True
        data = await self._call("POST", "/api/run/deployment/queue", json=body)
        run_id = data.get("run_id") if isinstance(data, dict) else None
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise EngineFailed("ComfyUI Deploy accepted the run but returned no usable run id")
        return run_id

    async def get_run(self, run_id: str) -> dict[str, Any]:
        data = await self._call("GET", f"/api/run/{_checked(run_id)}")
        if not isinstance(data, dict):
            raise EngineFailed("ComfyUI Deploy sent a run record that is not an object")
        return data

    async def cancel(self, run_id: str) -> None:
        await self._call("POST", f"/api/run/{_checked(run_id)}/cancel")

    async def download(self, url: str) -> tuple[bytes, str]:
        """Fetch one output; returns (bytes, content type). Raises ``EngineFailed``."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise EngineFailed(f"could not download {url!r}: not an http(s) URL")
        headers = self._auth() if _origin(url) == self._origin else {}
        chunks: list[bytes] = []
        size = 0
        try:
            async with self.http.stream("GET", url, headers=headers,
                                        follow_redirects=True) as response:
                if response.status_code != 200:
                    raise EngineFailed(f"could not download {url}: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise EngineFailed(f"could not download {url}: larger than "
                                           f"{MAX_OUTPUT_BYTES // (1024 * 1024)} MB")
                    chunks.append(chunk)
                media_type = response.headers.get("content-type", "").split(";")[0].strip()
        except (httpx.HTTPError, OSError) as exc:
            raise EngineFailed(f"could not download {url}: {type(exc).__name__}") from None
        return b"".join(chunks), media_type

    # ----- plumbing ----------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(
                method, self.base_url + path, headers=self._auth(), **kwargs
            )
        except (httpx.TransportError, OSError) as exc:
            raise self._failed(Unreachable(
                f"ComfyUI Deploy is unreachable ({type(exc).__name__} at {self.base_url})"
            )) from None
        status = response.status_code
        if status >= 500:
            raise self._failed(Unreachable(
                f"ComfyUI Deploy is unreachable (HTTP {status} from {path})"
            ))
        if status in (401, 403):
            raise self._failed(KeyRefused("ComfyUI Deploy refused the API key"))
        if status == 404 and method == "GET":
            self._ok()  # the service answered: it is up, it just does not know the run
            raise RunLost("ComfyUI Deploy no longer knows this run")
        if status >= 400:
            self._ok()
            raise EngineFailed(f"ComfyUI Deploy rejected the run: {_service_message(response)}")
        self._ok()
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise EngineFailed(f"ComfyUI Deploy sent an unreadable answer to {path}") from None

    def _ok(self) -> None:
        self.last_outcome = (time.monotonic(), None)

    def _failed(self, exc: EngineFailed) -> EngineFailed:
        self.last_outcome = (time.monotonic(), exc.message)
        return exc


def _checked(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise RunLost(f"{run_id[:80]!r} is not a ComfyUI Deploy run id")
    return run_id


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _service_message(response: httpx.Response) -> str:
    """The service's own words from an error answer (JSON error/message/detail, or text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    text = response.text.strip()
    return text[:300] if text else f"HTTP {response.status_code}"
