"""The blocking Client across processes: after fork, and at interpreter exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from aioparticipant._sync._loop import THREAD_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, ROOT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- fork ---------------------------------------------------------------------------------------

FORK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from aioparticipant import Client, TokenBucket
    from aioparticipant.emulator import Emulator, serve_in_thread
    from tests.twins import Connections

    emulator = Emulator()
    for call in ("CA1", "CA2", "CA3"):
        emulator.add_participant("CF1", call)
    connections = Connections(emulator)
    report = {}
    with serve_in_thread(connections) as server:
        client = Client(emulator.project_id, emulator.token, base_url=server.base_url)
        custom = Client(emulator.project_id, emulator.token, base_url=server.base_url,
                        limiter=TokenBucket(100))
        client.conferences("CF1").participants("CA1").mute()
        parent_ports = list(connections.ports)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: exits through the interpreter's normal shutdown
            os.close(read)
            child = {"threads_at_start": [t.name for t in threading.enumerate()]}
            child["muted"] = client.conferences("CF1").participants("CA2").mute().muted
            try:
                custom.conferences("CF1").participants("CA3").mute()
            except RuntimeError as error:
                child["custom_limiter_error"] = str(error)
            child["requests"] = client.stats.requests
            client.close()
            child["threads_after_close"] = [t.name for t in threading.enumerate()]
            os.write(write, json.dumps(child).encode())
            os.close(write)
            sys.exit(0)
        os.close(write)
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        report["child_exit"] = done[1] if done[0] else "hung"
        with os.fdopen(read) as pipe:
            report["child"] = json.loads(pipe.read() or "{}")
        report["child_ports"] = connections.ports[len(parent_ports):]
        report["parent_ports"] = parent_ports
        client.conferences("CF1").participants("CA1").unmute()  # the parent's pool still works
        report["parent_after"] = connections.ports[-1]
        report["parent_requests"] = client.stats.requests
        report["states"] = [p.muted for p in emulator.participants("CF1")]
        client.close()
        custom.close()
    print(json.dumps(report))
    """
)


def test_after_fork_the_child_gets_its_own_loop_and_pool_and_never_the_parents() -> None:
    done = run_script(FORK_SCRIPT)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    child = report["child"]
    assert report["child_exit"] == 0  # the child's exit did not hang on the parent's thread
    assert THREAD_NAME not in child["threads_at_start"]  # threads do not survive a fork
    assert child["muted"] is True
    assert child["requests"] == 1  # a fresh client: the parent's counters stay the parent's
    assert THREAD_NAME not in child["threads_after_close"]
    assert "worker_process_init" in child["custom_limiter_error"]
    (parent_port,) = set(report["parent_ports"])
    assert report["child_ports"]
    assert parent_port not in report["child_ports"]  # the child opened its own connection
    assert report["parent_after"] == parent_port  # and the parent's is intact, still reused
    assert report["parent_requests"] == 2
    assert report["states"] == [False, True, False]


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from aioparticipant import Client
    from aioparticipant.emulator import Emulator, serve_in_thread

    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    serving = serve_in_thread(emulator)
    server = serving.__enter__()  # left running too: both are daemon threads
    client = Client(emulator.project_id, emulator.token, base_url=server.base_url)
    print(client.conferences("CF1").participants("CA1").mute().muted)
    # no close(): the interpreter must still exit, quietly
    """
)


def test_a_client_nobody_closed_never_holds_up_interpreter_exit() -> None:
    done = run_script(EXIT_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
