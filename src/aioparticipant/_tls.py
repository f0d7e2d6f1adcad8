"""The TLS context every connection verifies the server with: ``verify=`` or the environment.

Verification cannot be switched off. ``verify`` is:

- ``True`` (the default): the CA bundle of ``certifi`` (httpx's default), or,
  with ``trust_env``, ``SSL_CERT_FILE`` (a bundle) and/or ``SSL_CERT_DIR`` (a
  directory of hashed certificates, or several joined by ``:``) when set;
- a path: a CA bundle file, or a directory of certificates named by their
  hash (``openssl rehash DIR``) — a corporate or TLS-inspecting proxy's CA;
- an ``ssl.SSLContext``, used as given (it must verify certificates and host names).

Loading a bundle takes milliseconds, so each distinct bundle is loaded once
per process and its context shared by every client and connection that uses it.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

import httpx

from ._exceptions import InvalidParameterError
from ._validate import has_control_characters

__all__ = ["VerifyTypes", "resolve_verify"]

VerifyTypes = bool | str | os.PathLike[str] | ssl.SSLContext

_CANNOT_SWITCH_OFF = (
    "verification cannot be switched off; pass a CA bundle (verify='/path/to/ca.pem', "
    "a directory of certificates, or an ssl.SSLContext)"
)


def resolve_verify(verify: object, *, trust_env: bool) -> ssl.SSLContext:
    """The verifying ``ssl.SSLContext`` for ``verify``; errors name ``verify`` or the variable."""
    if isinstance(verify, ssl.SSLContext):
        if verify.verify_mode == ssl.CERT_NONE or not verify.check_hostname:
            raise InvalidParameterError(
                "verify",
                "this ssl.SSLContext does not check certificates and host names "
                f"(verify_mode=CERT_NONE or check_hostname=False): {_CANNOT_SWITCH_OFF}",
            )
        return verify
    if verify is True:
        if trust_env:
            cafile = _environment_path("SSL_CERT_FILE", directory=False)
            capath = _environment_path("SSL_CERT_DIR", directory=True)
            if cafile is not None or capath is not None:
                source = "SSL_CERT_FILE" if cafile is not None else "SSL_CERT_DIR"
                return _load(cafile, capath, source)
        return _default_context()
    if isinstance(verify, (str, os.PathLike)) and not isinstance(verify, bytes):
        text = os.fspath(verify)
        if isinstance(text, str) and text.strip() and not has_control_characters(text):
            path = Path(text).expanduser()
            if path.is_file():
                return _load(str(path.resolve()), None, "verify")
            if path.is_dir():
                return _load(None, str(path.resolve()), "verify")
            raise InvalidParameterError(
                "verify", f"verify: there is no CA bundle file or directory at {text!r}"
            )
    if verify is False:
        raise InvalidParameterError("verify", _CANNOT_SWITCH_OFF)
    raise InvalidParameterError(
        "verify",
        f"verify must be True, a CA bundle path or an ssl.SSLContext, got {verify!r}: "
        + _CANNOT_SWITCH_OFF,
    )


def _environment_path(name: str, *, directory: bool) -> str | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if has_control_characters(value):
        raise InvalidParameterError(name, f"{name} holds control characters (fix it, or unset it)")
    if not directory:
        if not Path(value).is_file():
            raise InvalidParameterError(
                name, f"{name} names no CA bundle file: {value!r} (fix it, or unset it)"
            )
        return str(Path(value).resolve())
    found = [str(Path(part).resolve()) for part in value.split(os.pathsep) if Path(part).is_dir()]
    if not found:
        raise InvalidParameterError(
            name, f"{name} names no certificate directory: {value!r} (fix it, or unset it)"
        )
    return os.pathsep.join(found)


def _load(cafile: str | None, capath: str | None, source: str) -> ssl.SSLContext:
    try:
        return _context(cafile, capath)
    except (ssl.SSLError, OSError, ValueError) as error:
        where = cafile or capath
        raise InvalidParameterError(
            source, f"{source}: cannot load the CA certificates at {where!r}: {error}"
        ) from None


@functools.lru_cache(maxsize=32)
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """One context per distinct (resolved) bundle: the cache key is the resolved path."""
    return ssl.create_default_context(cafile=cafile, capath=capath)


@functools.cache
def _default_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's bundle), built once."""
    return httpx.create_ssl_context(trust_env=False)
