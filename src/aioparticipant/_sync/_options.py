"""The keyword options ``Client`` and ``Client.bulk`` hand on, unchanged, to their async twins.

They are forwarded as they come, so an option ``AsyncClient`` gains works on
``Client`` at once; these TypedDicts give it its type for checkers and IDEs.
``tests/test_sync_drift.py`` fails when they and the async signatures differ.
"""

from __future__ import annotations

from typing import Literal, TypedDict

import httpx

from .._events import EventHooksArg
from .._lanes import Priority
from .._limiter import Limiter
from .._retry import Backoff
from .._tls import VerifyTypes

__all__ = ["ASYNC_ONLY_OPTIONS", "BulkOptions", "ClientOptions"]

#: ``AsyncClient`` keywords that make no sense for the blocking client.
ASYNC_ONLY_OPTIONS = {
    "transport": "an async httpx transport belongs to AsyncClient",
    "http_backend": "the blocking client always uses httpx",
}


class ClientOptions(TypedDict, total=False):
    """Keyword options of ``Client``: those of ``AsyncClient`` less ``transport`` and ``http_backend``.

    ``event_hooks`` run in the client's own loop thread.
    """

    space_url: str | None
    base_url: str | None
    account_sid: str | None
    max_retries: int
    timeout: float | httpx.Timeout | None
    rate_limit: float | Literal["auto"] | None
    burst: int | None
    limiter: Limiter | None
    max_connections: int
    allow_insecure_http: bool
    backoff: Backoff | None
    event_hooks: EventHooksArg | None
    proxy: str | None
    trust_env: bool
    verify: VerifyTypes


class BulkOptions(TypedDict, total=False):
    """Keyword options of ``Client.bulk``: those of ``AsyncClient.bulk``."""

    concurrency: int
    priority: Priority
