"""Reloads: SIGHUP and source edits bring new code in with no failed request; a broken
edit leaves the old code serving."""

from __future__ import annotations

import signal
import socket

import httpx
import psutil
import pytest
from clientloop import ClientLoop
from supervision import copy_app, edit, worker_pids
from support import ServerProcess, read_response, wait_for


def is_v1(text: str) -> bool:
    return text.startswith("v1 ")


def is_v2(text: str) -> bool:
    return text.startswith("v2 ")


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_serves_new_code_with_no_failed_request(tmp_path, workers):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": workers, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == workers)
        old = worker_pids(srv)
        url = srv.url("/version")
        with ClientLoop(url) as kept, ClientLoop(url, keep_alive=False) as fresh:
            kept.wait_for_text(is_v1)
            fresh.wait_for_text(is_v1)
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            srv.signal(signal.SIGHUP)
            kept.wait_for_text(is_v2)
            fresh.wait_for_text(is_v2)
            wait_for(lambda: not old & worker_pids(srv), timeout=30)  # drained and gone
            kept.wait_for_count(30)
            fresh.wait_for_count(30)
        assert kept.failures == [] and fresh.failures == []
        assert all(is_v2(text) for text in kept.texts[-20:] + fresh.texts[-20:])
        assert len(worker_pids(srv)) == workers
        assert "generation 1 serves" in srv.logs()


def test_idle_keep_alive_connection_survives_a_reload(tmp_path):
    """A connection idle during the reload is not closed under the client: its next request
    is still answered (by the old code, with Connection: close)."""
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"verbosity": 1}) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as idle:
            request = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
            idle.sendall(request)
            status, headers, body = read_response(idle)
            assert status == 200 and body.startswith(b"v1 ")
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            srv.signal(signal.SIGHUP)
            with ClientLoop(srv.url("/version"), keep_alive=False) as fresh:
                fresh.wait_for_text(is_v2)
            idle.sendall(request)
            status, headers, body = read_response(idle)
            assert status == 200 and body.startswith(b"v1 ")
            assert headers["connection"] == "close"
            assert idle.recv(1) == b""
        assert fresh.failures == []


def test_source_edit_reloads_with_reload_source_changes(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"workers": 2, "reload_source_changes": True, "verbosity": 1}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: "watching" in srv.logs())
        with ClientLoop(srv.url("/version")) as loop:
            loop.wait_for_text(is_v1)
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            loop.wait_for_text(is_v2)
            loop.wait_for_count(20)
        assert loop.failures == []
        assert "service.py changed" in srv.logs()
        assert srv.logs().count("reloading (") == 1  # one save, one reload (debounced)


def test_an_edit_saved_while_the_source_watcher_was_down_is_reloaded(tmp_path):
    """The watcher helper is killed, a change is saved before it is back: the helper started
    again compares the files with what it last saw, and the edit is served."""
    script = copy_app(tmp_path)
    kwargs = {"workers": 1, "reload_source_changes": True, "verbosity": 1}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: "watching" in srv.logs())
        (watcher,) = [
            child
            for child in psutil.Process(srv.pid).children()
            if "supervisor.watcher" in " ".join(child.cmdline())
        ]
        watcher.kill()
        wait_for(lambda: "the source watcher exited" in srv.logs())
        edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
        with ClientLoop(srv.url("/version")) as loop:
            loop.wait_for_text(is_v2, timeout=60)
        assert "service.py changed while the source watcher was down" in srv.logs()
        assert srv.logs().count("reloading (") == 1


def test_broken_edit_keeps_old_code_and_the_fix_loads(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"workers": 2, "reload_source_changes": True, "verbosity": 1}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: "watching" in srv.logs())
        with ClientLoop(srv.url("/version")) as loop:
            loop.wait_for_text(is_v1)
            # An exception while importing: the traceback is logged, the old code serves on.
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"\nraise RuntimeError("half-typed")')
            wait_for(lambda: "reload failed (generation 1)" in srv.logs(), timeout=60)
            assert "RuntimeError: half-typed" in srv.logs()
            loop.wait_for_count(20)
            # A syntax error: the same.
            edit(script, 'raise RuntimeError("half-typed")', "def broken(:")
            wait_for(lambda: "reload failed (generation 2)" in srv.logs(), timeout=60)
            assert "SyntaxError" in srv.logs()
            loop.wait_for_count(20)
            assert all(is_v1(text) for text in loop.texts)
            edit(script, "def broken(:", "")
            loop.wait_for_text(is_v2)
            loop.wait_for_count(20)
        assert loop.failures == []


def test_new_generation_without_ready_in_time_is_abandoned(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"workers": 2, "verbosity": 1, "settings": {"WORKER_BOOT_TIMEOUT": 3}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        with ClientLoop(srv.url("/version")) as loop:
            loop.wait_for_text(is_v1)
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"\nimport time\ntime.sleep(600)')
            srv.signal(signal.SIGHUP)
            wait_for(lambda: "sent no READY within 3s" in srv.logs(), timeout=60)
            wait_for(lambda: "reload failed (generation 1)" in srv.logs(), timeout=30)
            wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)  # the stuck ones are gone
            loop.wait_for_count(20)
        assert loop.failures == []
        assert all(is_v1(text) for text in loop.texts)


def test_first_workers_are_forked_with_the_state_built_before_run(tmp_path):
    """Generation 0 shares what the script built (copy-on-write); a reload builds it anew."""
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == srv.pid and served_by in worker_pids(srv)
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "generation 1 serves" in srv.logs(), timeout=60)
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == served_by != srv.pid


def test_default_verbosity_shows_the_pids_and_each_reload_s_outcome(tmp_path):
    """An operator at the default verbosity sees which pids serve, and what a reload did."""
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        first = worker_pids(srv)
        wait_for(lambda: f"supervisor {srv.pid} serving with 2 worker(s)" in srv.logs())
        assert all(str(pid) in srv.logs() for pid in first)
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded: generation 1 serves" in srv.logs(), timeout=60)
        wait_for(lambda: not first & worker_pids(srv), timeout=30)
        line = next(x for x in srv.logs().splitlines() if "reloaded: generation 1" in x)
        assert all(str(pid) in line for pid in worker_pids(srv))
        assert "reloading (SIGHUP)" in srv.logs()


def test_default_verbosity_shows_a_reload_overtaken_by_a_newer_one(tmp_path):
    """A second HUP (or a save) while a reload is still starting replaces it: the default log
    says what became of the first generation, not only that a newer one starts."""
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 1)
        # Generation 1 says it has read the script before it sleeps: edited again before its
        # worker read it, it would boot the second edit and serve, with nothing to supersede.
        sleeping = tmp_path / "generation-1-sleeps"
        stall = f"import time\nopen({str(sleeping)!r}, 'w').close()\ntime.sleep(600)"
        edit(script, 'VERSION = "v1"', f'VERSION = "v2"\n{stall}')
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "generation 1 starts" in srv.logs(), timeout=30)
        wait_for(sleeping.exists, timeout=60)
        edit(script, stall, "")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded: generation 2 serves" in srv.logs(), timeout=60)
        assert "generation 1 abandoned: superseded by a newer reload (SIGHUP)" in srv.logs()
        assert is_v2(httpx.get(srv.url("/version"), timeout=30).text)
