"""Where the commands that talk to an API get the credentials and the address from.

``--project-id``, ``--space-url`` and ``--base-url`` override the
``SIGNALWIRE_*`` variables. The token has no flag on purpose: a command line
is visible to every user of the machine (``ps``), so it comes from
``SIGNALWIRE_API_TOKEN`` or from a file (``--token-file``), and is never printed.

The network comes from the environment as for ``AsyncClient`` (``HTTPS_PROXY``,
``NO_PROXY``, ``SSL_CERT_FILE``, ...); ``--proxy`` and ``--ca-bundle`` override
it. A proxy password is never printed (errors show it as ``***``); it is
better kept in ``HTTPS_PROXY`` than on the command line, for the same reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from .._client import AsyncClient
from .._constants import ENV_API_TOKEN, ENV_PROJECT_ID, ENV_SPACE_URL
from .._exceptions import InvalidParameterError

__all__ = ["add_connection_flags", "client_from_args"]


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--project-id``, ``--space-url``, ``--base-url``, ``--token-file``,
    ``--http-backend``, ``--proxy`` and ``--ca-bundle``."""
    group = parser.add_argument_group(
        "connection",
        f"Defaults come from {ENV_PROJECT_ID}, {ENV_API_TOKEN} and {ENV_SPACE_URL}; "
        "the proxy and CA certificates from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, "
        "SSL_CERT_FILE and SSL_CERT_DIR.",
    )
    group.add_argument(
        "--project-id", metavar="ID", help=f"project id (default: ${ENV_PROJECT_ID})"
    )
    group.add_argument(
        "--space-url",
        metavar="HOST",
        help=f"your space, e.g. example.signalwire.com (default: ${ENV_SPACE_URL})",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="the API root instead of the space: https://api.twilio.com/2010-04-01, "
        "or a local emulator's http://127.0.0.1:PORT/api/laml/2010-04-01",
    )
    group.add_argument(
        "--token-file",
        metavar="PATH",
        type=Path,
        help=f"read the API token from this file (default: ${ENV_API_TOKEN}; "
        "there is no --token flag: command lines are visible to other users)",
    )
    group.add_argument(
        "--http-backend",
        choices=["auto", "httpx", "aiohttp"],
        default="auto",
        help="HTTP library; auto: aiohttp when installed (faster), else httpx",
    )
    group.add_argument(
        "--proxy",
        metavar="URL",
        help="send every request through this HTTP proxy, http://[user:password@]host:port "
        "(default: $HTTPS_PROXY, unless NO_PROXY matches; a password here is visible in ps, "
        "so prefer the variable)",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="PATH",
        help="trust the CA certificates in this PEM file or hashed directory "
        "(a TLS-inspecting proxy's; default: $SSL_CERT_FILE / $SSL_CERT_DIR, else certifi)",
    )


def client_from_args(args: argparse.Namespace, **options: Any) -> AsyncClient:
    """An ``AsyncClient`` from the connection flags and the environment.

    Raises ``InvalidParameterError`` naming the flag or variable that is missing
    or wrong; the token is never part of the message.
    """
    if args.project_id is None and not os.environ.get(ENV_PROJECT_ID):
        raise InvalidParameterError(
            "project_id", f"the project id is missing: set {ENV_PROJECT_ID} or pass --project-id"
        )
    if args.token_file is None and not os.environ.get(ENV_API_TOKEN):
        raise InvalidParameterError(
            "token", f"the API token is missing: set {ENV_API_TOKEN} or pass --token-file"
        )
    if args.base_url is None and args.space_url is None and not os.environ.get(ENV_SPACE_URL):
        raise InvalidParameterError(
            "space_url",
            f"the space is missing: set {ENV_SPACE_URL} or pass --space-url "
            "(or --base-url for Twilio or a local emulator)",
        )
    token: str | None = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise InvalidParameterError(
                "token", f"cannot read --token-file {args.token_file}: {reason}"
            ) from None
        if not token:
            raise InvalidParameterError("token", f"--token-file {args.token_file} is empty")
    return AsyncClient(
        args.project_id,
        token,
        space_url=args.space_url,
        base_url=args.base_url,
        http_backend=_backend(args.http_backend),
        proxy=args.proxy,
        verify=True if args.ca_bundle is None else args.ca_bundle,
        **options,
    )


def _backend(choice: str) -> Literal["httpx", "aiohttp"]:
    if choice == "httpx":
        return "httpx"
    if choice == "aiohttp" or importlib.util.find_spec("aiohttp") is not None:
        # The commands run on asyncio, where aiohttp is several times cheaper per request.
        return "aiohttp"
    return "httpx"
