"""The streaming and workers rows of scripts/bench run end to end, briefly (never timed here:
the figures belong to scripts/bench; these only check that the rows measure something)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

SCRIPTS = ROOT / "scripts"
PEERS = ROOT / ".bench" / "peers" / "bin"


def run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--json", str(tmp_path / "out.json"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        # The sources (or, in the compiled run, the compiled copy the tests run in): the
        # script's counting is under test, not the compiled build scripts/bench makes.
        env={
            **os.environ,
            "PATH": f"/usr/bin:/bin:{os.environ.get('PATH', '')}",
            "HWEBSERVER_BENCH_CODE": "pure",
        },
    )


def test_the_sse_client_counts_the_events_of_hwebserver_streams(tmp_path):
    # The hwebserver rows need only the project's venv.
    result = run(
        "bench_stream.py",
        tmp_path,
        *("--server", "hwebserver", "--streams", "20", "--events", "10"),
        *("--duration", "1", "--warmup", "0.5", "--rounds", "1"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["server"]: row for row in json.loads((tmp_path / "out.json").read_text())}
    assert set(rows) == {"hwebserver generator (threads)", "hwebserver async generator"}
    for row in rows.values():
        assert row["errors"] == 0, row
        assert row["events_per_s"] > 0, row
        assert row["streams_per_s"] > 0, row  # whole streams, each ended by its last chunk


@pytest.mark.skipif(
    not (PEERS / "uvicorn").exists() or not (PEERS / "granian").exists() or not shutil.which("wrk"),
    reason="needs the benchmark peers (scripts/bench makes .bench/peers) and wrk",
)
def test_bench_runs_the_stream_and_workers_rows_for_a_second(tmp_path):
    result = run(
        "bench.py",
        tmp_path,
        *("--only", "stream", "--only", "workers", "--stream-streams", "50"),
        *("--duration", "1", "--warmup", "0.5", "--rounds", "1"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    streamed = {row["server"]: row for row in written["stream"]}
    assert set(streamed) == {
        "hwebserver generator (threads)",
        "hwebserver async generator",
        "uvicorn+starlette async generator",
        "uvicorn+starlette generator (threads)",
        "uvicorn raw ASGI",
    }
    assert all(row["events_per_s"] > 0 and row["errors"] == 0 for row in streamed.values())
    assert all("starlette (peers)" in row["versions"] for row in streamed.values())
    served = {row["server"]: row for row in written["rows"]}
    assert set(served) == {
        "hwebserver workers=2 plain (threads)",
        "hwebserver workers=2 async",
        "uvicorn --workers 2",
        "granian --workers 2",
    }
    assert all(row["median"] > 0 and row["errors"] == 0 for row in served.values())
    assert "events/s median" in result.stdout  # the SSE table was printed
