"""The bot's Subscription section: plan in force, tier, period, gateway, pay link, check."""

from __future__ import annotations

import base64

import pytest

from core.formatting import format_money
from core.i18n import t
from core.models import Payment, Provider, Seller
from core.payments import payme
from core.payments.notices import local_date
from core.settings import Settings, use_settings
from tests.botkit import BotKit
from tests.payments.clients import PAYME_KEY, basic_auth, merchant_settings, now_ms

USER = 501


@pytest.fixture
def settings(settings: Settings) -> Settings:
    value = merchant_settings(settings)
    use_settings(value)
    return value


@pytest.fixture
def kit(database: None) -> BotKit:
    return BotKit()


async def linked_seller(lang: str = "en") -> Seller:
    from core.services import accounts

    return await accounts.register_from_telegram(USER, "Dilnoza", lang)


async def payme_call(method: str, params: dict[str, object]) -> dict[str, object]:
    import json

    request = payme.PaymeRequest(
        "POST",
        json.dumps({"id": 1, "method": method, "params": params}).encode(),
        basic_auth(PAYME_KEY),
        "127.0.0.1",
    )
    return await payme.handle(request)


async def pay(transaction_id: str) -> None:
    payment = await Payment.get(transaction_id=transaction_id)
    account = {"transaction_id": transaction_id}
    params = {"id": "a" * 24, "time": now_ms(), "amount": payment.amount * 100}
    await payme_call("CreateTransaction", {**params, "account": account})
    answer = await payme_call("PerformTransaction", {"id": "a" * 24})
    assert "result" in answer, answer


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
async def test_subscription_screen_shows_plan_and_tiers(kit: BotKit, lang: str) -> None:
    await linked_seller(lang)

    await kit.press("m:subscription", user_id=USER)

    call = kit.last("editMessageText")
    assert call.text == t(
        "payments.title",
        lang,
        plan=t("payments.tier.free", lang),
        status=t("payments.status_free", lang),
    )
    data = [d for row in kit.buttons(call) for _, d in row]
    assert data[:3] == ["sub:tier:starter_pro:::", "sub:tier:premium:::", "sub:tier:enterprise:::"]
    assert "sub:history::::" in data and "m:main" in data
    price = format_money(300_000, lang)
    assert kit.buttons(call)[0][0][0] == t(
        "payments.tier_button", lang, plan="Starter Pro", price=price
    )


async def test_buy_flow_sends_the_pay_link_and_check_reads_the_state(
    kit: BotKit, settings: Settings
) -> None:
    seller = await linked_seller("en")

    await kit.press("m:subscription", user_id=USER)
    await kit.press("sub:tier:starter_pro:::", user_id=USER)
    periods = kit.last("editMessageText")
    await kit.press(kit.button_data(periods, "1 year"), user_id=USER)
    providers = kit.last("editMessageText")
    assert providers.text == t(
        "payments.choose_provider",
        "en",
        plan="Starter Pro",
        period="1 year",
        amount=format_money(3_000_000, "en"),
    )
    await kit.press(kit.button_data(providers, "Payme"), user_id=USER)

    payment = await Payment.get(seller_id=seller.id)
    assert (payment.tier, payment.period, payment.amount) == ("starter_pro", "yearly", 3_000_000)
    link = kit.last("editMessageText")
    assert payment.transaction_id in link.text
    url = kit.button_data(link, "Pay")
    token = base64.b64decode(url.removeprefix("https://test.paycom.uz/")).decode()
    assert f"ac.transaction_id={payment.transaction_id}" in token
    assert "a=300000000" in token and "l=en" in token
    assert f"c=https://t.me/{settings.bot_username}" in token
    check_data = kit.button_data(link, "Check")
    assert check_data == f"sub:check::::{payment.transaction_id}"

    await kit.press(check_data, user_id=USER)
    checked = kit.last("editMessageText")
    assert checked.text == t("payments.state_pending", "en", transaction_id=payment.transaction_id)
    assert kit.button_data(checked, "Pay") == url  # the same link, language and return
    await kit.press(kit.button_data(providers, "Payme"), user_id=USER)  # pressed again
    assert await Payment.filter(seller_id=seller.id).count() == 1
    assert kit.button_data(kit.last("editMessageText"), "Pay") == url

    await pay(payment.transaction_id)
    await kit.press(check_data, user_id=USER)

    seller = await Seller.get(id=seller.id)
    paid = kit.last("editMessageText")
    assert paid.text == t(
        "payments.state_paid",
        "en",
        transaction_id=payment.transaction_id,
        plan="Starter Pro",
        expires=local_date(seller.plan_expires_at, "en"),
    )
    assert [d for row in kit.buttons(paid) for _, d in row] == ["m:subscription"]
    assert kit.last("answerCallbackQuery").text == t("payments.status.paid", "en")

    await kit.press("m:subscription", user_id=USER)
    status = t(
        "payments.status_active",
        "en",
        expires=local_date(seller.plan_expires_at, "en"),
        days_left=365,
    )
    assert kit.last("editMessageText").text == t(
        "payments.title", "en", plan="Starter Pro", status=status
    )


async def test_history_lists_payments(kit: BotKit) -> None:
    await linked_seller("ru")
    await kit.press("sub:pay:premium:monthly:click:", user_id=USER)

    await kit.press("sub:history::::", user_id=USER)

    text = kit.last("editMessageText").text
    assert text.startswith(t("payments.history_title", "ru"))
    assert format_money(700_000, "ru") in text and "Click" in text
    assert t("payments.status.pending", "ru") in text


async def test_empty_history(kit: BotKit) -> None:
    await linked_seller("uz")
    await kit.press("sub:history::::", user_id=USER)
    assert t("payments.history_empty", "uz") in kit.last("editMessageText").text


async def test_someone_elses_payment_cannot_be_checked(kit: BotKit) -> None:
    from core.schemas import RegisterIn
    from core.services import accounts

    other = await accounts.register(RegisterIn(username="other", password="long-password"))
    await linked_seller("en")
    from core.payments import service
    from core.payments.schemas import CreatePaymentIn

    theirs = await service.create_payment(
        other.id,
        CreatePaymentIn(amount=300_000, pricing_tier="starter_pro", provider=Provider.CLICK),
    )

    await kit.press(f"sub:check::::{theirs.transaction_id}", user_id=USER)

    assert kit.last("answerCallbackQuery").show_alert is True
    assert not kit.calls("editMessageText")


async def test_unlinked_user_is_sent_to_start(kit: BotKit) -> None:
    await kit.press("m:subscription", user_id=999)
    assert kit.last("answerCallbackQuery").show_alert is True
    assert not kit.calls("editMessageText")
