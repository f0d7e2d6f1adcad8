"""The fast HTTP backend: aiohttp (extra ``aioparticipant[fast]``), asyncio only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import sniffio

from ._exceptions import APIConnectionError, APITimeoutError
from ._network import NetworkSettings, resolve_network
from ._proxy import ProxySettings
from ._sender_base import (
    FORM_CONTENT_TYPE,
    RawResponse,
    describe,
    proxy_dropped,
    proxy_refused,
    proxy_unreachable,
    through_proxy,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp

__all__ = ["AiohttpSender"]


class AiohttpSender:
    """aiohttp (extra ``aioparticipant[fast]``): asyncio only, several times less CPU per request.

    aiohttp reads nothing from the environment (``trust_env=False``): the
    proxy and TLS context come resolved in ``network``, as for httpx.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        max_connections: int,
        keepalive_expiry: float | None,
        network: NetworkSettings | None = None,
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
        self._form_headers = CIMultiDict([*headers.items(), FORM_CONTENT_TYPE])
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        if network is None:
            network = resolve_network("https://localhost", trust_env=False)
        self._ssl_context = network.ssl_context
        self._proxy = network.proxy
        self._proxy_url = None if self._proxy is None else yarl.URL(self._proxy.url)
        authorization = None if self._proxy is None else self._proxy.authorization
        self._proxy_headers = (
            None if authorization is None else CIMultiDict({"Proxy-Authorization": authorization})
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # The session binds to the running loop, so it is made on first use.
        if sniffio.current_async_library() != "asyncio":
            raise RuntimeError(
                'http_backend="aiohttp" runs on asyncio only; use http_backend="httpx" under trio'
            )
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._max_connections,
            keepalive_timeout=self._keepalive_expiry or 15.0,
            ssl=self._ssl_context,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=None if self._proxy is None else [_connection_watch(aiohttp)],
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
        if self._proxy is not None:
            return await self._send_through_proxy(self._proxy, method, url, form, timeouts)
        aiohttp = self._aiohttp
        try:
            return await self._send(method, url, form, timeout=timeouts)
        except aiohttp.ConnectionTimeoutError as error:
            raise APITimeoutError(
                describe(error, "connect timed out"), possibly_delivered=False
            ) from error
        except TimeoutError as error:
            raise APITimeoutError(describe(error, "timed out"), possibly_delivered=True) from error
        except aiohttp.ClientConnectorError as error:
            raise APIConnectionError(
                describe(error, "connection failed"), possibly_delivered=False
            ) from error
        except aiohttp.ClientError as error:
            raise APIConnectionError(
                describe(error, "connection failed"), possibly_delivered=True
            ) from error

    async def _send(self, method: str, url: str, form: bytes | None, **options: Any) -> RawResponse:
        session = self._session or self._open()
        async with session.request(
            method,
            # Already percent-encoded by us: yarl must not encode it again.
            self._yarl.URL(url, encoded=True),
            data=form,
            headers=self._plain_headers if form is None else self._form_headers,
            allow_redirects=False,
            **options,  # the timeouts, and the proxy if any
        ) as response:
            content = await response.read()
            return RawResponse(response.status, response.reason or "", response.headers, content)

    async def _send_through_proxy(
        self, proxy: ProxySettings, method: str, url: str, form: bytes | None, timeouts: object
    ) -> RawResponse:
        """``send`` through the proxy, saying in any failure what the proxy did."""
        aiohttp = self._aiohttp
        watch = _Step()
        target_url = self._yarl.URL(url, encoded=True)
        target = f"{target_url.host}:{target_url.port}"
        refusal: str | None = None
        try:
            response = await self._send(
                method,
                url,
                form,
                timeout=timeouts,
                proxy=self._proxy_url,
                proxy_headers=self._proxy_headers,
                trace_request_ctx=watch,
            )
        except aiohttp.ClientHttpProxyError as error:
            # Raised outside this block, unchained: the error's request_info
            # holds the CONNECT's headers, Proxy-Authorization included.
            refusal = proxy_refused(proxy, target, error.status, error.message)
        except aiohttp.ClientProxyConnectionError as error:
            raise APIConnectionError(
                proxy_unreachable(proxy, error), possibly_delivered=False
            ) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            connecting = watch.step == "connecting"
            tls = isinstance(error, (aiohttp.ClientSSLError, aiohttp.ClientConnectorError))
            kind = APITimeoutError if isinstance(error, TimeoutError) else APIConnectionError
            if connecting and not tls:
                text = proxy_dropped(proxy, target, error)
            else:
                text = through_proxy(describe(error, "connection failed"), proxy)
            raise kind(text, possibly_delivered=not connecting) from error
        if refusal is not None:
            raise APIConnectionError(refusal, possibly_delivered=False, transient=False)
        if response.status == 407:  # a plain-http request forwarded by the proxy: only it says 407
            raise APIConnectionError(
                proxy_refused(proxy, target, 407, response.reason),
                possibly_delivered=False,
                transient=False,
            )
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Step:
    """Where a request is: ``"connecting"`` while aiohttp opens its connection (and tunnel)."""

    __slots__ = ("step",)

    def __init__(self) -> None:
        self.step = "pool"


def _connection_watch(library: Any) -> aiohttp.TraceConfig:
    """A trace that marks, on each request's ``_Step``, when a new connection is being made."""

    async def started(session: object, context: Any, params: object) -> None:
        context.trace_request_ctx.step = "connecting"

    async def ended(session: object, context: Any, params: object) -> None:
        context.trace_request_ctx.step = "open"

    config: aiohttp.TraceConfig = library.TraceConfig()
    config.on_connection_create_start.append(started)
    config.on_connection_create_end.append(ended)
    return config
