"""``aioparticipant bulk --redis-url URL --redis-key KEY --rate R``: a run under a shared limit.

Every process and machine that runs with the same Redis URL and key shares
``--rate`` (and ``--burst``) through ``aioparticipant.redis.RedisRateLimiter``;
the run's updates go in the bulk lane, so the reserve stays for interactive
requests elsewhere. A URL with a password is better given in
``$AIOPARTICIPANT_REDIS_URL`` than on the command line, where ``ps`` shows
it; either way the password is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from .._exceptions import InvalidParameterError
from ._argtypes import at_least, positive_float

if TYPE_CHECKING:
    from ..redis import RedisRateLimiter

__all__ = [
    "ENV_REDIS_URL",
    "add_redis_flags",
    "is_limiter_failure",
    "limiter_from_args",
    "redis_warnings_to",
]

ENV_REDIS_URL: Final = "AIOPARTICIPANT_REDIS_URL"

# The limiter's parameters that are named otherwise on the command line.
_FLAGS: Final = {
    "url": "--redis-url",
    "key": "--redis-key",
    "reserve": "--redis-reserve",
    "fallback_rate": "--redis-fallback-rate",
}


def add_redis_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--redis-url``, ``--redis-key`` and ``--redis-fallback-rate``."""
    group = parser.add_argument_group(
        "shared rate limit (Redis)",
        "With --redis-key (and --rate), every run and process on the same key shares one "
        "limit through Redis. Needs the extra aioparticipant[redis]. Example: "
        "--redis-url redis://redis.internal:6379/0 --redis-key signalwire:my-project "
        f"--rate 50. Put a URL with a password in ${ENV_REDIS_URL} instead of the "
        "command line (visible to other users); it is never printed.",
    )
    group.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"redis://, rediss:// or unix:// URL (default: ${ENV_REDIS_URL})",
    )
    group.add_argument(
        "--redis-key", metavar="KEY", help="the shared limit's name, e.g. one per project"
    )
    group.add_argument(
        "--redis-fallback-rate",
        metavar="F",
        type=positive_float,
        help="while Redis is unreachable, pace this run at F updates per second "
        "instead of stopping",
    )
    group.add_argument(
        "--redis-reserve",
        metavar="N",
        type=at_least(0),
        help="tokens of the burst kept for interactive requests (default: half the burst)",
    )


def limiter_from_args(args: argparse.Namespace) -> RedisRateLimiter | None:
    """The shared limiter the flags ask for, or ``None``; ``InvalidParameterError`` on misuse."""
    url = args.redis_url or os.environ.get(ENV_REDIS_URL) or None
    if args.redis_key is None:
        others = {
            "--redis-url": args.redis_url,
            "--redis-fallback-rate": args.redis_fallback_rate,
            "--redis-reserve": args.redis_reserve,
        }
        for flag, value in others.items():
            if value is not None:
                raise InvalidParameterError("redis_key", f"{flag} needs --redis-key KEY")
        return None
    if url is None:
        raise InvalidParameterError(
            "redis_url", f"--redis-key needs --redis-url URL (or ${ENV_REDIS_URL})"
        )
    if args.rate is None:
        raise InvalidParameterError(
            "rate",
            "--redis-key needs --rate R (the updates per second all runs share) or --rate auto",
        )
    try:
        from ..redis import RedisRateLimiter
    except ImportError:
        raise InvalidParameterError(
            "redis_url", "--redis-url needs the redis extra: pip install 'aioparticipant[redis]'"
        ) from None
    try:
        return RedisRateLimiter(
            url,
            key=args.redis_key,
            rate=args.rate,
            burst=args.burst,
            reserve=args.redis_reserve,
            fallback_rate=args.redis_fallback_rate,
        )
    except InvalidParameterError as error:
        flag = _FLAGS.get(error.parameter, f"--{error.parameter.replace('_', '-')}")
        raise InvalidParameterError(error.parameter, f"{flag}: {error}") from None


def is_limiter_failure(error: BaseException | None) -> bool:
    """Whether ``error`` is the shared limiter's (so the update was never sent)."""
    # Only a run that imported the Redis limiter can meet its error: import nothing here.
    redis_limiter = sys.modules.get("aioparticipant.redis")
    return redis_limiter is not None and isinstance(error, redis_limiter.RedisLimiterError)


@contextlib.contextmanager
def redis_warnings_to(note: Callable[[str], None]) -> Iterator[None]:
    """Show the limiter's WARNINGs (Redis lost, Redis back) through ``note`` for the block."""
    handler = _NoteHandler(note)
    logger = logging.getLogger("aioparticipant.redis")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class _NoteHandler(logging.Handler):
    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._note = note

    def emit(self, record: logging.LogRecord) -> None:
        self._note(f"warning: {record.getMessage()}")
