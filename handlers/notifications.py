"""Customers in the bot: joining a shop by its invite link, and the seller's 👥 Customers.

Customers open `t.me/<bot>?start=c<token>`, share their phone with the contact button and
get order news here from then on (and say whether offers are welcome). Sellers list their
customers, write to one, or broadcast to a group; one message then shows the progress and is
edited by the delivery worker until every message is sent or failed.
"""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import keyboards, screens
from bot.callbacks import ConsentCb, CustomerCb, MenuCb
from bot.context import BotContext
from bot.middlewares import SellerRequired
from bot.states import CustomerLink, CustomerMessage
from core.errors import CustomerUnreachable, NotFound, ValidationFailed
from core.models import Customer, NotificationBatch
from core.schemas_notifications import CustomerQuery
from core.services import audience, broadcasts, channels, notification_events

router = Router(name="notifications")
customer_router = Router(name="notifications.customers")
seller_router = Router(name="notifications.sellers")
seller_router.message.middleware(SellerRequired())
seller_router.callback_query.middleware(SellerRequired())
router.include_router(customer_router)
router.include_router(seller_router)
notification_events.subscribe()

PAGE_SIZE = 8
MAX_TEXT = 1000
INVITE = r"^c[A-Za-z0-9_-]{8,32}$"


# --- a customer joins -------------------------------------------------------------------


def contact_keyboard(ctx: BotContext) -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=ctx.t("notifications.link_share_button"), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def consent_keyboard(ctx: BotContext, customer_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for agree, key in ((True, "consent_yes"), (False, "consent_no")):
        data = ConsentCb(customer=customer_id, agree=agree)
        builder.button(text=ctx.t(f"notifications.{key}"), callback_data=data)
    builder.adjust(1)
    return builder.as_markup()


@customer_router.message(CommandStart(deep_link=True, magic=F.args.regexp(INVITE)))
async def open_invite(
    message: Message, command: CommandObject, ctx: BotContext, state: FSMContext
) -> None:
    token = (command.args or "")[1:]
    found = await audience.resolve_invite(token)
    if found is None:
        await message.answer(ctx.t("notifications.link_invalid"))
        return
    shop = html.escape(audience.shop_name(found[1]))
    await state.set_state(CustomerLink.phone)
    await state.update_data(invite=token, shop=shop)
    await message.answer(
        ctx.t("notifications.link_ask_phone", shop=shop), reply_markup=contact_keyboard(ctx)
    )


@customer_router.message(CustomerLink.phone, F.contact)
async def receive_contact(message: Message, ctx: BotContext, state: FSMContext) -> None:
    contact = message.contact
    assert contact is not None and message.from_user is not None
    if contact.user_id != message.from_user.id:
        await message.answer(
            ctx.t("notifications.link_not_own_contact"), reply_markup=contact_keyboard(ctx)
        )
        return
    data = await state.get_data()
    name = " ".join(filter(None, [contact.first_name, contact.last_name]))
    try:
        customer, _ = await audience.link_telegram(
            data.get("invite", ""), message.chat.id, contact.phone_number, name, ctx.lang
        )
    except ValidationFailed as exc:
        reason = html.escape(exc.message)
        await message.answer(ctx.t("notifications.link_bad_phone", reason=reason))
        return
    except NotFound:
        await state.clear()
        await message.answer(ctx.t("notifications.link_invalid"))
        return
    await state.clear()
    shop = data.get("shop", "")
    await message.answer(
        ctx.t("notifications.linked", shop=shop), reply_markup=ReplyKeyboardRemove()
    )
    await message.answer(
        ctx.t("notifications.ask_consent", shop=shop),
        reply_markup=consent_keyboard(ctx, customer.id),
    )


@customer_router.message(CustomerLink.phone, ~F.text.startswith("/"))
async def ask_contact_again(message: Message, ctx: BotContext) -> None:
    await message.answer(
        ctx.t("notifications.link_not_own_contact"), reply_markup=contact_keyboard(ctx)
    )


@customer_router.callback_query(ConsentCb.filter())
async def answer_consent(query: CallbackQuery, callback_data: ConsentCb, ctx: BotContext) -> None:
    customer = await audience.set_consent_from_chat(
        callback_data.customer, query.from_user.id, callback_data.agree
    )
    seller = await customer.seller
    key = "consent_saved_yes" if callback_data.agree else "consent_saved_no"
    await query.answer()
    shop = html.escape(audience.shop_name(seller))
    await screens.show(query, ctx.t(f"notifications.{key}", shop=shop))


# --- the seller's customers -----------------------------------------------------------------


def _back(ctx: BotContext, target: CustomerCb | MenuCb) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=ctx.t("common.back"), callback_data=target.pack())]


