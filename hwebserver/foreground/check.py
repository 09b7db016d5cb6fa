"""Checking the new code before a reload without a supervisor gives up the old one.

The service's command line runs again in a short-lived child whose HWEBSERVER_WORKER launch
says `check_only` (worker/process/launch.py): it imports the script, and at run() it reports
READY with the application's source files and exits, never binding or serving. An exception
on the way, an exit before run() or no READY within WORKER_BOOT_TIMEOUT fails the check, and
the service keeps serving the code it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field

from ..supervisor import tree
from ..supervisor.spawn import LAUNCH_CWD
from ..worker.common.control import ControlProtocolError, FrameDecoder
from ..worker.common.messages import BootFailed, Ready, decode
from ..worker.process.launch import ENV_NAME, WorkerLaunch

EXIT_GRACE = 5.0  # after its report, the child has this long to exit before it is killed
EXIT_POLL = 0.02


@dataclass
class CheckResult:
    ok: bool
    summary: str = ""  # one line: what failed
    details: str = ""  # the user's traceback, when there is one
    sources: list[str] = field(default_factory=list)  # what the new code loaded


async def check_new_code(command: list[str], generation: int, timeout: float) -> CheckResult:
    """Run the check child to its end; never raises for the child's failures."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    launch = WorkerLaunch(os.getpid(), generation, theirs.fileno(), (), check_only=True)
    env = dict(os.environ)
    env[ENV_NAME] = launch.to_env()
    try:
        child = subprocess.Popen(
            command,
            env=env,
            cwd=LAUNCH_CWD,
            stdin=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
            process_group=0,  # Ctrl-C in the terminal is the service's to handle, not its
        )
    except OSError as exc:
        ours.close()
        return CheckResult(False, f"cannot start the check of the new code: {exc}")
    finally:
        theirs.close()
    grace = EXIT_GRACE
    try:
        async with asyncio.timeout(timeout):
            result = await _read_report(ours, child)
    except TimeoutError:
        grace = 0.0  # hung on the way to run(): no waiting for it
        result = CheckResult(False, f"the new code did not reach run() within {timeout:g}s")
    except BaseException:
        grace = 0.0  # the reload was given up (the service stops)
        raise
    finally:
        ours.close()
        await _end(child, grace)
    return result


async def _read_report(sock: socket.socket, child: subprocess.Popen[bytes]) -> CheckResult:
    reader, writer = await asyncio.open_connection(sock=sock)
    decoder = FrameDecoder()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            try:
                messages = [decode(frame) for frame in decoder.feed(data)]
            except ControlProtocolError as exc:
                return CheckResult(False, f"the check of the new code sent garbage: {exc}")
            for message in messages:
                if isinstance(message, Ready):
                    return CheckResult(True, sources=message.sources)
                if isinstance(message, BootFailed):
                    summary = message.summary.strip() or "see the traceback"
                    return CheckResult(False, summary, message.error.rstrip())
    finally:
        writer.close()
    code = await _wait(child, EXIT_GRACE)
    what = "was killed" if code is not None and code < 0 else f"exited with status {code}"
    return CheckResult(False, f"the new code {what} before reaching run()")


async def _wait(child: subprocess.Popen[bytes], timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(EXIT_POLL)
    return child.returncode


async def _end(child: subprocess.Popen[bytes], grace: float) -> None:
    """The child exits by itself once it reported; past the grace, it and what it started are
    killed. Reaped either way: no zombie stays behind."""
    if grace <= 0 or await _wait(child, grace) is None:
        tree.kill_tree(child.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(EXIT_GRACE)
