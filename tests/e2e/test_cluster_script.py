"""``scripts/cluster``: a local multi-process StationThis (PostgreSQL, Redis, one web node,
N workers) that a person starts with one command and stops with Ctrl-C or SIGTERM.

The script runs as an operator runs it; a job is made through the web node's REST API and
run by a worker (the web node runs none); SIGTERM then stops every process it started."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.support.postgres import pg_available
from tests.support.redis import redis_available

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster"
READY = "Ctrl-C stops everything."
START_TIMEOUT_S = 240.0  # scripts/setup (pip) first, then PostgreSQL, Redis, 3 processes
STOP_TIMEOUT_S = 60.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def services() -> None:
    if not (pg_available() and redis_available()):
        if REQUIRE_SERVICES:
            pytest.fail("scripts/cluster needs PostgreSQL and redis-server (CI installs both)")
        pytest.skip("scripts/cluster needs PostgreSQL and redis-server")


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A directory PostgreSQL's own user can reach when the tests run as root (pytest's
    tmp_path sits under a private directory)."""
    root = Path(tempfile.mkdtemp(prefix="stationthis-cluster-test-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_cluster_script_runs_jobs_on_workers_and_stops_every_process(
    services: None, cluster_dir: Path
) -> None:
    tmp_path = cluster_dir
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env["STATIONTHIS_WORKER_GRACE_SECONDS"] = "5"
    out_path = tmp_path / "cluster.out"
    with out_path.open("w") as out:
        script = subprocess.Popen(
            [str(SCRIPT), "--workers", "2", "--port", str(port), "--dir", str(tmp_path / "c")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            cwd=tmp_path,
        )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY not in out_path.read_text(errors="replace"):
            assert script.poll() is None, f"scripts/cluster exited:\n{out_path.read_text()}"
            assert time.monotonic() < deadline, f"not ready:\n{out_path.read_text()}"
            time.sleep(0.5)
        text = out_path.read_text()
        assert f"http://127.0.0.1:{port}/" in text
        assert "export STATIONTHIS_DATABASE_URL='postgresql+asyncpg://" in text
        assert "export STATIONTHIS_REDIS_URL='redis://127.0.0.1:" in text
        pids = [int(p) for p in re.findall(r"\bpid (\d+)", text)]
        assert len(pids) == 5, text  # web, 2 workers, redis, postgresql
        assert all(_alive(pid) for pid in pids)

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as web:
            health = web.get("/api/v1/health").json()
            assert (health["database"], health["redis"]) == ("ok", "ok")
            me = web.post("/api/v1/auth/signup",
                          json={"username": "alice", "password": "correct horse battery"})
            assert me.status_code == 201, me.text
            made = web.post("/api/v1/account/keys", json={"name": "script"},
                            headers={"X-CSRF-Token": me.json()["csrf_token"]})
            assert made.status_code == 201, made.text
            key = made.json()["key"]
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as api:
            job = api.post("/api/v1/jobs", json={
                "tool": "make", "options": {"prompt": "a lighthouse", "width": 64, "height": 64}})
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            deadline = time.monotonic() + 60
            state = "queued"
            while state not in ("succeeded", "failed", "cancelled"):
                assert time.monotonic() < deadline, f"job still {state}"
                time.sleep(0.2)
                state = api.get(f"/api/v1/jobs/{job_id}").json()["state"]
            done = api.get(f"/api/v1/jobs/{job_id}").json()
            assert done["state"] == "succeeded", done
            assert done["outputs"] and done["cost"] == done["quote"]
        logs = tmp_path / "c" / "logs"

        script.send_signal(signal.SIGTERM)
        script.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + 10  # reparented children are reaped by init
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in pids if _alive(pid)]
        assert not left, f"still running after SIGTERM: {left}\n{out_path.read_text()}"
        assert "stopped; the data and logs are kept in" in out_path.read_text()
        stopping = (logs / "worker-1.log").read_text()
        assert "stopping: no new jobs" in stopping  # the workers got SIGTERM, not a kill
    finally:
        if script.poll() is None:
            script.kill()
            script.wait(timeout=10)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
