"""The pytest plugin as a user meets it: a project of its own (tests/userproject, written from
docs/testing.md) run by a pytest of its own, and what hwebserver_service promises at teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
from support import ROOT, python_env, wait_for

USER_PROJECT = ROOT / "tests" / "userproject"


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in `directory`, the plugin found through its entry point only."""
    env = python_env()
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_user_project_passes() -> None:
    result = run_pytest(USER_PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 passed" in result.stdout


def write_project(directory: Path, service: str, test: str) -> Path:
    (directory / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (directory / "service.py").write_text(textwrap.dedent(service))
    (directory / "test_it.py").write_text(textwrap.dedent(test))
    return directory


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_failing_test_still_stops_the_whole_service(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        """
        import hwebserver

        @hwebserver.urlHandler("/x")
        def x(request):
            return "x"
        """,
        """
        import os
        import httpx

        def test_fails(hwebserver_service):
            service = hwebserver_service("service.py", "--workers", "2")
            pids = [service.pid, *service.workers()]
            open("pids", "w").write(" ".join(map(str, pids)))
            assert httpx.get(service.url + "/x").text == "no"
        """,
    )
    result = run_pytest(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed in" in result.stdout  # and no error at teardown
    assert "--- log of <service pid" in result.stdout  # the service's log with the failure
    pids = [int(pid) for pid in (project / "pids").read_text().split()]
    assert len(pids) == 3
    for pid in pids:
        wait_for(lambda pid=pid: gone(pid), timeout=10)


def test_a_process_the_service_leaves_behind_fails_the_test_and_is_killed(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        """
        import os
        import subprocess
        import sys

        import hwebserver

        if not os.path.exists("orphan"):  # once, in the supervisor (a reload imports again)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            open("orphan", "w").write(str(child.pid))

        @hwebserver.urlHandler("/x")
        def x(request):
            return "x"
        """,
        """
        import httpx

        def test_passes(hwebserver_service):
            service = hwebserver_service("service.py")
            assert httpx.get(service.url + "/x").text == "x"
        """,
    )
    result = run_pytest(project)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 passed, 1 error" in result.stdout
    assert "left 1 process(es) running after it stopped" in result.stdout
    orphan = int((project / "orphan").read_text())
    assert f"{orphan} (" in result.stdout
    wait_for(lambda: gone(orphan), timeout=10)
    assert not os.path.exists(f"/proc/{orphan}") or gone(orphan)
