"""A throwaway Redis server for tests (Debian ``redis-server``).

``RedisServer`` starts ``redis-server`` on 127.0.0.1 at a free port in a temporary directory,
with persistence off (``--save '' --appendonly no``). ``stop()``/``start()`` restart it on the
SAME port (for tests of what survives a Redis restart); ``kill()`` is a SIGKILL. On exit the
process is killed by its PID and the directory removed.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

NOT_INSTALLED = "Redis is not installed: apt-get install redis-server"
_START_TIMEOUT_S = 15.0


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def redis_available() -> bool:
    return find_redis_server() is not None


class RedisServer:
    def __init__(self) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError(NOT_INSTALLED)
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="stationthis-redis-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port; waits until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        log = self.root / "redis.log"
        command = [
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.root), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--logfile", str(log), "--protected-mode", "no",
        ]
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:  # after a stop, the port can take a moment to be free again
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd=self.root,
            )
            if self._wait_ready(deadline):
                return
            self.kill()
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL); the port stays ours for ``start()``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def command(self, *args: str) -> str:
        """One command over a plain socket (inline protocol); the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            return sock.recv(65536).decode(errors="replace").split("\r\n", 1)[0]

    def _wait_ready(self, deadline: float) -> bool:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited: e.g. the port is still taken
            try:
                if self.command("PING") == "+PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
