"""Calls per second of a trivial API function: hwebserver beside Starlette under uvicorn.

Both servers run on this machine in the same run, one process each. Measured per server:
- apiclient: hwebserver.apiclient calling ping() in a loop over one keep-alive connection;
- wrk: POST /api with the form body cmd_function=ping (wrk -s with a Lua script).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from hwebserver import apiclient  # noqa: E402

LUA = """wrk.method = "POST"
wrk.body = "cmd_function=ping"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def start_hwebserver(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / "ports"
    log = workdir / "hwebserver.log"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "api_functions_app.py"), str(port_file)],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"hwebserver did not start:\n{log.read_text()}")
        time.sleep(0.05)
    port = int(port_file.read_text().split()[1])
    wait_port(port, proc, log)
    return proc, port


def start_uvicorn(workdir: Path, python: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = workdir / "uvicorn.log"
    proc = subprocess.Popen(
        [
            python, "-m", "uvicorn", "starlette_rpc_app:app", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ],
        cwd=str(HERE),
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_port(port, proc, log)
    return proc, port


def apiclient_rate(port: int, seconds: float) -> float:
    with apiclient.Service(f"http://127.0.0.1:{port}/api") as service:
        for _ in range(200):  # warm-up
            service.ping()
        calls = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            assert service.ping() == "pong"
            calls += 1
        return calls / (time.perf_counter() - started)


def wrk_rate(port: int, seconds: int, connections: int, script: Path) -> tuple[float, str]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
        f"http://127.0.0.1:{port}/api",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    note = f", {errors.group(1)} non-2xx" if errors else ""
    return (float(match.group(1)) if match else 0.0), note


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--starlette-python", required=True, help="python of the uvicorn venv")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        script = workdir / "post_form.lua"
        script.write_text(LUA)
        for label, start in (
            ("hwebserver", lambda: start_hwebserver(workdir)),
            ("starlette+uvicorn", lambda: start_uvicorn(workdir, args.starlette_python)),
        ):
            proc, port = start()
            try:
                client = apiclient_rate(port, args.seconds)
                wrk, note = wrk_rate(port, args.seconds, args.connections, script)
            finally:
                stop(proc)
            results[label] = {
                "apiclient": f"{client:,.0f} calls/s",
                "wrk": f"{wrk:,.0f} req/s{note}",
            }
            print(f"{label}: apiclient {client:,.0f} calls/s (one keep-alive connection); "
                  f"wrk -t1 -c{args.connections} POST form call {wrk:,.0f} req/s{note}",
                  flush=True)  # fmt: skip
    h, s = results["hwebserver"], results["starlette+uvicorn"]
    print()
    print(f"{'':20} {'apiclient (1 conn)':>22} {'wrk POST form call':>22}")
    print(f"{'hwebserver':20} {h['apiclient']:>22} {h['wrk']:>22}")
    print(f"{'starlette+uvicorn':20} {s['apiclient']:>22} {s['wrk']:>22}")


if __name__ == "__main__":
    main()
