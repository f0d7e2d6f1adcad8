"""Where requests go and as whom: the credentials and base URL checks of ``AsyncClient``."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from ._constants import ENV_SPACE_URL, SIGNALWIRE_API_PATH
from ._exceptions import InvalidParameterError
from ._validate import has_control_characters

__all__ = ["base_url_from", "credential_from", "is_loopback"]


def credential_from(value: str | None, parameter: str, variable: str) -> str:
    if value is None:
        value = os.environ.get(variable) or None
    if value is None:
        raise InvalidParameterError(
            parameter, f"{parameter} is missing: pass {parameter}=... or set {variable}"
        )
    if not isinstance(value, str) or not value or has_control_characters(value):
        # The value itself is never echoed: it may be a secret.
        raise InvalidParameterError(
            parameter, f"{parameter} must be a non-empty str without control characters"
        )
    return value


def base_url_from(base_url: str | None, space_url: str | None, *, allow_insecure_http: bool) -> str:
    if base_url is not None:
        return checked_url("base_url", base_url, allow_insecure_http=allow_insecure_http)
    space_url = space_url if space_url is not None else (os.environ.get(ENV_SPACE_URL) or None)
    if space_url is None:
        raise InvalidParameterError(
            "space_url",
            f"space_url is missing: pass space_url='example.signalwire.com' or set {ENV_SPACE_URL} "
            "(or pass base_url= for Twilio or an emulator)",
        )
    if not isinstance(space_url, str):
        raise InvalidParameterError(
            "space_url", f"space_url must be a str, got {type(space_url).__name__}"
        )
    text = space_url.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    url = checked_url("space_url", text, allow_insecure_http=allow_insecure_http)
    if urlsplit(url).path:
        raise InvalidParameterError(
            "space_url",
            f"space_url must be a host such as 'example.signalwire.com', got {space_url!r}",
        )
    return url + SIGNALWIRE_API_PATH


def checked_url(parameter: str, value: str, *, allow_insecure_http: bool) -> str:
    if not isinstance(value, str) or has_control_characters(value):
        raise InvalidParameterError(
            parameter, f"{parameter} must be a URL string without control characters"
        )
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as error:
        raise InvalidParameterError(parameter, f"{parameter} is not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidParameterError(
            parameter,
            f"{parameter} must be an absolute https URL such as "
            f"'https://api.twilio.com/2010-04-01', got {value!r}",
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidParameterError(
            parameter, f"{parameter} must not carry credentials; pass project_id and token instead"
        )
    if parts.query or parts.fragment:
        raise InvalidParameterError(parameter, f"{parameter} must not have a query or fragment")
    if scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise InvalidParameterError(
            parameter,
            f"{parameter} uses plain http to {host}, which would send the credentials in clear "
            "text: use https, or pass allow_insecure_http=True if you really mean it",
        )
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
