"""What both HTTP backends share: the response they return and how they word failures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from ._proxy import ProxySettings

__all__ = [
    "FORM_CONTENT_TYPE",
    "RawResponse",
    "Sender",
    "describe",
    "proxy_dropped",
    "proxy_refused",
    "proxy_unreachable",
    "through_proxy",
]

FORM_CONTENT_TYPE = ("Content-Type", "application/x-www-form-urlencoded")


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


def describe(error: BaseException, fallback: str) -> str:
    """``Type: message``; an empty message is taken from the error's causes (trio's TLS errors)."""
    cause: BaseException | None = error
    for _ in range(4):
        if cause is None:
            break
        text = str(cause).strip()
        if text:
            return f"{type(error).__name__}: {text}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(error).__name__}: {fallback}"


# The proxy's part in a failure, in words a user can act on. A proxy is shown
# by ``display`` (its password as ***), and by the variable it came from.


def _name(proxy: ProxySettings) -> str:
    origin = "" if proxy.source == "proxy" else f" (from {proxy.source})"
    return f"the proxy {proxy.display}{origin}"


def proxy_refused(proxy: ProxySettings, target: str, status: int, reason: str) -> str:
    """The proxy answered the tunnel request (CONNECT) with an error status."""
    text = f"{_name(proxy)} refused to open a tunnel to {target}: {status} {reason}".rstrip()
    if status in (401, 407):  # 407 is the standard; tinyproxy answers bad credentials with 401
        text += (
            "; it asks for credentials, and the proxy URL has none "
            "(use http://user:password@host:port)"
            if proxy.username is None
            else "; it refused the user name and password in the proxy URL"
        )
    return text


def proxy_dropped(proxy: ProxySettings, target: str, error: BaseException) -> str:
    """The proxy closed the connection (or timed out) before the tunnel was open."""
    return (
        f"{_name(proxy)} failed before opening a tunnel to {target}: "
        f"{describe(error, 'connection closed')}"
    )


def proxy_unreachable(proxy: ProxySettings, error: BaseException) -> str:
    """The connection to the proxy itself could not be made."""
    return f"cannot connect to {_name(proxy)}: {describe(error, 'connection failed')}"


def through_proxy(text: str, proxy: ProxySettings | None) -> str:
    """``text`` saying which proxy the request went through, if any."""
    return text if proxy is None else f"{text} (through {_name(proxy)})"
