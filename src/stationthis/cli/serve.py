"""``stationthis serve``: the web app and API, webhooks and (unless ``--web-only``) a worker;
``stationthis worker``: a process that claims and runs jobs, relays the outbox and sends
notifications — one of any number beside ``stationthis serve --web-only`` nodes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from typing import Annotated, Any

import typer

from stationthis.bootstrap import build
from stationthis.cli.common import fail, get_settings, prepare_db
from stationthis.config import Settings, SettingsError
from stationthis.core.errors import StationError
from stationthis.workflows.app import App

log = logging.getLogger("stationthis.worker")



def hosted_platforms(app: App, settings: Settings, *, receive: bool) -> list[Any]:
    """The chat platforms this process hosts. ``receive=False`` (a worker): they only send
    the notifications of the jobs it runs; the web nodes take the updates."""
    hosted: list[Any] = []
    if settings.telegram_token is not None:
        from stationthis.platforms.telegram.app import TelegramPlatform

        hosted.append(TelegramPlatform(app, settings, receive=receive))
    if settings.discord_enabled:  # the interactions endpoint: POST /discord/interactions
        from stationthis.platforms.discord.app import DiscordPlatform

        hosted.append(DiscordPlatform(app, settings))
    return hosted


def serve(
    host: Annotated[str | None, typer.Option(help="default: STATIONTHIS_HOST")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="default: STATIONTHIS_PORT")
    ] = None,
    web_only: Annotated[
        bool, typer.Option("--web-only", help="no jobs here: `stationthis worker`s run them")
    ] = False,
) -> None:
    """Run the service: web app and API, and an in-process worker (unless --web-only)."""
    import uvicorn

    from stationthis.platforms.web.app import create_app

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    problem = port_problem(host, port)  # before anything is migrated or started
    if problem is not None:
        fail(problem, 1)
    prepare_db(settings)
    try:
        secret_note = settings.resolve_secret()  # said once the rest has started
    except SettingsError as exc:
        fail(str(exc))
    try:
        app = build(settings, role="web" if web_only else "embedded")
        web = create_app(app, hosted=hosted_platforms(app, settings, receive=True))
    except StationError as exc:
        fail(exc.message, 1)
    logging.getLogger("stationthis").info(secret_note)
    typer.echo(f"StationThis on http://{host}:{port}")
    try:
        json_logs = settings.log_format == "json"  # then the app writes the access lines
        extra: dict[str, Any] = {"log_config": None, "access_log": False} if json_logs else {}
        uvicorn.run(web, host=host, port=port, log_level=settings.log_level.lower(), **extra,
                    # X-Forwarded-For/-Proto only from the proxies named in TRUSTED_PROXIES
                    proxy_headers=bool(settings.trusted_proxies),
                    forwarded_allow_ips=settings.trusted_proxies or None)
    except SystemExit as exc:  # uvicorn could not listen: taken since we looked?
        problem = port_problem(host, port) if exc.code else None
        if problem is not None:
            fail(problem, 1)
        raise


def port_problem(host: str, port: int) -> str | None:
    """Why the service cannot listen on ``host:port`` (None: it can), with what to try."""
    try:
        _bind(host, port)
    except socket.gaierror:
        return f"cannot listen on {host}: no such host (STATIONTHIS_HOST or --host)"
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            free = next((p for p in range(port + 1, min(port + 50, 65535) + 1)
                         if _can_bind(host, p)), port + 1)
            return (f"port {port} is in use (another StationThis?); "
                    f"try: scripts/serve --port {free}")
        if exc.errno == errno.EACCES:
            return (f"port {port} needs more privileges than this user has; "
                    "try: scripts/serve --port 8000")
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"cannot listen on {host}: it is not an address of this machine"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _can_bind(host: str, port: int) -> bool:
    try:
        _bind(host, port)
    except OSError:
        return False
    return True


def _bind(host: str, port: int) -> None:
    """Bind (and close) a listening socket as uvicorn will: every address of ``host``, with
    SO_REUSEADDR (a port left in TIME_WAIT by a stopped server is free)."""
    for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(1)


def worker(
    slots: Annotated[
        int | None, typer.Option(min=1, help="jobs at once; default: STATIONTHIS_MAX_RUNNING")
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(min=0, help="on SIGTERM, seconds for running jobs before they go back"),
    ] = None,
) -> None:
    """Run jobs from the shared database (with `serve --web-only` nodes in front)."""
    settings = get_settings()
    try:
        log.info(settings.resolve_secret())
    except SettingsError as exc:
        fail(str(exc))
    if slots is not None:
        settings.max_running = slots
    if grace is not None:
        settings.worker_grace_seconds = grace
    if settings.is_sqlite:
        log.warning("a worker on SQLite shares the database file with its serve process; "
                    "use PostgreSQL for workers on other machines")
    prepare_db(settings)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    app = build(settings, role="worker")
    hosted = hosted_platforms(app, settings, receive=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    started: list[Any] = []
    try:
        for platform in hosted:
            await platform.start()
            started.append(platform)
        worker_id = getattr(app.queue, "id", "?")
        typer.echo(f"StationThis worker {worker_id}: {settings.max_running} slots")
        await stop.wait()
        typer.echo("stopping: no new jobs; running jobs finish or go back to the queue")
    finally:
        await app.queue.stop()  # running jobs finish (or go back) while we can still notify
        with contextlib.suppress(Exception):
            await app.relay.drain()
        for platform in reversed(started):
            with contextlib.suppress(Exception):
                await platform.stop()
        await app.stop()
