"""client.bulk(): lazy input, bounded concurrency, one result per update, clean early exits."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from aioparticipant import (
    APIConnectionError,
    AsyncClient,
    Backoff,
    BulkOutcome,
    BulkResult,
    BulkRun,
    InvalidParameterError,
    NotFoundError,
    ParticipantUpdate,
    RateLimitError,
    ServerError,
)
from aioparticipant._bulk_outcomes import BulkTally
from aioparticipant.emulator import Emulator

FAST = Backoff(initial=0.001, maximum=0.005)
CONFERENCE = "CF0001"

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def call(index: int) -> str:
    return f"CA{index:05d}"


def seeded_emulator(count: int, **options: Any) -> Emulator:
    emulator = Emulator(**options)
    for index in range(count):
        emulator.add_participant(CONFERENCE, call(index), muted=False)
    return emulator


def client_for(app: Any, emulator: Emulator, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {"backoff": FAST, "base_url": emulator.base_url()}
    settings.update(options)
    return AsyncClient(
        emulator.project_id, emulator.token, transport=httpx.ASGITransport(app=app), **settings
    )


def mutes(count: int) -> Iterator[ParticipantUpdate]:
    return (ParticipantUpdate(CONFERENCE, call(index), muted=True) for index in range(count))


async def drain(run: BulkRun) -> list[BulkResult]:
    async with run as results:
        return [result async for result in results]


def call_sid_of(scope: dict[str, Any]) -> str:
    return str(scope["path"]).rsplit("/", 1)[-1].removesuffix(".json")


# --- ParticipantUpdate --------------------------------------------------------------


def test_participant_update_keeps_the_wire_form_computed_once() -> None:
    update = ParticipantUpdate("CF1", "CA1", muted=True, hold_url="", hold_method="get")
    assert update.conference_sid == "CF1"
    assert update.call_sid == "CA1"
    assert dict(update.form) == {"Muted": "true", "HoldUrl": "", "HoldMethod": "GET"}
    assert dict(update.params) == {"muted": True, "hold_url": "", "hold_method": "get"}
    assert ParticipantUpdate("CF1", "CA1", muted=True, hold=None).form == {"Muted": "true"}


@pytest.mark.parametrize(
    ("arguments", "keywords", "parameter"),
    [
        (("CF1", "CA1"), {"muted": "yes"}, "muted"),
        (("CF1", "CA1"), {"hold_url": "/relative"}, "hold_url"),
        (("CF1", "CA1"), {"announce_url": ""}, "announce_url"),
        (("CF1", "CA1"), {"coaching": True}, "call_sid_to_coach"),
        (("CF1", "CA1"), {"wait_method": "PUT"}, "wait_method"),
        (("CF/1", "CA1"), {}, "conference_sid"),
        (("CF1", ".."), {}, "call_sid"),
        (("CF1", ""), {}, "call_sid"),
    ],
)
def test_participant_update_refuses_what_update_refuses(
    arguments: tuple[str, str], keywords: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ParticipantUpdate(*arguments, **keywords)
    assert caught.value.parameter == parameter


def test_participant_update_names_the_keyword_a_camel_case_spelling_meant() -> None:
    with pytest.raises(TypeError, match="call_sid_to_coach"):
        ParticipantUpdate("CF1", "CA1", callSidToCoach="CA2")  # type: ignore[call-arg]


def test_participant_update_is_an_immutable_hashable_value() -> None:
    update = ParticipantUpdate("CF1", "CA1", muted=True)
    assert update == ParticipantUpdate("CF1", "CA1", muted=True)
    assert update != ParticipantUpdate("CF1", "CA1", muted=False)
    assert len({update, ParticipantUpdate("CF1", "CA1", muted=True)}) == 1
    with pytest.raises(AttributeError):
        update.call_sid = "CA2"  # type: ignore[misc]
    assert repr(update) == "ParticipantUpdate('CF1', 'CA1', muted=True)"
    assert pickle.loads(pickle.dumps(update)) == update  # noqa: S301 - our own bytes


def test_bulk_result_tells_ok_not_found_and_failed_apart() -> None:
    update = ParticipantUpdate("CF1", "CA1", muted=True)
    ok = BulkResult(update, None, None)
    gone = BulkResult(update, None, NotFoundError("gone", status=404))
    failed = BulkResult(update, None, ServerError("boom", status=503))
    assert (ok.ok, ok.not_found, ok.outcome) == (True, False, BulkOutcome.OK)
    assert (gone.ok, gone.not_found, gone.outcome) == (False, True, BulkOutcome.NOT_FOUND)
    assert (failed.ok, failed.not_found, failed.outcome) == (False, False, BulkOutcome.FAILED)
    assert BulkOutcome.NOT_FOUND == "not_found"
    assert BulkOutcome.INVALID == "invalid"  # a row refused before sending (the bulk command)


def test_a_tally_counts_each_outcome_once_and_skips_apart() -> None:
    tally = BulkTally()
    for outcome in (BulkOutcome.OK, BulkOutcome.OK, BulkOutcome.NOT_FOUND, BulkOutcome.INVALID):
        tally.add(outcome)
    tally.skipped += 3
    assert (tally.done, tally.succeeded, tally.unsuccessful) == (4, 2, 2)
    assert [tally[outcome] for outcome in BulkOutcome] == [2, 1, 0, 1]
    assert repr(tally) == "BulkTally(ok=2, not_found=1, failed=0, invalid=1, skipped=3)"


# --- runs ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_bulk_applies_every_update_and_yields_one_result_each() -> None:
    emulator = seeded_emulator(50)
    async with (
        client_for(emulator, emulator) as client,
        client.bulk(mutes(50), concurrency=8) as results,
    ):
        seen = [result async for result in results]
    assert sorted(result.update.call_sid for result in seen) == [call(i) for i in range(50)]
    assert all(result.ok and result.participant is not None for result in seen)
    assert all(result.participant.muted for result in seen if result.participant)
    assert all(emulator.participant(CONFERENCE, call(i)).muted for i in range(50))
    assert emulator.stats.updates == 50


@pytest.mark.anyio
async def test_bulk_reads_an_async_iterable() -> None:
    emulator = seeded_emulator(20)

    async def updates() -> AsyncIterator[ParticipantUpdate]:
        for index in range(20):
            await anyio.lowlevel.checkpoint()
            yield ParticipantUpdate(CONFERENCE, call(index), hold=True)

    async with (
        client_for(emulator, emulator) as client,
        client.bulk(updates(), concurrency=4) as results,
    ):
        seen = [result async for result in results]
    assert len(seen) == 20
    assert all(emulator.participant(CONFERENCE, call(i)).hold for i in range(20))


@pytest.mark.anyio
async def test_bulk_with_no_updates_ends_at_once() -> None:
    emulator = seeded_emulator(0)
    async with client_for(emulator, emulator) as client, client.bulk([]) as results:
        assert [result async for result in results] == []


@pytest.mark.anyio
async def test_bulk_never_has_more_than_concurrency_requests_in_flight() -> None:
    emulator = seeded_emulator(60)
    in_flight = 0
    peak = 0

    async def counting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await anyio.sleep(0.005)
            await emulator(scope, receive, send)
        finally:
            in_flight -= 1

    async with (
        client_for(counting, emulator) as client,
        client.bulk(mutes(60), concurrency=5) as results,
    ):
        assert len([result async for result in results]) == 60
    assert peak == 5


@pytest.mark.anyio
async def test_bulk_reads_its_input_lazily_as_results_are_taken() -> None:
    emulator = seeded_emulator(200)
    produced = 0
    worst_lead = 0

    def updates() -> Iterator[ParticipantUpdate]:
        nonlocal produced
        for update in mutes(200):
            produced += 1
            yield update

    async with (
        client_for(emulator, emulator) as client,
        client.bulk(updates(), concurrency=4) as results,
    ):
        taken = 0
        async for _ in results:
            taken += 1
            worst_lead = max(worst_lead, produced - taken)
            await anyio.sleep(0.001)  # a slow reader must hold the run back
    # Ahead of the reader: 4 results buffered, 4 in the workers' hands, 1 in the feeder's.
    assert worst_lead <= 2 * 4 + 1
    assert taken == 200


@pytest.mark.anyio
async def test_bulk_delivers_results_in_completion_order() -> None:
    emulator = seeded_emulator(6)

    async def slow_first(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if call_sid_of(scope) == call(0):
            await anyio.sleep(0.3)
        await emulator(scope, receive, send)

    async with (
        client_for(slow_first, emulator) as client,
        client.bulk(mutes(6), concurrency=6) as results,
    ):
        order = [result.update.call_sid async for result in results]
    assert order[-1] == call(0)
    assert sorted(order) == [call(i) for i in range(6)]


@pytest.mark.anyio
async def test_bulk_reports_a_missing_participant_as_not_found_and_carries_on() -> None:
    emulator = seeded_emulator(3)
    updates = [
        ParticipantUpdate(CONFERENCE, call(0), muted=True),
        ParticipantUpdate(CONFERENCE, "CA-already-left", muted=True),
        ParticipantUpdate("CF-unknown", call(1), muted=True),
        ParticipantUpdate(CONFERENCE, call(2), muted=True),
    ]
    async with (
        client_for(emulator, emulator) as client,
        client.bulk(updates, concurrency=2) as results,
    ):
        by_call = {(r.update.conference_sid, r.update.call_sid): r async for r in results}
    assert len(by_call) == 4
    assert by_call[(CONFERENCE, call(0))].ok
    assert by_call[(CONFERENCE, call(2))].ok
    for key in ((CONFERENCE, "CA-already-left"), ("CF-unknown", call(1))):
        result = by_call[key]
        assert result.not_found
        assert not result.ok
        assert result.outcome is BulkOutcome.NOT_FOUND
        assert isinstance(result.error, NotFoundError)
        assert result.participant is None


@pytest.mark.anyio
async def test_bulk_gives_a_failure_its_own_result_without_stopping_the_others() -> None:
    emulator = seeded_emulator(10)

    async def one_broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if call_sid_of(scope) == call(3):
            body = b'{"code": 20001, "message": "nope", "status": 400}'
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await emulator(scope, receive, send)

    async with (
        client_for(one_broken, emulator) as client,
        client.bulk(mutes(10), concurrency=3) as results,
    ):
        seen = [result async for result in results]
    failed = [result for result in seen if not result.ok]
    assert len(seen) == 10
    assert [result.update.call_sid for result in failed] == [call(3)]
    assert failed[0].outcome is BulkOutcome.FAILED
    assert "nope" in str(failed[0].error)
    assert emulator.stats.updates == 9


@pytest.mark.anyio
async def test_bulk_under_faults_accounts_for_every_update_exactly_once() -> None:
    count = 300
    emulator = seeded_emulator(count, error_rate=0.05, drop_rate=0.05, rate_limit=150, seed=7)
    async with client_for(emulator, emulator, max_retries=6) as client:
        with anyio.fail_after(30):
            async with client.bulk(mutes(count), concurrency=32) as results:
                seen = [result async for result in results]
    calls = [result.update.call_sid for result in seen]
    assert len(calls) == count
    assert set(calls) == {call(i) for i in range(count)}
    stats = emulator.stats
    assert stats.errors_injected > 0
    assert stats.connections_dropped > 0
    assert stats.rate_limited > 0
    for result in seen:
        if result.ok:
            assert emulator.participant(CONFERENCE, result.update.call_sid).muted
        else:  # retries spent: only transient failures may be left
            assert isinstance(result.error, (ServerError, RateLimitError, APIConnectionError))


# --- leaving early --------------------------------------------------------------------


class Stuck:
    """An app that answers ``call(0)`` at once and holds every other request forever."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.started = 0
        self.cancelled = 0
        self._changed = anyio.Event()

    async def wait_started(self, count: int) -> None:
        while self.started < count:
            await self._changed.wait()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if call_sid_of(scope) != call(0):
            self.started += 1
            self._changed.set()
            self._changed = anyio.Event()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.cancelled += 1
                raise
        await self.emulator(scope, receive, send)


