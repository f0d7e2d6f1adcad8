"""Candidate fixes, tried by monkeypatching aioparticipant inside one benchmark process.

Nothing here is imported by the library or by ``bench/run.py``'s table; it is
the scratch copy behind the recommendations in BENCHMARKS.md, run by
``bench/experiments.py`` (``clients.py --variant NAME[,NAME...]``). Each
variant replaces one internal piece with a faster one that keeps the
behaviour the benchmark exercises; where a shortcut here would not be correct
in the library (say, the retry fallback), the docstring says what the real
change must do.

These patches reach into aioparticipant's private modules as they were when
the measurements in BENCHMARKS.md were taken (src at 3bdd853, before the
fixes); ``first-try``, ``pause-fast``, ``decode-fast``, ``shards:64`` and
``aiohttp-lean`` have since been adopted in src in some form, so against
newer code they measure little or nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

VARIANTS: dict[str, Callable[[str], None]] = {}


def variant(name: str) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    def register(function: Callable[[str], None]) -> Callable[[str], None]:
        VARIANTS[name] = function
        return function

    return register


def apply(spec: str) -> None:
    """Apply ``name[:argument],name...`` in order."""
    for item in filter(None, spec.split(",")):
        name, _, argument = item.partition(":")
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
        VARIANTS[name](argument)


# --- the pipeline ------------------------------------------------------------------


@variant("first-try")
def first_try(_: str) -> None:
    """The first attempt runs outside tenacity; tenacity only once an attempt failed.

    The real change (``_http.Pipeline.request``): try ``_attempt`` once; on an
    error that ``is_retryable`` allows, hand over to a ``make_retrying`` whose
    stop counts that first attempt and which sleeps before its first try. Here
    the fallback simply starts tenacity afresh: fine for a success-only bench.
    """
    from aioparticipant import _http
    from aioparticipant._retry import is_retryable, make_retrying

    async def request(
        self: Any,
        method: str,
        url: str,
        path: str,
        *,
        form: bytes | None = None,
        announces: bool = False,
    ) -> Any:
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")
        try:
            return await self._attempt(method, path, url, form)
        except Exception as error:
            if self._max_retries == 0 or not is_retryable(
                error, announces=announces, backoff=self._backoff
            ):
                raise
        retrying = make_retrying(
            max_retries=self._max_retries - 1, backoff=self._backoff, announces=announces
        )
        return await retrying(self._attempt, method, path, url, form)

    _http.Pipeline.request = request  # type: ignore[method-assign]


@variant("pause-fast")
def pause_fast(_: str) -> None:
    """``SharedPause.wait`` returns without reading the clock when no pause was ever set."""
    import anyio

    from aioparticipant import _limiter

    async def wait(self: Any) -> None:
        if self._until == -math.inf:
            return
        while (remaining := self._until - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)
        self._until = -math.inf

    _limiter.SharedPause.wait = wait  # type: ignore[method-assign]


# --- decoding ----------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


@functools.lru_cache(maxsize=64)
def _zone(text: str) -> timezone | None:
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    hours, minutes = int(text[1:3]), int(text[3:5])
    if minutes >= 60:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _make_fast_parse() -> Callable[[str], datetime | None]:
    from aioparticipant._dates import parse_rfc2822

    def parse(value: str) -> datetime | None:
        # The canonical shape, "Tue, 25 Sep 2018 20:00:00 +0000", by split and int();
        # anything else goes to the full parser.
        parts = value.split()
        if len(parts) == 6 and len(parts[4]) == 8:
            month = _MONTHS.get(parts[2].lower())
            zone = _zone(parts[5])
            clock = parts[4]
            if month is not None and zone is not None and parts[1].isdigit():
                try:
                    return datetime(
                        int(parts[3]),
                        month,
                        int(parts[1]),
                        int(clock[0:2]),
                        int(clock[3:5]),
                        int(clock[6:8]),
                        tzinfo=zone,
                    )
                except ValueError:
                    pass
        return parse_rfc2822(value)

    return parse


def _install_from_wire(parse: Callable[[str], datetime | None]) -> None:
    import msgspec

    from aioparticipant import _models

    participant = _models.Participant
    names = [field.name for field in msgspec.structs.fields(participant)]
    date_fields = ("date_created", "date_updated")
    # One constructor call with every field named: no dict, no getattr loop.
    arguments = ", ".join(
        f"{name}=_parse(w.{name}) if w.{name} is not None else None"
        if name in date_fields
        else f"{name}=str(w.{name}) if w.{name}.__class__ is int else w.{name}"
        if name == "queue_time"
        else f"{name}=w.{name}"
        for name in names
    )
    namespace: dict[str, Any] = {"_Participant": participant, "_parse": parse}
    exec(f"def _from_wire(w):\n    return _Participant({arguments})\n", namespace)  # noqa: S102
    _models._from_wire = namespace["_from_wire"]


@variant("decode-fast")
def decode_fast(_: str) -> None:
    """``_from_wire`` builds the Participant in one call and parses the usual date shape by split."""
    _install_from_wire(_make_fast_parse())


@variant("decode-cache")
def decode_cache(_: str) -> None:
    """As decode-fast, plus an LRU cache of parsed dates (a bulk run sees the same second often).

    Against the stub every date repeats, so this shows the cache's upper bound.
    """
    _install_from_wire(functools.lru_cache(maxsize=256)(_make_fast_parse()))


# --- the httpx sender --------------------------------------------------------------


def _map_errors(error: Exception) -> Exception:
    from aioparticipant._exceptions import APIConnectionError, APITimeoutError
    from aioparticipant._senders import _describe

    if isinstance(error, httpx.TimeoutException):
        sent = not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return APITimeoutError(_describe(error, "timed out"), possibly_delivered=sent)
    sent = not isinstance(error, httpx.ConnectError)
    return APIConnectionError(_describe(error, "connection failed"), possibly_delivered=sent)


class DirectHttpxSender:
    """httpx's own transport(s), called directly with a prebuilt ``httpx.Request``.

    ``shards`` > 1 spreads ``max_connections`` over that many
    ``httpx.AsyncHTTPTransport`` pools and hands each request to one with a
    free connection (last freed first, so a quiet client keeps using the same
    warm connection). httpcore's pool rescans all of its connections twice per
    request, polling every idle socket; small pools make that scan short.
    respx still mocks every shard: they are ``AsyncHTTPTransport`` instances.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None,
        shards: int = 1,
        via_client: bool = False,
        network: Any = None,  # the client's proxy and TLS settings: experiments run without them
    ) -> None:
        from aioparticipant._senders import RawResponse

        self._raw_response = RawResponse
        self._timeout = timeout.as_dict()
        self._form_headers = [
            *headers.items(),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        self._plain_headers = list(headers.items())
        max_connections = limits.max_connections or 100
        if transport is not None:
            self._transports: list[httpx.AsyncBaseTransport] = [transport]
            per_shard = max_connections
        else:
            shards = max(1, min(shards, max_connections))
            per_shard = math.ceil(max_connections / shards)
            shard_limits = httpx.Limits(
                max_connections=per_shard,
                max_keepalive_connections=per_shard,
                keepalive_expiry=limits.keepalive_expiry,
            )
            self._transports = [
                httpx.AsyncHTTPTransport(limits=shard_limits, trust_env=False)
                for _ in range(shards)
            ]
        self._per_shard = per_shard
        self._load = [0] * len(self._transports)
        self._free = list(range(len(self._transports) - 1, -1, -1))  # a stack: [-1] is next
        self._client: httpx.AsyncClient | None = None
        if via_client:
            # For comparison: the same shards, but every request still goes
            # through httpx.AsyncClient.request.
            self._client = httpx.AsyncClient(
                headers=dict(headers),
                timeout=timeout,
                transport=_ShardedTransport(self),
                follow_redirects=False,
                trust_env=False,
            )

    def acquire(self) -> int:
        free = self._free
        if free:
            shard = free[-1]
            self._load[shard] += 1
            if self._load[shard] >= self._per_shard:
                free.pop()
            return shard
        shard = min(range(len(self._load)), key=self._load.__getitem__)
        self._load[shard] += 1
        return shard

    def release(self, shard: int) -> None:
        self._load[shard] -= 1
        if self._load[shard] == self._per_shard - 1:
            self._free.append(shard)

    async def send(self, method: str, url: str, *rest: Any) -> Any:
        body: bytes | None = rest[-1]  # (headers, body) before the fixes, (form,) after
        headers = rest[0] if len(rest) == 2 else {}
        if self._client is not None:
            try:
                response = await self._client.request(method, url, content=body, headers=headers)
            except httpx.TransportError as error:
                raise _map_errors(error) from error
            return self._raw_response(
                response.status_code, response.reason_phrase, response.headers, response.content
            )
        request = httpx.Request(
            method,
            url,
            headers=self._form_headers if body is not None else self._plain_headers,
            content=body,
            extensions={"timeout": self._timeout},
        )
        shard = self.acquire()
        try:
            response = await self._transports[shard].handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as error:
            raise _map_errors(error) from error
        finally:
            self.release(shard)
        return self._raw_response(
            response.status_code, response.reason_phrase, response.headers, content
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        for transport in self._transports:
            await transport.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> Any:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class _ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, sender: DirectHttpxSender) -> None:
        self._sender = sender

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sender = self._sender
        shard = sender.acquire()
        try:
            response = await sender._transports[shard].handle_async_request(request)
        except BaseException:
            sender.release(shard)
            raise
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, functools.partial(sender.release, shard)),
            extensions=response.extensions,
        )


