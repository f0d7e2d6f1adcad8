"""The default HTTP backend: httpx's own transport, under asyncio and trio, mockable by respx."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import httpx

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

__all__ = ["HttpxSender"]


class HttpxSender:
    """httpx's own transport (the default): works under asyncio and trio, mockable by respx.

    Requests go straight to the transport with a prebuilt ``httpx.Request``:
    ``httpx.AsyncClient``'s per-request work (header merging, cookies, auth,
    redirect handling) buys nothing here. The connections are spread over one
    single-connection pool each, handed out last-freed-first: httpcore's pool
    rescans every connection it holds on every request, so one big pool costs
    more per request the more connections it has. The pipeline's concurrency
    bound guarantees a free pool for every request in flight. Every pool
    shares the one TLS context and, if any, the one proxy of ``network``.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None,
        network: NetworkSettings | None = None,
    ) -> None:
        self._plain_headers = list(headers.items())
        self._form_headers = [*self._plain_headers, FORM_CONTENT_TYPE]
        self._shared = transport
        self._max_connections = limits.max_connections or 1
        self._one_connection = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=limits.keepalive_expiry
        )
        if network is None:
            network = resolve_network("https://localhost", trust_env=False)
        self._ssl_context = network.ssl_context
        # A custom transport does its own networking: no proxy is put in front of it.
        self._proxy = network.proxy if transport is None else None
        self._httpx_proxy = None if self._proxy is None else _httpx_proxy(self._proxy, network)
        # Pools are made as concurrency first needs them, and kept for reuse.
        self._idle: list[httpx.AsyncBaseTransport] = []
        self._all: list[httpx.AsyncBaseTransport] = [transport] if transport is not None else []
        if transport is None:
            # The first pool now (loading httpcore), not in the first request.
            self._idle.append(self._checkout())

    def _checkout(self) -> httpx.AsyncBaseTransport:
        if self._shared is not None:
            return self._shared
        if self._idle:
            return self._idle.pop()
        if len(self._all) >= self._max_connections:
            return self._all[0]  # unreachable behind the pipeline's bound; queue rather than fail
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context,
            limits=self._one_connection,
            trust_env=False,
            proxy=self._httpx_proxy,
        )
        self._all.append(transport)
        return transport

    def prepare_timeout(self, timeout: httpx.Timeout) -> object:
        return {"timeout": timeout.as_dict()}

    async def send(
        self, method: str, url: str, form: bytes | None, timeouts: object
    ) -> RawResponse:
        extensions: dict[str, Any] = timeouts  # type: ignore[assignment] # prepare_timeout's
        if self._proxy is not None:
            return await self._send_through_proxy(self._proxy, method, url, form, extensions)
        request = httpx.Request(
            method,
            url,
            headers=self._plain_headers if form is None else self._form_headers,
            content=form,
            extensions=extensions,
        )
        try:
            return await self._send(request)
        except httpx.TimeoutException as error:
            # Connect and pool timeouts happen before a byte of the request is written.
            sent = not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise APITimeoutError(describe(error, "timed out"), possibly_delivered=sent) from error
        except httpx.TransportError as error:
            sent = not isinstance(error, httpx.ConnectError)
            raise APIConnectionError(
                describe(error, "connection failed"), possibly_delivered=sent
            ) from error

    async def _send(self, request: httpx.Request) -> RawResponse:
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
        finally:
            if transport is not self._shared:
                self._idle.append(transport)
        return RawResponse(response.status_code, response.reason_phrase, response.headers, content)

    async def _send_through_proxy(
        self,
        proxy: ProxySettings,
        method: str,
        url: str,
        form: bytes | None,
        extensions: dict[str, Any],
    ) -> RawResponse:
        """``send`` through the proxy, saying in any failure what the proxy did."""
        watch = _ConnectionWatch()
        request = httpx.Request(
            method,
            url,
            headers=self._plain_headers if form is None else self._form_headers,
            content=form,
            extensions={**extensions, "trace": watch},
        )
        default_port = 443 if request.url.scheme == "https" else 80
        target = f"{request.url.host}:{request.url.port or default_port}"
        try:
            response = await self._send(request)
        except httpx.ProxyError as error:
            status, _, reason = str(error).partition(" ")
            code = int(status) if status.isdigit() else 0
            raise APIConnectionError(
                proxy_refused(proxy, target, code, reason),
                possibly_delivered=False,
                transient=False,
            ) from error
        except httpx.TransportError as error:
            raise _proxy_error(proxy, target, watch.step, error) from error
        if response.status == 407:  # a plain-http request forwarded by the proxy: only it says 407
            raise APIConnectionError(
                proxy_refused(proxy, target, 407, response.reason),
                possibly_delivered=False,
                transient=False,
            )
        return response

    async def aclose(self) -> None:
        for transport in self._all:
            await transport.aclose()


class _ConnectionWatch:
    """httpcore's ``trace`` hook: how far a request got (to the proxy, the tunnel, the server)."""

    __slots__ = ("step",)

    def __init__(self) -> None:
        self.step = "pool"

    async def __call__(self, name: str, info: Mapping[str, Any]) -> None:
        if name == "connection.connect_tcp.started":
            self.step = "proxy"
        elif name == "http11.send_request_headers.started":
            self.step = "tunnel" if info["request"].method == b"CONNECT" else "request"
        elif name == "proxy.start_tls.started":
            self.step = "server"


def _proxy_error(
    proxy: ProxySettings, target: str, step: str, error: httpx.TransportError
) -> APIConnectionError:
    timeout = isinstance(error, httpx.TimeoutException)
    kind = APITimeoutError if timeout else APIConnectionError
    if step == "proxy":
        return kind(proxy_unreachable(proxy, error), possibly_delivered=False)
    if step == "tunnel":
        return kind(proxy_dropped(proxy, target, error), possibly_delivered=False)
    fallback = "timed out" if timeout else "connection failed"
    sent = step == "request" and not isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
    return kind(through_proxy(describe(error, fallback), proxy), possibly_delivered=sent)


def _httpx_proxy(proxy: ProxySettings, network: NetworkSettings) -> httpx.Proxy:
    authorization = proxy.authorization
    return httpx.Proxy(
        proxy.url,
        # An https:// proxy is verified like the server: a corporate CA covers both.
        ssl_context=network.ssl_context if proxy.scheme == "https" else None,
        headers=None if authorization is None else {"Proxy-Authorization": authorization},
    )
