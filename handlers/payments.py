"""Subscription in the bot: the plan in force, choosing tier, period and gateway, the pay link.

The payment and its state are the same the REST API serves (`core.payments.service`): the
"check" button reads what `POST /api/payment/verify/:transactionId` answers. The message
that tells the seller a payment arrived (or was cancelled) is sent by the notifications
service on the `payment.paid` / `payment.cancelled` events, with `core.payments.notices`.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import keyboards, screens
from bot.callbacks import MenuCb, SubCb
from bot.context import BotContext
from bot.middlewares import SellerRequired
from core.errors import ValidationFailed
from core.formatting import format_datetime, format_money
from core.models import Provider
from core.payments import service
from core.payments.notices import local_date, period_name, plan_name
from core.payments.schemas import CreatePaymentIn, HistoryQuery, PaymentOut, SubscriptionOut
from core.plans import PAID_TIERS, BillingPeriod, get_plan
from core.settings import get_settings

router = Router(name="payments")
router.callback_query.middleware(SellerRequired())

HISTORY_SIZE = 10


def _back(ctx: BotContext) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=ctx.t("payments.back"), callback_data=MenuCb(section="subscription").pack()
    )


def status_text(ctx: BotContext, sub: SubscriptionOut) -> str:
    if not sub.active:
        return ctx.t("payments.status_free")
    if sub.expires_at is None:
        return ctx.t("payments.status_unlimited")
    return ctx.t(
        "payments.status_active",
        expires=local_date(sub.expires_at, ctx.lang),
        days_left=sub.days_left,
    )


@router.callback_query(MenuCb.filter(F.section == "subscription"))
async def subscription(query: CallbackQuery, ctx: BotContext) -> None:
    """The plan in force and the paid tiers to buy."""
    sub = await service.seller_subscription(ctx.seller_id)
    text = ctx.t(
        "payments.title", plan=plan_name(sub.plan, ctx.lang), status=status_text(ctx, sub)
    )
    builder = InlineKeyboardBuilder()
    for tier in PAID_TIERS:
        price = format_money(get_plan(tier).monthly_price, ctx.lang)
        builder.button(
            text=ctx.t("payments.tier_button", plan=plan_name(tier, ctx.lang), price=price),
            callback_data=SubCb(action="tier", tier=tier),
        )
    builder.button(text=ctx.t("payments.history_button"), callback_data=SubCb(action="history"))
    builder.adjust(1)
    builder.row(keyboards.back_to_menu(ctx))
    await query.answer()
    await screens.show(query, text, builder.as_markup())


@router.callback_query(SubCb.filter(F.action == "tier"))
async def choose_period(query: CallbackQuery, callback_data: SubCb, ctx: BotContext) -> None:
    plan = get_plan(callback_data.tier)
    builder = InlineKeyboardBuilder()
    for period in BillingPeriod:
        builder.button(
            text=ctx.t(
                "payments.period_button",
                period=period_name(period, ctx.lang),
                price=format_money(plan.price(period), ctx.lang),
            ),
            callback_data=SubCb(action="period", tier=plan.tier, period=period.value),
        )
    builder.adjust(1)
    builder.row(_back(ctx))
    await query.answer()
    text = ctx.t("payments.choose_period", plan=plan_name(plan.tier, ctx.lang))
    await screens.show(query, text, builder.as_markup())


@router.callback_query(SubCb.filter(F.action == "period"))
async def choose_provider(query: CallbackQuery, callback_data: SubCb, ctx: BotContext) -> None:
    plan, period = get_plan(callback_data.tier), BillingPeriod(callback_data.period)
    builder = InlineKeyboardBuilder()
    for provider in Provider:
        builder.button(
            text=ctx.t(f"payments.provider.{provider.value}"),
            callback_data=SubCb(
                action="pay", tier=plan.tier, period=period.value, provider=provider.value
            ),
        )
    builder.adjust(2)
    builder.row(_back(ctx))
    text = ctx.t(
        "payments.choose_provider",
        plan=plan_name(plan.tier, ctx.lang),
        period=period_name(period, ctx.lang),
        amount=format_money(plan.price(period), ctx.lang),
    )
    await query.answer()
    await screens.show(query, text, builder.as_markup())


# A pay button pressed again within this shows the payment it started, not a second one.
REUSE_PENDING = timedelta(minutes=10)


def _return_url() -> str:
    """After paying, the checkout sends the seller back to the bot."""
    return f"https://t.me/{get_settings().bot_username}"


@router.callback_query(SubCb.filter(F.action == "pay"))
async def pay(query: CallbackQuery, callback_data: SubCb, ctx: BotContext) -> None:
    """Create the payment at the catalog price and show its pay link as a button."""
    try:
        period = BillingPeriod(callback_data.period)
        provider = Provider(callback_data.provider)
        service.expected_amount(callback_data.tier, period)
    except (ValueError, ValidationFailed):
        await query.answer(ctx.t("common.stale_button"), show_alert=True)  # forged or old data
        return
    order = CreatePaymentIn(
        amount=service.expected_amount(callback_data.tier, period),
        pricing_tier=callback_data.tier,
        billing_period=period,
        provider=provider,
    )
    checkout = await service.create_payment(
        ctx.seller_id,
        order,
        return_url=_return_url(),
        language=ctx.lang,
        actor=f"telegram:{query.from_user.id}",
        reuse_within=REUSE_PENDING,
    )
    await query.answer()
    payment = checkout.payment
    text = ctx.t(
        "payments.pay_link",
        transaction_id=payment.transaction_id,
        plan=plan_name(payment.pricing_tier, ctx.lang),
        period=period_name(payment.billing_period, ctx.lang),
        amount=format_money(payment.amount, ctx.lang),
        provider=ctx.t(f"payments.provider.{payment.provider.value}"),
        expires=format_datetime(payment.expires_at),
    )
    await screens.show(query, text, pay_keyboard(ctx, payment))


def pay_keyboard(ctx: BotContext, payment: PaymentOut) -> InlineKeyboardMarkup:
    rows = []
    if payment.payment_url:
        label = ctx.t(
            "payments.pay_button",
            amount=format_money(payment.amount, ctx.lang),
            provider=ctx.t(f"payments.provider.{payment.provider.value}"),
        )
        rows.append([InlineKeyboardButton(text=label, url=payment.payment_url)])
        check = SubCb(action="check", tx=payment.transaction_id).pack()
        rows.append(
            [InlineKeyboardButton(text=ctx.t("payments.check_button"), callback_data=check)]
        )
    rows.append([_back(ctx)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(SubCb.filter(F.action == "check"))
async def check(query: CallbackQuery, callback_data: SubCb, ctx: BotContext) -> None:
    """The payment's state, read exactly as the REST `verify` reads it."""
    verified = await service.verify(
        ctx.seller_id, callback_data.tx, return_url=_return_url(), language=ctx.lang
    )
    state = "refunded" if verified.refunded else verified.status.value
    text = ctx.t(
        f"payments.state_{state}",
        transaction_id=verified.transaction_id,
        plan=plan_name(verified.subscription.plan, ctx.lang),
        expires=local_date(verified.subscription.expires_at, ctx.lang),
    )
    await query.answer(ctx.t(f"payments.status.{state}"))
    await screens.show(query, text, pay_keyboard(ctx, verified))


@router.callback_query(SubCb.filter(F.action == "history"))
async def history(query: CallbackQuery, ctx: BotContext) -> None:
    """The last payments, newest first."""
    items, _ = await service.history(ctx.seller_id, HistoryQuery(limit=HISTORY_SIZE))
    lines = [ctx.t("payments.history_title")]
    lines += [history_line(ctx, p) for p in items] or [ctx.t("payments.history_empty")]
    await query.answer()
    await screens.show(
        query, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[[_back(ctx)]])
    )


def history_line(ctx: BotContext, payment: PaymentOut) -> str:
    state = "refunded" if payment.refunded else payment.status.value
    return ctx.t(
        "payments.history_line",
        date=local_date(payment.created_at, ctx.lang),
        plan=plan_name(payment.pricing_tier, ctx.lang),
        period=period_name(payment.billing_period, ctx.lang),
        amount=format_money(payment.amount, ctx.lang),
        provider=ctx.t(f"payments.provider.{payment.provider.value}"),
        status=ctx.t(f"payments.status.{state}"),
    )