def task_count() -> int:
    return len(anyio.get_running_tasks())


@pytest.mark.anyio
async def test_breaking_out_cancels_in_flight_updates_and_leaks_nothing() -> None:
    emulator = seeded_emulator(100)
    app = Stuck(emulator)
    closed = False

    async def updates() -> AsyncIterator[ParticipantUpdate]:
        nonlocal closed
        try:
            for update in mutes(100):
                yield update
        finally:
            closed = True

    async with client_for(app, emulator) as client:
        before = task_count()
        with anyio.fail_after(5):
            async with client.bulk(updates(), concurrency=8) as results:
                async for result in results:
                    assert result.update.call_sid == call(0)
                    await app.wait_started(7)  # the other workers all wait on the server
                    break
        assert task_count() == before
    # Seven workers wait on the server; the eighth may have taken another update too.
    assert app.cancelled == app.started >= 7
    assert closed, "an async generator given as input is closed when the run ends"


@pytest.mark.anyio
async def test_an_exception_in_the_block_propagates_as_itself_and_cancels_the_rest() -> None:
    emulator = seeded_emulator(50)
    app = Stuck(emulator)
    async with client_for(app, emulator) as client:
        before = task_count()

        async def fail_at_first_result() -> None:
            async with client.bulk(mutes(50), concurrency=4) as results:
                async for _ in results:
                    await app.wait_started(3)
                    raise KeyError("stop here")

        with anyio.fail_after(5), pytest.raises(KeyError, match="stop here"):
            await fail_at_first_result()
        assert task_count() == before
    assert app.cancelled == app.started >= 3


