"""The blocking API cannot drift from the async one: same names, same parameters, same types.

When one of these fails, the async API changed: give the blocking twin the same
change (a new handle method: one ``blocking(...)`` line in ``_sync/_resources.py``;
a new ``AsyncClient`` or ``bulk`` option: one line in ``_sync/_options.py``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from aioparticipant import AsyncClient, Client
from aioparticipant._resources import Conference, ConferenceParticipants, ParticipantHandle
from aioparticipant._sync import (
    BulkOptions,
    ClientOptions,
    SyncConference,
    SyncConferenceParticipants,
    SyncParticipantHandle,
)
from aioparticipant._sync._options import ASYNC_ONLY_OPTIONS

#: Names only one side can have: async lifecycle on one, blocking lifecycle on the other.
ASYNC_ONLY = {"aclose", "__aenter__", "__aexit__"}
SYNC_ONLY = {"close", "__enter__", "__exit__"}
#: Methods whose return type differs on purpose (an iterator or context manager for an async one).
RETURNS_DIFFER = {"stream", "bulk", "conferences", "__call__", "with_options"}
DUNDERS = {"__call__", "__aenter__", "__aexit__", "__enter__", "__exit__"}

PAIRS = [
    (AsyncClient, Client),
    (Conference, SyncConference),
    (ConferenceParticipants, SyncConferenceParticipants),
    (ParticipantHandle, SyncParticipantHandle),
]


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") or name in DUNDERS}


@pytest.fixture
def instances() -> Iterator[dict[type, object]]:
    """One instance of each class, for the attributes set in ``__init__``."""
    async_client = AsyncClient("p", "t", base_url="http://127.0.0.1:1/api")
    client = Client("p", "t", base_url="http://127.0.0.1:1/api")
    conference, sync_conference = async_client.conferences("CF1"), client.conferences("CF1")
    found: dict[type, object] = {
        AsyncClient: async_client,
        Client: client,
        Conference: conference,
        SyncConference: sync_conference,
        ConferenceParticipants: conference.participants,
        SyncConferenceParticipants: sync_conference.participants,
        ParticipantHandle: conference.participants("CA1"),
        SyncParticipantHandle: sync_conference.participants("CA1"),
    }
    yield found
    client.close()


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda cls: cls.__name__)
def test_every_public_name_has_its_twin(
    async_cls: type, sync_cls: type, instances: dict[type, object]
) -> None:
    async_names = public_names(async_cls) | set(vars(instances[async_cls]))
    sync_names = public_names(sync_cls) | set(vars(instances[sync_cls]))
    async_names = {name for name in async_names if not name.startswith("_") or name in DUNDERS}
    sync_names = {name for name in sync_names if not name.startswith("_") or name in DUNDERS}
    assert async_names - ASYNC_ONLY - sync_names == set(), "missing from the blocking API"
    assert sync_names - SYNC_ONLY - async_names == set(), "missing from the async API"


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda cls: cls.__name__)
def test_every_method_takes_the_same_parameters(async_cls: type, sync_cls: type) -> None:
    for name in public_names(async_cls) - ASYNC_ONLY:
        async_member = inspect.getattr_static(async_cls, name)
        if not callable(async_member) or name in {"__init__", "bulk"}:
            continue
        sync_member = getattr(sync_cls, name)
        expected = inspect.signature(getattr(async_cls, name))
        actual = inspect.signature(sync_member)
        assert list(actual.parameters.values()) == list(expected.parameters.values()), name
        if name not in RETURNS_DIFFER:
            assert actual.return_annotation == expected.return_annotation, name
        assert inspect.getdoc(sync_member), f"{sync_cls.__name__}.{name} has no docstring"
        assert not inspect.iscoroutinefunction(sync_member), name


def async_hints(function: Any, *, skip: set[str]) -> dict[str, Any]:
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters
    return {
        name: hints[name]
        for name, parameter in parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in skip
    }


def test_client_takes_every_async_client_option_but_transport_and_backend() -> None:
    expected = async_hints(AsyncClient.__init__, skip=set(ASYNC_ONLY_OPTIONS))
    actual = typing.get_type_hints(ClientOptions)
    assert actual == expected, "ClientOptions (src/aioparticipant/_sync/_options.py) differs"
    positional = list(inspect.signature(AsyncClient.__init__).parameters)[:3]
    assert positional == ["self", "project_id", "token"]
    assert list(inspect.signature(Client.__init__).parameters)[:3] == positional


def test_bulk_takes_every_option_of_async_bulk() -> None:
    expected = async_hints(AsyncClient.bulk, skip=set())
    actual = typing.get_type_hints(BulkOptions)
    assert actual == expected, "BulkOptions (src/aioparticipant/_sync/_options.py) differs"
    async_updates = inspect.signature(AsyncClient.bulk).parameters["updates"]
    assert inspect.signature(Client.bulk).parameters["updates"] == async_updates
