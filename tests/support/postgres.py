"""A throwaway PostgreSQL server for the test session (Debian ``postgresql`` binaries).

``postgres_server()`` runs ``initdb`` in a fresh temporary directory, starts the server on
127.0.0.1 at a free port with durability switched off (fsync, synchronous commit, full-page
writes), creates ``stationthis_test`` and yields its SQLAlchemy URL. On exit the server is
stopped (``pg_ctl -m immediate``, then SIGKILL by PID if that fails) and the directory removed.

initdb and the server refuse to run as root. When the tests run as root (containers, CI),
both run as the ``postgres`` system user, or ``nobody`` when there is none, through
``runuser``; the temporary directory is handed to that user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DATABASE = "stationthis_test"
SUPERUSER = "postgres"
NOT_INSTALLED = "PostgreSQL is not installed: apt-get install postgresql"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_START_TIMEOUT_S = 30
_SERVER_OPTIONS = (
    "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
)


def find_pg_bin() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: Debian's, newest version first, then PATH."""
    candidates = sorted(
        _DEBIAN_ROOT.glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
        reverse=True,
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for bin_dir in candidates:
        if all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bin_dir
    return None


def pg_available() -> bool:
    """Whether `postgres_server` can start a server here."""
    if find_pg_bin() is None:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway server; yield ``postgresql+asyncpg://postgres@127.0.0.1:PORT/...``."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(NOT_INSTALLED)
    server = _Server(bin_dir)
    try:
        server.start()
        yield f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{server.port}/{DATABASE}"
    finally:
        server.close()


class _Server:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="stationthis-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0

    def start(self) -> None:
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        initdb = ["-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8"]
        self._run("initdb", [*initdb, "--no-instructions", *_locale_args()])
        for attempt in range(3):  # the free port can be taken before the server binds it
            self.port = _free_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.root} {_SERVER_OPTIONS}"
            pg_ctl = ["-D", str(self.data), "-l", str(self.log), "-w", "-t", str(_START_TIMEOUT_S)]
            started = self._run("pg_ctl", [*pg_ctl, "-o", options, "start"], check=False)
            if started.returncode == 0:
                break
            if attempt == 2 or "already in use" not in self._log_tail():
                raise RuntimeError(
                    f"PostgreSQL did not start (pg_ctl exit {started.returncode}): "
                    f"{started.stderr.strip()}\n--- server log ---\n{self._log_tail()}"
                )
        self._create_database()

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():  # also after a failed start
                stopped = self._run(
                    "pg_ctl", ["-D", str(self.data), "-m", "immediate", "-w", "stop"], check=False
                )
                if stopped.returncode != 0:
                    self._kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _create_database(self) -> None:
        psql = self.bin_dir / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or psql)
        if psql.exists():
            conn = ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres"]
            sql = f"CREATE DATABASE {DATABASE}"
            done = subprocess.run(
                [str(psql), *conn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                capture_output=True,
                text=True,
                env=_clean_env(),
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"could not create {DATABASE}: {done.stderr.strip()}")
        else:
            _in_new_loop(_create_database_asyncpg(self.port))

    def _run(
        self, tool: str, args: list[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as.pw_name, "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=self.root,  # the user may not be allowed into our working directory
            env=_clean_env(),
            timeout=_START_TIMEOUT_S + 30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout}"
            )
        return done

    def _kill(self) -> None:
        """Last resort when ``pg_ctl stop`` fails: SIGKILL the postmaster by its PID."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _unprivileged_user() -> pwd.struct_passwd:
    if shutil.which("runuser") is None:
        raise RuntimeError("running as root, and runuser is missing to start PostgreSQL")
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is no 'postgres' or 'nobody' user")


def _locale_args() -> list[str]:
    """C.UTF-8 (code-point order, Unicode-aware upper/lower) where installed, else C."""
    if Path("/usr/lib/locale/C.utf8").exists():
        return ["--locale=C.UTF-8"]
    return ["--no-locale"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables (PGDATA, PGPORT, ...) that would redirect tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


async def _create_database_asyncpg(port: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user=SUPERUSER, database="postgres")
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()


def _in_new_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even when the caller is inside a running event loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
