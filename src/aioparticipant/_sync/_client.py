"""Client: the blocking twin of AsyncClient, for Django views, Celery tasks and scripts."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any

from .._bulk import ParticipantUpdate
from .._client import AsyncClient
from .._http import ClientStats
from .._limiter import Limiter
from .._options import PerCallOptions
from .._params import Unpack
from ._bulk import SyncBulkRun
from ._loop import CLOSED_MESSAGE, LoopThread
from ._options import ASYNC_ONLY_OPTIONS, BulkOptions, ClientOptions
from ._resources import SyncConference

__all__ = ["Client"]


class Client:
    """The blocking client: ``AsyncClient``'s handles, helpers, errors and ``bulk``, without ``await``.

        with Client() as client:  # SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN, SIGNALWIRE_SPACE_URL
            client.conferences("CF...").participants("CA...").mute()
            with client.bulk(updates, concurrency=32) as results:
                for result in results:
                    ...

    It takes the arguments of ``AsyncClient`` less ``transport`` and
    ``http_backend``, and runs one ``AsyncClient`` in one event loop, in a
    background thread that starts with the first request. Any number of
    threads may share one client (a Django process, a thread pool): they all
    use its one connection pool, its limiter and its 429 pauses. ``close()``
    (or leaving the ``with``) closes the pool and ends the thread.

    After ``fork`` (Celery's prefork pool, gunicorn's workers), the child's
    first call starts a fresh loop and a fresh connection pool from the same
    arguments; nothing the parent opened is ever used in the child (and its
    ``rate_limit`` bucket is the child's own). A client made with a
    ``limiter=`` of your own cannot do that, since the limiter may hold the
    parent's connections: it raises ``RuntimeError`` in the child, and the
    client should be made there instead.
    """

    def __init__(
        self,
        project_id: str | None = None,
        token: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        for name, reason in ASYNC_ONLY_OPTIONS.items():
            if name in options:
                raise TypeError(f"Client() takes no {name}= ({reason}); use AsyncClient for that")
        # Built here, in the caller's thread: bad arguments raise before any thread starts.
        client = AsyncClient(project_id, token, **options)
        self._engine = _Engine(client, {"project_id": project_id, "token": token, **options})
        self._closer: Callable[[], object] = weakref.finalize(self, self._engine.close)
        self._view: _View | None = None

    def __repr__(self) -> str:
        # AsyncClient's own repr (never the token), so the two show the same settings.
        return "Client(" + repr(self._async_client()).partition("(")[2]

    def with_options(self, **options: Unpack[PerCallOptions]) -> Client:
        """A client for the same Space with other per-call options; what is left out is inherited.

        ``timeout``, ``max_retries``, ``priority`` (``"interactive"`` or
        ``"bulk"``) and ``event_hooks``. The new client shares this one's
        thread, connections, limiter, shared pause and ``stats``: it costs
        nothing to make. Closing this client closes it too; its own
        ``close()`` closes nothing but itself.

            batch = client.with_options(priority="bulk")   # a nightly job, behind the web requests
        """
        root = self._engine.current()
        made = self._derived(root).with_options(**options)  # checked here, in the caller's thread
        view = Client.__new__(Client)
        view._engine = self._engine
        view._closer = view._close_view
        view._view = _View(self, lambda root: self._derived(root).with_options(**options))
        view._view.made = (root, made)
        return view

    def __getstate__(self) -> object:
        raise TypeError(
            "Client cannot be pickled: it holds credentials and open connections "
            "(in a Celery task, use one made in the worker)"
        )

    def conferences(self, conference_sid: str) -> SyncConference:
        """The conference ``conference_sid``; ``.participants(call_sid)`` reaches one person in it."""
        return SyncConference(self, conference_sid)

    def bulk(
        self,
        updates: Iterable[ParticipantUpdate] | AsyncIterable[ParticipantUpdate],
        **options: Unpack[BulkOptions],
    ) -> SyncBulkRun:
        """Send many updates, at most ``concurrency`` at a time; results come as they complete.

            with client.bulk(updates, concurrency=32) as results:
                for result in results:
                    if not result.ok:
                        print(result.update.call_sid, result.error)

        Takes the options of ``AsyncClient.bulk``. ``updates`` is read lazily,
        in the thread that reads the results. See ``SyncBulkRun``.
        """
        loop, client = self._running()
        return SyncBulkRun(loop, lambda source: client.bulk(source, **options), updates)

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://example.signalwire.com/api/laml/2010-04-01``."""
        return self._async_client().base_url

    @property
    def project_id(self) -> str:
        """The project id (the Basic-auth user)."""
        return self._async_client().project_id

    @property
    def account_sid(self) -> str:
        """The account whose conferences are addressed (the project id unless given)."""
        return self._async_client().account_sid

    @property
    def http_backend(self) -> str:
        """Always ``"httpx"``."""
        return self._async_client().http_backend

    @property
    def max_connections(self) -> int:
        """The size of the connection pool, and the bound on requests in flight."""
        return self._async_client().max_connections

    @property
    def limiter(self) -> Limiter | None:
        """The limiter every attempt passes (the token bucket from ``rate_limit``), if any."""
        return self._async_client().limiter

    @property
    def stats(self) -> ClientStats:
        """Counters of requests, attempts and retries (by cause), for every thread together."""
        return self._async_client().stats

    @property
    def is_closed(self) -> bool:
        """Whether ``close()`` was called (on this client, or on the one it was made from)."""
        return self._engine.closed or (self._view is not None and self._view.closed)

    def close(self) -> None:
        """Close the connection pool and end the client's thread. Idempotent.

        Calls other threads still have in flight are cancelled and raise
        ``RuntimeError``; the client cannot be used afterwards.
        """
        self._closer()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- what the handles use (the Owner protocol) --------------------------------

    def _async_client(self) -> AsyncClient:
        return self._derived(self._engine.current())

    def _running(self) -> tuple[LoopThread, AsyncClient]:
        if self._view is not None and self._view.closed:
            raise RuntimeError(CLOSED_MESSAGE)
        loop, root = self._engine.running()
        return loop, self._derived(root)

    def _derived(self, root: AsyncClient) -> AsyncClient:
        """This client's ``AsyncClient``: the engine's own, or the view made from it."""
        view = self._view
        if view is None:
            return root
        if view.made is None or view.made[0] is not root:  # first use, or a forked child's root
            view.made = (root, view.make(root))
        return view.made[1]

    def _close_view(self) -> None:
        assert self._view is not None
        self._view.closed = True


class _View:
    """What a ``with_options`` client adds: how to make its ``AsyncClient`` from the root one."""

    def __init__(self, parent: Client, make: Callable[[AsyncClient], AsyncClient]) -> None:
        self.parent = parent  # keeps the root client, and so the thread, alive
        self.make = make
        self.made: tuple[AsyncClient, AsyncClient] | None = None
        self.closed = False


class _Engine:
    """Per process, one loop thread and one ``AsyncClient`` made from the client's arguments."""

    def __init__(self, client: AsyncClient, arguments: dict[str, Any]) -> None:
        self._arguments = arguments  # to make the client again in a forked child
        self._lock = threading.Lock()
        self.closed = False
        self.client = client
        self.loop = LoopThread()
        _ENGINES.add(self)

    def current(self) -> AsyncClient:
        if self.loop.pid != os.getpid():
            self._after_fork()
        return self.client

    def running(self) -> tuple[LoopThread, AsyncClient]:
        if self.closed:
            raise RuntimeError(CLOSED_MESSAGE)
        client = self.current()
        return self.loop, client

    def close(self) -> None:
        self.closed = True
        self.loop.stop(self.client.aclose)  # a no-op in a child that never used the client

    def _after_fork(self) -> None:
        with self._lock:
            if self.loop.pid == os.getpid():
                return
            if self._arguments.get("limiter") is not None:
                raise RuntimeError(
                    f"this Client was made in process {self.loop.pid} with limiter=..., and is "
                    f"used in process {os.getpid()} after a fork: the limiter may hold the "
                    "parent's connections, so the client will not reuse it. Make the Client "
                    "(and its limiter) in the child: lazily on first use, or in Celery's "
                    "worker_process_init signal or gunicorn's post_fork hook"
                )
            # The parent's pool and loop are left untouched (never closed from here: their
            # sockets and loop belong to the parent), and kept from the garbage collector,
            # whose finalizers would try to.
            _LEFT_BY_THE_PARENT.append((self.client, self.loop))
            self.client = AsyncClient(**self._arguments)
            self.loop = LoopThread()


_ENGINES: weakref.WeakSet[_Engine] = weakref.WeakSet()
_LEFT_BY_THE_PARENT: list[object] = []


def _after_fork_in_child() -> None:
    # A lock another thread of the parent held at the fork stays locked forever in the child.
    for engine in list(_ENGINES):
        engine._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
