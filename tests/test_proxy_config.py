"""Choosing the proxy: ``proxy=``, the environment, ``NO_PROXY`` forms, and bad input.

No network here: the resolver is pure. End-to-end runs through a real proxy
are in ``test_proxy.py``.
"""

from __future__ import annotations

import pytest

from aioparticipant import AsyncClient, InvalidParameterError
from aioparticipant._network import resolve_network
from aioparticipant._proxy import (
    ProxySettings,
    bypasses_proxy,
    parse_proxy,
    proxy_from_environment,
)

pytestmark = pytest.mark.usefixtures("clean_network_environment")

PASSWORD = "pr0xy-pa55word"


# --- parsing ---------------------------------------------------------------------------


def test_a_proxy_url_is_split_and_its_credentials_kept_out_of_the_url() -> None:
    proxy = parse_proxy(f"http://alice:{PASSWORD}@proxy.corp:3128", parameter="proxy")
    assert proxy.url == "http://proxy.corp:3128"
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.corp", 3128)
    assert (proxy.username, proxy.password) == ("alice", PASSWORD)
    assert proxy.display == "http://alice:***@proxy.corp:3128"
    assert PASSWORD not in repr(proxy)
    assert PASSWORD not in str(proxy)


def test_percent_encoded_credentials_are_decoded() -> None:
    proxy = parse_proxy("http://al%40ice:p%3Ass%2Fw@proxy:8080/", parameter="proxy")
    assert (proxy.username, proxy.password) == ("al@ice", "p:ss/w")
    assert proxy.authorization == "Basic YWxAaWNlOnA6c3Mvdw=="


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("http://proxy", "http://proxy:80"),
        ("https://proxy", "https://proxy:443"),
        ("HTTP://Proxy.Corp:3128/", "http://proxy.corp:3128"),
        ("http://[::1]:3128", "http://[::1]:3128"),
        ("  http://10.0.0.1:3128  ", "http://10.0.0.1:3128"),
    ],
)
def test_default_ports_case_and_ipv6(value: str, url: str) -> None:
    assert parse_proxy(value, parameter="proxy").url == url


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"alice:{PASSWORD}@proxy.corp:3128", "needs a scheme"),
        ("proxy.corp:3128", "needs a scheme"),
        (f"ftp://alice:{PASSWORD}@proxy.corp", "http:// or https://"),
        (f"socks5://alice:{PASSWORD}@proxy.corp:1080", r"SOCKS proxy.*does not support"),
        ("socks5h://proxy.corp:1080", "SOCKS"),
        ("http://", "no host"),
        (f"http://alice:{PASSWORD}@:3128", "no host"),
        ("http://proxy.corp:99999", "not a valid URL"),
        ("http://proxy.corp:3128/path", "without a path"),
        ("http://proxy.corp:3128?x=1", "without a path"),
        (f"http://alice:{PASSWORD}@proxy.corp\r\n:3128", "control characters"),
        ("", "non-empty"),
        (3128, "must be a URL string"),
    ],
)
def test_bad_proxy_urls_name_the_parameter_and_never_the_password(
    value: object, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message) as caught:
        parse_proxy(value, parameter="proxy")
    assert caught.value.parameter == "proxy"
    assert PASSWORD not in str(caught.value)


def test_the_client_refuses_a_bad_proxy_before_sending_anything() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncClient("PJ", "tok", space_url="example.signalwire.com", proxy="socks5://proxy:1080")
    assert caught.value.parameter == "proxy"
    with pytest.raises(InvalidParameterError, match="trust_env must be True or False"):
        AsyncClient("PJ", "tok", space_url="example.signalwire.com", trust_env="yes")  # type: ignore[arg-type]


def test_a_bad_environment_proxy_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://alice:{PASSWORD}@proxy:1080")
    with pytest.raises(InvalidParameterError, match="trust_env=False") as caught:
        AsyncClient("PJ", "tok", space_url="example.signalwire.com")
    assert caught.value.parameter == "HTTPS_PROXY"
    assert PASSWORD not in str(caught.value)
    # trust_env=False: the variable is not read at all.
    AsyncClient("PJ", "tok", space_url="example.signalwire.com", trust_env=False)


def test_an_environment_proxy_without_a_scheme_is_http_as_in_curl() -> None:
    proxy = proxy_from_environment("https://api.example.com", {"HTTPS_PROXY": "proxy.corp:3128"})
    assert proxy is not None
    assert proxy.url == "http://proxy.corp:3128"
    assert proxy.source == "HTTPS_PROXY"


# --- which variable -------------------------------------------------------------------


def _chosen(url: str, environ: dict[str, str]) -> str | None:
    proxy = proxy_from_environment(url, environ)
    return None if proxy is None else f"{proxy.source}={proxy.host}"


