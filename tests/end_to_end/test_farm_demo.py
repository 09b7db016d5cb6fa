"""examples/farm: its API (submit, list, cancel), its WebSocket feed, its jobs kept in a
database through reloads, a saved edit and a killed worker with every frame rendered exactly
once (SQLite with 4 workers; PostgreSQL with two instances behind HAProxy), and its dashboard
driven in headless Chromium (Debian's package; skipped, saying why, without it): a job
submitted from the page shows progress arriving over the WebSocket, the worker table fills from
/metrics, and the page reconnects by itself across a reload while the job goes on. The
dashboard's screenshot goes to bench-results/farm_dashboard.png.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from balancer import HAPROXY, haproxy, server_states
from supervision import edit, worker_pids
from support import ROOT, ServerProcess, kill_pids, wait_for
from websockets.sync.client import ClientConnection, connect

from hwebserver import apiclient
from hwebserver.testing import free_port

FARM = ROOT / "examples" / "farm" / "service.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def farm(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    """The farm as a user starts it (`python service.py`), its database in tmp_path."""
    script = Path(env.pop("script", str(FARM)))
    env = {
        "PORT": "0",
        "FARM_FRAME_SECONDS": "0.1",
        "FARM_DATABASE": str(tmp_path / "farm.sqlite3"),
        **env,
    }
    with ServerProcess(script, tmp_path, command=[sys.executable, str(script)], env=env) as srv:
        yield srv


def farm_copy(tmp_path: Path) -> Path:
    """examples/farm copied, so that a test can save edits to it."""
    copy = tmp_path / "farm"
    shutil.copytree(FARM.parent, copy, ignore=shutil.ignore_patterns("*.sqlite3*", "__pycache__"))
    return copy / "service.py"


def submit_jobs(service: apiclient.Service, count: int, frames: int) -> list[int]:
    return [service.farm.submit(name=f"shot_{n:03}", frames=frames)["id"] for n in range(count)]


def all_done(service: apiclient.Service, ids: list[int]) -> bool:
    states = {job["id"]: job["state"] for job in service.farm.jobs()}
    return all(states.get(job_id) == "done" for job_id in ids)


def renders_per_frame(rendered: list[tuple[int, int, str]]) -> Counter[tuple[int, int]]:
    return Counter((job, frame) for job, frame, _worker in rendered)


def assert_rendered_exactly_once(
    rendered: list[tuple[int, int, str]], ids: list[int], frames: int
) -> None:
    counts = renders_per_frame(rendered)
    expected = {(job, frame) for job in ids for frame in range(1, frames + 1)}
    assert set(counts) == expected, sorted(expected - set(counts))[:10]
    twice = {key: n for key, n in counts.items() if n != 1}
    assert not twice, f"frames rendered more than once: {sorted(twice.items())[:10]}"


def exactly_once_table(rendered: list[tuple[int, int, str]], ids: list[int]) -> str:
    """Per job: frames rendered, renders, and how many frames each worker rendered."""
    lines = ["job  frames  renders  by worker (pid: frames)"]
    for job in ids:
        of_job = [(frame, worker) for j, frame, worker in rendered if j == job]
        by = Counter(worker.rpartition(":")[2] for _frame, worker in of_job)
        frames = len({frame for frame, _worker in of_job})
        lines.append(f"{job:>3}  {frames:>6}  {len(of_job):>7}  {dict(sorted(by.items()))}")
    return "\n".join(lines)


def sqlite_renders(path: Path) -> list[tuple[int, int, str]]:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        rows = db.execute("SELECT job_id, frame, worker FROM frames ORDER BY job_id, frame")
        return [(int(j), int(f), str(w)) for j, f, w in rows]


def lease_holder(database: Path, workers: set[int]) -> int | None:
    """The pid of a serving worker that holds a batch's lease now and has already rendered
    part of it (killed then, the rest of its batch is another worker's to render), if any."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        rows = db.execute(
            "SELECT DISTINCT b.worker FROM batches b JOIN frames f ON f.job_id = b.job_id"
            " AND f.frame BETWEEN b.first_frame AND b.last_frame AND f.worker = b.worker"
            " WHERE b.worker IS NOT NULL AND b.finished = 0 AND b.lease_until > ?",
            (time.time(),),
        )
        holders = {int(str(worker).rpartition(":")[2]) for (worker,) in rows}
    return next(iter(holders & workers), None)


