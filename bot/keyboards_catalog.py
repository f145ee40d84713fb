"""Inline keyboards of the catalog and order screens."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import cards
from bot.callbacks import (
    CategoryCb,
    MenuCb,
    OrderCb,
    OrderListCb,
    OrderStatusCb,
    ProductAddCb,
    ProductCb,
    ProductListCb,
)
from bot.context import BotContext
from bot.keyboards import back_to_menu
from core.formatting import format_money
from core.models import Order, OrderStatus, Product
from core.schemas import OrderOut, Pagination, ProductOut
from core.services.orders import allowed_next

PREV, NEXT = "◀", "▶"
STATUS_ICONS = {
    OrderStatus.NEW: "🆕",
    OrderStatus.CONFIRMED: "✅",
    OrderStatus.SHIPPED: "🚚",
    OrderStatus.DELIVERED: "📦",
    OrderStatus.CANCELLED: "❌",
    OrderStatus.RETURNED: "↩️",
}
BUTTON_NAME = 40


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _pager(
    pagination: Pagination, page_data: Callable[[int], CallbackData]
) -> list[InlineKeyboardButton]:
    """◀ ▶ to the neighbouring pages that exist."""
    row = []
    if pagination.page > 1:
        row.append(_button(PREV, page_data(pagination.page - 1).pack()))
    if pagination.page < pagination.pages:
        row.append(_button(NEXT, page_data(pagination.page + 1).pack()))
    return row


def _markup(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


# --- products -----------------------------------------------------------------------------


def product_list(
    ctx: BotContext, items: Sequence[ProductOut], pagination: Pagination
) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                ctx.t(
                    "products.item",
                    name=cards.cut(p.name, BUTTON_NAME),
                    price=format_money(p.price, ctx.lang),
                ),
                ProductCb(id=p.id, page=pagination.page).pack(),
            )
        ]
        for p in items
    ]
    rows.append(_pager(pagination, lambda page: ProductListCb(page=page)))
    rows.append([_button(ctx.t("products.add"), ProductAddCb(action="new").pack())])
    rows.append([back_to_menu(ctx)])
    return _markup(rows)


def product_card(ctx: BotContext, product: Product, page: int) -> InlineKeyboardMarkup:
    def action(key: str, name: str) -> InlineKeyboardButton:
        return _button(ctx.t(key), ProductCb(id=product.id, action=name, page=page).pack())

    return _markup(
        [
            [action("products.edit_price", "price"), action("products.edit_stock", "stock")],
            [action("products.add_photo", "photo"), action("products.delete", "delete")],
            [_button(ctx.t("products.back_to_list"), ProductListCb(page=page).pack())],
        ]
    )


def product_delete(ctx: BotContext, product_id: int, page: int) -> InlineKeyboardMarkup:
    yes = ProductCb(id=product_id, action="delete_ok", page=page)
    no = ProductCb(id=product_id, page=page)
    return _markup(
        [
            [_button(ctx.t("products.delete_yes"), yes.pack())],
            [_button(ctx.t("products.delete_no"), no.pack())],
        ]
    )


def back_to_product(ctx: BotContext, product_id: int, page: int) -> InlineKeyboardMarkup:
    """The cancel button of an edit: back to the card."""
    return _markup([[_button(ctx.t("common.cancel"), ProductCb(id=product_id, page=page).pack())]])


def add_step(
    ctx: BotContext, *, skip: bool = False, categories: Sequence[str] = ()
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, name in enumerate(categories):
        builder.button(text=cards.cut(name, BUTTON_NAME), callback_data=CategoryCb(index=index))
    builder.adjust(2)
    if skip:
        builder.row(_button(ctx.t("common.skip"), ProductAddCb(action="skip").pack()))
    builder.row(_button(ctx.t("common.cancel"), ProductAddCb(action="cancel").pack()))
    return builder.as_markup()


# --- orders -------------------------------------------------------------------------------


def orders_overview(ctx: BotContext, counts: dict[OrderStatus, int]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for status, count in counts.items():
        label = ctx.t(
            "orders.status_count",
            status=f"{STATUS_ICONS[status]} {ctx.t(f'orders.filter_{status}')}",
            count=count,
        )
        builder.button(text=label, callback_data=OrderListCb(status=status))
    builder.adjust(2)
    total = sum(counts.values())
    builder.row(_button(ctx.t("orders.all", count=total), OrderListCb(status="all").pack()))
    builder.row(back_to_menu(ctx))
    return builder.as_markup()


def _order_label(ctx: BotContext, order: Order, status: str) -> str:
    label = ctx.t(
        "orders.item",
        id=order.id,
        customer=cards.cut(order.customer_name, BUTTON_NAME) or ctx.t("orders.no_customer_name"),
        total=format_money(order.total_amount, ctx.lang),
    )
    return f"{STATUS_ICONS[order.status]} {label}" if status == "all" else label


def order_list(
    ctx: BotContext, orders: Sequence[Order], status: str, pagination: Pagination
) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                _order_label(ctx, order, status),
                OrderCb(id=order.id, back=status, page=pagination.page).pack(),
            )
        ]
        for order in orders
    ]
    rows.append(_pager(pagination, lambda page: OrderListCb(status=status, page=page)))
    rows.append([_button(ctx.t("orders.back_to_statuses"), MenuCb(section="orders").pack())])
    return _markup(rows)


def order_card(ctx: BotContext, order: OrderOut, back: str, page: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for status in allowed_next(order.status):
        data = OrderStatusCb(id=order.id, to=status, back=back, page=page)
        builder.button(text=ctx.t(f"orders.action_{status}"), callback_data=data)
    builder.adjust(2)
    builder.row(_button(ctx.t("orders.back_to_list"), OrderListCb(status=back, page=page).pack()))
    return builder.as_markup()


def order_confirm(ctx: BotContext, change: OrderStatusCb) -> InlineKeyboardMarkup:
    yes = change.model_copy(update={"confirmed": True})
    no = OrderCb(id=change.id, back=change.back, page=change.page)
    return _markup(
        [
            [_button(ctx.t(f"orders.confirm_yes_{change.to}"), yes.pack())],
            [_button(ctx.t("orders.confirm_no"), no.pack())],
        ]
    )


def back_to_order(ctx: BotContext, order_id: int, back: str, page: int) -> InlineKeyboardMarkup:
    """The cancel button of the tracking-number step: back to the card."""
    data = OrderCb(id=order_id, back=back, page=page)
    return _markup([[_button(ctx.t("common.cancel"), data.pack())]])
