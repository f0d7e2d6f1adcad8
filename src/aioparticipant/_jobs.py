"""The bulk jobs people run most: mute, unmute, hold or unhold a whole room, or a list.

Each is ``participants.stream()`` (or your list) fed lazily into
``client.bulk()``, summed up in a ``BulkSummary``:

    summary = await mute_all(client, "CF...", except_call_sids={moderator, agent})
    if not summary.ok:
        for result in summary.failures:
            print(result.update.call_sid, result.error)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from ._bulk_outcomes import BulkOutcome, BulkResult, BulkTally
from ._constants import DEFAULT_BULK_CONCURRENCY, MAX_PAGE_SIZE
from ._lanes import Priority
from ._params import Unpack, UpdateParameters, encode_update
from ._participant_update import ParticipantUpdate

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = [
    "BulkSummary",
    "JobOptions",
    "hold_all",
    "mute_all",
    "unhold_all",
    "unmute_all",
    "update_all",
]

#: A conference sid (everyone in it), or the (conference_sid, call_sid) pairs to change.
Participants: TypeAlias = str | Iterable[tuple[str, str]]


class JobOptions(TypedDict, total=False):
    """How a bulk job runs; every job takes these keywords (all optional).

    ``except_call_sids``: call sids to leave alone (a str for just one).
    ``concurrency``: updates in flight at once (default 32). ``priority``:
    the lane the updates run in (default ``"bulk"``, so interactive calls
    made meanwhile go first).
    """

    except_call_sids: Collection[str]
    concurrency: int
    priority: Priority


@dataclass(frozen=True)
class BulkSummary:
    """How a bulk job went.

    ``succeeded`` updates were applied; ``not_found`` participants had left (404);
    ``failed`` updates failed otherwise (their results are in ``failures``);
    ``skipped`` participants were left alone on purpose (``except_call_sids``).
    """

    succeeded: int = 0
    not_found: int = 0
    failed: int = 0
    skipped: int = 0
    failures: tuple[BulkResult, ...] = ()

    @classmethod
    def of(cls, tally: BulkTally, failures: Iterable[BulkResult] = ()) -> BulkSummary:
        """The summary of a job whose outcomes ``tally`` counted."""
        return cls(
            succeeded=tally.succeeded,
            not_found=tally[BulkOutcome.NOT_FOUND],
            failed=tally[BulkOutcome.FAILED],
            skipped=tally.skipped,
            failures=tuple(failures),
        )

    @property
    def ok(self) -> bool:
        """Whether no update failed. A participant who already left is not a failure."""
        return self.failed == 0

    @property
    def total(self) -> int:
        """Participants considered: updated, gone, failed or skipped."""
        return self.succeeded + self.not_found + self.failed + self.skipped


async def update_all(
    client: AsyncClient,
    participants: Participants,
    *,
    except_call_sids: Collection[str] = (),
    concurrency: int = DEFAULT_BULK_CONCURRENCY,
    priority: Priority = "bulk",
    **params: Unpack[UpdateParameters],
) -> BulkSummary:
    """Apply one update to every participant of a conference (or to each pair given).

    ``participants`` is a conference sid, whose participants are listed page by
    page as the updates go out, or an iterable of ``(conference_sid,
    call_sid)`` pairs. Participants whose call sid is in ``except_call_sids``
    (the moderator, the agent) are skipped. Parameters are checked before
    anything is sent; an error listing the conference is raised. The updates
    run in the bulk lane (``priority="bulk"``), so interactive calls made
    meanwhile go first; the listing runs in the client's own lane.
    """
    encode_update(params, caller="update_all")  # a typo fails here, before any listing
    excluded = {except_call_sids} if isinstance(except_call_sids, str) else set(except_call_sids)
    tally = BulkTally()

    async def targets() -> AsyncIterator[ParticipantUpdate]:
        if isinstance(participants, str):
            listing = client.conferences(participants).participants.stream(page_size=MAX_PAGE_SIZE)
            async for participant in listing:
                if participant.call_sid is None or participant.call_sid in excluded:
                    tally.skipped += 1
                    continue
                yield ParticipantUpdate(participants, participant.call_sid, **params)
        else:
            for conference_sid, call_sid in participants:
                if call_sid in excluded:
                    tally.skipped += 1
                    continue
                yield ParticipantUpdate(conference_sid, call_sid, **params)

    failures: list[BulkResult] = []
    async with client.bulk(targets(), concurrency=concurrency, priority=priority) as results:
        async for result in results:
            tally.add(result.outcome)
            if result.outcome is BulkOutcome.FAILED:
                failures.append(result)
    return BulkSummary.of(tally, failures)


async def mute_all(
    client: AsyncClient, participants: Participants, **options: Unpack[JobOptions]
) -> BulkSummary:
    """Mute everyone in a conference (or each pair given), except ``except_call_sids``."""
    return await update_all(client, participants, **options, muted=True)


async def unmute_all(
    client: AsyncClient, participants: Participants, **options: Unpack[JobOptions]
) -> BulkSummary:
    """Unmute everyone in a conference (or each pair given), except ``except_call_sids``."""
    return await update_all(client, participants, **options, muted=False)


async def hold_all(
    client: AsyncClient,
    participants: Participants,
    *,
    hold_url: str | None = None,
    hold_method: str | None = None,
    **options: Unpack[JobOptions],
) -> BulkSummary:
    """Put everyone in a conference (or each pair given) on hold, except ``except_call_sids``.

    ``hold_url`` plays music while they wait (``""`` for silence).
    """
    return await update_all(
        client, participants, **options, hold=True, hold_url=hold_url, hold_method=hold_method
    )


async def unhold_all(
    client: AsyncClient, participants: Participants, **options: Unpack[JobOptions]
) -> BulkSummary:
    """Take everyone in a conference (or each pair given) off hold, except ``except_call_sids``."""
    return await update_all(client, participants, **options, hold=False)