def new_generation(srv: ServerProcess, old: set[int]) -> set[int]:
    """Poll until none of `old` serves any more; the workers that do."""
    return wait_for(
        lambda: (lambda now: now if now and not now & old else None)(worker_pids(srv)), timeout=60
    )


def test_jobs_survive_reloads_an_edit_and_a_killed_worker_rendered_exactly_once(tmp_path):
    """SQLite, 4 workers: 5 jobs submitted through /api, then 3 HUPs, one saved edit and a
    SIGKILL of a worker in the middle of a batch while they render. Every job reaches done;
    each frame was rendered once; every worker reads the same job list."""
    script = farm_copy(tmp_path)
    database = tmp_path / "farm.sqlite3"
    env = {
        "script": str(script),
        "FARM_WORKERS": "4",
        "FARM_RELOAD": "1",
        "FARM_FRAME_SECONDS": "0.2",
        "FARM_LEASE_SECONDS": "2",
    }
    frames = 60
    with farm(tmp_path, **env) as srv:
        service = apiclient.Service(srv.url("/api"))
        ids = submit_jobs(service, 5, frames)
        workers = wait_for(
            lambda: (lambda w: w if len(w) == 4 else None)(worker_pids(srv)), timeout=30
        )
        # A worker killed while it holds a batch: its lease runs out and another takes it.
        holder = wait_for(lambda: lease_holder(database, worker_pids(srv)), timeout=30)
        os.kill(holder, signal.SIGKILL)
        workers = wait_for(
            lambda: (lambda w: w if len(w) == 4 and holder not in w else None)(worker_pids(srv)),
            timeout=30,
        )
        for _ in range(2):
            srv.signal(signal.SIGHUP)
            workers = new_generation(srv, workers)
        edit(script, "MAX_FRAMES = 10_000", "MAX_FRAMES = 10_000  # edited while rendering")
        workers = new_generation(srv, workers)
        srv.signal(signal.SIGHUP)
        new_generation(srv, workers)
        # (On a quiet machine the reloads take a second each, well within the ~15 s of
        # rendering; on a loaded one the last may come after the jobs are done.)
        wait_for(lambda: all_done(service, ids), timeout=180, interval=0.5)
        rendered = sqlite_renders(database)
        print(exactly_once_table(rendered, ids))
        assert_rendered_exactly_once(rendered, ids, frames)
        assert any(int(w.rpartition(":")[2]) == holder for _j, _f, w in rendered)
        # The same jobs from every worker: 20 fresh connections.
        views = [
            httpx.post(srv.url("/api"), json=["farm.overview", [], {}], timeout=10).json()
            for _ in range(20)
        ]
        assert len({view["worker"] for view in views}) >= 2
        assert all(view["jobs"] == views[0]["jobs"] for view in views)
        assert all(job["done"] == frames for job in views[0]["jobs"])


def test_farm_api_and_feed(tmp_path):
    with farm(tmp_path) as srv:
        service = apiclient.Service(srv.url("/api"))
        with connect(srv.url("/farm/feed").replace("http", "ws"), open_timeout=10) as feed:
            assert json.loads(feed.recv(timeout=10))["jobs"] == []
            job = service.farm.submit(name="shot_020", frames=5)
            assert job["state"] == "queued" and job["frames"] == 5
            progress = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (not progress or progress[-1]["state"] != "done"):
                [entry] = json.loads(feed.recv(timeout=10))["jobs"]
                progress.append(entry)
        assert [entry["done"] for entry in progress if entry["done"]][-1] == 5
        assert progress[-1]["state"] == "done"
        second = service.farm.submit(name="long", frames=1000)
        assert service.farm.cancel(job_id=second["id"])["state"] == "cancelled"
        assert {j["id"]: j["state"] for j in service.farm.jobs()}[second["id"]] == "cancelled"
        with pytest.raises(apiclient.APIError, match="frames must be from 1"):
            service.farm.submit(name="bad", frames=0)
        with pytest.raises(apiclient.APIError, match="no job 999"):
            service.farm.cancel(job_id=999)
        assert "hwebserver_worker_rss_bytes" in httpx.get(srv.url("/metrics"), timeout=10).text
        assert httpx.get(srv.url("/"), timeout=10).headers["content-type"].startswith("text/html")


