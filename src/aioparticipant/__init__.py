"""aioparticipant: control people in live conference calls, over SignalWire's or Twilio's REST API.

async with AsyncClient() as client:
    p = await client.conferences("CF...").participants("CA...").update(muted=True)

``Client`` is the same API, blocking, for Django, Celery and scripts.
"""

from ._auto_limiter import AutoRateLimiter
from ._bulk import BulkRun
from ._bulk_outcomes import BulkOutcome, BulkResult
from ._client import AsyncClient
from ._events import RequestEvent, ResponseEvent, RetryEvent
from ._exceptions import (
    AioParticipantError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ._http import ClientStats
from ._jobs import BulkSummary, JobOptions, hold_all, mute_all, unhold_all, unmute_all, update_all
from ._lanes import Priority
from ._limiter import Limiter, TokenBucket
from ._models import Participant, ParticipantPage
from ._options import PerCallOptions
from ._params import ListFilters, UpdateParameters
from ._participant_update import ParticipantUpdate
from ._resources import Conference, ConferenceParticipants, ParticipantHandle
from ._retry import Backoff
from ._sync import Client
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AioParticipantError",
    "AsyncClient",
    "AuthenticationError",
    "AutoRateLimiter",
    "Backoff",
    "BadRequestError",
    "BulkOutcome",
    "BulkResult",
    "BulkRun",
    "BulkSummary",
    "Client",
    "ClientStats",
    "Conference",
    "ConferenceParticipants",
    "InvalidParameterError",
    "JobOptions",
    "Limiter",
    "ListFilters",
    "NotFoundError",
    "Participant",
    "ParticipantHandle",
    "ParticipantPage",
    "ParticipantUpdate",
    "PerCallOptions",
    "PermissionDeniedError",
    "Priority",
    "RateLimitError",
    "RequestEvent",
    "ResponseDecodeError",
    "ResponseEvent",
    "RetryEvent",
    "ServerError",
    "TokenBucket",
    "UpdateParameters",
    "__version__",
    "hold_all",
    "mute_all",
    "unhold_all",
    "unmute_all",
    "update_all",
]
