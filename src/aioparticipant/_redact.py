"""Keeping secrets out of what we print: a URL shown safely, and secrets scrubbed from text.

The one place that hides secrets, for the Redis limiter's URL, the proxy's
and the API's error bodies. A URL such as ``redis://user:pw@host/0`` or
``http://user:pw@proxy:3128`` is shown as ``redis://user:***@host/0``; a
query option whose name looks like a password (``?password=``, ``?token=``)
is masked too. Error messages from libraries (and error pages from servers)
may quote the URL, the password or the token itself, so ``url_secrets``
lists every password-like string a URL holds, and ``scrub`` masks any
secrets in text or bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import AnyStr
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

__all__ = ["MASK", "redact_url", "scrub", "url_secrets"]

#: What a password is replaced with.
MASK = "***"

_SECRET_QUERY_WORDS = ("pass", "secret", "token", "auth")


def redact_url(url: str) -> str:
    """``url`` with its password (in the user info or the query) replaced by ``***``."""
    url = url.strip()
    if "@" in url and "://" not in url:  # user:pw@host without a scheme reads as scheme "user"
        return _redact_unparsed(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket, say: hide what the text alone shows
        return _redact_unparsed(url)
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
    slashes = "//" if url[len(parts.scheme) + 1 :].startswith("//") else ""
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


def scrub(text: AnyStr, secrets: Iterable[AnyStr]) -> AnyStr:
    """``text`` (str or bytes) with each of ``secrets`` replaced by ``***`` (give them longest first)."""
    mask = MASK if isinstance(text, str) else MASK.encode()
    for secret in secrets:
        text = text.replace(secret, mask)
    return text


def _redact_unparsed(url: str) -> str:
    """``url`` with its user info and its whole query shown as ``***``, read as text."""
    scheme, separator, rest = url.partition("://") if "://" in url else ("", "", url)
    end = min((at for at in map(rest.find, "/?#") if at >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{MASK}@" + authority.rpartition("@")[2]
    path, question, _ = tail.partition("?")
    return f"{scheme}{separator}{authority}{path}" + (f"?{MASK}" if question else "")


def _is_secret_option(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)
