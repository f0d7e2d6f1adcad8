"""Conference and participant handles: paths, paging, and decoding the answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import msgspec

from ._exceptions import AioParticipantError, NotFoundError, ResponseDecodeError
from ._http import Call, Pipeline
from ._lanes import Priority
from ._models import Participant, ParticipantPage, decode_participant, decode_participant_page
from ._options import CallOptions
from ._params import (
    ListFilters,
    Unpack,
    UpdateParameters,
    encode_list_filters,
    encode_path_segment,
    encode_update,
)
from ._senders import RawResponse

__all__ = ["Conference", "ConferenceParticipants", "ParticipantHandle"]

T = TypeVar("T")


class _Api:
    """Where the account's resources live, the pipeline that reaches them, and the call options."""

    def __init__(
        self, pipeline: Pipeline, base_url: str, account_path: str, options: CallOptions
    ) -> None:
        self.pipeline = pipeline
        self.base_url = base_url
        self.account_path = account_path  # "/Accounts/{account_sid}", already encoded
        self.options = options
        self.closed = False  # a with_options view closed on its own
        base = urlsplit(base_url)
        self.origin = (base.scheme, base.netloc)

    def with_options(self, options: CallOptions) -> _Api:
        """The same account and pipeline, calling with ``options``."""
        return _Api(self.pipeline, self.base_url, self.account_path, options)

    def in_lane(self, priority: Priority) -> _Api:
        """The same account and pipeline, calling in the ``priority`` lane."""
        options = self.options.in_lane(priority)
        return self if options is self.options else self.with_options(options)

    async def send(self, call: Call) -> RawResponse:
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")
        return await self.pipeline.request(call, self.options)


class Conference:
    """A conference, addressed by its sid. ``participants`` reaches the people in it."""

    def __init__(self, api: _Api, conference_sid: str) -> None:
        self.sid = conference_sid
        segment = encode_path_segment("conference_sid", conference_sid)
        self.participants = ConferenceParticipants(
            api, f"{api.account_path}/Conferences/{segment}/Participants", conference_sid
        )

    def __repr__(self) -> str:
        return f"Conference({self.sid!r})"


class ConferenceParticipants:
    """The participants of one conference: call it with a call sid, or list them."""

    def __init__(self, api: _Api, path: str, conference_sid: str) -> None:
        self._api = api
        self._path = path
        self._conference_sid = conference_sid

    def __call__(self, call_sid: str) -> ParticipantHandle:
        """The participant whose call (or Twilio label) is ``call_sid``."""
        segment = encode_path_segment("call_sid", call_sid)
        return ParticipantHandle(
            self._api, f"{self._path}/{segment}.json", self._conference_sid, call_sid
        )

    async def list(self, **filters: Unpack[ListFilters]) -> list[Participant]:
        """Every participant matching the filters (``muted``, ``hold``, ``coaching``, ``page_size``), all pages."""
        return [participant async for participant in self.stream(**filters)]

    def stream(self, **filters: Unpack[ListFilters]) -> AsyncIterator[Participant]:
        """Participants one at a time, fetching the next page only when needed.

        Pages are followed through ``next_page_uri``, which must stay on the
        API's own scheme and host.
        """
        query = encode_list_filters(filters)  # bad filters fail here, not at the first await
        url = f"{self._api.base_url}{self._path}.json"
        if query:
            url += "?" + urlencode(query)
        return self._pages(url)

    async def _pages(self, url: str) -> AsyncIterator[Participant]:
        api = self._api
        next_url: str | None = url
        while next_url is not None:
            path = next_url[len(api.base_url) :] if next_url.startswith(api.base_url) else next_url
            call = Call("list", "GET", next_url, path, conference_sid=self._conference_sid)
            response = await api.send(call)
            page: ParticipantPage = _decode(response, decode_participant_page, "GET", path)
            for participant in page.participants:
                yield participant
            next_url = self._resolve(page.next_page_uri)

    def _resolve(self, next_page_uri: str | None) -> str | None:
        if not next_page_uri:
            return None
        resolved = urljoin(self._api.base_url, next_page_uri)
        parts = urlsplit(resolved)
        if (parts.scheme, parts.netloc) != self._api.origin:
            raise AioParticipantError(
                f"refusing to follow next_page_uri to {parts.scheme}://{parts.netloc}: "
                "it is not the API's host, and following it would send the credentials there"
            )
        return resolved


