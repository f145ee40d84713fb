"""REST routes for payments (filled in by the payments work)."""

from __future__ import annotations

from web.api import Api

api = Api()
