"""What the demo prints: its header, the live status line and the summary that checks the run.

The summary compares the emulator's final state (in the emulator itself and
as listed through the API) with the plan, and counts how often each person
heard the announcement: any difference is a problem, and the run fails.
"""

from __future__ import annotations

import argparse

from .._auto_limiter import AutoRateLimiter
from .._http import ClientStats
from ..emulator import Emulator, EmulatorServer
from ._demo_job import DemoJob
from ._demo_scenario import Plan, listed, state_differences

__all__ = ["print_header", "status_line", "summary"]


def status_line(client_stats: ClientStats, emulator: Emulator) -> str:
    stats = emulator.stats
    faults = stats.errors_injected + stats.connections_dropped
    return f"retries {client_stats.retries} · 429s {stats.rate_limited} · faults {faults}"


def print_header(
    args: argparse.Namespace, plan: Plan, server: EmulatorServer, http_backend: str
) -> None:
    client_rate = (
        "auto (learns the service's limit from its 429s)"
        if args.client_rate == "auto"
        else f"{args.client_rate:g}/s"
    )
    print(
        f"aioparticipant demo: {len(plan.rooms)} conferences × {args.per_conference} "
        f"participants ({plan.participant_count} people)\n"
        f"  service   emulator at {server.base_url}: rate limit {args.rate:g}/s, "
        f"latency {args.latency * 1000:g} ms, {args.fault_rate:.1%} of requests fail, "
        f"seed {args.seed}\n"
        f"  client    AsyncClient over TCP: {http_backend} on {args.backend}, "
        f"{args.concurrency} in flight, client rate limit {client_rate}",
        flush=True,
    )


def _learned(job: DemoJob) -> list[str]:
    """With ``--client-rate auto``: the limit the client learned, next to the service's."""
    if not isinstance(job.limiter, AutoRateLimiter):
        return []
    limit = job.limiter.limit
    learned = "not reached (no 429)" if limit is None else f"{limit:,.0f}/s"
    return [f"  learned limit     {learned}; the service's limit is {job.args.rate:g}/s"]


def summary(job: DemoJob, retries: ClientStats) -> tuple[list[str], bool]:
    plan, emulator, tally = job.plan, job.emulator, job.tally
    stats = emulator.stats
    asked = {
        "mutes": sum(1 for _ in plan.mutes()),
        "holds": len(plan.on_hold),
        "supervisor steps": 3 * len(plan.rooms),
        "announcements": len(plan.announced.everyone),
        "removals": len(plan.kicked),
    }
    done = sum(tally.done.values())
    in_emulator = {sid: emulator.participants(sid) for sid in emulator.conference_sids()}
    problems = list(tally.lost)
    problems += state_differences(plan, in_emulator, where="emulator")
    problems += state_differences(plan, job.listed, where="API")
    plays = {
        call_sid: len(emulator.announcements(plan.announced.conference_sid, call_sid))
        for call_sid in plan.announced.everyone
    }
    played_once = sum(1 for count in plays.values() if count == 1)
    for call_sid, count in plays.items():
        if count != 1:
            problems.append(f"announcement played {count} times to {call_sid}")
    ok = not problems
    present = len(plan.expected())
    updates_rate = done / job.update_seconds if job.update_seconds > 0 else 0.0
    requests_rate = stats.requests / job.total_seconds if job.total_seconds > 0 else 0.0
    lines = [
        "",
        "Summary",
        f"  updates done      {done} of {sum(asked.values())} asked ("
        + ", ".join(f"{tally.done[kind]} {kind}" for kind in asked)
        + ")",
        f"  requests          {stats.requests} received by the service "
        f"({stats.lists} of them list pages)",
        f"  retries           {retries.retries}: {retries.retries_after_429} after a 429, "
        f"{retries.retries_after_5xx} after a 5xx, "
        f"{retries.retries_after_connection_error} after a dropped connection",
        f"  429s absorbed     {stats.rate_limited} (Retry-After honoured by every request)",
        f"  faults injected   {stats.errors_injected} server errors, "
        f"{stats.connections_dropped} dropped connections",
        f"  elapsed           {job.total_seconds:.1f}s "
        f"(updates {job.update_seconds:.1f}s, listing back {job.total_seconds - job.update_seconds:.1f}s)",
        f"  achieved rate     {updates_rate:,.0f} updates/s; {requests_rate:,.0f} requests/s "
        f"against a limit of {job.args.rate:g}/s",
        *_learned(job),
        f"  final state       {'exactly as asked' if ok else 'NOT as asked'}: {present} "
        f"participants in {len(plan.rooms)} conferences and {len(plan.kicked)} removed, "
        f"checked in the emulator and through the API",
        f"  announcements     {played_once} of {len(plays)} people heard it exactly once; "
        f"{len(tally.announced)} confirmed by the API, {tally.settled_by_log} unconfirmed "
        f"but found played in the AnnounceUrl log, {tally.resent} sent again after the log "
        "showed they had not played",
    ]
    if tally.already_gone:
        lines.append(
            f"  removals          {tally.already_gone} answered 404 on a retry: "
            "the first attempt removed them, its answer was lost"
        )
    if ok:
        lines.append("Result: OK, nothing lost, nothing wrong")
    else:
        lines.append(f"Result: FAILED, {len(problems)} problem(s):")
        lines += [f"  - {problem}" for problem in listed(problems)]
    return lines, ok
