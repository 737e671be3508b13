"""A real ComfyUI server on loopback for integration tests (CPU, no models, no network).

``scripts/comfyui-setup`` installs an unmodified ComfyUI 0.3.75 and its virtual environment
into ``comfyui_home()`` (``$STATIONTHIS_COMFYUI_HOME``, default
``~/.cache/stationthis/comfyui``) and writes the marker ``.ready`` last.

``comfyui_server()`` starts that ComfyUI on 127.0.0.1 at a free (or given) port with a fresh
base directory (models, input, output, user, its SQLite database) and yields a
`RealComfyUI` once ``GET /system_stats`` answers. The server is stopped when the context
exits, whatever happens. ``.kill()`` and ``.restart()`` (same port, same directory) let tests
lose a server mid-job and bring it back.

``write_tiny_upscale_model()`` writes a randomly initialised RealESRGAN-Compact upscale model
of a few KB that ``UpscaleModelLoader`` accepts, so a graph ``LoadImage ->
UpscaleModelLoader -> ImageUpscaleWithModel -> SaveImage`` runs on CPU and sends ``progress``
frames (one per 512-px tile). No fixtures live here: ``require_comfyui()`` is for the
fixtures that wire this in.

ComfyUI is GPL-3.0: it is installed at test time and never copied into this repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

NOT_INSTALLED = "real ComfyUI not installed: run scripts/comfyui-setup"
MARKER = ".ready"
HOST = "127.0.0.1"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
# The custom node that provides SaveImageWebsocket; ships in the tree's custom_nodes/.
WEBSOCKET_NODE = "websocket_image_save.py"
_LOG_TAIL_CHARS = 4000


def comfyui_home() -> Path:
    """Where ``scripts/comfyui-setup`` installs ComfyUI (``app/``, ``venv/``, ``.ready``)."""
    configured = os.environ.get("STATIONTHIS_COMFYUI_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "stationthis" / "comfyui"


def comfyui_installed() -> bool:
    """Whether a finished install is there (the marker is written last)."""
    home = comfyui_home()
    return (
        (home / MARKER).is_file()
        and (home / "app" / "main.py").is_file()
        and (home / "venv" / "bin" / "python").exists()
    )


def require_comfyui() -> None:
    """Skip the calling test when ComfyUI is not installed; fail instead on CI."""
    if comfyui_installed():
        return
    import pytest

    if os.environ.get("CI") == "true" or os.environ.get("STATIONTHIS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"a real ComfyUI is required here (CI) but is not installed at "
                    f"{comfyui_home()}: run scripts/comfyui-setup")
    pytest.skip(NOT_INSTALLED)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RealComfyUI:
    """One ComfyUI process on loopback; ``restart()`` keeps its port and base directory."""

    def __init__(
        self, home: Path, port: int, data_dir: Path, extra_args: Sequence[str] = ()
    ) -> None:
        self.home = home
        self.port = port
        self.data_dir = data_dir
        self.log_path = data_dir / "comfyui.log"
        self.extra_args = list(extra_args)
        self.startup_s: float | None = None  # how long the last start took
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The websocket address without ``?clientId=``."""
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def input_dir(self) -> Path:
        return self.data_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "output"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            str(self.home / "venv" / "bin" / "python"),
            str(self.home / "app" / "main.py"),
            "--cpu",
            "--listen", HOST,
            "--port", str(self.port),
            "--base-directory", str(self.data_dir),
            "--database-url", f"sqlite:///{self.data_dir / 'comfyui.db'}",
            "--disable-all-custom-nodes",
            "--whitelist-custom-nodes", WEBSOCKET_NODE,
            "--disable-api-nodes",
            "--disable-auto-launch",
            "--preview-method", "none",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the process and wait until ``GET /system_stats`` answers."""
        if self.running:
            raise RuntimeError(f"ComfyUI is already running on {self.url}")
        self._prepare_data_dir()
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
            # the venv's own interpreter must not see the project's environment
            "PYTHONPATH": "",
        }
        env.pop("VIRTUAL_ENV", None)
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting: {' '.join(self.command())}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach all of it
            )
        try:
            self._wait_ready(began)
        except BaseException:
            self.kill()
            raise
        self.startup_s = time.monotonic() - began

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period. Does nothing if not running."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
        self._signal(signal.SIGKILL)  # anything left in its process group
        self._process = None

    def kill(self) -> None:
        """SIGKILL at once, as a crash would (queue and history are lost; files stay)."""
        process = self._process
        if process is None:
            return
        self._signal(signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
        self._process = None

    def restart(self) -> None:
        """Stop if still running, then start again on the same port and base directory."""
        self.stop()
        self.start()

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process (Linux), or None when not running."""
        if not self.running or self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-chars:]

    def _prepare_data_dir(self) -> None:
        (self.models_dir / "upscale_models").mkdir(parents=True, exist_ok=True)
        for name in ("input", "output", "temp", "user"):
            (self.data_dir / name).mkdir(exist_ok=True)
        # --base-directory moves custom_nodes/ too: put the whitelisted node there.
        custom_nodes = self.data_dir / "custom_nodes"
        custom_nodes.mkdir(exist_ok=True)
        source = self.home / "app" / "custom_nodes" / WEBSOCKET_NODE
        if source.is_file() and not (custom_nodes / WEBSOCKET_NODE).exists():
            shutil.copyfile(source, custom_nodes / WEBSOCKET_NODE)

    def _wait_ready(self, began: float) -> None:
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"ComfyUI exited with code {code} while starting on {self.url};"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/system_stats", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() - began > START_TIMEOUT_S:
                raise RuntimeError(
                    f"ComfyUI did not answer GET /system_stats on {self.url} within"
                    f" {START_TIMEOUT_S:.0f} s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _signal(self, signum: int) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)


@contextmanager
def comfyui_server(
    port: int | None = None,
    extra_args: Sequence[str] = (),
    data_dir: Path | None = None,
) -> Iterator[RealComfyUI]:
    """Start a real ComfyUI; yield it ready; always stop it on exit.

    ``data_dir`` (kept afterwards) defaults to a fresh temporary directory that is removed.
    """
    if not comfyui_installed():
        raise RuntimeError(f"{NOT_INSTALLED} (looked in {comfyui_home()})")
    own_dir = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="stationthis-comfyui-")) if own_dir else data_dir
    assert base is not None
    base.mkdir(parents=True, exist_ok=True)
    server = RealComfyUI(comfyui_home(), port or free_port(), base.resolve(), extra_args)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


