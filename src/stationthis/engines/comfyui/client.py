"""HTTP client for one ComfyUI server (the routes in shared/reference/comfyui-protocol.md)."""

from __future__ import annotations

from typing import Any

from stationthis.engines.comfyui.http import Http, HttpStatus, Reply, ServerUnavailable, Upload

__all__ = ["ComfyClient", "HttpStatus", "PromptRejected", "ServerUnavailable"]


class PromptRejected(Exception):
    """POST /prompt answered 400: the graph failed validation. ``payload`` is the body."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(str(payload.get("error", payload))[:300])
        self.payload = payload


class ComfyClient:
    def __init__(self, base_url: str, http: Http) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    async def _request(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.http.request(method, self.base_url + path, **kwargs)

    async def _json(self, path: str) -> Any:
        response = await self._request("GET", path)
        response.raise_for_status()
        return response.json()

    async def system_stats(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("/system_stats")
        return data

    async def object_info(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("/object_info")
        return data

    async def node_info(self, class_type: str) -> dict[str, Any]:
        """``/object_info/<class>``: one node's inputs (choices listed afresh), or {} when the
        server does not have that node."""
        response = await self._request("GET", f"/object_info/{class_type}")
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        data = response.json()
        info = data.get(class_type) if isinstance(data, dict) else None
        return info if isinstance(info, dict) else {}

    async def models(self, folder: str) -> list[str]:
        response = await self._request("GET", f"/models/{folder}")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return [str(name) for name in response.json()]

    async def upload_image(self, data: bytes, name: str, subfolder: str = "stationthis") -> str:
        """Upload an input image; returns the value a LoadImage node takes."""
        response = await self._request("POST", "/upload/image", upload=Upload(
            "image", name, data, "image/png",
            {"type": "input", "subfolder": subfolder, "overwrite": "true"}))
        response.raise_for_status()
        body = response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    async def upload_file(
        self, data: bytes, name: str, *, subfolder: str,
        media_type: str = "application/octet-stream",
    ) -> str:
        """Put any file into the server's input folder (``/upload/image`` does not look at the
        content); returns its path there, "subfolder/name". Overwrites a same-named file."""
        response = await self._request("POST", "/upload/image", upload=Upload(
            "image", name, data, media_type,
            {"type": "input", "subfolder": subfolder, "overwrite": "true"}))
        response.raise_for_status()
        body = response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    async def queue_prompt(
        self, graph: dict[str, Any], *, prompt_id: str, client_id: str
    ) -> dict[str, Any]:
        response = await self._request(
            "POST", "/prompt",
            json_body={"prompt": graph, "client_id": client_id, "prompt_id": prompt_id},
        )
        if response.status_code == 400:
            try:
                payload = response.json()
            except ValueError:
                payload = {"error": {"message": response.text or "rejected"}}
            raise PromptRejected(payload)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        data = await self._json(f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None

    async def queue(self) -> tuple[list[str], list[str]]:
        """Ids of the running and the pending prompts."""
        data = await self._json("/queue")
        running = [str(item[1]) for item in data.get("queue_running", [])]
        pending = [str(item[1]) for item in data.get("queue_pending", [])]
        return running, pending

    async def delete_queued(self, prompt_id: str) -> None:
        await self._request("POST", "/queue", json_body={"delete": [prompt_id]})

    async def interrupt(self, prompt_id: str) -> None:
        await self._request("POST", "/interrupt", json_body={"prompt_id": prompt_id})

    async def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        response = await self._request(
            "GET", "/view", params={"filename": filename, "subfolder": subfolder, "type": kind}
        )
        response.raise_for_status()
        return response.content
