"""Texts of the catalog and order screens. Values typed by people are HTML-escaped here."""

from __future__ import annotations

from html import escape

from bot.context import BotContext
from core.formatting import format_datetime, format_money, format_number, format_phone
from core.models import OrderStatus, Product
from core.schemas import OrderEventOut, OrderOut, Pagination

CAPTION_LIMIT = 1024  # Telegram's limits, in visible characters
TEXT_LIMIT = 4096
MAX_ORDER_LINES = 20
SHORT = 60


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# --- products -----------------------------------------------------------------------------


def with_page(ctx: BotContext, file: str, title: str, pagination: Pagination) -> str:
    """A list's title, and which page this is when there are several."""
    if pagination.pages < 2:
        return title
    page = ctx.t(f"{file}.page", page=pagination.page, pages=pagination.pages)
    return f"{title}\n{page}"


def product_list(ctx: BotContext, pagination: Pagination) -> str:
    if not pagination.total:
        return ctx.t("products.list_empty")
    title = ctx.t("products.list_title", total=pagination.total)
    return with_page(ctx, "products", title, pagination)


def product_card(
    ctx: BotContext, product: Product, *, caption: bool = False, notice: str | None = None
) -> str:
    """The card; as a photo caption the description is cut to fit Telegram's limit."""
    parts = [notice] if notice else []
    parts.append(
        ctx.t(
            "products.card",
            name=escape(product.name),
            sku=escape(product.sku),
            price=format_money(product.price, ctx.lang),
            stock=format_number(product.stock, ctx.lang),
            category=escape(product.category) or ctx.t("products.no_category"),
            photos=len(product.photos or []),
        )
    )
    head = "\n\n".join(parts)
    if product.description:
        room = (CAPTION_LIMIT if caption else TEXT_LIMIT) - len(head) - 2
        if room > 0:
            parts.append(escape(cut(product.description, room)))
    return "\n\n".join(parts)


def edit_prompt(ctx: BotContext, action: str, product: Product) -> str:
    return ctx.t(
        f"products.ask_new_{action}",
        name=escape(product.name),
        price=format_money(product.price, ctx.lang),
        stock=format_number(product.stock, ctx.lang),
    )


def add_step(ctx: BotContext, number: int, steps: int, ask_key: str) -> str:
    return ctx.t("products.step", step=number, steps=steps) + "\n\n" + ctx.t(ask_key)


# --- orders -------------------------------------------------------------------------------


def status_name(ctx: BotContext, status: str) -> str:
    return ctx.t(f"orders.status_{status}")


def filter_name(ctx: BotContext, status: str) -> str:
    return ctx.t("orders.list_all") if status == "all" else ctx.t(f"orders.filter_{status}")


def orders_overview(ctx: BotContext, counts: dict[OrderStatus, int]) -> str:
    return ctx.t("orders.title", total=sum(counts.values()))


def order_list(ctx: BotContext, status: str, pagination: Pagination) -> str:
    if not pagination.total:
        return ctx.t("orders.list_empty")
    title = ctx.t("orders.list_title", status=filter_name(ctx, status), total=pagination.total)
    return with_page(ctx, "orders", title, pagination)


def customer_label(order: OrderOut) -> str:
    """`Name, +998...` for a card; empty when the order has neither."""
    phone = format_phone(order.customer_phone) if order.customer_phone else ""
    return ", ".join(part for part in (order.customer_name, phone) if part)


def _actor(ctx: BotContext, actor: str) -> str:
    kind = actor.split(":", 1)[0]
    if kind == "telegram":
        return ctx.t("orders.actor_telegram")
    if kind == "seller":
        return ctx.t("orders.actor_web")
    return ctx.t("orders.actor_system")


def _history_line(ctx: BotContext, event: OrderEventOut) -> str:
    values = {
        "date": format_datetime(event.created_at),
        "status": status_name(ctx, event.to_status),
        "actor": _actor(ctx, event.actor),
    }
    if event.tracking_number:
        return ctx.t("orders.history_tracking", tracking=escape(event.tracking_number), **values)
    return ctx.t("orders.history_line", **values)


def _order_head(ctx: BotContext, order: OrderOut) -> list[str]:
    customer = customer_label(order)
    lines = [
        ctx.t("orders.card_title", id=order.id, date=format_datetime(order.created_at)),
        ctx.t("orders.card_status", status=status_name(ctx, order.status)),
        ctx.t("orders.card_customer", customer=escape(cut(customer, 160)))
        if customer
        else ctx.t("orders.card_no_customer"),
    ]
    if order.delivery_address:
        lines.append(ctx.t("orders.card_address", address=escape(order.delivery_address)))
    if order.notes:
        lines.append(ctx.t("orders.card_notes", notes=escape(cut(order.notes, 300))))
    return lines


def _order_lines(ctx: BotContext, order: OrderOut) -> list[str]:
    lines = [
        ctx.t(
            "orders.card_line",
            name=escape(cut(item.name, SHORT)),
            quantity=format_number(item.quantity, ctx.lang),
            amount=format_money(item.line_total, ctx.lang),
        )
        for item in order.items[:MAX_ORDER_LINES]
    ]
    hidden = len(order.items) - MAX_ORDER_LINES
    if hidden > 0:
        lines.append(ctx.t("orders.card_more_lines", count=hidden))
    lines.append(ctx.t("orders.card_total", total=format_money(order.total_amount, ctx.lang)))
    if order.tracking_number:
        lines.append(ctx.t("orders.card_tracking", tracking=escape(order.tracking_number)))
    return lines


def order_card(ctx: BotContext, order: OrderOut) -> str:
    history = [ctx.t("orders.card_history"), *(_history_line(ctx, e) for e in order.history)]
    blocks = (_order_head(ctx, order), _order_lines(ctx, order), history)
    return "\n\n".join("\n".join(block) for block in blocks)
