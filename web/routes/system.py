"""Liveness, readiness and the API's own description."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import db
from web.responses import json_response

SYSTEM_CHECKS = web.AppKey("scx.readiness_checks", dict)
OPENAPI = web.AppKey("scx.openapi", dict)

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SellerCloudX API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script></body></html>
"""
DOCS_INIT = "SwaggerUIBundle({url: '/api/openapi.json', dom_id: '#ui'});\n"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' https://unpkg.com; "
    "style-src https://unpkg.com; img-src 'self' data: https://unpkg.com; "
    "connect-src 'self'; frame-ancestors 'none'"
)


async def health(request: web.Request) -> web.Response:
    return json_response({"success": True, "status": "ok"})


async def ready(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {"database": await db.ping()}
    for name, check in request.app[SYSTEM_CHECKS].items():
        checks[name] = await check()
    healthy = all(checks.values())
    return json_response(
        {"success": healthy, "status": "ready" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


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
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/docs", docs)
    app.router.add_get("/api/docs/init.js", docs_init)
