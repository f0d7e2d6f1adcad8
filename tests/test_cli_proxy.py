"""`aioparticipant update` and `bulk` behind a proxy: the environment, --proxy, --ca-bundle.

In process, against tinyproxy in front of the emulator over TLS (fixtures in
conftest.py). The proxy password must never reach standard output, standard
error or the results file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aioparticipant.cli import main

from .netservers import PROXY_PASSWORD, PROXY_USER, Tinyproxy, TlsEmulator
from .rawserver import closed_port

pytestmark = pytest.mark.usefixtures("clean_network_environment")


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tls_emulator: TlsEmulator) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", tls_emulator.emulator.project_id)
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", tls_emulator.emulator.token)
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert PROXY_PASSWORD not in out + err
    return code, out, err


def connects(proxy: Tinyproxy, emulator: TlsEmulator) -> int:
    return proxy.requests_for(f"CONNECT 127.0.0.1:{emulator.port} ")


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_update_goes_through_proxy_and_ca_bundle_flags(
    tls_emulator: TlsEmulator,
    auth_tinyproxy: Tinyproxy,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    before = connects(auth_tinyproxy, tls_emulator)
    code, out, err = run(
        capsys,
        "update",
        "CF1",
        "CA1",
        "--muted",
        "--base-url",
        tls_emulator.base_url,
        "--proxy",
        auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD),
        "--ca-bundle",
        str(tls_emulator.ca_file),
        "--http-backend",
        backend,
    )
    assert code == 0, err
    assert json.loads(out)["muted"] is True
    assert connects(auth_tinyproxy, tls_emulator) == before + 1


def test_update_honours_https_proxy_and_ssl_cert_file(
    tls_emulator: TlsEmulator,
    tinyproxy: Tinyproxy,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_emulator.ca_file))
    before = connects(tinyproxy, tls_emulator)
    code, _, err = run(
        capsys, "update", "CF1", "CA1", "--muted", "--base-url", tls_emulator.base_url
    )
    assert code == 0, err
    assert connects(tinyproxy, tls_emulator) == before + 1


def test_update_honours_no_proxy(
    tls_emulator: TlsEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    code, _, err = run(
        capsys,
        "update",
        "CF1",
        "CA1",
        "--muted",
        "--base-url",
        tls_emulator.base_url,
        "--ca-bundle",
        str(tls_emulator.ca_file),
    )
    assert code == 0, err


def test_update_with_wrong_proxy_credentials_fails_without_printing_the_password(
    tls_emulator: TlsEmulator, auth_tinyproxy: Tinyproxy, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD + "-wrong")
    code, _, err = run(
        capsys,
        "update",
        "CF1",
        "CA1",
        "--muted",
        "--base-url",
        tls_emulator.base_url,
        "--proxy",
        wrong,
        "--ca-bundle",
        str(tls_emulator.ca_file),
    )
    assert code == 1
    assert "refused to open a tunnel" in err
    assert f"{PROXY_USER}:***@" in err


@pytest.mark.parametrize(
    ("flags", "parameter"),
    [
        (["--proxy", f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:1080"], "SOCKS"),
        (["--proxy", f"{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:3128"], "needs a scheme"),
        (["--ca-bundle", "/nonexistent/ca.pem"], "no CA bundle file or directory"),
    ],
)
def test_bad_proxy_and_ca_flags_are_usage_errors(
    tls_emulator: TlsEmulator, capsys: pytest.CaptureFixture[str], flags: list[str], parameter: str
) -> None:
    code, _, err = run(
        capsys, "update", "CF1", "CA1", "--muted", "--base-url", tls_emulator.base_url, *flags
    )
    assert code == 2
    assert parameter in err


def test_bulk_goes_through_the_proxy_and_records_no_password(
    tls_emulator: TlsEmulator,
    auth_tinyproxy: Tinyproxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("conference_sid,call_sid,muted\n" + "CF1,CA1,true\n" * 5)
    common = ["--base-url", tls_emulator.base_url, "--ca-bundle", str(tls_emulator.ca_file), "-q"]

    good = tmp_path / "good.jsonl"
    proxy = auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD)
    code, _, err = run(capsys, "bulk", str(source), "--out", str(good), "--proxy", proxy, *common)
    assert code == 0, err
    assert [json.loads(line)["ok"] for line in good.read_text().splitlines()] == [True] * 5

    bad = tmp_path / "bad.jsonl"
    wrong = auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD + "-wrong")
    code, _, err = run(
        capsys,
        "bulk",
        str(source),
        "--out",
        str(bad),
        "--proxy",
        wrong,
        "--max-retries",
        "0",
        *common,
    )
    assert code == 1, err
    recorded = bad.read_text()
    assert PROXY_PASSWORD not in recorded
    errors = [json.loads(line)["error"] for line in recorded.splitlines()]
    assert len(errors) == 5
    assert all("refused to open a tunnel" in error["message"] for error in errors)
