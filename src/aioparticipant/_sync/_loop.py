"""One event loop in one background thread, for the blocking ``Client``.

Any thread may ``call`` into the loop at once: anyio's blocking portal hands
each call to the loop as its own task and blocks the caller until it ends.
The thread starts on the first call (a process that only builds a client, such
as a gunicorn or Celery master before it forks, never starts one) and ``stop``
ends it: first the calls still running are cancelled, then the client's pool
is closed in the loop, then the thread ends. It is a daemon thread: a client
nobody closed never keeps the interpreter from exiting.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["CLOSED_MESSAGE", "LoopThread"]

T = TypeVar("T")

CLOSED_MESSAGE = "this Client is closed; create a new one"

#: The name of every client's loop thread, as ``threading.enumerate()`` shows it.
THREAD_NAME = "aioparticipant-client"


class LoopThread:
    """An asyncio event loop in a daemon thread, started on first use and ended by ``stop``."""

    def __init__(self) -> None:
        #: The process that may use this loop: after a fork, the thread is gone.
        self.pid = os.getpid()
        self.stopped = False
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._last: Callable[[], Awaitable[None]] | None = None
        self._last_error: BaseException | None = None

    @property
    def started(self) -> bool:
        """Whether the thread is running."""
        return self._portal is not None

    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` in the loop and return its result here, blocking until then.

        If the caller is interrupted (Ctrl-C), the work in the loop is cancelled too.
        """
        portal = self._portal_here()
        try:
            future: concurrent.futures.Future[T] = portal.start_task_soon(func, *args)
        except RuntimeError:
            if self.stopped:
                raise RuntimeError(CLOSED_MESSAGE) from None
            raise
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self.stopped:
                raise RuntimeError(CLOSED_MESSAGE + " (it was closed during this call)") from None
            raise
        except BaseException:
            future.cancel()  # a no-op once the task is done; stops it if we were interrupted
            raise

    def wrap(self, context: AbstractAsyncContextManager[T]) -> AbstractContextManager[T]:
        """``context`` entered and exited in the loop, as a plain context manager."""
        return self._portal_here().wrap_async_context_manager(context)

    def call_soon(self, func: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``func(*args)`` in the loop without waiting; nothing if the loop is not running."""
        portal = self._portal
        if portal is None or self.pid != os.getpid() or self.in_loop_thread():
            return
        with contextlib.suppress(RuntimeError):  # stopping: nothing is left to clean up
            portal.start_task_soon(func, *args)

    def in_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return self._thread_id == threading.get_ident()

    def stop(self, last: Callable[[], Awaitable[None]] | None = None) -> None:
        """Cancel whatever still runs in the loop, then run ``last()`` there, and end the thread.

        Idempotent. In a forked child, the parent's thread does not exist and is
        left alone. From the loop's own thread (a garbage collection there), the
        stopping is handed to a short-lived helper thread.
        """
        if self.pid != os.getpid():
            return
        if self.in_loop_thread():
            threading.Thread(target=self.stop, args=(last,), daemon=True).start()
            return
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            portal, thread = self._portal, self._thread
            self._portal = None
        if portal is None or thread is None:
            return
        self._last = last
        # Calls other threads left running (an open bulk run) are cancelled, not awaited.
        with contextlib.suppress(RuntimeError):  # the loop already ended
            portal.call(portal.stop, True)
        thread.join()
        if self._last_error is not None:
            raise self._last_error

    def _portal_here(self) -> BlockingPortal:
        if self.pid != os.getpid():
            # A stream or bulk run begun before a fork: its loop stayed in the parent.
            raise RuntimeError(
                "this iterator was started in the parent process before a fork; "
                "start it again in this process"
            )
        return self._portal or self._start()

    def _start(self) -> BlockingPortal:
        with self._lock:
            if self.stopped:
                raise RuntimeError(CLOSED_MESSAGE)
            if self._portal is None:
                ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()
                thread = threading.Thread(
                    target=self._run, args=(ready,), name=THREAD_NAME, daemon=True
                )
                thread.start()
                self._portal = ready.result()
                self._thread = thread
                self._thread_id = thread.ident
            return self._portal

    def _run(self, ready: concurrent.futures.Future[BlockingPortal]) -> None:
        try:
            anyio.run(self._serve, ready, backend="asyncio")
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            else:
                self._last_error = error

    async def _serve(self, ready: concurrent.futures.Future[BlockingPortal]) -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()
        # Every call is over (done or cancelled): now the client may close its pool.
        if self._last is not None:
            await self._last()
