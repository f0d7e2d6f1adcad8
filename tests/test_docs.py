"""The documentation site: every code block on it runs, against the emulator.

Each page runs in its own process (``tests/docs_runner.py`` says how blocks
are run and how a block is marked), two pages at a time; a page that uses Redis gets a real
redis-server (``AIOPARTICIPANT_REDIS_URL``), one that uses a Redis Cluster
gets three nodes (``AIOPARTICIPANT_REDIS_CLUSTER_URL``). The figures' scripts
are run again into a scratch directory, so they cannot rot either.
``mkdocs build --strict`` itself runs in ``.ci/run``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from .docs_blocks import ROOT, read_blocks, runnable
from .redis_servers import redis_cluster, redis_server

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def _page_id(path: Path) -> str:
    return path.stem


PAGES_WITH_CODE = [page for page in PAGES if any(runnable(block) for block in read_blocks(page))]
#: Pages run two at a time: most of a page's time is waiting (servers, sleeps, subprocesses).
PARALLEL_PAGES = 2


def test_every_page_has_been_found_and_nearly_every_page_has_code() -> None:
    assert len(PAGES) >= 12, PAGES
    assert {page.stem for page in PAGES} - {page.stem for page in PAGES_WITH_CODE} == {"changelog"}


def run_page(page: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """Run one page in its own process, with the Redis servers it names."""
    text = page.read_text(encoding="utf-8")
    env = dict(os.environ)
    with ExitStack() as stack:
        if "AIOPARTICIPANT_REDIS_URL" in text:
            (scratch / "redis").mkdir(parents=True)
            server = stack.enter_context(redis_server(scratch / "redis"))
            env["AIOPARTICIPANT_REDIS_URL"] = server.url
        if "AIOPARTICIPANT_REDIS_CLUSTER_URL" in text:
            (scratch / "cluster").mkdir(parents=True)
            nodes = stack.enter_context(redis_cluster(scratch / "cluster"))
            env["AIOPARTICIPANT_REDIS_CLUSTER_URL"] = f"redis://127.0.0.1:{nodes[0].port}/0"
        return subprocess.run(  # noqa: S603 - our own interpreter and runner
            [sys.executable, str(ROOT / "tests" / "docs_runner.py"), str(page)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="session")
def page_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Path, Future[subprocess.CompletedProcess[str]]]]:
    """Every selected page, started as soon as the first one is asked for; longest first."""
    selected = {
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_every_code_block_on_the_page_runs"
    }
    order = sorted(selected, key=lambda page: page.stat().st_size, reverse=True)
    scratch = tmp_path_factory.mktemp("docs-pages")
    with ThreadPoolExecutor(max_workers=PARALLEL_PAGES) as pool:
        yield {page: pool.submit(run_page, page, scratch / page.stem) for page in order}


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_every_code_block_on_the_page_runs(
    page: Path, page_runs: dict[Path, Future[subprocess.CompletedProcess[str]]]
) -> None:
    done = page_runs[page].result(timeout=600)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_a_skipped_block_says_why_and_python_blocks_are_rarely_skipped(page: Path) -> None:
    blocks = read_blocks(page)
    skipped = [block for block in blocks if block.directive == "skip"]
    assert all(block.argument for block in skipped)
    python = [block for block in blocks if block.lang in ("python", "py")]
    assert len([b for b in skipped if b.lang in ("python", "py")]) <= max(1, len(python) // 4)


def test_the_runner_reads_fences_directives_and_indented_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'Text\n\n<!-- docs: skip a settings file -->\n```python title="settings.py"\nX = 1\n```\n'
        '\n=== "Tab"\n\n    ```bash\n    aioparticipant --help\n    ```\n\n```json\n{}\n```\n',
        encoding="utf-8",
    )
    blocks = read_blocks(page)
    assert [(b.lang, b.directive, b.argument, b.text) for b in blocks] == [
        ("python", "skip", "a settings file", "X = 1\n"),
        ("bash", "", "", "aioparticipant --help\n"),
        ("json", "", "", "{}\n"),
    ]
    assert [runnable(b) for b in blocks] == [False, True, False]


def test_a_page_with_a_failing_block_fails_and_names_each_failing_block(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text(
        "```python\nvalue = await client.conferences('CFsupport').participants('CAagent').fetch()\n```\n"
        "```python\nassert value.label == 'someone else'\n```\n"
        "```python\nimport sys\nsys.exit(0)\n```\n"
        "```bash\naioparticipant update CFsupport CAnobody --muted\n```\n",
        encoding="utf-8",
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and runner
        [sys.executable, str(ROOT / "tests" / "docs_runner.py"), str(page)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"ok {page}:1 " in done.stdout
    failed = [line for line in done.stderr.splitlines() if line.startswith("FAILED")]
    assert [line.split(":")[-1].split()[0] for line in failed] == ["4", "7", "11"]


@pytest.mark.parametrize("script", ["timelines.py", "plots.py"])
def test_the_figures_scripts_still_run(script: str, tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(DOCS / "scripts" / script), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = sorted(tmp_path.glob("*.svg"))
    assert figures, done.stdout
    for figure in figures:
        committed = DOCS / "img" / figure.name
        assert committed.exists(), f"{figure.name} is made by {script} but not committed"
        assert figure.read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))


def test_the_api_reference_lists_every_public_name() -> None:
    import aioparticipant
    import aioparticipant.emulator
    import aioparticipant.redis
    import aioparticipant.testing

    for module, page in (
        (aioparticipant, "client.md"),
        (aioparticipant.redis, "redis.md"),
        (aioparticipant.emulator, "emulator.md"),
        (aioparticipant.testing, "testing.md"),
    ):
        text = (DOCS / "reference" / page).read_text(encoding="utf-8")
        missing = [
            name
            for name in module.__all__
            if not name.startswith("__") and f"::: {module.__name__}.{name}\n" not in text
        ]
        assert not missing, f"docs/reference/{page} lacks {missing}"
