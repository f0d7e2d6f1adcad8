"""The blocking client: ``AsyncClient`` run in one background event loop per client."""

from ._bulk import SyncBulkRun
from ._client import Client
from ._options import BulkOptions, ClientOptions
from ._resources import SyncConference, SyncConferenceParticipants, SyncParticipantHandle

__all__ = [
    "BulkOptions",
    "Client",
    "ClientOptions",
    "SyncBulkRun",
    "SyncConference",
    "SyncConferenceParticipants",
    "SyncParticipantHandle",
]