class ParticipantHandle:
    """One participant of one conference. Nothing is sent until a method is awaited."""

    def __init__(self, api: _Api, path: str, conference_sid: str, call_sid: str) -> None:
        self._api = api
        self._path = path
        self._url = api.base_url + path
        self.conference_sid = conference_sid
        self.call_sid = call_sid

    def __repr__(self) -> str:
        return f"ParticipantHandle({self._path!r})"

    async def update(self, **params: Unpack[UpdateParameters]) -> Participant:
        """Change the participant; only the parameters given are sent. Returns the new state."""
        form = encode_update(params)
        return await self._post(form)

    def _call(
        self, operation: str, method: str, form: bytes | None = None, *, announces: bool = False
    ) -> Call:
        return Call(
            operation,
            method,
            self._url,
            self._path,
            form,
            announces,
            self.conference_sid,
            self.call_sid,
        )

    async def _post(self, form: dict[str, str]) -> Participant:
        body = urlencode(form).encode("ascii")
        call = self._call("update", "POST", body, announces="AnnounceUrl" in form)
        response = await self._api.send(call)
        return _decode(response, decode_participant, "POST", self._path)

    async def fetch(self) -> Participant:
        """The participant's current state."""
        response = await self._api.send(self._call("fetch", "GET"))
        return _decode(response, decode_participant, "GET", self._path)

    async def delete(self) -> None:
        """Remove the participant from the conference (hangs up their call leg).

        Raises ``NotFoundError`` if the participant was not there. A 404 on a
        retry is success: an earlier attempt whose answer was lost removed them.
        """
        try:
            await self._api.send(self._call("delete", "DELETE"))
        except NotFoundError as error:
            if error.attempts == 1:
                raise

    # --- intents: each is one update with the fields the contract names ---------

    async def mute(self) -> Participant:
        """Mute the participant (Muted=true)."""
        return await self.update(muted=True)

    async def unmute(self) -> Participant:
        """Unmute the participant (Muted=false)."""
        return await self.update(muted=False)

    async def hold(
        self, hold_url: str | None = None, hold_method: str | None = None
    ) -> Participant:
        """Put the participant on hold, with music from ``hold_url`` if given ('' for silence)."""
        return await self.update(hold=True, hold_url=hold_url, hold_method=hold_method)

    async def unhold(self) -> Participant:
        """Take the participant off hold."""
        return await self.update(hold=False)

    async def coach(self, call_sid_to_coach: str) -> Participant:
        """Let this participant speak to ``call_sid_to_coach`` only (Coaching=true, Muted=false)."""
        return await self.update(coaching=True, call_sid_to_coach=call_sid_to_coach, muted=False)

    async def monitor(self, call_sid_to_coach: str) -> Participant:
        """Listen in silently on ``call_sid_to_coach`` (Coaching=true, Muted=true)."""
        return await self.update(coaching=True, call_sid_to_coach=call_sid_to_coach, muted=True)

    async def barge(self) -> Participant:
        """Join the conversation: heard by everyone (Coaching=false, Muted=false)."""
        return await self.update(coaching=False, muted=False)

    async def announce(self, announce_url: str, announce_method: str | None = None) -> Participant:
        """Play ``announce_url`` to the participant. Never retried where it may have played."""
        if announce_url is None:
            raise TypeError("announce() needs announce_url: the absolute URL of the announcement")
        return await self.update(announce_url=announce_url, announce_method=announce_method)


def _decode(response: RawResponse, decode: Callable[[bytes], T], method: str, path: str) -> T:
    try:
        return decode(response.body)
    except (
        msgspec.DecodeError,
        ValueError,
        RecursionError,
    ) as error:  # RecursionError: deep nesting
        raise ResponseDecodeError(
            f"HTTP {response.status} came with a body that is not the expected JSON ({error})",
            status=response.status,
            headers=response.headers,
            method=method,
            path=path,
        ) from error
