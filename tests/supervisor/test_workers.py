"""Workers that die, hang, grow or are added: replaced, dumped, recycled, counted."""

from __future__ import annotations

import os
import re
import signal

import httpx
from clientloop import ClientLoop
from supervision import alive, copy_app, worker_pids
from support import ServerProcess, wait_for


def test_kill_9_of_a_worker_is_replaced_with_no_failed_request(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        victim = min(worker_pids(srv))
        # A request in flight inside the killed process dies with it, whatever the server;
        # the promise is that nothing is refused or fails afterwards. So the kill happens
        # between two of the client's requests, each on a new connection.
        with ClientLoop(srv.url("/version"), keep_alive=False) as loop:
            loop.wait_for_count(10)
            loop.between_requests(lambda: os.kill(victim, signal.SIGKILL))
            wait_for(lambda: len(worker_pids(srv) - {victim}) == 2, timeout=30)
            replacement = (worker_pids(srv) - {victim}).pop()
            loop.wait_for_text(lambda text: text.endswith(f" {replacement}"))
        assert loop.failures == []
        assert f"worker {victim} (generation 0) exited unexpectedly (signal SIGKILL)" in srv.logs()


def test_crashing_worker_exit_code_is_logged_and_it_is_replaced_at_once(tmp_path):
    """Each had said READY: its code boots, so no crash backoff, however soon it crashes
    (the growing wait, for workers dying before READY, is in test_respawn.py)."""
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"verbosity": 1}) as srv:
        for _attempt in range(3):
            pids = worker_pids(srv)
            wait_for(lambda: len(worker_pids(srv)) == 1, timeout=30)
            try:
                httpx.get(srv.url("/crash?code=7"), timeout=10)
            except httpx.HTTPError:
                pass  # the process answering it is gone
            wait_for(lambda pids=pids: worker_pids(srv) and worker_pids(srv) != pids, timeout=30)
        logs = srv.logs()
        assert logs.count("exited unexpectedly (exit code 7); replacing it") == 3
        # At most the short floor between two starts of one slot (0.25 s).
        assert all(float(wait) <= 0.3 for wait in re.findall(r"replacing it in (\S+)s", logs))
        assert httpx.get(srv.url("/version"), timeout=30).status_code == 200


def test_replacing_a_worker_kills_its_process_tree(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"verbosity": 1}) as srv:
        worker, child = map(int, httpx.get(srv.url("/child"), timeout=10).text.split())
        assert alive(child)
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not alive(child), timeout=10)
        assert httpx.get(srv.url("/version"), timeout=30).status_code == 200


def test_silent_worker_has_its_stacks_dumped_and_is_replaced(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"verbosity": 1, "settings": {"WORKER_TIMEOUT": 2}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        (stuck,) = wait_for(lambda: worker_pids(srv))
        try:
            httpx.get(srv.url("/block?s=120"), timeout=1)
        except httpx.TimeoutException:
            pass  # its event loop is blocked: no answer, no heartbeat
        wait_for(lambda: "sent no heartbeat" in srv.logs(), timeout=30)
        # faulthandler's dump of every thread, the blocked handler among them. The supervisor
        # writes to the same stderr meanwhile: one of its lines may split the frame's line.
        blocked_frame = re.compile(r'service\.py", line \d+ in (?:.*\n)?block\n')
        wait_for(
            lambda: "Current thread" in srv.logs() and blocked_frame.search(srv.logs()), timeout=10
        )
        wait_for(lambda: not alive(stuck), timeout=10)
        assert httpx.get(srv.url("/version"), timeout=30).text.startswith("v1 ")


def test_recycling_by_max_requests_with_no_failed_request(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {
        "workers": 2,
        "verbosity": 1,
        "settings": {"MAX_REQUESTS": 40, "MAX_REQUESTS_JITTER": 10},
    }
    with ServerProcess(script, tmp_path, kwargs) as srv:
        first = wait_for(lambda: len(worker_pids(srv)) == 2 and worker_pids(srv))
        url = srv.url("/version")
        with ClientLoop(url) as kept, ClientLoop(url, keep_alive=False) as fresh:
            # Both first workers reach their limit, are replaced and leave.
            wait_for(lambda: not first & worker_pids(srv), timeout=90)
            kept.wait_for_count(20)
            fresh.wait_for_count(20)
        assert kept.failures == [] and fresh.failures == []
        logs = srv.logs()
        assert logs.count("recycling worker") >= 2 and "limit" in logs
        assert_one_recycling_at_a_time(logs)
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)  # a recycling may be under way


def test_recycling_by_memory(tmp_path):
    script = copy_app(tmp_path)
    limit = 150 * 1024 * 1024
    kwargs = {"verbosity": 1, "settings": {"MAX_WORKER_MEMORY": limit}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        (bloated,) = wait_for(lambda: worker_pids(srv))
        assert httpx.get(srv.url("/bloat?mib=200"), timeout=30).status_code == 200
        wait_for(lambda: "stayed above MAX_WORKER_MEMORY" in srv.logs(), timeout=30)
        wait_for(lambda: not alive(bloated), timeout=30)
        assert len(worker_pids(srv)) == 1


def test_sigttin_and_sigttou_add_and_remove_a_worker(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        srv.signal(signal.SIGTTIN)
        wait_for(lambda: len(worker_pids(srv)) == 3, timeout=30)
        # Standard signals do not queue: each one is sent once the previous one took effect.
        srv.signal(signal.SIGTTOU)
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)
        srv.signal(signal.SIGTTOU)
        wait_for(lambda: len(worker_pids(srv)) == 1, timeout=30)
        srv.signal(signal.SIGTTOU)  # never below one
        assert httpx.get(srv.url("/version"), timeout=30).status_code == 200
        assert len(worker_pids(srv)) == 1


def assert_one_recycling_at_a_time(logs: str) -> None:
    """Each recycled worker's replacement is READY before it drains, and the next recycling
    starts only after that."""
    recycling: str | None = None
    replacement_ready = False
    for line in logs.splitlines():
        if "recycling worker" in line:
            assert recycling is None, f"two recyclings at once: {line}"
            recycling = line.split("recycling ")[1].split(":")[0]
            replacement_ready = False
        elif recycling and " ready in " in line:
            replacement_ready = True
        elif recycling and f"{recycling} drains" in line:
            assert replacement_ready, f"{recycling} drained before its replacement was ready"
            recycling = None


def test_each_worker_s_ready_line_appears_once(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        pids = wait_for(lambda: len(worker_pids(srv)) == 2 and worker_pids(srv))
        wait_for(lambda: "serving with 2 worker(s)" in srv.logs())
        for pid in pids:
            lines = [x for x in srv.logs().splitlines() if f"worker {pid} " in x and " ready" in x]
            assert len(lines) == 1, lines


def test_the_outage_of_a_hung_single_worker_counts_from_its_last_heartbeat(tmp_path):
    """Clients waited from the worker's last heartbeat, not from when it was found silent
    (WORKER_TIMEOUT later): the outage logged is at least that long."""
    script = copy_app(tmp_path)
    timeout = 3.0
    kwargs = {"verbosity": 1, "settings": {"WORKER_TIMEOUT": timeout}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: worker_pids(srv))
        try:
            httpx.get(srv.url("/block?s=120"), timeout=1)
        except httpx.TimeoutException:
            pass
        wait_for(lambda: "a worker serves again" in srv.logs(), timeout=60)
        found = re.search(r"a worker serves again, after (\d+\.\d+)s", srv.logs())
        assert found and float(found.group(1)) >= timeout, srv.logs()
