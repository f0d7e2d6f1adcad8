"""A supervisor's console in the browser: one conference, live, with a button per action.

    pip install -e ".[console]"
    python examples/supervisor_console.py --port 8000      # then open http://127.0.0.1:8000

With no ``SIGNALWIRE_*`` variables set it runs against an embedded emulator,
in process, seeded with a demo conference (an agent, a supervisor and a few
dozen customers) that answers at most 20 requests per second, so the "mute
everyone but the agent" run takes a few seconds: the row buttons stay instant
meanwhile, because the bulk run is in the bulk lane and clicks are in the
interactive one. With ``SIGNALWIRE_PROJECT_ID``, ``SIGNALWIRE_API_TOKEN`` and
``SIGNALWIRE_SPACE_URL`` set it supervises a real conference:
``--conference CF...`` (and ``--agent CA...`` unless a participant is
labelled ``agent``).

One ``AsyncClient`` is made in the app's lifespan and shared by every request.
The page polls ``GET /api/conferences/{sid}/participants`` every second and
sends ``POST .../participants/{call_sid}/{action}``; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from aioparticipant import (
    APIConnectionError,
    APIError,
    AsyncClient,
    InvalidParameterError,
    NotFoundError,
    Participant,
    ParticipantUpdate,
)
from aioparticipant.emulator import Emulator

PAGE = Path(__file__).with_name("supervisor_console.html")
#: What a sid may look like here: the console has no use for anything else in a path.
SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ACTIONS = ("mute", "unmute", "hold", "unhold", "coach", "monitor", "barge", "remove")
DEMO_CONFERENCE = "CFdemo0000000000000000000000000001"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


@dataclass
class BulkProgress:
    running: bool = False
    total: int = 0
    done: int = 0
    failed: int = 0


def create_app(
    make_client: Callable[[], AsyncClient], conference_sid: str, *, agent_sid: str | None = None
) -> Starlette:
    """The console for one conference; ``make_client`` is called once, in the lifespan."""
    if not SID.fullmatch(conference_sid):
        raise ValueError(f"conference sid {conference_sid!r} is not a sid")
    page = PAGE.read_text(encoding="utf-8").replace(
        "<body>", f'<body data-conference="{html.escape(conference_sid)}">', 1
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with make_client() as client, anyio.create_task_group() as background:
            app.state.client = client
            app.state.background = background
            app.state.bulk = BulkProgress()
            yield
            background.cancel_scope.cancel()  # a bulk run still going stops with the server

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def participants(request: Request) -> Response:
        checked = _conference(request, conference_sid)
        if isinstance(checked, Response):
            return checked
        try:
            found = await request.app.state.client.conferences(conference_sid).participants.list()
        except (APIError, APIConnectionError) as error:
            return _api_error(error, "listing the participants")
        return JSONResponse(
            {
                "participants": [_row(participant) for participant in found],
                "agent": agent_sid or _agent(found),
                "bulk": asdict(request.app.state.bulk),
            }
        )

    async def act(request: Request) -> Response:
        checked = _conference(request, conference_sid)
        if isinstance(checked, Response):
            return checked
        call_sid, action = request.path_params["call_sid"], request.path_params["action"]
        if action not in ACTIONS:
            return _refuse(404, f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
        if not SID.fullmatch(call_sid):
            return _refuse(400, f"{call_sid!r} is not a call sid")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _refuse(415, "send the action as JSON (Content-Type: application/json)")
        handle = request.app.state.client.conferences(conference_sid).participants(call_sid)
        try:
            if action == "remove":
                await handle.delete()
                return JSONResponse({"participant": None})
            if action in ("coach", "monitor"):
                target = (await request.json()).get("target") or agent_sid
                if not isinstance(target, str) or not SID.fullmatch(target):
                    return _refuse(400, f"{action} needs the agent's call sid as 'target'")
                participant = await getattr(handle, action)(target)
            else:
                participant = await getattr(handle, action)()
        except NotFoundError:
            return _refuse(404, f"{call_sid} is no longer in the conference")
        except InvalidParameterError as error:
            return _refuse(400, str(error))
        except (APIError, APIConnectionError) as error:
            return _api_error(error, action)
        except ValueError:  # the JSON body
            return _refuse(400, "the body must be a JSON object")
        return JSONResponse({"participant": _row(participant)})

    async def mute_all(request: Request) -> Response:
        checked = _conference(request, conference_sid)
        if isinstance(checked, Response):
            return checked
        state = request.app.state
        if state.bulk.running:
            return _refuse(409, "a bulk run is already going", bulk=asdict(state.bulk))
        try:
            found = await state.client.conferences(conference_sid).participants.list()
        except (APIError, APIConnectionError) as error:
            return _api_error(error, "listing the participants")
        agent = agent_sid or _agent(found)
        targets = [p.call_sid for p in found if p.call_sid and p.call_sid != agent]
        state.bulk = BulkProgress(running=True, total=len(targets))
        state.background.start_soon(_mute, state.client, state.bulk, conference_sid, targets)
        return JSONResponse({"bulk": asdict(state.bulk)}, status_code=202)

    base = "/api/conferences/{conference_sid}"
    return Starlette(
        routes=[
            Route("/", index),
            Route(f"{base}/participants", participants),
            Route(f"{base}/participants/{{call_sid}}/{{action}}", act, methods=["POST"]),
            Route(f"{base}/mute-all", mute_all, methods=["POST"]),
        ],
        # Requests for another host name (DNS rebinding) are refused.
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)],
        lifespan=lifespan,
    )


async def _mute(
    client: AsyncClient, progress: BulkProgress, conference_sid: str, call_sids: list[str]
) -> None:
    updates = (ParticipantUpdate(conference_sid, call, muted=True) for call in call_sids)
    try:
        async with client.bulk(updates, concurrency=8) as results:  # the bulk lane
            async for result in results:
                progress.done += 1
                progress.failed += not result.ok and not result.not_found
    finally:
        progress.running = False


def _conference(request: Request, conference_sid: str) -> Response | None:
    asked = request.path_params["conference_sid"]
    if not SID.fullmatch(asked):
        return _refuse(400, f"{asked!r} is not a conference sid")
    if asked != conference_sid:
        return _refuse(404, f"this console supervises conference {conference_sid} only")
    return None


def _refuse(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _api_error(error: APIError | APIConnectionError, doing: str) -> JSONResponse:
    status = getattr(error, "status", None)
    reason = f"HTTP {status}" if status else "no answer"
    return _refuse(502, f"{doing} failed at the API ({reason}): {getattr(error, 'message', error)}")


def _row(participant: Participant) -> dict[str, Any]:
    return {
        "call_sid": participant.call_sid,
        "label": participant.label,
        "muted": bool(participant.muted),
        "hold": bool(participant.hold),
        "coaching": bool(participant.coaching),
        "call_sid_to_coach": participant.call_sid_to_coach,
    }


def _agent(participants: list[Participant]) -> str | None:
    return next((p.call_sid for p in participants if p.label == "agent"), None)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_emulator(customers: int = 60, rate: float = 20) -> Emulator:
    """The demo conference: an agent, a supervisor and ``customers`` callers."""
    emulator = Emulator(rate_limit=rate, latency=0.03)
    emulator.add_participant(DEMO_CONFERENCE, "CAagent", label="agent")
    emulator.add_participant(DEMO_CONFERENCE, "CAsupervisor", label="supervisor", muted=True)
    for number in range(1, customers + 1):
        emulator.add_participant(
            DEMO_CONFERENCE, f"CAcustomer{number:03}", label=f"customer {number}"
        )
    return emulator


def emulator_client(emulator: Emulator, rate: float) -> Callable[[], AsyncClient]:
    """A client factory for ``emulator`` in process, paced just under its limit."""

    def make() -> AsyncClient:
        return AsyncClient(
            emulator.project_id,
            emulator.token,
            base_url=emulator.base_url(),
            transport=httpx.ASGITransport(app=emulator),
            rate_limit=rate * 0.9,
            burst=max(2, round(rate * 0.1)),  # one token of it reserved for the clicks
        )

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    parser.add_argument("--conference", help="the conference sid (needed with a real Space)")
    parser.add_argument(
        "--agent", help="the agent's call sid (default: the participant labelled agent)"
    )
    parser.add_argument(
        "--customers", type=int, default=60, help="demo: customers in the conference"
    )
    parser.add_argument("--rate", type=float, default=20, help="demo: the emulator's requests/s")
    args = parser.parse_args(argv)
    host = "127.0.0.1" if args.host == "localhost" else args.host
    if not _is_loopback(host):
        parser.error(f"refusing to listen on {args.host}: the console listens on loopback only")
    if any(os.environ.get(name) for name in ("SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN")):
        if not args.conference:
            parser.error(
                "with SIGNALWIRE_* set, --conference CF... says which conference to supervise"
            )
        app = create_app(AsyncClient, args.conference, agent_sid=args.agent)
        where = f"conference {args.conference} in {os.environ.get('SIGNALWIRE_SPACE_URL')}"
    else:
        emulator = demo_emulator(args.customers, args.rate)
        conference = args.conference or DEMO_CONFERENCE
        app = create_app(emulator_client(emulator, args.rate), conference, agent_sid=args.agent)
        where = f"the embedded emulator's demo conference ({args.customers} customers)"
    import uvicorn

    print(f"supervising {where} at http://{host}:{args.port}  (Ctrl-C stops)", file=sys.stderr)
    started = time.monotonic()
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    print(f"stopped after {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
