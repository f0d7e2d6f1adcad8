"""``aioparticipant update CONFERENCE_SID CALL_SID [--muted] [--hold-url URL] ...``: change one participant.

Prints the participant the API answered with as one JSON object on standard
output; dates in ISO 8601 (``2018-09-25T20:00:00Z``), the form JSON tools
read. Exit codes: 0 done, 1 the API refused or could not be reached (the
error on standard error), 2 a usage error (nothing was sent).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
import msgspec

from .._client import AsyncClient
from .._exceptions import AioParticipantError, APIError, InvalidParameterError
from .._models import Participant
from .._resources import ParticipantHandle
from ._connection import add_connection_flags, client_from_args
from ._parameters import add_update_flags, update_params_from_flags

__all__ = ["HELP", "configure", "run"]

HELP = "change one participant (mute, hold, coach, ...) and print its new state as JSON"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``update`` arguments to its subparser."""
    parser.epilog = (
        "Only the flags given are sent. Prints the participant as JSON (dates in ISO 8601). "
        "Exit codes: 0 done, 1 the API refused or was unreachable, 2 usage error."
    )
    parser.add_argument("conference_sid", metavar="CONFERENCE_SID")
    parser.add_argument("call_sid", metavar="CALL_SID")
    add_update_flags(
        parser, title="update parameters", description="Each flag sends its parameter."
    )
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``update`` and return the exit code."""
    params = update_params_from_flags(args)
    try:
        client = client_from_args(args)
        handle = client.conferences(args.conference_sid).participants(args.call_sid)
    except InvalidParameterError as error:
        return _fail(error, EXIT_USAGE)
    try:
        participant = anyio.run(_update, client, handle, params)
    except InvalidParameterError as error:
        return _fail(error, EXIT_USAGE)
    except AioParticipantError as error:
        return _fail(error, EXIT_FAILED)
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(participant), indent=2))
    sys.stdout.buffer.write(b"\n")
    return EXIT_OK


async def _update(
    client: AsyncClient, handle: ParticipantHandle, params: dict[str, Any]
) -> Participant:
    async with client:
        return await handle.update(**params)


def _fail(error: AioParticipantError, code: int) -> int:
    text = str(error)
    if isinstance(error, APIError) and error.request_id and error.request_id not in text:
        text += f" (request id {error.request_id})"
    sys.stderr.write(f"aioparticipant update: error: {text}\n")
    return code
