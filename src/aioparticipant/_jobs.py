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
from typing import TYPE_CHECKING, TypeAlias

from ._bulk import BulkOutcome, BulkResult, ParticipantUpdate
from ._constants import DEFAULT_BULK_CONCURRENCY, MAX_PAGE_SIZE
from ._lanes import Priority
from ._params import Unpack, UpdateParameters, encode_update

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = ["BulkSummary", "hold_all", "mute_all", "unhold_all", "unmute_all", "update_all"]

#: A conference sid (everyone in it), or the (conference_sid, call_sid) pairs to change.
Participants: TypeAlias = str | Iterable[tuple[str, str]]


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
    skipped = 0

    async def targets() -> AsyncIterator[ParticipantUpdate]:
        nonlocal skipped
        if isinstance(participants, str):
            listing = client.conferences(participants).participants.stream(page_size=MAX_PAGE_SIZE)
            async for participant in listing:
                if participant.call_sid is None or participant.call_sid in excluded:
                    skipped += 1
                    continue
                yield ParticipantUpdate(participants, participant.call_sid, **params)
        else:
            for conference_sid, call_sid in participants:
                if call_sid in excluded:
                    skipped += 1
                    continue
                yield ParticipantUpdate(conference_sid, call_sid, **params)

    counts = dict.fromkeys(BulkOutcome, 0)
    failures: list[BulkResult] = []
    async with client.bulk(targets(), concurrency=concurrency, priority=priority) as results:
        async for result in results:
            outcome = result.outcome
            counts[outcome] += 1
            if outcome is BulkOutcome.FAILED:
                failures.append(result)
    return BulkSummary(
        succeeded=counts[BulkOutcome.OK],
        not_found=counts[BulkOutcome.NOT_FOUND],
        failed=counts[BulkOutcome.FAILED],
        skipped=skipped,
        failures=tuple(failures),
    )


async def mute_all(
    client: AsyncClient,
    participants: Participants,
    *,
    except_call_sids: Collection[str] = (),
    concurrency: int = DEFAULT_BULK_CONCURRENCY,
    priority: Priority = "bulk",
) -> BulkSummary:
    """Mute everyone in a conference (or each pair given), except ``except_call_sids``."""
    return await update_all(
        client,
        participants,
        except_call_sids=except_call_sids,
        concurrency=concurrency,
        priority=priority,
        muted=True,
    )


async def unmute_all(
    client: AsyncClient,
    participants: Participants,
    *,
    except_call_sids: Collection[str] = (),
    concurrency: int = DEFAULT_BULK_CONCURRENCY,
    priority: Priority = "bulk",
) -> BulkSummary:
    """Unmute everyone in a conference (or each pair given), except ``except_call_sids``."""
    return await update_all(
        client,
        participants,
        except_call_sids=except_call_sids,
        concurrency=concurrency,
        priority=priority,
        muted=False,
    )


async def hold_all(
    client: AsyncClient,
    participants: Participants,
    *,
    hold_url: str | None = None,
    hold_method: str | None = None,
    except_call_sids: Collection[str] = (),
    concurrency: int = DEFAULT_BULK_CONCURRENCY,
    priority: Priority = "bulk",
) -> BulkSummary:
    """Put everyone in a conference (or each pair given) on hold, except ``except_call_sids``.

    ``hold_url`` plays music while they wait (``""`` for silence).
    """
    return await update_all(
        client,
        participants,
        except_call_sids=except_call_sids,
        concurrency=concurrency,
        priority=priority,
        hold=True,
        hold_url=hold_url,
        hold_method=hold_method,
    )


async def unhold_all(
    client: AsyncClient,
    participants: Participants,
    *,
    except_call_sids: Collection[str] = (),
    concurrency: int = DEFAULT_BULK_CONCURRENCY,
    priority: Priority = "bulk",
) -> BulkSummary:
    """Take everyone in a conference (or each pair given) off hold, except ``except_call_sids``."""
    return await update_all(
        client,
        participants,
        except_call_sids=except_call_sids,
        concurrency=concurrency,
        priority=priority,
        hold=False,
    )
