"""Products in the bot: the paginated list, the card, the step-by-step add flow and edits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import cards, screens
from bot import keyboards_catalog as kb
from bot.callbacks import CategoryCb, MenuCb, ProductAddCb, ProductCb, ProductListCb
from bot.context import BotContext
from bot.middlewares import SellerRequired
from bot.states import ProductAdd, ProductEdit
from core.errors import AppError, Conflict, NotFound, ValidationFailed
from core.formatting import parse_whole_number
from core.models import Product
from core.schemas import Pagination, ProductIn, ProductOut, ProductQuery
from core.services import products
from core.validation import validate

router = Router(name="products")
router.message.middleware(SellerRequired())
router.callback_query.middleware(SellerRequired())

PAGE_SIZE = 8
MAX_PAGE = 100_000
MAX_CATEGORY_BUTTONS = 12
FIELDS = ("name", "sku", "price", "stock_quantity", "category")
ERRORS = {  # a failed field's message at its step (the wire names ValidationFailed gives)
    "name": "products.bad_name",
    "sku": "products.bad_sku",
    "price": "products.bad_price",
    "stockQuantity": "products.bad_stock",
    "category": "products.bad_category",
    "photos": "products.too_many_photos",
}
Target = CallbackQuery | Message


def error_text(ctx: BotContext, exc: AppError, sku: str = "") -> str:
    if isinstance(exc, Conflict):
        return ctx.t("products.sku_taken", sku=escape(sku))
    key = ERRORS.get(getattr(exc, "field", ""), "errors.validation_error")
    return ctx.t(key, message=exc.message)


# --- the list and the card ----------------------------------------------------------------


async def _page(seller_id: int, page: int) -> tuple[list[ProductOut], Pagination]:
    """The page asked for, or the last one when the catalog has shrunk since."""
    query = ProductQuery(page=min(max(page, 1), MAX_PAGE), limit=PAGE_SIZE)
    items, pagination = await products.list_page(seller_id, query)
    if not items and 0 < pagination.pages < query.page:
        query = ProductQuery(page=pagination.pages, limit=PAGE_SIZE)
        items, pagination = await products.list_page(seller_id, query)
    return items, pagination


async def show_list(query: CallbackQuery, ctx: BotContext, page: int) -> None:
    items, pagination = await _page(ctx.seller_id, page)
    markup = kb.product_list(ctx, items, pagination)
    await screens.show(query, cards.product_list(ctx, pagination), markup)


async def show_card(
    target: Target, ctx: BotContext, product: Product, page: int, notice: str | None = None
) -> None:
    photo = products.showable_photo(product)
    text = cards.product_card(ctx, product, caption=photo is not None, notice=notice)
    await screens.respond(target, text, kb.product_card(ctx, product, page), photo=photo)


@router.callback_query(MenuCb.filter(F.section == "products"))
async def open_products(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    await show_list(query, ctx, 1)
    await query.answer()


@router.callback_query(ProductListCb.filter())
async def turn_page(
    query: CallbackQuery, callback_data: ProductListCb, ctx: BotContext, state: FSMContext
) -> None:
    await state.clear()
    await show_list(query, ctx, callback_data.page)
    await query.answer()


@router.callback_query(ProductCb.filter(F.action == "view"))
async def view_product(
    query: CallbackQuery, callback_data: ProductCb, ctx: BotContext, state: FSMContext
) -> None:
    await state.clear()  # the card is also where the cancel of an edit leads
    product = await products.get(ctx.seller_id, callback_data.id)
    await show_card(query, ctx, product, callback_data.page)
    await query.answer()


# --- delete -------------------------------------------------------------------------------


@router.callback_query(ProductCb.filter(F.action == "delete"))
async def ask_delete(query: CallbackQuery, callback_data: ProductCb, ctx: BotContext) -> None:
    product = await products.get(ctx.seller_id, callback_data.id)
    text = ctx.t("products.delete_confirm", name=escape(product.name), sku=escape(product.sku))
    markup = kb.product_delete(ctx, product.id, callback_data.page)
    await screens.show(query, text, markup, photo=products.showable_photo(product))
    await query.answer()


@router.callback_query(ProductCb.filter(F.action == "delete_ok"))
async def delete(query: CallbackQuery, callback_data: ProductCb, ctx: BotContext) -> None:
    await products.delete(ctx.seller_id, callback_data.id)
    await show_list(query, ctx, callback_data.page)
    await query.answer(ctx.t("products.deleted"))


# --- edit price, stock, photo -------------------------------------------------------------

EDIT_STATES = {"price": ProductEdit.price, "stock": ProductEdit.stock, "photo": ProductEdit.photo}
NUMBER_EDITS = {  # state: (field, its wire name, notice)
    ProductEdit.price.state: ("price", "price", "products.price_updated"),
    ProductEdit.stock.state: ("stock_quantity", "stockQuantity", "products.stock_updated"),
}


@router.callback_query(ProductCb.filter(F.action.in_(EDIT_STATES)))
async def ask_edit(
    query: CallbackQuery, callback_data: ProductCb, ctx: BotContext, state: FSMContext
) -> None:
    product = await products.get(ctx.seller_id, callback_data.id)
    await state.set_state(EDIT_STATES[callback_data.action])
    await state.set_data({"product_id": product.id, "page": callback_data.page})
    text = cards.edit_prompt(ctx, callback_data.action, product)
    # The prompt goes below the card, which stays in view.
    await screens.below(query, text, kb.back_to_product(ctx, product.id, callback_data.page))
    await query.answer()


@router.message(StateFilter(ProductEdit.price, ProductEdit.stock))
async def receive_number(
    message: Message, ctx: BotContext, state: FSMContext, raw_state: str
) -> None:
    field, wire, notice = NUMBER_EDITS[raw_state]
    data = await state.get_data()
    try:
        value = parse_whole_number(message.text, wire)
        product = await products.update_field(ctx.seller_id, data["product_id"], field, value)
    except ValidationFailed as exc:
        markup = kb.back_to_product(ctx, data["product_id"], data["page"])
        await message.answer(error_text(ctx, exc), reply_markup=markup)
        return
    except NotFound:
        await state.clear()
        raise
    await state.clear()
    await show_card(message, ctx, product, data["page"], ctx.t(notice))


@router.message(ProductEdit.photo, F.photo)
async def receive_photo(message: Message, ctx: BotContext, state: FSMContext) -> None:
    assert message.photo
    data = await state.get_data()
    await state.clear()
    photo = products.telegram_photo(message.photo[-1].file_id)
    try:
        product = await products.add_photo(ctx.seller_id, data["product_id"], photo)
    except ValidationFailed as exc:
        await message.answer(error_text(ctx, exc))
        return
    await show_card(message, ctx, product, data["page"], ctx.t("products.photo_added"))


@router.message(ProductEdit.photo)
async def photo_expected(message: Message, ctx: BotContext, state: FSMContext) -> None:
    data = await state.get_data()
    markup = kb.back_to_product(ctx, data["product_id"], data["page"])
    await message.answer(ctx.t("products.bad_photo"), reply_markup=markup)


# --- the add flow ---------------------------------------------------------------------------

STEPS = (
    ProductAdd.name,
    ProductAdd.sku,
    ProductAdd.price,
    ProductAdd.stock,
    ProductAdd.category,
    ProductAdd.photo,
)
Accept = Callable[[BotContext, str | None], Awaitable[Any]]


async def _name(ctx: BotContext, text: str | None) -> Any:
    return products.check_field("name", text or "")


async def _sku(ctx: BotContext, text: str | None) -> Any:
    return await products.check_new_sku(ctx.seller_id, text or "")


async def _price(ctx: BotContext, text: str | None) -> Any:
    return products.check_field("price", parse_whole_number(text, "price"))


async def _stock(ctx: BotContext, text: str | None) -> Any:
    return products.check_field("stock_quantity", parse_whole_number(text, "stockQuantity"))


async def _category(ctx: BotContext, text: str | None) -> Any:
    if not (text or "").strip():
        raise ValidationFailed("category", "a category is text")
    return products.check_field("category", text)


TEXT_STEPS: dict[str | None, tuple[str, Accept]] = {
    ProductAdd.name.state: ("name", _name),
    ProductAdd.sku.state: ("sku", _sku),
    ProductAdd.price.state: ("price", _price),
    ProductAdd.stock.state: ("stock_quantity", _stock),
    ProductAdd.category.state: ("category", _category),
}
ASK = {
    ProductAdd.name: "products.ask_name",
    ProductAdd.sku: "products.ask_sku",
    ProductAdd.price: "products.ask_price",
    ProductAdd.stock: "products.ask_stock",
    ProductAdd.category: "products.ask_category",
    ProductAdd.photo: "products.ask_photo",
}


async def _step_markup(ctx: BotContext, state: FSMContext, step: State) -> InlineKeyboardMarkup:
    if step == ProductAdd.category:
        categories = (await state.get_data()).get("categories", [])
        return kb.add_step(ctx, skip=True, categories=categories)
    return kb.add_step(ctx, skip=step == ProductAdd.photo)


async def ask(target: Target, ctx: BotContext, state: FSMContext, step: State) -> None:
    """Move the flow to `step` and ask for its value."""
    await state.set_state(step)
    if step == ProductAdd.category:
        found = await products.categories(ctx.seller_id)
        await state.update_data(categories=found[:MAX_CATEGORY_BUTTONS])
    text = cards.add_step(ctx, STEPS.index(step) + 1, len(STEPS), ASK[step])
    await screens.respond(target, text, await _step_markup(ctx, state, step))


def _next_step(draft: dict[str, Any]) -> State:
    """The first step still without a value; the photo step comes last, once all are in."""
    for step in STEPS[:-1]:
        if TEXT_STEPS[step.state][0] not in draft:
            return step
    return ProductAdd.photo


def _step_index(raw_state: str | None) -> int:
    return [step.state for step in STEPS].index(raw_state)


async def reask(message: Message, ctx: BotContext, state: FSMContext, error: str) -> None:
    """Say what was wrong and stay on the same step."""
    step = STEPS[_step_index(await state.get_state())]
    await message.answer(error, reply_markup=await _step_markup(ctx, state, step))


@router.callback_query(ProductAddCb.filter(F.action == "new"))
async def start_adding(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    await ask(query, ctx, state, ProductAdd.name)
    await query.answer()


@router.callback_query(ProductAddCb.filter(F.action == "cancel"))
async def cancel_adding(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    await show_list(query, ctx, 1)
    await query.answer(ctx.t("common.cancelled"))


@router.message(StateFilter(*(s for s in STEPS if s != ProductAdd.photo)))
async def text_step(message: Message, ctx: BotContext, state: FSMContext, raw_state: str) -> None:
    field, accept = TEXT_STEPS[raw_state]
    try:
        value = await accept(ctx, message.text)
    except (ValidationFailed, Conflict) as exc:
        await reask(message, ctx, state, error_text(ctx, exc, sku=message.text or ""))
        return
    await state.update_data({field: value})
    await ask(message, ctx, state, _next_step(await state.get_data()))


@router.callback_query(ProductAdd.category, CategoryCb.filter())
async def pick_category(
    query: CallbackQuery, callback_data: CategoryCb, ctx: BotContext, state: FSMContext
) -> None:
    offered = (await state.get_data()).get("categories", [])
    if not 0 <= callback_data.index < len(offered):
        await query.answer(ctx.t("products.flow_expired"), show_alert=True)
        return
    await state.update_data(category=offered[callback_data.index])
    await ask(query, ctx, state, ProductAdd.photo)
    await query.answer()


@router.callback_query(ProductAdd.category, ProductAddCb.filter(F.action == "skip"))
async def skip_category(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.update_data(category="")
    await ask(query, ctx, state, ProductAdd.photo)
    await query.answer()


@router.message(ProductAdd.photo, F.photo)
async def add_with_photo(message: Message, ctx: BotContext, state: FSMContext) -> None:
    assert message.photo
    await save(message, ctx, state, [products.telegram_photo(message.photo[-1].file_id)])


@router.callback_query(ProductAdd.photo, ProductAddCb.filter(F.action == "skip"))
async def add_without_photo(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await save(query, ctx, state, [])
    await query.answer()


@router.message(ProductAdd.photo)
async def photo_step_expected(message: Message, ctx: BotContext, state: FSMContext) -> None:
    await reask(message, ctx, state, ctx.t("products.bad_photo"))


async def save(target: Target, ctx: BotContext, state: FSMContext, photos: list[str]) -> None:
    """Create the product from the collected draft and show its card."""
    draft = await state.get_data()
    data = {name: draft[name] for name in FIELDS if name in draft}
    try:
        product = await products.create(
            ctx.seller_id, validate(ProductIn, {**data, "photos": photos})
        )
    except Conflict:
        # The SKU was taken meanwhile (from the web cabinet, say): ask for another one,
        # then for the photo again, and save.
        await state.set_state(ProductAdd.sku)
        await state.set_data({k: v for k, v in draft.items() if k != "sku"})
        text = ctx.t("products.sku_taken", sku=escape(draft.get("sku", "")))
        await screens.respond(target, text, kb.add_step(ctx))
        return
    await state.clear()
    await show_card(target, ctx, product, 1, ctx.t("products.saved"))


@router.callback_query(ProductAddCb.filter())
@router.callback_query(CategoryCb.filter())
async def step_is_over(query: CallbackQuery, ctx: BotContext) -> None:
    """A skip or category button of a flow that has ended."""
    await query.answer(ctx.t("products.flow_expired"), show_alert=True)
