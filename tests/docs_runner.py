"""Run every code block of one documentation page against a served emulator.

    python tests/docs_runner.py docs/participants.md

``tests/test_docs.py`` runs each page this way, in its own process, so that a
page's global state (a tracer provider, logging configuration, variables)
never leaks into another page or into the rest of the suite.

What the runner does for a page:

* serves a fresh ``Emulator`` on a free loopback port, seeded with the sids the
  pages use (``CFsupport``, ``CFtownhall``, and ``examples/participants.json``),
  and points ``SIGNALWIRE_PROJECT_ID``, ``SIGNALWIRE_API_TOKEN`` and
  ``SIGNALWIRE_SPACE_URL`` at it, so ``AsyncClient()`` and the command line
  work as written;
* runs the page's blocks in order, in one namespace that starts with
  ``client`` (an open ``AsyncClient()``) and ``emulator`` (the served one):
  a ``python`` block with top-level ``await`` runs in the event loop, any
  other ``python`` block in a worker thread (so it may call ``asyncio.run``);
  a ``bash`` block runs with ``bash -e -o pipefail`` in a scratch directory
  holding a copy of ``examples/``.

A block is steered by an HTML comment on the line just before its fence:

* ``<!-- docs: skip REASON -->``: not run (kept rare: a settings file);
* ``<!-- docs: pytest -->``: a test module; the page's test modules run together, by
  pytest in a subprocess;
* ``<!-- docs: file NAME -->``: the block's text is written to NAME in the
  scratch directory (an input file the next blocks use);
* ``<!-- docs: background -->``: a bash command that serves until stopped; it
  is started on a free port (its ``--port N``: N is replaced by that port in
  this block and the blocks after it), waited for, and stopped at the end;
* ``<!-- docs: exit N -->``: a bash block expected to exit with N.

Blocks in other languages (text, json, csv) are not code and are not run.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

try:
    from .docs_blocks import ROOT, Block, read_blocks, runnable
except ImportError:  # run as a script: python tests/docs_runner.py PAGE
    from docs_blocks import ROOT, Block, read_blocks, runnable  # type: ignore[no-redef]

#: hypothesis's plugin alone takes two seconds to import, and no block uses it.
PYTEST_PLUGINS = ("-p", "no:hypothesispytest")
#: A server's port in a page (``--port 8080``); replaced by a free one when run.
_PORT_FLAG = re.compile(r"--port[ =](\d{2,5})\b")


# --- the emulator the pages talk to -------------------------------------------------


def seeded_emulator() -> Any:
    """The emulator every page starts with: the sids the pages use."""
    from aioparticipant.emulator import Emulator

    emulator = Emulator(project_id="docs-project", token="docs-token")
    emulator.add_participant("CFsupport", "CAagent", label="agent")
    emulator.add_participant("CFsupport", "CAcaller", label="customer")
    emulator.add_participant("CFsupport", "CAsupervisor", label="supervisor", muted=True)
    emulator.add_participant("CFtownhall", "CAhost", label="host")
    for number in range(1, 121):
        emulator.add_participant("CFtownhall", f"CAguest{number:03}")
    emulator.load_participants(ROOT / "examples" / "participants.json")
    return emulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"the background command exited early:\n{output}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:g}s")


# --- running the blocks ------------------------------------------------------------


@dataclass
class Page:
    """The state one page's blocks share."""

    path: Path
    workdir: Path
    env: dict[str, str]
    namespace: dict[str, Any]
    blocks: list[Block] = field(default_factory=list)
    port_map: dict[str, str] = field(default_factory=dict)
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def substitute(self, text: str) -> str:
        for documented, actual in self.port_map.items():
            text = text.replace(documented, actual)
        return text


async def run_python(block: Block, page: Page) -> None:
    source = page.substitute(block.text)
    code = compile(
        source, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, page.namespace)  # noqa: S307 - the documentation's own code
    else:
        await anyio.to_thread.run_sync(exec, code, page.namespace)


