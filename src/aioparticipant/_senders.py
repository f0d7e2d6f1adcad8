"""The HTTP backends: the only code that touches httpx or aiohttp.

A sender sends one request and returns status, headers and body, or raises
``APIConnectionError`` / ``APITimeoutError`` (``from`` the library's own
error) saying whether the request may have reached the server.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
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
    def prepare_timeout(self, timeout: httpx.Timeout) -> object:
        """``timeout`` in the backend's own form, built once per client or ``with_options``."""

    async def send(
        self, method: str, url: str, form: bytes | None, timeouts: object
    ) -> RawResponse:
        """Send ``method url``, with ``form`` as a form-encoded body when given.

        ``timeouts`` is what ``prepare_timeout`` returned.
        """

    async def aclose(self) -> None: ...


_FORM_CONTENT_TYPE = ("Content-Type", "application/x-www-form-urlencoded")


class HttpxSender:
    """httpx's own transport (the default): works under asyncio and trio, mockable by respx.

    Requests go straight to the transport with a prebuilt ``httpx.Request``:
    ``httpx.AsyncClient``'s per-request work (header merging, cookies, auth,
    redirect handling) buys nothing here. The connections are spread over one
    single-connection pool each, handed out last-freed-first: httpcore's pool
    rescans every connection it holds on every request, so one big pool costs
    more per request the more connections it has. The pipeline's concurrency
    bound guarantees a free pool for every request in flight.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._plain_headers = list(headers.items())
        self._form_headers = [*self._plain_headers, _FORM_CONTENT_TYPE]
        self._shared = transport
        self._max_connections = limits.max_connections or 1
        self._one_connection = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=limits.keepalive_expiry
        )
        # Pools are made as concurrency first needs them, and kept for reuse.
        self._idle: list[httpx.AsyncBaseTransport] = []
        self._all: list[httpx.AsyncBaseTransport] = [transport] if transport is not None else []
        if transport is None:
            # The first pool now (loading the CA bundle and httpcore), not in the first request.
            self._idle.append(self._checkout())

    def _checkout(self) -> httpx.AsyncBaseTransport:
        if self._shared is not None:
            return self._shared
        if self._idle:
            return self._idle.pop()
        if len(self._all) >= self._max_connections:
            return self._all[0]  # unreachable behind the pipeline's bound; queue rather than fail
        transport = httpx.AsyncHTTPTransport(
            verify=_tls_context(), limits=self._one_connection, trust_env=False
        )
        self._all.append(transport)
        return transport

    def prepare_timeout(self, timeout: httpx.Timeout) -> object:
        return {"timeout": timeout.as_dict()}

    async def send(
        self, method: str, url: str, form: bytes | None, timeouts: object
    ) -> RawResponse:
        request = httpx.Request(
            method,
            url,
            headers=self._plain_headers if form is None else self._form_headers,
            content=form,
            extensions=timeouts,  # type: ignore[arg-type] # prepare_timeout's dict
        )
        transport = self._checkout()
        try:
            response = await transport.handle_async_request(request)
            try:
                content = await response.aread()  # reading to the end closes the stream
            except BaseException:
                with anyio.CancelScope(
                    shield=True
                ):  # give the connection back, even when cancelled
                    await response.aclose()
                raise
        except httpx.TimeoutException as error:
            # Connect and pool timeouts happen before a byte of the request is written.
            sent = not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise APITimeoutError(_describe(error, "timed out"), possibly_delivered=sent) from error
        except httpx.TransportError as error:
            sent = not isinstance(error, httpx.ConnectError)
            raise APIConnectionError(
                _describe(error, "connection failed"), possibly_delivered=sent
            ) from error
        finally:
            if transport is not self._shared:
                self._idle.append(transport)
        return RawResponse(response.status_code, response.reason_phrase, response.headers, content)

    async def aclose(self) -> None:
        for transport in self._all:
            await transport.aclose()


class AiohttpSender:
    """aiohttp (extra ``aioparticipant[fast]``): asyncio only, several times less CPU per request."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        max_connections: int,
        keepalive_expiry: float | None,
    ) -> None:
        try:
            import aiohttp
            import yarl
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                'http_backend="aiohttp" needs aiohttp: pip install "aioparticipant[fast]"'
            ) from error
        from multidict import CIMultiDict

        self._aiohttp = aiohttp
        self._yarl = yarl
        # Every header prebuilt, none on the session: aiohttp then merges nothing per request.
        self._plain_headers = CIMultiDict(headers)
        self._form_headers = CIMultiDict([*headers.items(), _FORM_CONTENT_TYPE])
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
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            cookie_jar=self._aiohttp.DummyCookieJar(),
        )
        return self._session

    def prepare_timeout(self, timeout: httpx.Timeout) -> object:
        return self._aiohttp.ClientTimeout(
            total=None,
            connect=timeout.pool,
            sock_connect=timeout.connect,
            sock_read=timeout.read,
        )

    async def send(
        self, method: str, url: str, form: bytes | None, timeouts: object
    ) -> RawResponse:
        aiohttp = self._aiohttp
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                # Already percent-encoded by us: yarl must not encode it again.
                self._yarl.URL(url, encoded=True),
                data=form,
                headers=self._plain_headers if form is None else self._form_headers,
                allow_redirects=False,
                timeout=timeouts,  # prepare_timeout's ClientTimeout
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


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once: loading the CA bundle takes milliseconds."""
    return httpx.create_ssl_context()


def _describe(error: BaseException, fallback: str) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else f"{type(error).__name__}: {fallback}"