@seller_router.callback_query(MenuCb.filter(F.section == "customers"))
async def customers_menu(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(None)
    seller = ctx.seller
    assert seller is not None
    counts = await audience.summary(seller.id)
    text = ctx.t(
        "notifications.customers.title",
        total=counts.total,
        telegram=counts.telegram,
        consent=counts.consent,
        link=await audience.seller_link(seller.id),
    )
    builder = InlineKeyboardBuilder()
    builder.button(
        text=ctx.t("notifications.customers.list_button"), callback_data=CustomerCb(action="list")
    )
    builder.button(
        text=ctx.t("notifications.customers.broadcast_button"),
        callback_data=CustomerCb(action="broadcast"),
    )
    builder.adjust(1)
    builder.row(keyboards.back_to_menu(ctx))
    await query.answer()
    await screens.show(query, text, builder.as_markup())


@seller_router.callback_query(CustomerCb.filter(F.action == "list"))
async def customer_list(query: CallbackQuery, callback_data: CustomerCb, ctx: BotContext) -> None:
    seller = ctx.seller
    assert seller is not None
    page = max(1, callback_data.page)
    rows, pagination = await audience.list_page(
        seller.id, CustomerQuery(page=page, limit=PAGE_SIZE)
    )
    builder = InlineKeyboardBuilder()
    for customer in rows:
        label = f"{customer.name or '—'} · {customer.phone or ''}".strip(" ·")
        if customer.telegram_chat_id is not None:
            label = "✈️ " + label
        builder.button(
            text=label[:60], callback_data=CustomerCb(action="view", id=customer.id, page=page)
        )
    builder.adjust(1)
    nav = []
    if page > 1:
        nav.append(
            InlineKeyboardButton(
                text=ctx.t("common.prev"),
                callback_data=CustomerCb(action="list", page=page - 1).pack(),
            )
        )
    if page < pagination.pages:
        nav.append(
            InlineKeyboardButton(
                text=ctx.t("common.next"),
                callback_data=CustomerCb(action="list", page=page + 1).pack(),
            )
        )
    if nav:
        builder.row(*nav)
    builder.row(*_back(ctx, MenuCb(section="customers")))
    if rows:
        text = ctx.t("notifications.customers.list_title", page=page, pages=pagination.pages)
    else:
        text = ctx.t("notifications.customers.empty")
    await query.answer()
    await screens.show(query, text, builder.as_markup())


def _card(ctx: BotContext, customer: Customer, channel: str | None) -> str:
    unknown = ctx.t("notifications.customers.unknown")
    linked = "linked_yes" if customer.telegram_chat_id is not None else "linked_no"
    consent = "consent_on" if customer.marketing_consent else "consent_off"
    return ctx.t(
        "notifications.customers.card",
        name=html.escape(customer.name or unknown),
        phone=customer.phone or unknown,
        telegram=ctx.t(f"notifications.customers.{linked}"),
        language=customer.language or unknown,
        consent=ctx.t(f"notifications.customers.{consent}"),
        channel=channel or ctx.t("notifications.customers.channel_none"),
    )


@seller_router.callback_query(CustomerCb.filter(F.action == "view"))
async def customer_card(query: CallbackQuery, callback_data: CustomerCb, ctx: BotContext) -> None:
    seller = ctx.seller
    assert seller is not None
    customer = await audience.get(seller.id, callback_data.id)
    channel = channels.customer_channel(seller, customer)
    builder = InlineKeyboardBuilder()
    if channel is not None:
        builder.button(
            text=ctx.t("notifications.customers.write_button"),
            callback_data=CustomerCb(action="write", id=customer.id, page=callback_data.page),
        )
    builder.row(*_back(ctx, CustomerCb(action="list", page=callback_data.page)))
    await query.answer()
    await screens.show(
        query, _card(ctx, customer, channel.value if channel else None), builder.as_markup()
    )


@seller_router.callback_query(CustomerCb.filter(F.action == "write"))
async def ask_message(
    query: CallbackQuery, callback_data: CustomerCb, ctx: BotContext, state: FSMContext
) -> None:
    seller = ctx.seller
    assert seller is not None
    customer = await audience.get(seller.id, callback_data.id)
    await state.set_state(CustomerMessage.text)
    await state.update_data(customer=customer.id)
    await query.answer()
    name = html.escape(customer.name or customer.phone or str(customer.id))
    await screens.show(
        query, ctx.t("notifications.customers.ask_message", name=name), keyboards.cancel_only(ctx)
    )


async def _typed_text(message: Message, ctx: BotContext) -> str | None:
    text = (message.text or "").strip()
    if not text or len(text) > MAX_TEXT:
        await message.answer(
            ctx.t("notifications.customers.too_long"), reply_markup=keyboards.cancel_only(ctx)
        )
        return None
    return text


async def _show_progress(
    message: Message, batch: NotificationBatch, ctx: BotContext, *, edit: bool
) -> None:
    """Put the progress text on screen and hand that message to the delivery worker."""
    state = await broadcasts.progress(batch.seller_id, batch.id)
    text = broadcasts.progress_text(state, ctx.lang)
    shown = await message.edit_text(text) if edit else await message.answer(text)
    target = shown if isinstance(shown, Message) else message
    await broadcasts.attach_progress(batch, target.chat.id, target.message_id)


@seller_router.message(CustomerMessage.text, F.text, ~F.text.startswith("/"))
async def send_to_customer(message: Message, ctx: BotContext, state: FSMContext) -> None:
    seller = ctx.seller
    assert seller is not None
    text = await _typed_text(message, ctx)
    if text is None:
        return
    customer_id = int((await state.get_data()).get("customer", 0))
    await state.set_state(None)
    try:
        batch = await broadcasts.message_customer(seller, customer_id, text)
    except CustomerUnreachable:
        await message.answer(ctx.t("notifications.customers.unreachable"))
        return
    await _show_progress(message, batch, ctx, edit=False)


@seller_router.callback_query(CustomerCb.filter(F.action == "broadcast"))
async def choose_group(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(None)
    builder = InlineKeyboardBuilder()
    for group in audience.GROUPS:
        builder.button(
            text=ctx.t(f"notifications.customers.group_{group}"),
            callback_data=CustomerCb(action="group", group=group),
        )
    builder.adjust(1)
    builder.row(*_back(ctx, MenuCb(section="customers")))
    await query.answer()
    await screens.show(query, ctx.t("notifications.customers.choose_group"), builder.as_markup())


@seller_router.callback_query(CustomerCb.filter(F.action == "group"))
async def ask_broadcast(
    query: CallbackQuery, callback_data: CustomerCb, ctx: BotContext, state: FSMContext
) -> None:
    seller = ctx.seller
    assert seller is not None
    group = callback_data.group if callback_data.group in audience.GROUPS else "all"
    targets = await audience.group(seller, group)
    await query.answer()
    if not targets:
        markup = InlineKeyboardMarkup(inline_keyboard=[_back(ctx, CustomerCb(action="broadcast"))])
        await screens.show(query, ctx.t("notifications.customers.group_empty"), markup)
        return
    await state.set_state(CustomerMessage.broadcast)
    await state.update_data(group=group, count=len(targets))
    text = ctx.t("notifications.customers.ask_broadcast", count=len(targets))
    await screens.show(query, text, keyboards.cancel_only(ctx))


@seller_router.message(CustomerMessage.broadcast, F.text, ~F.text.startswith("/"))
async def confirm_broadcast(message: Message, ctx: BotContext, state: FSMContext) -> None:
    text = await _typed_text(message, ctx)
    if text is None:
        return
    data = await state.get_data()
    await state.update_data(text=text)
    builder = InlineKeyboardBuilder()
    builder.button(
        text=ctx.t("notifications.customers.send_button"), callback_data=CustomerCb(action="send")
    )
    builder.row(keyboards.cancel_button(ctx))
    preview = ctx.t(
        "notifications.customers.confirm", count=data.get("count", 0), text=html.escape(text)
    )
    await message.answer(preview, reply_markup=builder.as_markup())


@seller_router.callback_query(CustomerCb.filter(F.action == "send"), CustomerMessage.broadcast)
async def send_broadcast(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    seller = ctx.seller
    assert seller is not None
    data = await state.get_data()
    text = str(data.get("text") or "")
    if not text:
        await query.answer()
        return
    await state.set_state(None)
    try:
        batch = await broadcasts.broadcast(seller, str(data.get("group") or "all"), text)
    except CustomerUnreachable:
        await query.answer()
        await screens.show(query, ctx.t("notifications.customers.group_empty"))
        return
    await query.answer()
    assert isinstance(query.message, Message)
    await _show_progress(query.message, batch, ctx, edit=True)
