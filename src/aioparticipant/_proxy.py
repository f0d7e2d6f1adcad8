"""Which proxy, if any, the client's requests go through: ``proxy=`` or the environment.

The client talks to one origin (its base URL), so the choice is made once,
when the client is built, by the rules below, the same for both HTTP
backends (httpx and aiohttp each parse ``NO_PROXY`` differently; neither is
asked to):

- ``proxy="http://[user:password@]host:port"`` wins over the environment and
  applies to every request.
- Otherwise, with ``trust_env``: ``https_proxy``/``HTTPS_PROXY`` for an https
  base URL, ``http_proxy``/``HTTP_PROXY`` for an http one, then
  ``all_proxy``/``ALL_PROXY``; the lower-case name wins when both are set (as
  in curl, requests and httpx). ``HTTP_PROXY`` is ignored when
  ``REQUEST_METHOD`` is set (a CGI request could set it: "httpoxy"). A value
  without a scheme (``proxy.corp:3128``) is read as ``http://``, as curl does.
- ``no_proxy``/``NO_PROXY`` lists hosts reached directly; see ``bypasses_proxy``.

Proxy credentials are kept apart from the URL: ``ProxySettings.url`` never
carries them, and its repr shows the password as ``***``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ._exceptions import InvalidParameterError
from ._validate import has_control_characters

__all__ = ["ProxySettings", "bypasses_proxy", "parse_proxy", "proxy_from_environment"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, repr=False)
class ProxySettings:
    """One HTTP proxy: where it is, its credentials, and where the setting came from."""

    #: ``scheme://host:port``, without credentials.
    url: str
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    #: ``"proxy"`` or the environment variable it was read from (``"HTTPS_PROXY"``).
    source: str = "proxy"

    @property
    def display(self) -> str:
        """The URL as it may be shown: the password, if any, as ``***``."""
        if self.username is None:
            return self.url
        secret = ":***" if self.password is not None else ""
        return self.url.replace("://", f"://{self.username}{secret}@", 1)

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` header value (Basic), or ``None`` without credentials."""
        if self.username is None:
            return None
        pair = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        return f"ProxySettings({self.display!r}, source={self.source!r})"


def parse_proxy(value: object, *, parameter: str, from_environment: bool = False) -> ProxySettings:
    """``value`` checked and split into a ``ProxySettings``; errors name ``parameter``.

    Messages never echo a password: the URL is shown with its credentials as ``***``.
    """
    example = "'http://proxy.example.com:3128' or 'http://user:password@proxy.example.com:3128'"
    if not isinstance(value, str):
        raise InvalidParameterError(
            parameter,
            f"{parameter} must be a URL string such as {example}, got {type(value).__name__}",
        )
    text = value.strip()
    if not text or has_control_characters(text):
        raise InvalidParameterError(
            parameter, f"{parameter} must be a non-empty URL without control characters"
        )
    if "://" not in text:
        if not from_environment:
            raise InvalidParameterError(
                parameter, f"{parameter} needs a scheme: 'http://{_hide_credentials(text)}'"
            )
        text = "http://" + text  # what curl, requests and httpx do with HTTPS_PROXY=host:port
    shown = _hide_credentials(text)
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError as error:
        raise InvalidParameterError(
            parameter, f"{parameter} is not a valid URL ({error}): {shown}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise InvalidParameterError(
            parameter,
            f"{parameter} is a SOCKS proxy ({shown}), which aioparticipant does not support: "
            "use an HTTP proxy (http://host:port; https goes through it in a CONNECT tunnel)"
            + (", or pass trust_env=False" if from_environment else ""),
        )
    if scheme not in _DEFAULT_PORTS:
        raise InvalidParameterError(
            parameter,
            f"{parameter} must be an http:// or https:// URL such as {example}, got {shown}",
        )
    if not host:
        raise InvalidParameterError(parameter, f"{parameter} has no host: {shown}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidParameterError(
            parameter,
            f"{parameter} must be scheme://[user:password@]host[:port], without a path: {shown}",
        )
    netloc_host = f"[{host}]" if ":" in host else host
    port = port or _DEFAULT_PORTS[scheme]
    return ProxySettings(
        url=f"{scheme}://{netloc_host}:{port}",
        scheme=scheme,
        host=host,
        port=port,
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
        source=parameter,
    )


def proxy_from_environment(
    url: str, environ: Mapping[str, str] | None = None
) -> ProxySettings | None:
    """The proxy the environment names for ``url``, or ``None`` to connect directly."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(scheme, 443)
    no_proxy = _lookup(environ, "no_proxy")
    if no_proxy is not None and bypasses_proxy(no_proxy[1], host, port):
        return None
    for name in (f"{scheme}_proxy", "all_proxy"):
        found = _lookup(environ, name)
        if found is not None:
            return parse_proxy(found[1], parameter=found[0], from_environment=True)
    return None


def _lookup(environ: Mapping[str, str], lower_name: str) -> tuple[str, str] | None:
    for name in (lower_name, lower_name.upper()):
        if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            continue  # httpoxy: in a CGI script, a request's "Proxy:" header sets HTTP_PROXY
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def bypasses_proxy(no_proxy: str, host: str, port: int) -> bool:
    """Whether ``NO_PROXY`` (``no_proxy``) says ``host:port`` is reached directly.

    Entries are separated by commas or spaces, compared without case and
    without trailing dots:

    - ``*``: every host;
    - ``example.com``: that host and its subdomains (``api.example.com``),
      not ``badexample.com``; ``.example.com`` and ``*.example.com`` mean the
      same (as in curl);
    - ``example.com:8443``: the same, on that port only;
    - ``10.1.2.3``, ``::1``, ``[::1]:8443``: that IP address (a base URL
      written with that address; host names are not resolved);
    - ``10.0.0.0/8``, ``fd00::/8``: any IP address in that range.
    """
    host = host.strip("[]").rstrip(".").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in re.split(r"[,\s]+", no_proxy.lower()):
        if entry == "*":
            return True
        if entry and _entry_matches(entry, host, address, port):
            return True
    return False


def _entry_matches(
    entry: str,
    host: str,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    port: int,
) -> bool:
    if "://" in entry:  # "http://example.com" written as a URL: its host (and port) count
        entry = entry.split("://", 1)[1].rstrip("/")
    network = _network(entry)
    if network is None:
        name, colon, tail = entry.rpartition(":")
        if colon and name and tail.isdigit():
            if int(tail) != port:
                return False
            entry = name
            network = _network(entry)
    if network is not None:
        return address is not None and address in network
    domain = entry.lstrip("*").strip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _hide_credentials(url: str) -> str:
    """``url`` with everything before an ``@`` in its authority shown as ``***``."""
    scheme, separator, rest = url.partition("://") if "://" in url else ("", "", url)
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"