@pytest.mark.anyio
async def test_cancelling_the_run_from_outside_stops_it_promptly() -> None:
    emulator = seeded_emulator(50)
    app = Stuck(emulator)
    received = 0
    async with client_for(app, emulator) as client:
        before = task_count()
        with anyio.fail_after(5):
            with anyio.move_on_after(0.2) as scope:
                async with client.bulk(mutes(50), concurrency=4) as results:
                    async for _ in results:
                        received += 1
        assert scope.cancelled_caught
        assert task_count() == before
    assert received == 1
    assert app.cancelled == app.started >= 3


@pytest.mark.anyio
async def test_an_error_raised_by_the_input_ends_the_run_with_that_error() -> None:
    emulator = seeded_emulator(10)

    def updates() -> Iterator[ParticipantUpdate]:
        yield from mutes(5)
        yield ParticipantUpdate(CONFERENCE, call(5), muted="maybe")  # type: ignore[arg-type]

    async with client_for(emulator, emulator) as client:
        with pytest.raises(InvalidParameterError, match="muted"):
            await drain(client.bulk(updates(), concurrency=2))


@pytest.mark.anyio
async def test_bulk_refuses_input_that_is_not_participant_updates() -> None:
    emulator = seeded_emulator(1)
    async with client_for(emulator, emulator) as client:
        with pytest.raises(TypeError, match="ParticipantUpdate"):
            await drain(client.bulk([(CONFERENCE, call(0))]))  # type: ignore[list-item]
    assert emulator.stats.requests == 0


@pytest.mark.anyio
async def test_bulk_misuse_gets_errors_that_say_what_to_do() -> None:
    emulator = seeded_emulator(1)
    client = client_for(emulator, emulator)
    for concurrency in (0, -1, True, 2.5):
        with pytest.raises(InvalidParameterError, match="concurrency"):
            client.bulk([], concurrency=concurrency)  # type: ignore[arg-type]
    run = client.bulk([])
    with pytest.raises(TypeError, match="async with"):
        async for _ in run:  # type: ignore[attr-defined]
            pass
    async with run as results:
        assert [result async for result in results] == []
    with pytest.raises(RuntimeError, match="once"):
        async with run:
            pass
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        client.bulk([])
