"""AsyncClient configuration and lifecycle: credentials, base URLs, safety, secrets."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest
import respx

from aioparticipant import AsyncClient, AuthenticationError, InvalidParameterError, TokenBucket

from .helpers import AUTH, PARTICIPANT_JSON, PROJECT, TOKEN

ENV = ("SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN", "SIGNALWIRE_SPACE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_credentials_and_space_fall_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", "PJ1")
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", "tok")
    monkeypatch.setenv("SIGNALWIRE_SPACE_URL", "acme.signalwire.com")
    client = AsyncClient()
    assert client.base_url == "https://acme.signalwire.com/api/laml/2010-04-01"
    assert client.project_id == "PJ1"
    assert client.account_sid == "PJ1"


@pytest.mark.parametrize(
    ("kwargs", "parameter", "variable"),
    [({}, "project_id", "SIGNALWIRE_PROJECT_ID"), ({"project_id": "P"}, "token", "SIGNALWIRE_API_TOKEN"),
     ({"project_id": "P", "token": "T"}, "space_url", "SIGNALWIRE_SPACE_URL")],
)  # fmt: skip
def test_missing_settings_name_the_argument_and_the_variable(
    kwargs: dict[str, str], parameter: str, variable: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncClient(**kwargs)  # type: ignore[arg-type]
    assert info.value.parameter == parameter
    assert parameter in str(info.value)
    assert variable in str(info.value)


def test_empty_environment_variable_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", "")
    with pytest.raises(InvalidParameterError, match="SIGNALWIRE_PROJECT_ID"):
        AsyncClient(token="t", space_url="x.signalwire.com")


@pytest.mark.parametrize(
    ("space_url", "base"),
    [("example.signalwire.com", "https://example.signalwire.com/api/laml/2010-04-01"),
     ("https://example.signalwire.com", "https://example.signalwire.com/api/laml/2010-04-01"),
     ("https://example.signalwire.com/", "https://example.signalwire.com/api/laml/2010-04-01"),
     (" example.signalwire.com:8443 ", "https://example.signalwire.com:8443/api/laml/2010-04-01"),
     ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/laml/2010-04-01")],
)  # fmt: skip
def test_space_url_with_or_without_scheme(space_url: str, base: str) -> None:
    assert AsyncClient(PROJECT, TOKEN, space_url=space_url).base_url == base


def test_space_url_with_a_path_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="space_url must be a host"):
        AsyncClient(PROJECT, TOKEN, space_url="example.signalwire.com/api")


def test_base_url_wins_over_space_url() -> None:
    client = AsyncClient(
        PROJECT, TOKEN, space_url="x.signalwire.com", base_url="https://api.twilio.com/2010-04-01/"
    )
    assert client.base_url == "https://api.twilio.com/2010-04-01"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com/2010-04-01",
        "http://10.0.0.5:8080/x",
        "http://example.com",
        "HTTP://example.com",
    ],
)
def test_plain_http_is_refused_for_non_loopback_hosts(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="clear text"):
        AsyncClient(PROJECT, TOKEN, base_url=url)
    assert AsyncClient(PROJECT, TOKEN, base_url=url, allow_insecure_http=True).base_url.startswith(
        "http://"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/api/laml/2010-04-01",
        "http://localhost:9000/2010-04-01",
        "http://[::1]:9000",
        "http://127.9.9.9",
    ],
)
def test_plain_http_is_fine_on_loopback(url: str) -> None:
    assert AsyncClient(PROJECT, TOKEN, base_url=url).base_url.startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.com",
        "api.twilio.com/2010-04-01",
        "https://",
        "https://u:p@x.com",
        "https://x.com/?a=1",
        "https://x.com:99999",
        "https://x.com\n",
    ],
)
def test_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncClient(PROJECT, TOKEN, base_url=url)
    assert info.value.parameter == "base_url"


@pytest.mark.parametrize("sid", ["", "..", "AC/1", "AC?x"])
def test_account_sid_follows_the_path_segment_rules(sid: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com", account_sid=sid)
    assert info.value.parameter == "account_sid"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"max_retries": -1}, "max_retries"), ({"max_retries": 1.5}, "max_retries"), ({"max_connections": 0}, "max_connections"),
     ({"timeout": 0}, "timeout"), ({"timeout": "5"}, "timeout"), ({"rate_limit": 0}, "rate_limit"),
     ({"rate_limit": 5, "burst": 0}, "burst"), ({"burst": 5}, "burst"), ({"http_backend": "curl"}, "http_backend"),
     ({"rate_limit": 5, "limiter": TokenBucket(1)}, "limiter"), ({"limiter": object()}, "limiter"),
     ({"http_backend": "aiohttp", "transport": httpx.MockTransport(lambda r: httpx.Response(200))}, "transport")],
)  # fmt: skip
def test_bad_options_name_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com", **kwargs)  # type: ignore[arg-type]
    assert info.value.parameter == parameter


def test_project_id_with_a_colon_is_refused_without_echoing_the_token() -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncClient("a:b", TOKEN, space_url="x.signalwire.com")
    assert TOKEN not in str(info.value)


def test_timeout_takes_seconds_or_an_httpx_timeout() -> None:
    from aioparticipant._options import check_timeout

    assert check_timeout(3) == httpx.Timeout(3.0)
    custom = httpx.Timeout(1.0, connect=0.5)
    assert check_timeout(custom) is custom


def test_repr_and_str_never_show_the_token() -> None:
    client = AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com", rate_limit=5)
    for text in (
        repr(client),
        str(client),
        repr(client.conferences("CF1").participants("CA1")),
        repr(client.limiter),
    ):
        assert TOKEN not in text
        assert AUTH.split()[1] not in text
    assert "x.signalwire.com" in repr(client)


def test_the_client_cannot_be_pickled_with_its_token() -> None:
    client = AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)


@pytest.mark.anyio
async def test_authentication_error_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}'
    with respx.mock() as mock:
        mock.post(url__regex=r".*").respond(401, content=body)
        async with AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com") as client:
            with pytest.raises(AuthenticationError) as info:
                await client.conferences("CF1").participants("CA1").mute()
    assert info.value.code == 20003
    for text in (str(info.value), repr(info.value), caplog.text, repr(info.value.headers)):
        assert TOKEN not in text
        assert AUTH.split()[1] not in text


@pytest.mark.anyio
async def test_async_with_closes_and_a_closed_client_says_so() -> None:
    with respx.mock() as mock:
        mock.post(url__regex=r".*").respond(200, content=PARTICIPANT_JSON)
        async with AsyncClient(PROJECT, TOKEN, space_url="x.signalwire.com") as client:
            await client.conferences("CF1").participants("CA1").mute()
        assert client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.conferences("CF1").participants("CA1").mute()


@pytest.mark.anyio
async def test_transport_is_handed_to_httpx() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PARTICIPANT_JSON)

    async with AsyncClient(
        PROJECT,
        TOKEN,
        base_url="http://127.0.0.1:1/api/laml/2010-04-01",
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.conferences("CF1").participants("CA1").mute()
    assert seen[0].url.host == "127.0.0.1"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_aiohttp_backend_under_trio_is_a_clear_error(anyio_backend: str) -> None:
    async with AsyncClient(
        PROJECT, TOKEN, base_url="http://127.0.0.1:1/x", http_backend="aiohttp"
    ) as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.conferences("CF1").participants("CA1").mute()


def test_tls_verification_stays_on() -> None:
    import ssl

    from aioparticipant._senders import _tls_context

    context = _tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.anyio
async def test_connections_are_reused_not_churned() -> None:
    """A sequence of requests reuses one keep-alive connection; a burst opens at most max_connections."""
    import anyio

    from aioparticipant.emulator import Emulator, serve_in_thread

    emulator = Emulator()
    for index in range(40):
        emulator.add_participant("CF1", f"CA{index}")
    with serve_in_thread(emulator) as server:
        async with AsyncClient(
            emulator.project_id, emulator.token, base_url=server.base_url, max_connections=8
        ) as client:
            for index in range(5):
                await client.conferences("CF1").participants(f"CA{index}").mute()
            sender = client._pipeline.sender  # type: ignore[attr-defined]
            assert len(sender._all) == 1  # one warm connection served them all
            async with anyio.create_task_group() as tg:
                for index in range(40):
                    tg.start_soon(client.conferences("CF1").participants(f"CA{index}").mute)
            assert len(sender._all) <= 8
    assert all(emulator.participant("CF1", f"CA{index}").muted for index in range(40))
