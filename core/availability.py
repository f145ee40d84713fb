"""Which failures mean "a service we depend on is down" rather than "a bug".

The web layer answers an outage with 503 in the JSON envelope (the client may retry), the
bot webhook answers it with a non-2xx status (Telegram delivers the update again later),
and the worker logs it as a warning and retries. Everything else stays a 500 and a stack
trace.
"""

from __future__ import annotations

import asyncpg.exceptions
from tortoise.exceptions import DBConnectionError

from core.errors import ServiceUnavailable
from core.redis import REDIS_ERRORS

OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    *REDIS_ERRORS,
    ServiceUnavailable,
    DBConnectionError,
    # Class 08 (connection exception), 57 (shutdown, starting up, cancelled by the
    # administrator) and 53 (too many connections) of PostgreSQL.
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    # A refused or reset socket (PostgreSQL restarting).
    ConnectionError,
)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says that PostgreSQL or Redis is unreachable or restarting."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    # A connection cut by the server (restart, pg_terminate_backend) can be handed out
    # before asyncpg has seen the socket close: the next query then fails with
    # InternalClientError ("cannot switch to state ...") or InterfaceError ("connection is
    # closed"). asyncpg's other InterfaceErrors are misuse, which stay bugs.
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    return isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" in str(exc)
