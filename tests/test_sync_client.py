"""What only the blocking Client has: its thread, many callers, close, fork, plain iterators.

The behaviour it shares with AsyncClient is tested on both in test_sync_twins.py.
"""

from __future__ import annotations

import gc
import json
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import respx

from aioparticipant import (
    Client,
    InvalidParameterError,
    NotFoundError,
    ParticipantUpdate,
    TokenBucket,
)
from aioparticipant._sync._loop import THREAD_NAME
from aioparticipant.emulator import Emulator, EmulatorServer, serve_in_thread

from .helpers import FAST, PARTICIPANT_JSON, PARTICIPANT_URL, PROJECT, SPACE, TOKEN
from .netservers import PROXY_PASSWORD, PROXY_USER, Tinyproxy, TlsEmulator
from .twins import Connections


@pytest.fixture
def emulator() -> Emulator:
    emulator = Emulator()
    for index in range(20):
        emulator.add_participant("CF1", f"CA{index}")
    return emulator


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with serve_in_thread(emulator) as server:
        yield server


def client_for(emulator: Emulator, server: EmulatorServer, **options: Any) -> Client:
    options.setdefault("backoff", FAST)
    return Client(emulator.project_id, emulator.token, base_url=server.base_url, **options)


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


# --- many threads, one client ------------------------------------------------------------


def test_many_threads_share_one_client_one_loop_and_one_pool() -> None:
    threads, per_thread, pool = 8, 50, 8
    emulator = Emulator()
    for worker in range(threads):
        for index in range(per_thread):
            emulator.add_participant("CF1", f"CA{worker}-{index}")
    connections = Connections(emulator)
    loop_threads: set[int] = set()

    def work(client: Client, worker: int) -> None:
        for index in range(per_thread):
            participant = client.conferences("CF1").participants(f"CA{worker}-{index}").hold()
            assert participant.hold
        loop_threads.update(thread.ident or 0 for thread in client_threads())

    with (
        serve_in_thread(connections) as server,
        client_for(emulator, server, max_connections=pool) as client,
        ThreadPoolExecutor(threads) as executor,
    ):
        for future in [executor.submit(work, client, worker) for worker in range(threads)]:
            future.result(timeout=60)
        stats = client.stats
    assert all(participant.hold for participant in emulator.participants("CF1"))
    assert emulator.stats.updates == threads * per_thread
    assert stats.requests == stats.attempts == threads * per_thread
    assert len(loop_threads) == 1  # one event loop thread for all eight callers
    assert len(set(connections.ports)) <= pool  # one pool, bounded by max_connections


# --- the thread: started on use, ended by close ---------------------------------------------


def test_the_thread_starts_with_the_first_call_and_close_ends_it(
    emulator: Emulator, server: EmulatorServer
) -> None:
    # Threads of earlier tests (trio's worker cache) may end meanwhile: only new ones count.
    before = set(threading.enumerate())
    client = client_for(emulator, server)
    # A prefork master that only builds it: no thread.
    assert not set(threading.enumerate()) - before
    client.conferences("CF1").participants("CA1").mute()
    assert len(client_threads()) == 1
    unfinished = client.conferences("CF1").participants.stream(page_size=2)
    next(unfinished)
    with client.bulk([ParticipantUpdate("CF1", "CA2", muted=True)]) as results:
        assert [result.ok for result in results] == [True]
    client.close()
    assert not set(threading.enumerate()) - before
    assert client.is_closed
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        client.conferences("CF1").participants("CA1").mute()
    with pytest.raises(RuntimeError, match="closed"):
        client.bulk([])
    with pytest.raises(RuntimeError, match="closed"):
        next(unfinished)  # a stream left open says so too, and never hangs


def test_with_closes_the_client_even_after_an_error(
    emulator: Emulator, server: EmulatorServer
) -> None:
    before = set(threading.enumerate())
    with pytest.raises(NotFoundError), client_for(emulator, server) as client:
        client.conferences("CF1").participants("nobody").mute()
    assert client.is_closed
    assert set(threading.enumerate()) == before


