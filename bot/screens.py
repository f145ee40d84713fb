"""Putting a screen (a text, or a photo with a caption, and its keyboard) in front of the user.

A button press replaces the message it was on; a typed answer gets a new message below it.
Telegram cannot turn a text message into a photo or back, so such a change deletes the old
message and sends a new one.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

Markup = InlineKeyboardMarkup | None
_NOT_MODIFIED = "message is not modified"


async def show(
    query: CallbackQuery, text: str, markup: Markup = None, *, photo: str | None = None
) -> None:
    """Replace the message the pressed button was on with this screen."""
    message = query.message
    if not isinstance(message, Message):
        # Too old for Telegram to hand over: the screen goes out as a new message.
        assert query.bot is not None
        chat_id = message.chat.id if message else query.from_user.id
        await send(query.bot, chat_id, text, markup, photo=photo)
        return
    if (photo is None) == (not message.photo):
        await _edit(message, text, markup, photo=photo)
        return
    with contextlib.suppress(TelegramBadRequest):  # older than 48 hours: it stays
        await message.delete()
    await reply(message, text, markup, photo=photo)


async def _edit(message: Message, text: str, markup: Markup, *, photo: str | None) -> None:
    # A photo screen only ever replaces one of the same product, so the picture stays.
    try:
        if photo is None:
            await message.edit_text(text, reply_markup=markup)
        else:
            await message.edit_caption(caption=text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # A button pressed twice renders the same screen again: nothing to change.
        if _NOT_MODIFIED not in exc.message:
            raise


async def reply(
    message: Message, text: str, markup: Markup = None, *, photo: str | None = None
) -> None:
    """Send the screen as a new message in the chat of `message`."""
    if photo is None:
        await message.answer(text, reply_markup=markup)
    else:
        await message.answer_photo(photo, caption=text, reply_markup=markup)


async def respond(
    target: CallbackQuery | Message, text: str, markup: Markup = None, *, photo: str | None = None
) -> None:
    """`show` for a button press, `reply` for a message."""
    if isinstance(target, CallbackQuery):
        await show(target, text, markup, photo=photo)
    else:
        await reply(target, text, markup, photo=photo)


async def below(query: CallbackQuery, text: str, markup: Markup = None) -> None:
    """A new message under the one the pressed button was on, which stays as it is."""
    assert query.bot is not None
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await send(query.bot, chat_id, text, markup)


async def send(
    bot: Bot, chat_id: int, text: str, markup: Markup = None, *, photo: str | None = None
) -> None:
    if photo is None:
        await bot.send_message(chat_id, text, reply_markup=markup)
    else:
        await bot.send_photo(chat_id, photo, caption=text, reply_markup=markup)


async def update(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: Markup = None
) -> None:
    """Rewrite an earlier text message of ours; if the user deleted it, there is nothing to do."""
    try:
        await bot.edit_message_text(
            text, chat_id=chat_id, message_id=message_id, reply_markup=markup
        )
    except TelegramBadRequest as exc:
        log.warning("could not update message %s in chat %s: %s", message_id, chat_id, exc.message)
