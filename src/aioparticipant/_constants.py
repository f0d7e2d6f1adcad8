"""Every default of the library, documented once.

The README's "Defaults" table mirrors this module; change both together.
"""

from __future__ import annotations

from typing import Final

import httpx

from ._version import __version__

# --- where requests go -----------------------------------------------------

#: Path of the LaML REST API under a SignalWire space.
SIGNALWIRE_API_PATH: Final = "/api/laml/2010-04-01"

ENV_PROJECT_ID: Final = "SIGNALWIRE_PROJECT_ID"
ENV_API_TOKEN: Final = "SIGNALWIRE_API_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_SPACE_URL: Final = "SIGNALWIRE_SPACE_URL"

USER_AGENT: Final = f"aioparticipant/{__version__} httpx/{httpx.__version__}"

# --- timeouts and connections ------------------------------------------------

#: Seconds to wait for a response. Connecting gets less: a dead host should
#: fail fast so the retry can go elsewhere; a slow answer is still an answer.
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)

#: Connections in the pool, and requests in flight per client. SignalWire
#: allows about 1,380 POST/s per space; 64 keep-alive connections reach that
#: at ~45 ms round trips without queueing.
DEFAULT_MAX_CONNECTIONS: Final[int] = 64
#: Idle keep-alive connections are kept this long (seconds).
DEFAULT_KEEPALIVE_EXPIRY: Final[float] = 30.0

# --- retries -----------------------------------------------------------------

#: Retries after the first attempt (0 disables retrying).
DEFAULT_MAX_RETRIES: Final[int] = 3
#: Full-jitter exponential backoff: attempt n waits uniform(0, min(max, initial * 2**(n-1))).
DEFAULT_BACKOFF_INITIAL: Final[float] = 0.5
DEFAULT_BACKOFF_MAX: Final[float] = 8.0
#: A server asking us to wait longer than this (Retry-After) gets a
#: RateLimitError at once instead of a sleeping client.
DEFAULT_MAX_RETRY_AFTER: Final[float] = 60.0

#: HTTP statuses worth another attempt: the server did not do the work, or may
#: succeed on the next try.
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

# --- rate limiting -------------------------------------------------------------

#: A limiter's burst, unless given, is this many seconds' worth of its rate
#: (at least 1). A full second's worth would empty a server bucket of the same
#: rate in the first second and leave it no slack for jitter (429s); a tenth
#: leaves 90% slack and still banks the event loop's timer oversleep
#: (measured in BENCHMARKS.md, "Limiter accuracy").
DEFAULT_BURST_SECONDS: Final[float] = 0.1

# --- paging ------------------------------------------------------------------

#: Largest PageSize the 2010-04-01 API accepts.
MAX_PAGE_SIZE: Final[int] = 1000

# --- bulk --------------------------------------------------------------------

#: Updates in flight at once in client.bulk() unless told otherwise.
DEFAULT_BULK_CONCURRENCY: Final[int] = 32