def test_close_cancels_what_other_threads_still_wait_for() -> None:
    slow = Emulator(latency=30)  # far longer than the test may take
    slow.add_participant("CF1", "CA1")
    with serve_in_thread(slow) as slow_server:
        client = client_for(slow, slow_server)
        outcome: list[BaseException] = []

        def waiting() -> None:
            try:
                client.conferences("CF1").participants("CA1").mute()
            except BaseException as error:
                outcome.append(error)

        caller = threading.Thread(target=waiting)
        caller.start()
        deadline = time.monotonic() + 10
        while client.stats.attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        client.close()
        caller.join(timeout=10)
        assert not caller.is_alive()
        assert time.monotonic() - started < 10
    assert len(outcome) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "closed during this call" in str(outcome[0])
    assert client_threads() == []


def test_a_client_nobody_closed_stops_its_thread_when_collected(
    emulator: Emulator, server: EmulatorServer
) -> None:
    before = set(threading.enumerate())
    client_for(emulator, server).conferences("CF1").participants("CA1").mute()
    gc.collect()
    deadline = time.monotonic() + 10
    while set(threading.enumerate()) != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) == before


# --- construction ----------------------------------------------------------------------------


def test_bad_options_raise_in_the_callers_thread_before_any_thread_starts() -> None:
    before = set(threading.enumerate())
    with pytest.raises(InvalidParameterError, match="max_retries"):
        Client(PROJECT, TOKEN, space_url=SPACE, max_retries=-1)
    with pytest.raises(InvalidParameterError, match="plain http"):
        Client(PROJECT, TOKEN, base_url="http://example.com/api")
    with pytest.raises(TypeError, match="transport"):
        Client(PROJECT, TOKEN, space_url=SPACE, transport=object())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="http_backend"):
        Client(PROJECT, TOKEN, space_url=SPACE, http_backend="aiohttp")  # type: ignore[call-arg]
    assert set(threading.enumerate()) == before


def test_credentials_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", PROJECT)
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", TOKEN)
    monkeypatch.setenv("SIGNALWIRE_SPACE_URL", SPACE)
    with Client() as client:
        assert client.base_url == f"https://{SPACE}/api/laml/2010-04-01"
        assert client.account_sid == client.project_id == PROJECT


def test_repr_never_shows_the_token_and_the_client_cannot_be_pickled() -> None:
    with Client(PROJECT, TOKEN, space_url=SPACE, rate_limit=5) as client:
        handle = client.conferences("CF1").participants("CA1")
        shown = repr(client) + str(client) + repr(handle) + repr(client.conferences("CF1"))
        assert TOKEN not in shown
        assert "example.signalwire.com" in repr(client)
        assert isinstance(client.limiter, TokenBucket)
        assert client.http_backend == "httpx"
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(client)


# --- stream and bulk as plain iterators ---------------------------------------------------


def test_a_stream_closed_early_asks_for_no_more_pages() -> None:
    page = json.dumps(
        {"participants": [{"call_sid": "CA1"}, {"call_sid": "CA2"}], "next_page_uri": "/x.json"}
    ).encode()
    with respx.mock() as mock, Client(PROJECT, TOKEN, space_url=SPACE) as client:
        route = mock.get(url__regex=r".*").respond(200, content=page)
        stream = client.conferences("CF1").participants.stream()
        assert next(stream).call_sid == "CA1"
        stream.close()
        with pytest.raises(StopIteration):
            next(stream)
        assert route.call_count == 1
        assert iter(stream) is stream


