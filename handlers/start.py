"""/start: register or link a seller, choose the language, show the main menu."""

from __future__ import annotations

from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.callbacks import CancelCb, LangCb, MenuCb, OnboardCb
from bot.context import BotContext
from bot.middlewares import LANG_KEY
from bot.states import Onboarding, WebPassword
from core.errors import InvalidCredentials, NotFound
from core.services import accounts

router = Router(name="start")
# The REST API's own rule for a new password (core.schemas, ChangePasswordIn).
PASSWORD_MIN, PASSWORD_MAX = 8, 128


async def show_menu(message: Message, ctx: BotContext, *, edit: bool = False) -> None:
    assert ctx.seller is not None
    text = ctx.t("menu.title", name=ctx.seller.full_name or ctx.seller.username)
    if edit:
        await message.edit_text(text, reply_markup=keyboards.main_menu(ctx))
    else:
        await message.answer(text, reply_markup=keyboards.main_menu(ctx))


@router.message(CommandStart())
async def start(message: Message, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(None)
    if ctx.seller is not None:
        await show_menu(message, ctx)
        return
    await message.answer(ctx.t("start.choose_language"), reply_markup=keyboards.languages(True))


@router.message(Command("menu"))
async def menu_command(message: Message, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    if ctx.seller is None:
        await message.answer(ctx.t("start.not_registered"))
        return
    await show_menu(message, ctx)


@router.message(Command("language"))
async def language_command(message: Message, ctx: BotContext) -> None:
    await message.answer(ctx.t("start.choose_language"), reply_markup=keyboards.languages())


@router.callback_query(LangCb.filter())
async def choose_language(
    query: CallbackQuery, callback_data: LangCb, ctx: BotContext, state: FSMContext
) -> None:
    ctx.lang = callback_data.code
    if ctx.seller is not None:
        await accounts.set_language(ctx.seller, callback_data.code)
    else:
        await state.update_data({LANG_KEY: ctx.lang})
    await query.answer(ctx.t("start.language_set"))
    assert isinstance(query.message, Message)
    if ctx.seller is not None:
        await show_menu(query.message, ctx, edit=True)
    else:
        await query.message.edit_text(
            ctx.t("start.welcome"), reply_markup=keyboards.onboarding(ctx)
        )


@router.callback_query(OnboardCb.filter(F.action == "create"))
async def create_account(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    user = query.from_user
    ctx.seller = await accounts.register_from_telegram(user.id, user.full_name, ctx.lang)
    await state.clear()
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_text(ctx.t("start.created", username=ctx.seller.username))
    await show_menu(query.message, ctx)


@router.callback_query(OnboardCb.filter(F.action == "code"))
async def ask_code(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(Onboarding.code)
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_text(ctx.t("start.ask_code"), reply_markup=keyboards.cancel_only(ctx))


@router.message(Onboarding.code, F.text)
async def receive_code(message: Message, ctx: BotContext, state: FSMContext) -> None:
    assert message.from_user and message.text
    try:
        ctx.seller = await accounts.link_by_code(message.text, message.from_user.id)
    except NotFound:
        await message.answer(ctx.t("start.bad_code"), reply_markup=keyboards.cancel_only(ctx))
        return
    await state.clear()
    await accounts.set_language(ctx.seller, ctx.lang)
    await message.answer(ctx.t("start.linked", username=ctx.seller.username))
    await show_menu(message, ctx)


@router.callback_query(OnboardCb.filter(F.action == "password"))
async def ask_username(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(Onboarding.username)
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_text(
        ctx.t("start.ask_username"), reply_markup=keyboards.cancel_only(ctx)
    )


@router.message(Onboarding.username, F.text)
async def receive_username(message: Message, ctx: BotContext, state: FSMContext) -> None:
    await state.update_data(username=(message.text or "").strip()[:64])
    await state.set_state(Onboarding.password)
    await message.answer(ctx.t("start.ask_password"), reply_markup=keyboards.cancel_only(ctx))


@router.message(Onboarding.password, F.text)
async def receive_password(message: Message, ctx: BotContext, state: FSMContext) -> None:
    data = await state.get_data()
    assert message.from_user
    password = message.text or ""
    # The password should not stay in the chat history.
    await message.delete()
    try:
        ctx.seller = await accounts.link_by_password(
            data.get("username", ""), password, message.from_user.id
        )
    except InvalidCredentials:
        await state.set_state(Onboarding.username)
        await message.answer(ctx.t("start.bad_password"), reply_markup=keyboards.cancel_only(ctx))
        return
    await state.clear()
    await accounts.set_language(ctx.seller, ctx.lang)
    await message.answer(ctx.t("start.linked", username=ctx.seller.username))
    await show_menu(message, ctx)


@router.callback_query(CancelCb.filter())
async def cancel(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.set_state(None)
    await query.answer(ctx.t("common.cancelled"))
    assert isinstance(query.message, Message)
    if ctx.seller is not None:
        await show_menu(query.message, ctx, edit=True)
    else:
        await query.message.edit_text(
            ctx.t("start.welcome"), reply_markup=keyboards.onboarding(ctx)
        )


@router.callback_query(MenuCb.filter(F.section == "main"))
async def menu_callback(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if ctx.seller is None:
        return
    assert isinstance(query.message, Message)
    await show_menu(query.message, ctx, edit=True)


@router.callback_query(MenuCb.filter(F.section == "settings"))
async def settings_menu(query: CallbackQuery, ctx: BotContext) -> None:
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_text(
        ctx.t("start.settings"), reply_markup=keyboards.settings_menu(ctx)
    )


@router.callback_query(MenuCb.filter(F.section == "password"))
async def ask_web_password(query: CallbackQuery, ctx: BotContext, state: FSMContext) -> None:
    await query.answer()
    if ctx.seller is None:
        return
    await state.set_state(WebPassword.new)
    assert isinstance(query.message, Message)
    await query.message.edit_text(
        ctx.t("start.web_password_ask", username=ctx.seller.username, min=PASSWORD_MIN),
        reply_markup=keyboards.cancel_only(ctx),
    )


@router.message(WebPassword.new, F.text)
async def receive_web_password(message: Message, ctx: BotContext, state: FSMContext) -> None:
    password = message.text or ""
    with suppress(TelegramBadRequest):
        await message.delete()  # a password should not stay in the chat history
    if ctx.seller is None:
        await state.clear()
        return
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        await message.answer(
            ctx.t("start.web_password_bad", min=PASSWORD_MIN, max=PASSWORD_MAX),
            reply_markup=keyboards.cancel_only(ctx),
        )
        return
    assert message.from_user is not None
    await accounts.set_password(ctx.seller, password, actor=f"telegram:{message.from_user.id}")
    await state.set_state(None)
    await message.answer(ctx.t("start.web_password_set", username=ctx.seller.username))
    await show_menu(message, ctx)
