"""HTTP Basic authentication, checked as the API does: one account, one token."""

from __future__ import annotations

import base64
import binascii
import hmac

from ._asgi import Scope
from ._problems import AUTHENTICATE, ApiProblem

__all__ = ["check_credentials"]


def check_credentials(scope: Scope, credentials: bytes) -> None:
    """Raise a 401 unless the request's Basic credentials are ``credentials`` (``user:password``).

    Compared in constant time, so the answer's timing says nothing about the token.
    """
    given = b""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, encoded = bytes(value).partition(b" ")
            if scheme.lower() == b"basic":
                try:
                    given = base64.b64decode(encoded.strip(), validate=True)
                except (binascii.Error, ValueError):
                    given = b""
            break
    if not hmac.compare_digest(given, credentials):
        raise ApiProblem(
            401,
            AUTHENTICATE,
            "Authenticate",
            headers=[("www-authenticate", 'Basic realm="aioparticipant emulator"')],
        )
