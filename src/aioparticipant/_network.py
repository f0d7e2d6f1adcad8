"""The network settings both HTTP backends share: the proxy and the TLS context.

Worked out once, when the client is built, from ``proxy=``, ``verify=`` and
(with ``trust_env``) the environment, so that httpx and aiohttp behave alike
and a wrong setting fails before anything is sent.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ._exceptions import InvalidParameterError
from ._proxy import ProxySettings, parse_proxy, proxy_from_environment
from ._tls import resolve_verify
from ._validate import check_bool

__all__ = ["NetworkSettings", "resolve_network"]


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Where the requests go through (``proxy``, or ``None``) and how the server is verified."""

    proxy: ProxySettings | None
    ssl_context: ssl.SSLContext


def resolve_network(
    base_url: str,
    *,
    proxy: object = None,
    trust_env: object = True,
    verify: object = True,
    custom_transport: bool = False,
) -> NetworkSettings:
    """The settings for a client of ``base_url``: an explicit ``proxy``/``verify`` wins.

    With a ``custom_transport`` (``transport=``), the transport does its own
    networking: the environment is not read, and ``proxy``/``verify`` are refused
    rather than silently ignored.
    """
    use_environment = check_bool("trust_env", trust_env) and not custom_transport
    if custom_transport:
        for name, value, default in (("proxy", proxy, None), ("verify", verify, True)):
            if value is not default:
                raise InvalidParameterError(
                    name, f"{name}= has no effect with transport=: set it on your transport instead"
                )
    if proxy is not None:
        chosen: ProxySettings | None = parse_proxy(proxy, parameter="proxy")
    elif use_environment:
        chosen = proxy_from_environment(base_url)
    else:
        chosen = None
    return NetworkSettings(chosen, resolve_verify(verify, trust_env=use_environment))
