"""Orders in the bot: counts by status, lists, the order card and status changes."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import cards, screens
from bot import keyboards_catalog as kb
from bot.callbacks import MenuCb, OrderCb, OrderListCb, OrderStatusCb
from bot.context import BotContext
from bot.middlewares import SellerRequired
from bot.states import OrderShip
from core.errors import AppError, ValidationFailed
from core.models import Order, OrderStatus
from core.schemas import OrderOut, OrderQuery, OrderStatusIn, Pagination
from core.services import orders
from core.validation import validate

router = Router(name="orders")
router.message.middleware(SellerRequired())
router.callback_query.middleware(SellerRequired())

PAGE_SIZE = 8
MAX_PAGE = 100_000
CONFIRM_FIRST = frozenset({OrderStatus.CANCELLED, OrderStatus.RETURNED})


def actor(user_id: int) -> str:
    return f"telegram:{user_id}"


@router.callback_query(MenuCb.filter(F.section == "orders"))
async def overview(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    counts = await orders.count_by_status(ctx.seller_id)
    await screens.show(query, cards.orders_overview(ctx, counts), kb.orders_overview(ctx, counts))
    await query.answer()


async def _page(seller_id: int, status: str, page: int) -> tuple[list[Order], Pagination]:
    """The page asked for, or the last one when the list has shrunk since."""

    def query(number: int) -> OrderQuery:
        wanted = None if status == "all" else status
        return validate(OrderQuery, {"status": wanted, "page": number, "limit": PAGE_SIZE})

    items, pagination = await orders.list_page(seller_id, query(min(max(page, 1), MAX_PAGE)))
    if not items and 0 < pagination.pages < pagination.page:
        items, pagination = await orders.list_page(seller_id, query(pagination.pages))
    return items, pagination


@router.callback_query(OrderListCb.filter())
async def list_orders(
    query: CallbackQuery, callback_data: OrderListCb, ctx: BotContext, state: FSMContext
) -> None:
    await state.clear()
    items, pagination = await _page(ctx.seller_id, callback_data.status, callback_data.page)
    text = cards.order_list(ctx, callback_data.status, pagination)
    await screens.show(query, text, kb.order_list(ctx, items, callback_data.status, pagination))
    await query.answer()


async def show_card(
    query: CallbackQuery, ctx: BotContext, order: OrderOut, back: str, page: int
) -> None:
    await screens.show(query, cards.order_card(ctx, order), kb.order_card(ctx, order, back, page))


@router.callback_query(OrderCb.filter())
async def view_order(
    query: CallbackQuery, callback_data: OrderCb, ctx: BotContext, state: FSMContext
) -> None:
    await state.clear()  # the card is also where the cancel of the tracking step leads
    order = await orders.to_out(await orders.get(ctx.seller_id, callback_data.id))
    await show_card(query, ctx, order, callback_data.back, callback_data.page)
    await query.answer()


# --- status changes -----------------------------------------------------------------------


@router.callback_query(OrderStatusCb.filter(F.to == OrderStatus.SHIPPED))
async def ask_tracking(
    query: CallbackQuery, callback_data: OrderStatusCb, ctx: BotContext, state: FSMContext
) -> None:
    order = await orders.get(ctx.seller_id, callback_data.id)
    orders.check_transition(order.status, OrderStatus.SHIPPED)
    await state.set_state(OrderShip.tracking)
    card_id = query.message.message_id if query.message else None
    await state.set_data(
        {
            "order_id": order.id,
            "back": callback_data.back,
            "page": callback_data.page,
            "card": card_id,
        }
    )
    markup = kb.back_to_order(ctx, order.id, callback_data.back, callback_data.page)
    await screens.show(query, ctx.t("orders.ask_tracking", id=order.id), markup)
    await query.answer()


@router.message(OrderShip.tracking)
async def receive_tracking(message: Message, ctx: BotContext, state: FSMContext, bot: Bot) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    try:
        order = await _ship(ctx, data["order_id"], message.text, message.from_user.id)
    except ValidationFailed:
        markup = kb.back_to_order(ctx, data["order_id"], data["back"], data["page"])
        await message.answer(ctx.t("orders.bad_tracking"), reply_markup=markup)
        return
    except AppError:
        await state.clear()  # gone or moved on meanwhile: the step is over
        raise
    await state.clear()
    await _show_shipped(message, ctx, bot, await orders.to_out(order), data)


async def _ship(ctx: BotContext, order_id: int, tracking: str | None, user_id: int) -> Order:
    change = validate(OrderStatusIn, {"status": "shipped", "tracking_number": tracking or ""})
    return await orders.change_status(ctx.seller_id, order_id, change, actor=actor(user_id))


async def _show_shipped(
    message: Message, ctx: BotContext, bot: Bot, order: OrderOut, data: dict[str, Any]
) -> None:
    """The card that became the prompt shows the order again; a line below confirms."""
    if data.get("card"):
        markup = kb.order_card(ctx, order, data["back"], data["page"])
        text = cards.order_card(ctx, order)
        await screens.update(bot, message.chat.id, data["card"], text, markup)
    tracking = escape(order.tracking_number or "")
    await message.answer(ctx.t("orders.shipped", id=order.id, tracking=tracking))


@router.callback_query(OrderStatusCb.filter(F.to.in_(CONFIRM_FIRST) & ~F.confirmed))
async def ask_confirmation(
    query: CallbackQuery, callback_data: OrderStatusCb, ctx: BotContext
) -> None:
    order = await orders.get(ctx.seller_id, callback_data.id)
    orders.check_transition(order.status, OrderStatus(callback_data.to))
    text = ctx.t(f"orders.confirm_{callback_data.to}", id=order.id)
    await screens.show(query, text, kb.order_confirm(ctx, callback_data))
    await query.answer()


@router.callback_query(OrderStatusCb.filter())
async def change_status(
    query: CallbackQuery, callback_data: OrderStatusCb, ctx: BotContext
) -> None:
    change = validate(OrderStatusIn, {"status": callback_data.to})
    order = await orders.change_status(
        ctx.seller_id, callback_data.id, change, actor=actor(query.from_user.id)
    )
    await show_card(query, ctx, await orders.to_out(order), callback_data.back, callback_data.page)
    await query.answer(ctx.t("orders.status_changed", status=cards.status_name(ctx, order.status)))
