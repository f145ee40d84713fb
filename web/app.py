"""The aiohttp application: middlewares, sessions, routes and the OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_session import session_middleware

from core import db
from core import redis as shared_redis
from core.services.sessions import SessionBackend, backend_for
from core.services.throttle import LimitStore
from core.settings import Settings, get_settings
from web import lowlevel, middlewares, security, sessions
from web.api import Api
from web.openapi import build as build_openapi
from web.routes import admin, auth, customers, notifications, orders, payments, products, system

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("scx.settings", Settings)
EXTRA_MIDDLEWARES = web.AppKey("scx.extra_middlewares", list)

ROUTE_MODULES: list[Api] = [
    auth.api,
    products.api,
    orders.api,
    payments.api,
    notifications.api,
    customers.api,
    admin.api,
]

ReadinessCheck = Callable[[], Awaitable[bool]]


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    await db.init_db(app[SETTINGS])
    yield
    await db.close_db()
    await shared_redis.close_redis()


def create_app(
    settings: Settings | None = None,
    *,
    session_backend: SessionBackend | None = None,
    manage_database: bool = False,
    extra_middlewares: list[Middleware] | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
    rate_limit_store: LimitStore | None = None,
) -> web.Application:
    """Build the web application; the caller owns the database unless `manage_database`."""
    lowlevel.install()
    settings = settings or get_settings()
    storage = sessions.ServerSideStorage(session_backend or backend_for(settings), settings)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            middlewares.request_context,
            middlewares.error_envelope,
            middlewares.deadline(settings.request_timeout),
            *(extra_middlewares or []),
            security.request_guard(settings, storage.cookie_name),
            session_middleware(storage),
            # After sessions: the limit depends on the seller's plan.
            security.rate_limit(settings, rate_limit_store),
        ],
    )
    app[SETTINGS] = settings
    app[system.SYSTEM_CHECKS] = {**system.default_checks(settings), **(readiness or {})}
    if manage_database:
        app.cleanup_ctx.append(_database_ctx)
    app.on_response_prepare.append(middlewares.security_headers)
    app.on_response_prepare.append(security.response_headers(settings))

    system.setup(app)
    operations = []
    for module in ROUTE_MODULES:
        module.register(app)
        operations.extend(module.operations)
    app[system.OPENAPI] = build_openapi(
        operations, title="SellerCloudX API", version="1.0.0", cookie=storage.cookie_name
    )
    return app


def run(app: web.Application, settings: Settings, **kwargs: Any) -> None:
    web.run_app(app, host=settings.http_host, port=settings.http_port, **kwargs)
