"""FSM states; their names persist in the FSM storage, so keep them stable."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    code = State()
    username = State()
    password = State()
