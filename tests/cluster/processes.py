"""Real StationThis processes for the cluster tests and ``bench/cluster.py``: one web node
(``stationthis serve --web-only``) and any number of workers (``stationthis worker``), each
from the installed console script with its output in a log file, and the signals an
operator (or a crash) sends them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

STATIONTHIS = Path(sys.executable).parent / "stationthis"
START_TIMEOUT_S = 60.0


def clean_env(settings: dict[str, str]) -> dict[str, str]:
    """os.environ without any STATIONTHIS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env.update(settings)
    return env


class Proc:
    """One StationThis process; ``restart()`` starts a new one with the same command."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}.{self.starts}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(STATIONTHIS), *self.args], env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, cwd=self.logs,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def kill(self) -> None:
        """kill -9: no goodbye, no hand-back; its leases expire."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (SIGCONT first, in case it is paused), then SIGKILL after ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=10)

    def output(self) -> str:
        """Every log of this process, oldest start first."""
        parts = []
        for n in range(1, self.starts + 1):
            path = self.logs / f"{self.name}.{n}.log"
            if path.exists():
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')}")
        return "\n".join(parts)


def web_node(env: dict[str, str], logs: Path, port: int) -> Proc:
    return Proc("web", ["serve", "--web-only", "--port", str(port)], env, logs)


def worker(env: dict[str, str], logs: Path, n: int, slots: int | None = None) -> Proc:
    args = ["worker"] + ([] if slots is None else ["--slots", str(slots)])
    return Proc(f"worker-{n}", args, env, logs)


def wait_healthy(proc: Proc, base: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited before answering:\n{proc.output()}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer at {base}:\n{proc.output()}")


def wait_started(proc: Proc, text: str = "StationThis worker", timeout: float = 60.0) -> None:
    """Until the process printed ``text`` (a worker prints its id when it claims)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
        if text in proc.log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not start:\n{proc.output()}")