@pytest.mark.parametrize(
    ("url", "environ", "chosen"),
    [
        ("https://api.example.com", {}, None),
        ("https://api.example.com", {"HTTPS_PROXY": "http://s"}, "HTTPS_PROXY=s"),
        ("https://api.example.com", {"https_proxy": "http://s"}, "https_proxy=s"),
        # the lower-case name wins, as in curl, requests and httpx
        (
            "https://api.example.com",
            {"HTTPS_PROXY": "http://u", "https_proxy": "http://l"},
            "https_proxy=l",
        ),
        # the base URL's scheme picks the variable
        ("https://api.example.com", {"HTTP_PROXY": "http://h"}, None),
        (
            "http://127.0.0.1:8080",
            {"HTTP_PROXY": "http://h", "HTTPS_PROXY": "http://s"},
            "HTTP_PROXY=h",
        ),
        # ALL_PROXY is the fallback
        ("https://api.example.com", {"ALL_PROXY": "http://a"}, "ALL_PROXY=a"),
        (
            "https://api.example.com",
            {"all_proxy": "http://a", "HTTPS_PROXY": "http://s"},
            "HTTPS_PROXY=s",
        ),
        # empty values count as unset
        (
            "https://api.example.com",
            {"https_proxy": " ", "HTTPS_PROXY": "http://s"},
            "HTTPS_PROXY=s",
        ),
        # httpoxy: in a CGI request HTTP_PROXY may come from the client's "Proxy:" header
        ("http://127.0.0.1", {"HTTP_PROXY": "http://evil", "REQUEST_METHOD": "GET"}, None),
        ("http://127.0.0.1", {"http_proxy": "http://h", "REQUEST_METHOD": "GET"}, "http_proxy=h"),
    ],
)
def test_the_variable_for_the_base_urls_scheme_is_used(
    url: str, environ: dict[str, str], chosen: str | None
) -> None:
    assert _chosen(url, environ) == chosen


def test_no_proxy_lower_case_wins_and_applies_to_the_environment_proxy_only() -> None:
    environ = {"HTTPS_PROXY": "http://s", "NO_PROXY": "other.com", "no_proxy": "example.com"}
    assert _chosen("https://api.example.com", environ) is None
    environ = {"HTTPS_PROXY": "http://s", "no_proxy": "other.com", "NO_PROXY": "example.com"}
    assert _chosen("https://api.example.com", environ) == "HTTPS_PROXY=s"


def test_an_explicit_proxy_wins_over_the_environment_and_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://from-env:1")
    monkeypatch.setenv("NO_PROXY", "*")
    network = resolve_network("https://api.example.com", proxy="http://explicit:2")
    assert network.proxy is not None
    assert (network.proxy.host, network.proxy.source) == ("explicit", "proxy")


def test_trust_env_false_ignores_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://from-env:1")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    assert resolve_network("https://api.example.com", trust_env=False).proxy is None


def test_a_custom_transport_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://from-env:1")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    network = resolve_network("https://api.example.com", custom_transport=True)
    assert network.proxy is None


@pytest.mark.parametrize(
    ("option", "value"), [("proxy", "http://proxy:3128"), ("verify", "/etc/ssl/ca.pem")]
)
def test_proxy_and_verify_with_a_custom_transport_are_refused(option: str, value: str) -> None:
    import httpx

    with pytest.raises(InvalidParameterError, match="no effect with transport=") as caught:
        AsyncClient(
            "PJ",
            "tok",
            space_url="example.signalwire.com",
            transport=httpx.MockTransport(lambda request: httpx.Response(200)),
            **{option: value},
        )
    assert caught.value.parameter == option


# --- NO_PROXY forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypass"),
    [
        ("*", "api.example.com", 443, True),
        ("", "api.example.com", 443, False),
        # a host name: itself and its subdomains, not look-alikes
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("api.example.com", "example.com", 443, False),
        ("EXAMPLE.COM.", "api.example.com", 443, True),
        # .domain and *.domain: the same as domain (as in curl)
        (".example.com", "api.example.com", 443, True),
        (".example.com", "example.com", 443, True),
        ("*.example.com", "api.example.com", 443, True),
        (".example.com", "badexample.com", 443, False),
        # host:port
        ("example.com:8443", "api.example.com", 8443, True),
        ("example.com:8443", "api.example.com", 443, False),
        # IP addresses, bare or with a port, IPv6 bracketed or not
        ("127.0.0.1", "127.0.0.1", 8080, True),
        ("127.0.0.1", "127.0.0.2", 8080, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("::1", "::1", 443, True),
        ("[::1]", "::1", 443, True),
        ("[::1]:8443", "::1", 8443, True),
        ("[::1]:8443", "::1", 443, False),
        # CIDR ranges match addresses, and names are not resolved
        ("10.0.0.0/8", "10.20.30.40", 443, True),
        ("10.0.0.0/8", "11.0.0.1", 443, False),
        ("127.0.0.0/8", "localhost", 443, False),
        ("fd00::/8", "fd12::1", 443, True),
        ("192.168.0.0/16", "api.example.com", 443, False),
        # lists: commas and/or spaces, several forms at once
        ("localhost, .internal ,10.0.0.0/8", "svc.internal", 443, True),
        ("localhost 127.0.0.1", "127.0.0.1", 443, True),
        ("localhost,,  ,127.0.0.1", "localhost", 443, True),
        # written as a URL
        ("https://example.com", "api.example.com", 443, True),
    ],
)
def test_no_proxy_forms(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert bypasses_proxy(no_proxy, host, port) is bypass


def test_no_proxy_sees_the_base_urls_port_including_the_default() -> None:
    environ = {"HTTPS_PROXY": "http://s", "NO_PROXY": "example.com:443"}
    assert _chosen("https://example.com/api", environ) is None
    assert _chosen("https://example.com:8443/api", environ) == "HTTPS_PROXY=s"
    environ = {"HTTPS_PROXY": "http://s", "NO_PROXY": "[::1]:8443"}
    assert _chosen("https://[::1]:8443/api", environ) is None


def test_proxy_settings_show_the_user_but_hide_the_password() -> None:
    proxy = ProxySettings("http://p:1", "http", "p", 1, "alice", PASSWORD, "HTTPS_PROXY")
    assert repr(proxy) == "ProxySettings('http://alice:***@p:1', source='HTTPS_PROXY')"
    assert ProxySettings("http://p:1", "http", "p", 1).display == "http://p:1"