def _install_httpx_sender(**options: Any) -> None:
    from aioparticipant import _client

    def make(**kwargs: Any) -> DirectHttpxSender:
        return DirectHttpxSender(**kwargs, **options)

    _client.HttpxSender = make  # type: ignore[assignment,misc]


@variant("direct")
def direct(_: str) -> None:
    """Call the transport directly with a prebuilt request (no httpx.AsyncClient per request)."""
    _install_httpx_sender(shards=1)


@variant("shards")
def shards(argument: str) -> None:
    """``shards:N``: direct, and max_connections spread over N small pools (default 64/8 = 8)."""
    _install_httpx_sender(shards=int(argument or 8))


@variant("client-shards")
def client_shards(argument: str) -> None:
    """``client-shards:N``: N small pools behind one httpx.AsyncClient (no direct call)."""
    _install_httpx_sender(shards=int(argument or 8), via_client=True)


@variant("readable-fast")
def readable_fast(_: str) -> None:
    """httpcore's idle-connection check without anyio's per-call attribute dict.

    httpcore asks ``get_extra_info("is_readable")`` of every idle connection on
    every pool scan; anyio builds a dict of lambdas to answer each time. In the
    library this is a network backend passed to httpcore's pool that caches
    the raw socket per stream (no monkeypatching of httpcore).
    """
    import anyio
    from httpcore._backends.anyio import AnyIOStream
    from httpcore._utils import is_socket_readable

    original = AnyIOStream.get_extra_info

    def get_extra_info(self: Any, info: str) -> Any:
        if info == "is_readable":
            sock = self.__dict__.get("_raw_socket")
            if sock is None:
                sock = self._stream.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
                self._raw_socket = sock
            return is_socket_readable(sock)
        return original(self, info)

    AnyIOStream.get_extra_info = get_extra_info  # type: ignore[method-assign]


