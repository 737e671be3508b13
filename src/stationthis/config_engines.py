"""Which generation backend runs jobs, and each backend's settings (engines/; docs/decisions).
Mixed into ``config.Settings``: the names stay flat (``STATIONTHIS_COMFYUI_URLS``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator


class EngineSettings(BaseModel):
    """``engine`` and the preview, ComfyUI, ComfyDeploy and diffusers backends' settings."""

    engine: str = Field(
        "auto", pattern="^(auto|preview|comfyui|comfydeploy|diffusers)$",
        description="generation backend; auto = comfyui when COMFYUI_URLS is set, "
        "comfydeploy when COMFYDEPLOY_API_KEY is set, else preview",
    )
    diffusers_model_dir: Path | None = Field(
        None, description="a diffusers Stable Diffusion folder, for engine=diffusers"
    )
    comfydeploy_url: str = "https://api.comfydeploy.com"
    comfydeploy_api_key: SecretStr | None = None
    comfydeploy_deployments: dict[str, str] = Field(
        default_factory=dict, description='JSON: {"tool name": "deployment id"}'
    )
    comfydeploy_poll_seconds: float = Field(5.0, gt=0)
    comfyui_urls: str = Field("", description="comma-separated ComfyUI server URLs")
    comfyui_checkpoint: str | None = Field(None, description="default checkpoint file")
    comfyui_upscaler: str | None = Field(None, description="default upscale model file")
    comfyui_silence_seconds: float = Field(10.0, gt=0, description="check history after this")

    @model_validator(mode="after")
    def _engine_ready(self) -> EngineSettings:
        for url in self.comfyui_url_list:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"comfyui_urls: {url!r} is not an http(s) URL")
        if self.engine == "diffusers" and self.diffusers_model_dir is None:
            raise ValueError("engine is diffusers but STATIONTHIS_DIFFUSERS_MODEL_DIR is empty")
        if self.engine == "comfyui" and not self.comfyui_url_list:
            raise ValueError("engine is comfyui but STATIONTHIS_COMFYUI_URLS is empty")
        if self.engine_name == "comfydeploy" and not (
            self.comfydeploy_api_key and self.comfydeploy_deployments
        ):
            raise ValueError(
                "engine is comfydeploy: set STATIONTHIS_COMFYDEPLOY_API_KEY and "
                "STATIONTHIS_COMFYDEPLOY_DEPLOYMENTS"
            )
        return self

    @property
    def comfyui_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.comfyui_urls.split(",") if u.strip()]

    @property
    def engine_name(self) -> str:
        if self.engine != "auto":
            return self.engine
        if self.comfyui_url_list:
            return "comfyui"
        return "comfydeploy" if self.comfydeploy_api_key else "preview"
