"""A bulk job's input, read off the event loop: which format, how many rows, and the rows in batches.

What a row is, and how CSV and JSON Lines become rows, is ``_bulk_rows``.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import threading
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any, BinaryIO, Final

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._bulk_rows import BOM, Format, InputError, Row, decoded, read_rows

__all__ = ["Format", "InputError", "Row", "RowReader", "count_rows", "detect_format"]

_JSON_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")


def detect_format(path: str, first_line: bytes) -> Format:
    """JSON Lines for ``.jsonl``/``.ndjson``/``.json`` files or a first line opening an object; else CSV."""
    lowered = path.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(_JSON_SUFFIXES):
        return "jsonl"
    return "jsonl" if first_line.lstrip(BOM + b" \t\r\n").startswith(b"{") else "csv"


def count_rows(path: str, fmt: Format | None) -> int | None:
    """How many rows the file holds (for progress), or ``None`` if it cannot be told cheaply."""
    try:
        with open(path, "rb") as file:
            first = file.readline()
            fmt = fmt or detect_format(path, first)
            lines = itertools.chain([first], file)
            if fmt == "jsonl":
                return sum(1 for line in lines if line.strip())
            records = sum(1 for cells in csv.reader(decoded(lines)) if cells)
            return max(0, records - 1)  # the header
    except (OSError, ValueError, csv.Error):
        return None


class RowReader:
    """Reads rows in a daemon thread, so a slow standard input never blocks the event loop.

    The thread hands batches over a small bounded stream; if the job stops
    early the thread is left blocked at worst, and being a daemon it never
    holds the process open.
    """

    def __init__(
        self,
        source: BinaryIO,
        *,
        path: str,
        fmt: Format | None,
        defaults: Mapping[str, Any],
        close_source: bool,
        batch_size: int = 256,
    ) -> None:
        self._source = source
        self._path = path
        self._fmt = fmt
        self._defaults = dict(defaults)
        self._close_source = close_source
        self._batch_size = batch_size

    async def batches(self) -> AsyncGenerator[list[Row], None]:
        """Batches of rows in input order; raises ``InputError`` if reading fails."""
        sender, receiver = anyio.create_memory_object_stream[list[Row] | BaseException](2)
        token = anyio.lowlevel.current_token()
        thread = threading.Thread(
            target=self._produce, args=(sender, token), name="aioparticipant-input", daemon=True
        )
        thread.start()
        with receiver:
            async for item in receiver:
                if isinstance(item, BaseException):
                    raise item
                yield item

    def _produce(self, sender: Any, token: Any) -> None:
        def hand_over(item: object) -> None:
            anyio.from_thread.run(sender.send, item, token=token)

        try:
            rows = self._rows()
            while batch := list(itertools.islice(rows, self._batch_size)):
                hand_over(batch)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.RunFinishedError):
            return  # nobody reads any more: the job stopped
        except Exception as error:
            with contextlib.suppress(Exception):
                hand_over(error if isinstance(error, InputError) else _input_error(error))
        finally:
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(sender.close, token=token)
            if self._close_source:
                self._source.close()

    def _rows(self) -> Iterator[Row]:
        lines = iter(self._source)
        first = next(lines, b"")
        fmt = self._fmt or detect_format(self._path, first)
        return read_rows(itertools.chain([first], lines), fmt, self._defaults)


def _input_error(error: Exception) -> InputError:
    if isinstance(error, UnicodeDecodeError):
        return InputError(f"the input is not UTF-8 text ({error.reason} at byte {error.start})")
    return InputError(f"cannot read the input: {error}")
