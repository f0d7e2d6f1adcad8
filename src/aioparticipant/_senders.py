"""The HTTP backends: the only code that touches httpx or aiohttp.

A sender sends one request and returns status, headers and body, or raises
``APIConnectionError`` / ``APITimeoutError`` (``from`` the library's own
error) saying whether the request may have reached the server, and, through
a proxy, what the proxy did. Both take their proxy and TLS context from one
``NetworkSettings`` (``_network.py``), worked out once per client.

- ``_sender_base.py``: ``RawResponse``, the ``Sender`` protocol, the wording of failures;
- ``_httpx_sender.py``: ``HttpxSender``, the default (asyncio and trio);
- ``_aiohttp_sender.py``: ``AiohttpSender``, the fast one (asyncio only).
"""

from __future__ import annotations

from ._aiohttp_sender import AiohttpSender
from ._httpx_sender import HttpxSender
from ._sender_base import RawResponse, Sender
from ._sender_base import describe as _describe
from ._tls import _default_context as _tls_context

__all__ = ["AiohttpSender", "HttpxSender", "RawResponse", "Sender", "_describe", "_tls_context"]
