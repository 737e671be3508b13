"""Buying points with Telegram Stars.

    /buy [package]        the packages (buttons), or an invoice in XTR for one of them
    pre_checkout_query    answered at once (Telegram waits at most 10 s): ok when the invoice's
                          purchase is still pending, its package on sale at that price, the
                          payer is the buyer and not banned
    successful_payment    the points, granted once per telegram_payment_charge_id
    refunded_payment      the refunded points taken back (once; the operator's refund, made
                          with ``TelegramStars.refund``, has usually taken them already)

``register(application)`` adds the handlers (before the catch-all ones).
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from stationthis.config import Settings
from stationthis.core.errors import Forbidden, InvalidInput, StationError
from stationthis.core.purchases import Purchase
from stationthis.platforms.telegram.handlers.common import (
    Ctx,
    answer,
    guarded,
    in_group,
    station,
    user_of,
)

log = logging.getLogger(__name__)
BUTTON = "buy:"
DESCRIPTION = "buy points with Telegram Stars"
PAYMENT_GROUP = -3
NOT_MATCHED = ("We received your payment but could not match it to a purchase; nothing is "
               "lost: the operator can see it (charge {charge}). Sorry for the trouble.")


def register(application: Application) -> None:  # type: ignore[type-arg]
    new = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("buy", buy, filters=new))
    application.add_handler(CallbackQueryHandler(pressed, pattern=rf"^{BUTTON}"))
    # Before the rate limit (group -2): a payment must never be dropped, and Telegram
    # cancels one whose pre-checkout query goes unanswered.
    application.add_handler(PreCheckoutQueryHandler(pre_checkout), group=PAYMENT_GROUP)
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid),
                            group=PAYMENT_GROUP)
    application.add_handler(MessageHandler(_Refunded(), refunded), group=PAYMENT_GROUP)


@guarded
async def buy(update: Update, context: Ctx) -> None:
    if in_group(update):  # an invoice in a group could be paid by anyone
        raise InvalidInput("Use /buy in a private chat with me.")
    app = station(context).app
    user = await user_of(update, context)
    wanted = " ".join(context.args or []).strip()
    if wanted:
        await _invoice(update, context, wanted)
        return
    offers = app.purchases.offers("telegram")
    if not offers:
        app.purchases.offer("", "telegram")  # raises the reason nothing is for sale
    balance = await app.ledger.balance(user.id)
    lines = [f"You have {balance.total:,} points. Packages (paid with Telegram Stars):"]
    lines += [f"• {o.line}" for o in offers]
    if balance.credit < 0:
        lines.append(f"Your purchased balance is {balance.credit:,} after a refund: a "
                     "purchase settles it first.".replace("-", "−"))
    if app.purchases.card:
        lines.append("To pay by card, use the Buy page of the web studio (/web signs you in).")
    keyboard = [[InlineKeyboardButton(f"{o.name} · {o.amount} ⭐", callback_data=_data(o.name))]
                for o in offers]
    await answer(update, "\n".join(lines), reply_markup=InlineKeyboardMarkup(keyboard))


@guarded
async def pressed(update: Update, context: Ctx) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    await _invoice(update, context, query.data[len(BUTTON):])


async def _invoice(update: Update, context: Ctx, package: str) -> None:
    app = station(context).app
    user = await user_of(update, context)
    tg = update.effective_user
    chat = update.effective_chat
    assert tg is not None and chat is not None
    purchase, offer = await app.purchases.start(user, package, "telegram", payer_ref=str(tg.id))
    title = f"{offer.points:,} points"[:32]
    description = (f"{offer.name}: {offer.points:,} StationThis points"
                   + (f" ({offer.buys})" if offer.buys else ""))[:255]
    await context.bot.send_invoice(
        chat.id, title=title, description=description, payload=purchase.id, currency="XTR",
        prices=[LabeledPrice(title, offer.amount)])


async def pre_checkout(update: Update, context: Ctx) -> None:
    """Answer at once: Telegram cancels the payment after 10 seconds without an answer."""
    query = update.pre_checkout_query
    assert query is not None
    shop = station(context).app.purchases
    try:
        await shop.check_payable(query.invoice_payload, query.total_amount, query.currency)
        purchase = await shop.get(query.invoice_payload)
        if purchase.payer_ref != str(query.from_user.id):
            raise Forbidden("This invoice was made for someone else: send /buy for your own.")
    except StationError as exc:
        await query.answer(ok=False, error_message=exc.message[:200])
        return
    except Exception:
        log.exception("pre-checkout query %s failed", query.id)
        await query.answer(ok=False, error_message="Something went wrong on our side; "
                           "nothing was charged. Try again in a moment.")
        return
    await query.answer(ok=True)


async def paid(update: Update, context: Ctx) -> None:
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    payment = message.successful_payment
    app = station(context).app
    try:
        purchase, granted = await app.purchases.fulfil(
            payment.invoice_payload, payment.telegram_payment_charge_id,
            amount=payment.total_amount, currency=payment.currency)
    except StationError as exc:
        log.error("telegram payment %s (payload %r) not granted: %s",
                  payment.telegram_payment_charge_id, payment.invoice_payload, exc)
        await answer(update, NOT_MATCHED.format(charge=payment.telegram_payment_charge_id))
        return
    if not granted:
        return  # the same payment reported again: said already
    balance = await app.ledger.balance((await user_of(update, context)).id)
    await answer(update, f"Thank you! {purchase.points:,} points were added: you have "
                 f"{balance.total:,} points now.")


async def refunded(update: Update, context: Ctx) -> None:
    message = update.effective_message
    refund = getattr(message, "refunded_payment", None)
    if refund is None:
        return
    shop = station(context).app.purchases
    found = await shop.find(payment_id=refund.telegram_payment_charge_id)
    if found is None:
        return
    done = await shop.refunded(found.id, refund.total_amount, note="refunded in Telegram")
    if done.points:
        await answer(update, f"Your payment of {found.amount} ⭐ was refunded: "
                     f"{done.points:,} points were taken back.")


class TelegramStars:
    """The operator's refunds of Stars payments (``stationthis purchases refund``)."""

    channel = "telegram"

    def __init__(self, settings: Settings) -> None:
        if settings.telegram_token is None:
            raise ValueError("STATIONTHIS_TELEGRAM_TOKEN is not set")
        api = settings.telegram_api_url.rstrip("/")
        self.bot = Bot(settings.telegram_token.get_secret_value(), base_url=f"{api}/bot",
                       base_file_url=f"{api}/file/bot")

    async def refund(self, purchase: Purchase) -> int:
        if not purchase.provider_payment_id or not purchase.payer_ref:
            raise InvalidInput(f"purchase {purchase.id} has no Telegram payment to refund")
        try:
            async with self.bot:
                await self.bot.refund_star_payment(int(purchase.payer_ref),
                                                   purchase.provider_payment_id)
        except TelegramError as exc:
            raise StationError(f"Telegram refused the refund: {exc}") from None
        return purchase.amount


class _Refunded(filters.MessageFilter):
    def filter(self, message: object) -> bool:
        return getattr(message, "refunded_payment", None) is not None


def _data(name: str) -> str:
    return f"{BUTTON}{name}"[:64]
