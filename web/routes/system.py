"""Liveness, readiness and the API's own description."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core import db, metrics
from core import redis as shared_redis
from core.settings import Settings
from core.worker import load_domains
from web.responses import json_response

log = logging.getLogger(__name__)

SYSTEM_CHECKS = web.AppKey("scx.readiness_checks", dict)
OPENAPI = web.AppKey("scx.openapi", dict)

# One pinned Swagger UI release, and the CSP names its two files, not all of unpkg.
SWAGGER_UI = "https://unpkg.com/swagger-ui-dist@5.17.14"
DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SellerCloudX API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script></body></html>
"""
DOCS_INIT = "SwaggerUIBundle({url: '/api/openapi.json', dom_id: '#ui'});\n"
DOCS_CSP = (
    f"default-src 'none'; script-src 'self' {SWAGGER_UI}/swagger-ui-bundle.js; "
    f"style-src {SWAGGER_UI}/swagger-ui.css; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def health(request: web.Request) -> web.Response:
    return json_response({"success": True, "status": "ok"})


# A readiness probe answers within this, whatever the dependencies do.
CHECK_TIMEOUT = 3.0

Check = Callable[[], Awaitable[bool]]


def default_checks(settings: Settings) -> dict[str, Check]:
    """What /ready checks besides the database: Redis when this deployment uses it."""
    if not settings.redis_url:
        return {}
    return {"redis": lambda: shared_redis.ping(settings)}


async def _check(name: str, check: Check) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return bool(await check())
    except Exception:
        log.warning("readiness check failed name=%s", name, exc_info=True)
        return False


async def ready(request: web.Request) -> web.Response:
    """200 when the database (and Redis, in scale-out) answer, else 503 naming which not."""
    extra: dict[str, Check] = request.app[SYSTEM_CHECKS]
    named: dict[str, Check] = {"database": db.ping, **extra}
    results = await asyncio.gather(*(_check(name, check) for name, check in named.items()))
    checks: dict[str, Any] = dict(zip(named, results, strict=True))
    healthy = all(checks.values())
    return json_response(
        {"success": healthy, "status": "ready" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text exposition (keep it off the public internet: see the README)."""
    load_domains()  # every domain's queue-depth counter is registered
    body, content_type = await metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def docs(request: web.Request) -> web.Response:
    response = web.Response(text=DOCS_PAGE, content_type="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


async def docs_init(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_INIT, content_type="application/javascript")


def setup(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/docs", docs)
    app.router.add_get("/api/docs/init.js", docs_init)


def create_probe_app(settings: Settings) -> web.Application:
    """The worker's small listener: /health, /ready and /metrics, nothing else."""
    from web.middlewares import error_envelope

    app = web.Application(middlewares=[error_envelope])
    app[SYSTEM_CHECKS] = default_checks(settings)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    return app