class DevTools:
    """Just enough of the Chrome DevTools Protocol: commands by id, events ignored."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    """Headless Chromium with a debugging port; it and its children are stopped by PID."""
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += ["--disable-dev-shm-usage", "--window-size=1280,900", "--remote-debugging-port=0"]
    command += [f"--user-data-dir={profile}", "about:blank"]
    log = open(tmp_path / "chromium.log", "wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    seen: set[int] = set()
    try:
        active = profile / "DevToolsActivePort"
        wait_for(lambda: active.exists() and len(active.read_text().split()) == 2, timeout=60)
        port = int(active.read_text().split()[0])
        seen.update(child.pid for child in psutil.Process(proc.pid).children(recursive=True))
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(target for target in targets if target["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as socket:
            yield DevTools(socket)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            seen.update(child.pid for child in psutil.Process(proc.pid).children(recursive=True))
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        kill_pids(seen)
        log.close()


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup installs Debian's chromium)"
)
def test_dashboard_in_headless_chromium(tmp_path):
    with farm(tmp_path) as srv, chromium(tmp_path) as browser:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=srv.url("/"))
        wait_for(
            lambda: (
                browser.evaluate("document.getElementById('feed-state')?.textContent") == "live"
            ),
            timeout=30,
            interval=0.2,
        )
        browser.evaluate(
            "document.getElementById('job-name').value = 'shot_from_page';"
            "document.getElementById('job-frames').value = '300';"
            "document.getElementById('submit-button').click();"
        )
        job_row = """(() => {
            const row = [...document.querySelectorAll('#jobs tbody tr')]
                .find(r => r.cells[1].textContent === 'shot_from_page');
            return row ? [row.cells[2].textContent, row.querySelector('.progress').textContent]
                       : null;
        })()"""
        # Frames arrive over the WebSocket: the row's progress moves on by itself.
        first = wait_for(lambda: browser.evaluate(job_row), timeout=30, interval=0.2)
        rendering = wait_for(
            lambda: (
                lambda row: (
                    row
                    if row and row[0] == "rendering" and int(row[1].split("/")[0]) >= 5
                    else None
                )
            )(browser.evaluate(job_row)),
            timeout=30,
            interval=0.2,
        )
        assert first[1].strip().endswith("/ 300") and rendering[1].strip().endswith("/ 300")
        assert "submitted job" in browser.evaluate(
            "document.getElementById('submit-message').textContent"
        )
        worker_rows = "[...document.querySelectorAll('#workers tbody tr.worker')].map(r => [...r.cells].map(c => c.textContent))"
        # Once a heartbeat carried them: the page's requests, and its WebSocket held open.
        rows = wait_for(
            lambda: (
                lambda rows: (
                    rows
                    if rows
                    and len(rows) == len(worker_pids(srv))
                    and sum(int(row[2]) for row in rows) > 0
                    and sum(int(row[5]) for row in rows) >= 1
                    else None
                )
            )(browser.evaluate(worker_rows)),
            timeout=30,
            interval=0.2,
        )
        assert {int(row[0]) for row in rows} == worker_pids(srv)
        assert all(row[6].endswith("MiB") and float(row[6].split()[0]) > 1 for row in rows)
        # A reload mid-render: the feed is closed with 1001, the page says so and reconnects
        # by itself to a worker of the new generation, and the job goes on rendering.
        before = int(browser.evaluate(job_row)[1].split("/")[0])
        old_workers = worker_pids(srv)
        srv.signal(signal.SIGHUP)
        new_generation(srv, old_workers)
        feed_state = "document.getElementById('feed-state').textContent"
        wait_for(lambda: "reconnected" in browser.evaluate(feed_state), timeout=60, interval=0.2)
        served_by = "document.getElementById('feed-worker').textContent"
        wait_for(
            lambda: int(browser.evaluate(served_by).split()[-1]) in worker_pids(srv) - old_workers,
            timeout=30,
            interval=0.2,
        )
        after = wait_for(
            lambda: (lambda row: row if int(row[1].split("/")[0]) > before else None)(
                browser.evaluate(job_row)
            ),
            timeout=60,
            interval=0.2,
        )
        assert after[0] in ("rendering", "done")
        shot = browser.call("Page.captureScreenshot", format="png")
        results = ROOT / "bench-results"
        results.mkdir(exist_ok=True)
        (results / "farm_dashboard.png").write_bytes(base64.b64decode(shot["data"]))


POSTGRES_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def postgres_missing() -> str | None:
    """Why the PostgreSQL test cannot run here, or None."""
    if POSTGRES_BIN is None or not (POSTGRES_BIN / "initdb").exists():
        return "PostgreSQL is not installed (scripts/setup installs Debian's postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -r examples/farm/requirements-postgres.txt)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing: PostgreSQL refuses to run as root"
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster in a temporary directory, as an unprivileged user (the
    package's `postgres` user when the tests run as root), on 127.0.0.1; its URL. Stopped by
    its PID and removed afterwards."""
    assert POSTGRES_BIN is not None
    home = Path(tempfile.mkdtemp(prefix="hwebserver-farm-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(home, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = home / "data"
    subprocess.run(
        [*as_user, str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "farm"],
        check=True,
        capture_output=True,
    )
    log = open(home / "postgres.log", "wb")
    proc = subprocess.Popen(
        [
            *as_user,
            str(POSTGRES_BIN / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(home),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"postgresql://farm@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        def connects() -> bool:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                return False

        wait_for(connects, timeout=60, interval=0.2)
        yield url
    finally:
        # runuser's child is the postmaster: SIGINT is its fast shutdown.
        pids = {proc.pid}
        with contextlib.suppress(psutil.NoSuchProcess):
            pids |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        kill_pids(pids)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def postgres_renders(url: str) -> list[tuple[int, int, str]]:
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute("SELECT job_id, frame, worker FROM frames ORDER BY job_id, frame")
        return [(int(j), int(f), str(w)) for j, f, w in rows.fetchall()]


@pytest.mark.skipif(postgres_missing() is not None, reason=str(postgres_missing()))
def test_two_instances_share_one_postgresql_farm_behind_haproxy(tmp_path):
    """PostgreSQL, two instances of the service behind HAProxy; one is stopped with TERM and
    started again while the jobs render. Every frame of every job is rendered exactly once, by
    the workers of both instances."""
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (scripts/setup installs Debian's haproxy)")
    frames = 40
    ports = {"a": free_port(), "b": free_port()}
    with postgres_server() as url, contextlib.ExitStack() as stack:
        env = {
            "FARM_DATABASE_URL": url,
            "FARM_WORKERS": "2",
            "FARM_FRAME_SECONDS": "0.2",
            "FARM_LEASE_SECONDS": "2",
        }
        instances = {
            name: stack.enter_context(farm(tmp_path / f"{name}0", PORT=str(port), **env))
            for name, port in ports.items()
        }
        with haproxy(tmp_path, ports) as (front, stats):
            wait_for(lambda: set(server_states(stats).values()) == {"UP"}, timeout=30)
            service = apiclient.Service(f"http://127.0.0.1:{front}/api")
            ids = submit_jobs(service, 4, frames)
            wait_for(lambda: len(postgres_renders(url)) >= 8, timeout=60)
            first_workers = worker_pids(instances["a"]) | worker_pids(instances["b"])
            instances["a"].signal(signal.SIGTERM)  # its workers hand their batches back
            assert instances["a"].wait(60) == 0
            instances["a"] = stack.enter_context(farm(tmp_path / "a1", PORT=str(ports["a"]), **env))
            wait_for(lambda: set(server_states(stats).values()) == {"UP"}, timeout=30)
            wait_for(lambda: all_done(service, ids), timeout=180, interval=0.5)
            rendered = postgres_renders(url)
        print(exactly_once_table(rendered, ids))
        assert_rendered_exactly_once(rendered, ids, frames)
        by_pid = {int(worker.rpartition(":")[2]) for _j, _f, worker in rendered}
        later_workers = worker_pids(instances["a"])
        assert by_pid & first_workers and by_pid & later_workers  # both lives of instance a
