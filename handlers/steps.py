"""Where a step ends: leaving for another screen, a command, or something no handler takes.

A step (a product's price, a tracking number, a message to a customer) waits for the next
text. Leaving it for another screen ends it, so that the text typed there is never taken as
the price or the tracking number. A command is never a step's input: it ends the step and
runs (or, unknown, says so). Last, whatever no router handled gets an answer: a message is
told how to go on, a button of an old screen says it is out of date, and neither is ignored.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.context import BotContext

router = Router(name="steps")
fallback = Router(name="fallback")

# Buttons that open another screen: the main menu and its sections, the language, plans.
LEAVING_PREFIXES = frozenset({"m", "lang", "sub"})
KNOWN_COMMANDS = frozenset({"start", "menu", "language"})


def command_of(text: str) -> str:
    """`/menu@SellerCloudXBot args` -> `menu`."""
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text[1:] else ""


@router.callback_query(F.data.func(lambda data: data.split(":", 1)[0] in LEAVING_PREFIXES))
async def leave_step_for_a_screen(query: CallbackQuery, state: FSMContext) -> None:
    if await state.get_state() is not None:
        await state.set_state(None)
    raise SkipHandler()  # the screen's own handler runs


@router.message(F.text.startswith("/"))
async def command_ends_the_step(message: Message, ctx: BotContext, state: FSMContext) -> None:
    if await state.get_state() is not None:
        await state.set_state(None)
    assert message.text is not None
    if command_of(message.text) in KNOWN_COMMANDS:
        raise SkipHandler()
    await message.answer(ctx.t("common.unknown_command"))


@fallback.message()
async def not_understood(message: Message, ctx: BotContext, state: FSMContext) -> None:
    if await state.get_state() is not None:
        await message.answer(ctx.t("common.step_expects_text"))
    elif ctx.seller is None:
        await message.answer(ctx.t("start.not_registered"))
    else:
        await message.answer(ctx.t("common.not_understood"))


@fallback.callback_query()
async def stale_button(query: CallbackQuery, ctx: BotContext) -> None:
    await query.answer(ctx.t("common.stale_button"), show_alert=True)
