"""FSM states; their names persist in the FSM storage, so keep them stable."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    code = State()
    username = State()
    password = State()


class ProductAdd(StatesGroup):
    name = State()
    sku = State()
    price = State()
    stock = State()
    category = State()
    photo = State()


class ProductEdit(StatesGroup):
    price = State()
    stock = State()
    photo = State()


class OrderShip(StatesGroup):
    tracking = State()


class CustomerLink(StatesGroup):
    phone = State()  # a customer who opened an invite link shares their phone


class CustomerMessage(StatesGroup):
    text = State()  # the seller writes to one customer
    broadcast = State()  # the seller writes a broadcast


class WebPassword(StatesGroup):
    new = State()  # the seller sets the password of the web cabinet and the API
