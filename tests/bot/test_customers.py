"""Customers in the bot: the invite link, consent, and the seller's 👥 Customers section."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Chat, Contact, Message, ReplyKeyboardMarkup, Update

from core.i18n import t
from core.models import Customer, DeliveryState, Notification, NotificationBatch, Seller
from core.services import accounts, audience
from core.services.delivery import DeliveryWorker
from core.settings import Settings
from tests.botkit import BotKit, user
from tests.fakes.telegram import FakeTelegramServer
from tests.notifications.conftest import (  # noqa: F401  (fixtures)
    BOT_TOKEN,
    channel_settings,
    eskiz,
    telegram,
    whatsapp,
)

SELLER = 1001
CUSTOMER = 3003
PHONE = "998901234567"
_ids = itertools.count(500)


@pytest.fixture
def kit(database: None, channel_settings: Settings) -> BotKit:  # noqa: F811
    return BotKit()


async def shop(telegram_id: int = SELLER, plan: str = "premium") -> Seller:
    seller = await accounts.register_from_telegram(telegram_id, "Silk Road", "en")
    seller.plan = plan
    await seller.save()
    return seller


async def invite_token(seller: Seller) -> str:
    link = await audience.seller_link(seller.id)
    return link.rsplit("start=c", 1)[1]


async def share_contact(
    kit: BotKit, phone: str = "+998 90 123 45 67", owner: int = CUSTOMER, sender: int = CUSTOMER
) -> None:
    message = Message(
        message_id=next(_ids),
        date=datetime.now(UTC),
        chat=Chat(id=sender, type="private"),
        from_user=user(sender, "ru"),
        contact=Contact(phone_number=phone, first_name="Aziza", user_id=owner),
    )
    await kit.feed(Update(update_id=next(_ids), message=message))


# --- a customer joins -----------------------------------------------------------------------


async def test_a_customer_joins_by_the_invite_link_in_their_language(kit: BotKit) -> None:
    seller = await shop()
    ordered = await Customer.create(seller_id=seller.id, phone=PHONE, name="")

    await kit.send(f"/start c{await invite_token(seller)}", user_id=CUSTOMER, language="ru")
    ask = kit.last("sendMessage")
    await share_contact(kit)

    assert ask.text == t("notifications.link_ask_phone", "ru", shop="Silk Road")
    assert isinstance(ask.reply_markup, ReplyKeyboardMarkup)
    assert ask.reply_markup.keyboard[0][0].request_contact is True
    customer = await Customer.get(seller_id=seller.id)
    assert customer.id == ordered.id  # the customer of the earlier order, not a new one
    assert (customer.telegram_chat_id, customer.language, customer.name) == (
        CUSTOMER,
        "ru",
        "Aziza",
    )
    linked, consent = kit.calls("sendMessage")[-2:]
    assert linked.text == t("notifications.linked", "ru", shop="Silk Road")
    assert consent.text == t("notifications.ask_consent", "ru", shop="Silk Road")
    assert [d for row in kit.buttons(consent) for _, d in row] == [
        f"cc:{customer.id}:1",
        f"cc:{customer.id}:0",
    ]

    await kit.press(f"cc:{customer.id}:1", user_id=CUSTOMER, language="ru")

    assert (await Customer.get(id=customer.id)).marketing_consent is True
    assert kit.last("editMessageText").text == t(
        "notifications.consent_saved_yes", "ru", shop="Silk Road"
    )


async def test_only_the_users_own_number_is_accepted(kit: BotKit) -> None:
    seller = await shop()
    await kit.send(f"/start c{await invite_token(seller)}", user_id=CUSTOMER)

    await share_contact(kit, owner=CUSTOMER + 1)
    await kit.send("998901234567", user_id=CUSTOMER)

    assert [c.text for c in kit.calls("sendMessage")[-2:]] == [
        t("notifications.link_not_own_contact", "ru"),  # the contact came from a ru client
        t("notifications.link_not_own_contact", "en"),
    ]
    assert await Customer.all().count() == 0


async def test_a_foreign_number_is_refused_and_asked_again(kit: BotKit) -> None:
    seller = await shop()
    await kit.send(f"/start c{await invite_token(seller)}", user_id=CUSTOMER)

    await share_contact(kit, phone="+7 916 123 45 67")

    assert kit.last("sendMessage").text.startswith("❌")
    assert await Customer.all().count() == 0


async def test_an_unknown_link_says_so(kit: BotKit) -> None:
    await kit.send("/start cNOTAREALTOKEN123", user_id=CUSTOMER, language="uz")
    assert kit.last("sendMessage").text == t("notifications.link_invalid", "uz")


async def test_a_consent_button_of_another_chat_changes_nothing(kit: BotKit) -> None:
    seller = await shop()
    customer = await Customer.create(seller_id=seller.id, phone=PHONE, telegram_chat_id=CUSTOMER)

    await kit.press(f"cc:{customer.id}:1", user_id=CUSTOMER + 5)

    assert (await Customer.get(id=customer.id)).marketing_consent is False


# --- the seller's side ----------------------------------------------------------------------


async def customers(seller: Seller, count: int, **extra: Any) -> list[Customer]:
    return [
        await Customer.create(
            seller_id=seller.id,
            phone=f"99890{n:07d}",
            name=f"Buyer {n}",
            telegram_chat_id=20_000 + n,
            marketing_consent=True,
            **extra,
        )
        for n in range(count)
    ]


async def test_the_customers_section_shows_counts_and_the_invite_link(kit: BotKit) -> None:
    seller = await shop()
    await customers(seller, 3)
    await Customer.create(seller_id=seller.id, phone="998909999999")

    await kit.press("m:customers", user_id=SELLER)

    screen = kit.last("editMessageText")
    link = await audience.seller_link(seller.id)
    assert screen.text == t(
        "notifications.customers.title", "en", total=4, telegram=3, consent=3, link=link
    )
    assert [d for row in kit.buttons(screen) for _, d in row] == [
        "cu:list:0:1:",
        "cu:broadcast:0:1:",
        "m:main",
    ]


async def test_a_customer_without_an_account_cannot_open_the_section(kit: BotKit) -> None:
    await kit.press("m:customers", user_id=CUSTOMER)
    assert not kit.calls("editMessageText")


async def test_write_to_one_customer(kit: BotKit) -> None:
    seller = await shop()
    (buyer,) = await customers(seller, 1)

    await kit.press("cu:list:0:1:", user_id=SELLER)
    listing = kit.last("editMessageText")
    await kit.press(kit.button_data(listing, "Buyer 0"), user_id=SELLER)
    card = kit.last("editMessageText")
    await kit.press(kit.button_data(card, "✉️"), user_id=SELLER)
    await kit.send("Your scarf <b>is</b> ready", user_id=SELLER)

    row = await Notification.get()
    assert (row.channel, row.recipient, row.type, row.customer_id) == (
        "telegram",
        str(buyer.telegram_chat_id),
        "custom",
        buyer.id,
    )
    assert row.text == "Silk Road:\nYour scarf &lt;b&gt;is&lt;/b&gt; ready"
    progress = kit.last("sendMessage")
    batch = await NotificationBatch.get()
    assert progress.text == t(
        "notifications.progress", "en", total=1, sent=0, failed=0, remaining=1
    )
    assert (batch.progress_chat_id, batch.total) == (SELLER, 1)
    assert batch.progress_message_id is not None


async def test_broadcast_to_a_group_with_progress(kit: BotKit) -> None:
    seller = await shop()
    await customers(seller, 3)
    await Customer.create(seller_id=seller.id, phone="998909999999", telegram_chat_id=77)

    await kit.press("cu:broadcast:0:1:", user_id=SELLER)
    groups = kit.last("editMessageText")
    await kit.press(
        kit.button_data(groups, t("notifications.customers.group_all", "en")), user_id=SELLER
    )
    assert kit.last("editMessageText").text == t(
        "notifications.customers.ask_broadcast", "en", count=3
    )
    await kit.send("Spring sale: -20%", user_id=SELLER)
    confirm = kit.last("sendMessage")
    await kit.press(kit.button_data(confirm, "📤"), user_id=SELLER)

    rows = await Notification.all().order_by("id")
    assert [(r.type, r.recipient) for r in rows] == [
        ("marketing", str(20_000 + n)) for n in range(3)
    ]  # the customer without consent is not in it
    batch = await NotificationBatch.get()
    assert (batch.total, batch.type, batch.progress_chat_id) == (3, "marketing", SELLER)
    assert kit.last("editMessageText").text == t(
        "notifications.progress", "en", total=3, sent=0, failed=0, remaining=3
    )


async def test_an_empty_group_is_said_so(kit: BotKit) -> None:
    await shop()
    await kit.press("cu:group:0:1:whatsapp", user_id=SELLER)
    assert kit.last("editMessageText").text == t("notifications.customers.group_empty", "en")


async def test_the_progress_message_is_edited_until_done(
    database: None,
    channel_settings: Settings,  # noqa: F811
    telegram: FakeTelegramServer,  # noqa: F811
) -> None:
    """The real flow against the fake Bot API: the bot sends, the worker edits."""
    seller = await shop()
    await customers(seller, 4)
    telegram.blocked_chats.add(20_003)
    kit = BotKit()
    kit.bot = Bot(
        BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    )
    try:
        await _broadcast(kit, telegram)
        stop = asyncio.Event()
        worker = asyncio.create_task(DeliveryWorker(channel_settings).run(stop))
        batch = await NotificationBatch.get()
        for _ in range(300):
            if (await NotificationBatch.get(id=batch.id)).finished_at is not None:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await worker
    finally:
        await kit.bot.session.close()

    batch = await NotificationBatch.get(id=batch.id)
    assert batch.finished_at is not None
    shown = telegram.messages[(SELLER, int(batch.progress_message_id or 0))]["text"]
    assert shown == "✅ Done: 3 of 4 sent, 1 failed."
    states = sorted(str(r.state) for r in await Notification.all())
    assert states == [DeliveryState.FAILED, *[DeliveryState.SENT] * 3]
    assert sorted(m.chat_id for m in telegram.sent_messages if m.chat_id != SELLER) == [
        20_000,
        20_001,
        20_002,
    ]


async def _broadcast(kit: BotKit, server: FakeTelegramServer) -> None:
    """Choose everyone, type the text, press Send on the bot's confirmation message."""
    menu = await kit.bot.send_message(SELLER, "menu")
    await kit.feed(_callback(SELLER, "cu:group:0:1:all", menu.message_id))
    await asyncio.sleep(1.05)  # the fake allows one message a second to the seller's chat
    await kit.send("Spring sale", user_id=SELLER)
    confirm = server.sent_messages[-1]
    await kit.feed(_callback(SELLER, "cu:send:0:1:", confirm.message_id))


def _callback(user_id: int, data: str, message_id: int) -> Update:
    message = Message(
        message_id=message_id,
        date=datetime.now(UTC),
        chat=Chat(id=user_id, type="private"),
        from_user=user(42),
        text="…",
    )
    query = CallbackQuery(
        id=str(next(_ids)),
        from_user=user(user_id),
        chat_instance="ci",
        message=message,
        data=data,
    )
    return Update(update_id=next(_ids), callback_query=query)


async def test_a_command_while_writing_is_a_command_not_a_message(kit: BotKit) -> None:
    seller = await shop()
    (buyer,) = await customers(seller, 1)
    await kit.press(f"cu:write:{buyer.id}:1:", user_id=SELLER)

    await kit.send("/menu", user_id=SELLER)

    assert await Notification.all().count() == 0
    assert kit.last("sendMessage").text == t("menu.title", "en", name="Silk Road")