def run_pytest(blocks: list[Block], page: Page) -> None:
    """Every test module of the page, in one pytest run (its start-up is the slow part)."""
    names = []
    for block in blocks:
        test_file = page.workdir / f"test_docs_{block.line}.py"
        test_file.write_text(page.substitute(block.text), encoding="utf-8")
        names.append(test_file.name)
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            *("-p", "no:cacheprovider"),
            *PYTEST_PLUGINS,
            *names,
        ],
        cwd=page.workdir,
        env=page.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"pytest failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def run_bash(block: Block, page: Page) -> None:
    script = block.text
    if block.directive == "background":
        documented = _PORT_FLAG.search(script)
        if documented is None:
            raise ValueError(f"{block.where}: a background command needs --port N")
        port = page.port_map.setdefault(documented[1], str(free_port()))
        process = subprocess.Popen(  # noqa: S603 - the documentation's own command
            ["bash", "-c", "exec " + page.substitute(script).strip()],  # noqa: S607
            cwd=page.workdir,
            env=page.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        page.background.append(process)
        wait_for_port(int(port), process)
        return
    expected = int(block.argument) if block.directive == "exit" else 0
    done = subprocess.run(  # noqa: S603 - the documentation's own commands
        ["bash", "-e", "-o", "pipefail", "-c", page.substitute(script)],  # noqa: S607
        cwd=page.workdir,
        env=page.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != expected:
        raise AssertionError(
            f"exit {done.returncode}, expected {expected}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )


async def run_block(block: Block, page: Page) -> None:
    if block.directive == "file":
        (page.workdir / block.argument).write_text(block.text, encoding="utf-8")
    elif block.directive == "pytest":
        # The page's test modules all run at the first one: they share no namespace.
        tests = [other for other in page.blocks if other.directive == "pytest"]
        if block is tests[0]:
            await anyio.to_thread.run_sync(run_pytest, tests, page)
    elif block.lang in ("python", "py"):
        await run_python(block, page)
    else:
        await anyio.to_thread.run_sync(run_bash, block, page)


@contextmanager
def served_emulator() -> Iterator[tuple[Any, int]]:
    from aioparticipant.emulator import serve_in_thread

    emulator = seeded_emulator()
    with serve_in_thread(emulator) as server:
        yield emulator, server.port


def page_environment(port: int, emulator: Any, workdir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and name not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    env.update(
        SIGNALWIRE_PROJECT_ID=emulator.project_id,
        SIGNALWIRE_API_TOKEN=emulator.token,
        SIGNALWIRE_SPACE_URL=f"http://127.0.0.1:{port}",
        NO_PROXY="localhost,127.0.0.1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


async def run_page(path: Path) -> int:
    """Run the page's blocks; print each failure; return how many failed."""
    from aioparticipant import AsyncClient

    blocks = [block for block in read_blocks(path) if runnable(block)]
    failures = 0
    with (
        tempfile.TemporaryDirectory(prefix="aioparticipant-docs-") as scratch,
        served_emulator() as (emulator, port),
    ):
        workdir = Path(scratch)
        shutil.copytree(ROOT / "examples", workdir / "examples")
        env = page_environment(port, emulator, workdir)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(workdir)
        sys.path.insert(0, str(workdir))
        namespace: dict[str, Any] = {"__name__": "__main__", "emulator": emulator}
        page = Page(path=path, workdir=workdir, env=env, namespace=namespace, blocks=blocks)
        try:
            async with AsyncClient() as client:
                namespace["client"] = client
                for block in blocks:
                    started = time.perf_counter()
                    try:
                        with anyio.fail_after(120):
                            await run_block(block, page)
                    except BaseException as error:  # report and go on to the next block
                        # A block that calls sys.exit() has failed too; Ctrl-C has not.
                        if not isinstance(error, (Exception, SystemExit)):
                            raise
                        failures += 1
                        print(f"FAILED {block.where} ({block.lang})", file=sys.stderr)
                        traceback.print_exc(file=sys.stderr)
                    else:
                        took = time.perf_counter() - started
                        print(f"ok {block.where} ({block.lang}, {took:.2f}s)")
        finally:
            for process in page.background:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            os.chdir(ROOT)
    print(f"{path.name}: {len(blocks)} blocks run, {failures} failing")
    return failures


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/docs_runner.py docs/PAGE.md", file=sys.stderr)
        return 2
    path = Path(argv[0]).resolve()
    return 1 if anyio.run(run_page, path) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