def test_bulk_reads_plain_input_lazily_in_the_callers_own_thread(
    emulator: Emulator, server: EmulatorServer
) -> None:
    readers: set[int] = set()
    read = 0

    def updates() -> Iterator[ParticipantUpdate]:
        nonlocal read
        for index in range(20):
            readers.add(threading.get_ident())
            read += 1
            yield ParticipantUpdate("CF1", f"CA{index}", muted=True)

    with client_for(emulator, server) as client, client.bulk(updates(), concurrency=2) as results:
        first = next(results)
        assert read <= 2 + 2  # the workers' updates and the one being handed over, no more
        rest = list(results)
    assert readers == {threading.get_ident()}
    assert len([first, *rest]) == 20
    assert all(result.ok for result in [first, *rest])


def test_leaving_bulk_early_cancels_the_rest_and_closes_the_input() -> None:
    slow = Emulator(latency=0.5)
    for index in range(50):
        slow.add_participant("CF1", f"CA{index}")
    closed = threading.Event()

    def updates() -> Iterator[ParticipantUpdate]:
        try:
            for index in range(50):
                yield ParticipantUpdate("CF1", f"CA{index}", muted=True)
        finally:
            closed.set()

    with serve_in_thread(slow) as server, client_for(slow, server) as client:
        started = time.monotonic()
        with client.bulk(updates(), concurrency=4) as results:
            for _ in results:
                break
        assert closed.is_set()
        assert time.monotonic() - started < 5  # 50 updates at 0.5 s, 4 at a time, would take 6 s
        assert client.conferences("CF1").participants("CA49").fetch().muted is False  # still usable
    assert slow.stats.updates < 50


def test_an_error_raised_by_the_input_propagates_from_the_with(
    emulator: Emulator, server: EmulatorServer
) -> None:
    def updates() -> Iterator[ParticipantUpdate]:
        yield ParticipantUpdate("CF1", "CA1", muted=True)
        raise OSError("the file went away")

    with client_for(emulator, server) as client:
        with pytest.raises(OSError, match="went away"), client.bulk(updates()) as results:
            list(results)
        with (
            pytest.raises(TypeError, match="ParticipantUpdate"),
            client.bulk([{"muted": True}]) as results,
        ):  # type: ignore[list-item]
            list(results)
        assert client.conferences("CF1").participants("CA1").fetch().call_sid == "CA1"  # usable


def test_bulk_misuse_gets_errors_that_say_what_to_do(
    emulator: Emulator, server: EmulatorServer
) -> None:
    with client_for(emulator, server) as client:
        run = client.bulk([])
        with pytest.raises(TypeError, match=r"with client\.bulk"):
            iter(run)  # type: ignore[call-overload]
        with run as results:
            assert list(results) == []
        with pytest.raises(RuntimeError, match="only once"), run:
            pass
        with pytest.raises(TypeError, match="iterable"):
            client.bulk(5)  # type: ignore[arg-type]


def test_respx_mocks_the_blocking_client_too() -> None:
    with respx.mock() as mock, Client(PROJECT, TOKEN, space_url=SPACE) as client:
        route = mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        assert client.conferences("CF1").participants("CA1").mute().muted
    assert route.call_count == 1


@pytest.mark.usefixtures("clean_network_environment")
def test_through_an_authenticating_proxy_over_tls_the_password_stays_secret(
    tls_emulator: TlsEmulator, auth_tinyproxy: Tinyproxy
) -> None:
    target = f"CONNECT 127.0.0.1:{tls_emulator.port} "
    before = auth_tinyproxy.requests_for(target)
    proxy = auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD)
    emulator = tls_emulator.emulator
    with Client(
        emulator.project_id,
        emulator.token,
        base_url=tls_emulator.base_url,
        proxy=proxy,
        verify=str(tls_emulator.ca_file),
    ) as client:
        assert client.conferences("CF1").participants("CA1").fetch().call_sid == "CA1"
        shown = repr(client) + repr(vars(client))
    assert auth_tinyproxy.requests_for(target) == before + 1
    assert PROXY_PASSWORD not in shown
    with pytest.raises(InvalidParameterError, match="cannot be switched off"):
        Client(emulator.project_id, emulator.token, base_url=tls_emulator.base_url, verify=False)
