"""``stationthis serve`` as an operator runs it, from the security side: the per-install
secret it makes and keeps when STATIONTHIS_SECRET_KEY is unset, tokens in URLs kept out of
its logs, and X-Forwarded-For believed only from the proxies it is told to trust."""

from __future__ import annotations

import secrets
import signal
import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import FAIL_FAST_S, Server, clean_exit_codes, free_port, serving

FORGED_CLIENT = "203.0.113.77"


def stopped(server: Server) -> str:
    """Stop the server (so everything it logged is written) and return its output."""
    code = server.stop(signal.SIGINT)
    assert code in clean_exit_codes(signal.SIGINT), server.log()
    return server.out + server.err


def test_without_a_key_it_makes_a_private_secret_and_keeps_it(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, "--port", str(port)) as server:
        server.wait_until_serving(f"http://127.0.0.1:{port}")
        first = stopped(server)
    path = server.data_dir / "secret_key"
    secret = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"generated a new per-install secret in {path}" in first
    assert secret not in first

    port = free_port()
    with serving(tmp_path, "--port", str(port)) as server:
        server.wait_until_serving(f"http://127.0.0.1:{port}")
        again = stopped(server)
    assert f"using the per-install secret in {path}" in again
    assert path.read_text().strip() == secret  # the same secret after a restart
    assert secret not in again


def test_a_readable_secret_file_stops_it_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    path.parent.mkdir(parents=True)
    path.write_text(secrets.token_urlsafe(48))
    path.chmod(0o644)
    with serving(tmp_path, "--port", str(free_port())) as server:
        code = server.wait_for_exit_or("Uvicorn running on", FAIL_FAST_S)
        assert code == 2, server.log()
        assert server.err_lines == [f"error: {path} can be read or changed by other users: "
                                    f"run `chmod 600 {path}`"], server.log()


def test_a_weak_key_stops_it_with_one_line(tmp_path: Path) -> None:
    with serving(tmp_path, "--port", str(free_port()),
                 STATIONTHIS_SECRET_KEY="dev-insecure-change-me") as server:
        code = server.wait_for_exit_or("Uvicorn running on", FAIL_FAST_S)
        assert code == 2, server.log()
        assert len(server.err_lines) == 1, server.log()
        assert server.err_lines[0].startswith("error: invalid setting STATIONTHIS_SECRET_KEY")
        assert "dev-insecure-change-me" not in server.err


@pytest.mark.postgres
def test_with_postgres_and_no_key_it_asks_for_one(tmp_path: Path, pg_url: str) -> None:
    with serving(tmp_path, "--port", str(free_port()), STATIONTHIS_DATABASE_URL=pg_url) as server:
        code = server.wait_for_exit_or("Uvicorn running on", FAIL_FAST_S)
        assert code == 2, server.log()
        assert len(server.err_lines) == 1, server.log()
        assert "set it to a random value" in server.err_lines[0]
        assert server.err_lines[0].startswith("error: STATIONTHIS_SECRET_KEY is not set")
    assert not (server.data_dir / "secret_key").exists()


def test_tokens_in_urls_never_reach_the_log(tmp_path: Path) -> None:
    tokens = [f"tok{secrets.token_hex(12)}" for _ in range(7)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, "--port", str(port)) as server:
        server.wait_until_serving(base)
        with httpx.Client(base_url=base, timeout=5.0) as client:
            client.get(f"/auth/link/{tokens[0]}")
            client.get(f"/c/{tokens[1]}")
            client.get(f"/api/v1/links/{tokens[2]}")
            client.get(f"/api/v1/links/{tokens[3]}/items/x/thumbnail")
            client.post(f"/api/v1/webhooks/comfydeploy/{tokens[4]}", content=b"{}")
            client.post(f"/collections/abc/links/{tokens[5]}/revoke")
            client.get(f"/status?token={tokens[6]}")
        logs = stopped(server)
    assert "[redacted]" in logs and '"GET /c/[redacted] HTTP/1.1" 404' in logs, logs
    for token in tokens:
        assert token not in logs


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path, trusted: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {"STATIONTHIS_TRUSTED_PROXIES": trusted} if trusted else {}
    with serving(tmp_path, "--port", str(port), **settings) as server:
        server.wait_until_serving(base)
        httpx.get(f"{base}/status", headers={"X-Forwarded-For": FORGED_CLIENT}, timeout=5.0)
        logs = stopped(server)
    access = [line for line in logs.splitlines() if '"GET /status HTTP/1.1"' in line]
    assert len(access) == 1, logs
    if trusted:  # behind a proxy we were told about, its word names the client
        assert f"{FORGED_CLIENT}:" in access[0]
    else:  # by default the connecting address is the client: a forged header changes nothing
        assert "127.0.0.1:" in access[0] and FORGED_CLIENT not in logs