_TINY_MODEL_SCRIPT = """
import sys
import torch
from safetensors.torch import load_file, save_file
from spandrel import ImageModelDescriptor, ModelLoader
from spandrel.architectures.Compact import Compact

path, scale, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed)
# RealESRGAN "Compact" (SRVGGNetCompact): conv, PReLU, (conv, PReLU) x num_conv, conv to
# 3*scale^2 channels, pixel shuffle, plus the nearest-upsampled input. Spandrel detects it by
# the keys body.0.weight and body.1.weight and reads num_feat, num_conv and the scale from the
# tensor shapes; num_conv=2 and num_feat=8 make a file of about 6 KB.
model = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
state = {key: tensor.contiguous() for key, tensor in model.state_dict().items()}
save_file(state, path)

# What ComfyUI's UpscaleModelLoader does with it (comfy.utils.load_torch_file, then this):
loaded = ModelLoader().load_from_state_dict(load_file(path))
assert isinstance(loaded, ImageModelDescriptor), type(loaded)
assert loaded.architecture.id == "Compact", loaded.architecture.id
assert loaded.scale == scale, loaded.scale
out = loaded(torch.rand(1, 3, 8, 8))
assert tuple(out.shape) == (1, 3, 8 * scale, 8 * scale), tuple(out.shape)
"""


def write_tiny_upscale_model(
    models_dir: Path, name: str = "tiny-compact-2x.safetensors", scale: int = 2, seed: int = 0
) -> str:
    """Write a random ``scale``x upscale model into ``models_dir/upscale_models/``; its name.

    Built with the ComfyUI venv's torch and spandrel (checked to load as spandrel's
    RealESRGAN Compact with that scale), so it matches what ``UpscaleModelLoader`` accepts.
    """
    if not comfyui_installed():
        raise RuntimeError(f"{NOT_INSTALLED} (looked in {comfyui_home()})")
    target_dir = models_dir / "upscale_models"
    target_dir.mkdir(parents=True, exist_ok=True)
    # Written beside the target under another name, then renamed: ComfyUI lists the folder.
    partial = target_dir / f".{name}.partial"
    python = comfyui_home() / "venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(python), "-c", _TINY_MODEL_SCRIPT, str(partial), str(scale), str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"could not write the tiny upscale model:\n{done.stderr[-3000:]}")
    partial.replace(target_dir / name)
    return name
