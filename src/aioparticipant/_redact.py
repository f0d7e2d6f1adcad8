"""Keeping passwords out of what we print: a URL shown safely, and secrets scrubbed from text.

A URL such as ``redis://user:pw@host/0`` or ``http://user:pw@proxy:3128`` is
shown as ``redis://user:***@host/0``; a query option whose name looks like a
password (``?password=``, ``?token=``) is masked too. Error messages from
libraries may quote the URL or the password itself, so ``url_secrets`` lists
every password-like string a URL holds, and ``scrub`` masks them in any text.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

__all__ = ["MASK", "redact_url", "scrub", "url_secrets"]

#: What a password is replaced with.
MASK = "***"

_SECRET_QUERY_WORDS = ("pass", "secret", "token", "auth")


def redact_url(url: str) -> str:
    """``url`` with its password (in the user info or the query) replaced by ``***``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<a URL that could not be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        user_info, _, host = netloc.rpartition("@")
        user, colon, _ = user_info.partition(":")
        # Without a colon the lone part is a user name by the URL rules, but
        # people do write a password there: hide it as well.
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(name, MASK if _is_secret_option(name) else value) for name, value in pairs],
            safe="*/",
        )
    # Keep the "//" of every scheme that had one (unix:///path too); urlunsplit would drop it.
    slashes = "//" if url.strip()[len(parts.scheme) + 1 :].startswith("//") else ""
    prefix = f"{parts.scheme}:{slashes}" if parts.scheme else slashes
    return f"{prefix}{netloc}{parts.path}" + (f"?{query}" if query else "")


def url_secrets(url: str) -> tuple[str, ...]:
    """Every password-like string in ``url``, raw and decoded, longest first."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ()
    secrets: set[str] = set()
    if parts.password:
        secrets.add(parts.password)
    if "@" in parts.netloc:
        user_info = parts.netloc.rpartition("@")[0]
        secrets.add(user_info.partition(":")[2] or user_info)
    for name, value in parse_qsl(parts.query):
        if _is_secret_option(name):
            secrets.add(value)
    secrets |= {unquote(secret) for secret in secrets}
    # Longest first, so a secret is never half replaced by a shorter one inside it.
    return tuple(sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***`` (give them longest first)."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _is_secret_option(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)
