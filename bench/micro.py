"""Per-call cost of each step of aioparticipant's request path, in process, no network.

    python bench/micro.py [--loops 20000]

Each step runs ``loops`` times in a tight loop, best of 5; the table gives µs per
call. These are the pieces the pipeline adds on top of the HTTP library; the
HTTP libraries themselves are measured end to end by ``run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from stub_server import BODY

Row = tuple[str, float]


def best(function: Callable[[], object], loops: int) -> float:
    result = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        result = min(result, (time.perf_counter() - start) / loops)
    return result * 1e6


async def best_async(function: Callable[[], Awaitable[object]], loops: int) -> float:
    result = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            await function()
        result = min(result, (time.perf_counter() - start) / loops)
    return result * 1e6


async def pipeline_steps(loops: int) -> list[Row]:
    import anyio

    from aioparticipant._limiter import SharedPause, TokenBucket
    from aioparticipant._retry import Backoff, make_retrying

    rows: list[Row] = []
    backoff = Backoff()

    async def nothing() -> int:
        return 1

    async def no_hooks(error: BaseException, attempt: int, wait: float) -> None:
        pass

    def controller() -> object:
        return make_retrying(max_retries=3, backoff=backoff, announces=False, before_retry=no_hooks)

    async def through_tenacity() -> int:
        retrying: Any = controller()
        result: int = await retrying(nothing)
        return result

    bare = await best_async(nothing, loops)
    rows.append(("a bare coroutine call (reference)", bare))
    rows.append(
        (
            "tenacity: make_retrying + AsyncRetrying call, success (minus bare)",
            await best_async(through_tenacity, loops) - bare,
        )
    )
    rows.append(("  of which make_retrying() alone", best(controller, loops)))

    slots = anyio.Semaphore(64, fast_acquire=True)

    async def semaphore() -> None:
        async with slots:
            pass

    rows.append(("anyio.Semaphore(fast_acquire) enter+exit", await best_async(semaphore, loops)))
    pause = SharedPause()
    rows.append(("SharedPause.wait(), no pause in force", await best_async(pause.wait, loops)))
    bucket = TokenBucket(1e9)
    rows.append(("TokenBucket.acquire(), token available", await best_async(bucket.acquire, loops)))
    rows.append(("anyio.current_time()", best(anyio.current_time, loops)))
    loop = asyncio.get_running_loop()
    rows.append(("  asyncio loop.time() (for comparison)", best(loop.time, loops)))
    return rows


def request_building(loops: int) -> list[Row]:
    from aioparticipant import AsyncClient
    from aioparticipant._params import encode_update

    rows: list[Row] = []
    client = AsyncClient(
        "PJ" + "0" * 32, "token", base_url="http://127.0.0.1:9/api/laml/2010-04-01"
    )
    rows.append(
        (
            "client.conferences(c).participants(p) (validate + quote two sids)",
            best(lambda: client.conferences("CF" + "1" * 32).participants("CA" + "2" * 32), loops),
        )
    )
    rows.append(("encode_update({'muted': True})", best(lambda: encode_update({"muted": True}), loops)))  # fmt: skip
    rows.append(("urlencode(form).encode()", best(lambda: urlencode({"Muted": "true"}).encode(), loops)))  # fmt: skip
    url = (
        "http://127.0.0.1:9/api/laml/2010-04-01/Accounts/PJ00000000000000000000000000000000/"
        "Conferences/CF11111111111111111111111111111111/Participants/"
        "CA22222222222222222222222222222222.json"
    )
    headers = {
        "Authorization": "Basic cGo6dG9rZW4=",
        "User-Agent": "aioparticipant",
        "Accept": "application/json",
    }
    raw = httpx.AsyncClient(headers=headers)
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    rows.append(
        (
            "httpx.AsyncClient.build_request (what .request() does first)",
            best(
                lambda: raw.build_request("POST", url, content=b"Muted=true", headers=form_headers),
                loops,
            ),
        )
    )
    prebuilt = [*headers.items(), *form_headers.items()]
    timeout = httpx.Timeout(20.0).as_dict()
    rows.append(
        (
            "  what HttpxSender builds: httpx.Request(prebuilt header list, timeout extension)",
            best(
                lambda: httpx.Request(
                    "POST",
                    url,
                    headers=prebuilt,
                    content=b"Muted=true",
                    extensions={"timeout": timeout},
                ),
                loops,
            ),
        )
    )
    rows.append(("  of which httpx.URL(str) parsing", best(lambda: httpx.URL(url), loops)))
    return rows


def decoding(loops: int) -> list[Row]:
    from aioparticipant import _dates, _models

    rows: list[Row] = []
    rows.append(("decode_participant(body) as is", best(lambda: _models.decode_participant(BODY), loops)))  # fmt: skip
    wire = _models._PARTICIPANT_DECODER.decode(BODY)
    rows.append(("  msgspec Decoder.decode → wire struct", best(lambda: _models._PARTICIPANT_DECODER.decode(BODY), loops)))  # fmt: skip
    rows.append(("  _from_wire (dates, dict, Participant(**))", best(lambda: _models._from_wire(wire), loops)))  # fmt: skip
    date = "Tue, 25 Sep 2018 20:00:00 +0000"
    rows.append(("  parse_rfc2822 (one date)", best(lambda: _dates.parse_rfc2822(date), loops)))
    import json

    rows.append(("json.loads(body) (what raw clients pay)", best(lambda: json.loads(BODY), loops)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=20_000)
    args = parser.parse_args(argv)
    loops = max(100, min(args.loops, 1_000_000))
    sections: list[tuple[str, list[Row]]] = [
        ("Pipeline steps (per attempt)", asyncio.run(pipeline_steps(loops))),
        ("Building the request", request_building(loops)),
        ("Decoding the answer", decoding(loops)),
    ]
    print(f"## Per-call costs in process, best of 5 x {loops:,} (µs)\n")
    for title, rows in sections:
        print(f"| {title} | µs |")
        print("|---|---:|")
        for label, micros in rows:
            print(f"| {label} | {micros:.2f} |")
        print()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