# --- the aiohttp sender --------------------------------------------------------------


@variant("aiohttp-lean")
def aiohttp_lean(_: str) -> None:
    """aiohttp with every header prebuilt (no per-request merge) and the URL passed pre-encoded."""
    import yarl
    from multidict import CIMultiDict

    from aioparticipant import _senders
    from aioparticipant._exceptions import APIConnectionError, APITimeoutError

    class LeanAiohttpSender(_senders.AiohttpSender):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            base = dict(getattr(self, "_headers", None) or getattr(self, "_plain_headers", {}))
            self._form = CIMultiDict({**base, "Content-Type": "application/x-www-form-urlencoded"})
            self._plain = CIMultiDict(base)
            self._headers = {}  # the session carries none: each request brings all of them

        async def send(self, method: str, url: str, *rest: Any) -> Any:
            body: bytes | None = rest[-1]
            aiohttp = self._aiohttp
            session = self._session or self._open()
            try:
                async with session.request(
                    method,
                    yarl.URL(url, encoded=True),
                    data=body,
                    headers=self._form if body is not None else self._plain,
                    allow_redirects=False,
                ) as response:
                    content = await response.read()
                    return _senders.RawResponse(
                        response.status, response.reason or "", response.headers, content
                    )
            except aiohttp.ConnectionTimeoutError as error:
                raise APITimeoutError(str(error), possibly_delivered=False) from error
            except TimeoutError as error:
                raise APITimeoutError(str(error), possibly_delivered=True) from error
            except aiohttp.ClientConnectorError as error:
                raise APIConnectionError(str(error), possibly_delivered=False) from error
            except aiohttp.ClientError as error:
                raise APIConnectionError(str(error), possibly_delivered=True) from error

    from aioparticipant import _client

    _client.AiohttpSender = LeanAiohttpSender  # type: ignore[misc]


# --- everything together -------------------------------------------------------------


@variant("all-httpx")
def all_httpx(argument: str) -> None:
    """Every httpx-path candidate at once (shards:N, default 64 = one connection each)."""
    for name, value in (
        ("first-try", ""),
        ("pause-fast", ""),
        ("decode-fast", ""),
        ("readable-fast", ""),
        ("shards", argument or "64"),
    ):
        VARIANTS[name](value)


@variant("all-aiohttp")
def all_aiohttp(_: str) -> None:
    """Every aiohttp-path candidate at once."""
    for name in ("first-try", "pause-fast", "decode-fast", "aiohttp-lean"):
        VARIANTS[name]("")


@variant("http2")
def http2(_: str) -> None:
    """The default path with HTTP/2 (prior knowledge on loopback; ALPN over TLS), one pool."""
    from aioparticipant import _client, _senders

    class Http2Sender(_senders.HttpxSender):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            old = self._client
            self._client = httpx.AsyncClient(
                headers=old.headers,
                timeout=old.timeout,
                limits=kwargs["limits"],
                transport=kwargs["transport"],
                follow_redirects=False,
                trust_env=False,
                http1=False,
                http2=True,
            )

    _client.HttpxSender = Http2Sender  # type: ignore[misc]
