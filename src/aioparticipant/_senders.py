"""The HTTP backends: the only code that touches httpx or aiohttp.

A sender sends one request and returns status, headers and body, or raises
``APIConnectionError`` / ``APITimeoutError`` (``from`` the library's own
error) saying whether the request may have reached the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import httpx
import sniffio

from ._exceptions import APIConnectionError, APITimeoutError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpSender", "HttpxSender", "RawResponse", "Sender"]


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class Sender(Protocol):
    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> RawResponse: ...

    async def aclose(self) -> None: ...


class HttpxSender:
    """httpx's own transport (the default): works under asyncio and trio, mockable by respx."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._client = httpx.AsyncClient(
            headers=dict(headers),
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,  # never carry the credentials anywhere else
            trust_env=False,
        )

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> RawResponse:
        try:
            response = await self._client.request(method, url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            # Connect and pool timeouts happen before a byte of the request is written.
            sent = not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise APITimeoutError(_describe(error, "timed out"), possibly_delivered=sent) from error
        except httpx.TransportError as error:
            sent = not isinstance(error, httpx.ConnectError)
            raise APIConnectionError(
                _describe(error, "connection failed"), possibly_delivered=sent
            ) from error
        return RawResponse(
            response.status_code, response.reason_phrase, response.headers, response.content
        )

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpSender:
    """aiohttp (extra ``aioparticipant[fast]``): asyncio only, several times less CPU per request."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        max_connections: int,
        keepalive_expiry: float | None,
    ) -> None:
        try:
            import aiohttp
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                'http_backend="aiohttp" needs aiohttp: pip install "aioparticipant[fast]"'
            ) from error
        self._aiohttp = aiohttp
        self._headers = dict(headers)
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeout.pool,
            sock_connect=timeout.connect,
            sock_read=timeout.read,
        )
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # The session binds to the running loop, so it is made on first use.
        if sniffio.current_async_library() != "asyncio":
            raise RuntimeError(
                'http_backend="aiohttp" runs on asyncio only; use http_backend="httpx" under trio'
            )
        connector = self._aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._max_connections,
            keepalive_timeout=self._keepalive_expiry or 15.0,
        )
        self._session = self._aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            cookie_jar=self._aiohttp.DummyCookieJar(),
        )
        return self._session

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> RawResponse:
        aiohttp = self._aiohttp
        session = self._session or self._open()
        try:
            async with session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as response:
                content = await response.read()
                return RawResponse(
                    response.status, response.reason or "", response.headers, content
                )
        except aiohttp.ConnectionTimeoutError as error:
            raise APITimeoutError(
                _describe(error, "connect timed out"), possibly_delivered=False
            ) from error
        except TimeoutError as error:
            raise APITimeoutError(_describe(error, "timed out"), possibly_delivered=True) from error
        except aiohttp.ClientConnectorError as error:
            raise APIConnectionError(
                _describe(error, "connection failed"), possibly_delivered=False
            ) from error
        except aiohttp.ClientError as error:
            raise APIConnectionError(
                _describe(error, "connection failed"), possibly_delivered=True
            ) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(error: BaseException, fallback: str) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else f"{type(error).__name__}: {fallback}"
