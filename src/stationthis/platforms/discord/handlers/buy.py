"""/buy: the packages of points, and a one-time link that signs the user into the web
studio's Buy page, where they pay by card (linked accounts share one balance)."""

from __future__ import annotations

from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.workflows.purchases import NOT_FOR_SALE


async def buy(ix: Interaction) -> None:
    app = ix.app
    user = await ix.user()
    shop = app.purchases
    offers = shop.offers("stripe")
    if not offers:
        if shop.offers("telegram"):
            await ix.say("Points are sold on Telegram here: send /buy to the bot there, after "
                         "/link joins your accounts (they share one balance).")
        else:
            await ix.say(NOT_FOR_SALE)
        return
    settings = app.settings
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    token = await app.auth.create_login_link(user)
    url = f"{app.auth.login_url(base, token)}?next=/buy"
    minutes = settings.web.login_link_minutes
    balance = await app.ledger.balance(user.id)
    lines = [f"You have {balance.total:,} points. Packages (pay by card on the web):",
             *[f"• {o.line}" for o in offers], "",
             f"Buy here: {url}",
             f"The link signs you in to the web studio once and expires in {minutes:g} "
             "minutes; don't share it. Your Discord account and the web share one balance."]
    await ix.say("\n".join(lines))
