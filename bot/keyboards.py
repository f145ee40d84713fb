"""Keyboards shared by several features."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CancelCb, LangCb, MenuCb, OnboardCb
from bot.context import BotContext

LANGUAGE_NAMES = {"uz": "🇺🇿 O'zbekcha", "ru": "🇷🇺 Русский", "en": "🇬🇧 English"}
MAIN_SECTIONS = ("products", "orders", "customers", "subscription", "settings")


def languages(onboarding: bool = False) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        builder.button(text=name, callback_data=LangCb(code=code, onboarding=onboarding))
    builder.adjust(3)
    return builder.as_markup()


def settings_menu(ctx: BotContext) -> InlineKeyboardMarkup:
    """The language, the password of the web cabinet, back to the menu."""
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        builder.button(text=name, callback_data=LangCb(code=code, onboarding=False))
    builder.button(
        text=ctx.t("start.web_password_button"), callback_data=MenuCb(section="password")
    )
    builder.button(text=ctx.t("menu.back"), callback_data=MenuCb(section="main"))
    builder.adjust(3, 1, 1)
    return builder.as_markup()


def onboarding(ctx: BotContext) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in ("create", "code", "password"):
        builder.button(
            text=ctx.t(f"start.onboard_{action}"), callback_data=OnboardCb(action=action)
        )
    builder.adjust(1)
    return builder.as_markup()


def main_menu(ctx: BotContext) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for section in MAIN_SECTIONS:
        builder.button(text=ctx.t(f"menu.{section}"), callback_data=MenuCb(section=section))
    builder.adjust(2)
    return builder.as_markup()


def cancel_button(ctx: BotContext) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=ctx.t("common.cancel"), callback_data=CancelCb().pack())


def cancel_only(ctx: BotContext) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button(ctx)]])


def back_to_menu(ctx: BotContext) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=ctx.t("menu.back"), callback_data=MenuCb(section="main").pack()
    )
