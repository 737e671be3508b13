"""``stationthis discord register [--guild ID]``: register the slash commands with Discord
(bulk overwrite: commands no longer listed are removed)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import typer

from stationthis.cli.common import fail, get_settings

discord_cli = typer.Typer(help="Discord: register the bot's slash commands.",
                          no_args_is_help=True)


@discord_cli.command("register")
def register(
    guild: Annotated[str | None, typer.Option(
        help="a server id: register there (at once) instead of globally")] = None,
) -> None:
    """Register (overwrite) the slash commands, globally or in one server."""
    from stationthis.platforms.discord.commands import commands
    from stationthis.platforms.discord.rest import DiscordError, DiscordRest, quiet_http_logs

    settings = get_settings()
    if not settings.discord_application_id or settings.discord_bot_token is None:
        fail("set STATIONTHIS_DISCORD_APPLICATION_ID and STATIONTHIS_DISCORD_BOT_TOKEN first")
    quiet_http_logs()
    rest = DiscordRest(settings.discord_api_url, settings.discord_application_id,
                       settings.discord_bot_token.get_secret_value())

    async def main() -> list[dict[str, Any]]:
        try:
            return await rest.register_commands(commands(), guild)
        finally:
            await rest.aclose()

    try:
        found = asyncio.run(main())
    except DiscordError as exc:
        fail(str(exc), 1)
    except httpx.HTTPError as exc:
        fail(f"cannot reach Discord at {settings.discord_api_url}: {type(exc).__name__}", 1)
    where = f"in server {guild}" if guild else "globally (they can take up to an hour to show)"
    names = " ".join(f"/{c.get('name')}" for c in found)
    typer.echo(f"registered {len(found)} commands {where}: {names}")
