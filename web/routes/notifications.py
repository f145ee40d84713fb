"""REST routes for notifications (filled in by the notifications work)."""

from __future__ import annotations

from web.api import Api

api = Api()
