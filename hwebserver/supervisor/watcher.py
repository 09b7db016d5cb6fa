"""Reload on source changes: watchfiles runs in a helper process, so the supervisor never has
a watcher thread when it forks.

The supervisor writes the files to watch to the helper's stdin (one JSON list per line, sent
again when the set grows) and reads lines from its stdout: a JSON list of changed files, or
{"watching": N} once a watch is in place (edits made before that are not seen).
The helper watches the files' directories, not the files, so editors that save by writing a
new file and renaming it are seen too; it exits when its stdin closes or its parent dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from ..worker.common.logs import ServerLog
from ..worker.process import linux
from ..worker.process.sources import application_sources

# Changes are yielded once this many milliseconds pass without a new one (watchfiles' step);
# an editor's save (write, rename, chmod) then triggers one reload, not three.
QUIET_MS = 200
# The helper wakes this often (milliseconds) without changes; its first wake-up tells that
# the watch is in place.
IDLE_WAKE_MS = 500
STOP_TIMEOUT = 3.0
RESTART_DELAY = 5.0

# What identifies a version of a file: a save changes one of these, a missing file is None.
Fingerprint = tuple[int, int, int] | None


def fingerprint(path: str) -> Fingerprint:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class SourceWatcher:
    """The supervisor's side: start the helper, tell it what to watch, read its reports."""

    def __init__(self, files: Iterable[str]) -> None:
        self.files: set[str] = set(files)
        self.process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def start(self) -> None:
        package_root = str(Path(__file__).resolve().parent.parent.parent)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from hwebserver.supervisor.watcher import main; main(int(sys.argv[2]))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, package_root, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=_before_exec,
        )
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        self._send()

    def _send(self) -> None:
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(json.dumps(sorted(self.files)).encode() + b"\n")
            process.stdin.flush()
        except OSError:
            pass  # it died; poll() reports it

    def watch_more(self, files: Iterable[str]) -> None:
        new = set(files) - self.files
        if new:
            self.files |= new
            self._send()

    def fileno(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        return self.process.stdout.fileno()

    def private_fds(self) -> list[int]:
        process = self.process
        if process is None:
            return []
        return [stream.fileno() for stream in (process.stdin, process.stdout) if stream]

    def read(self) -> tuple[list[str], int | None] | None:
        """(changed files, the number of files now watched if the helper just said so);
        None when the helper is gone."""
        assert self.process is not None and self.process.stdout is not None
        changed: list[str] = []
        watching: int | None = None
        while True:
            try:
                data = os.read(self.process.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not data:
                return None
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                report = json.loads(line)
                if isinstance(report, dict):
                    watching = int(report.get("watching", 0))
                else:
                    changed.extend(str(path) for path in report)
        return changed, watching

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


def _before_exec() -> None:
    linux.set_parent_death_signal(signal.SIGTERM)


class Readers(Protocol):
    """Where the helper's reports are waited for: the supervisor's selector, or a serving
    event loop (foreground/server.py)."""

    def register(self, fileobj: int, events: int, data: Any = None) -> Any: ...

    def unregister(self, fileobj: int) -> Any: ...


class WatcherKeeper:
    """The supervisor's use of a SourceWatcher: on its selector, restarted if it dies,
    calling on_change(description) when watched files change.

    It keeps what the helper last saw of each file (a fingerprint), taken when a watch is in
    place and on each change reported: a helper started again compares the files with it
    once its watch is in place, so an edit saved while no helper watched is reloaded too."""

    def __init__(
        self,
        selector: Readers,
        log: ServerLog,
        on_change: Callable[[str], None],
        on_watching: Callable[[], None] | None = None,
    ) -> None:
        self.selector = selector
        self.log = log
        self.on_change = on_change
        # Called each time a watch is in place: edits made before it were not seen.
        self.on_watching = on_watching
        self.watcher: SourceWatcher | None = None
        self.restart_at: float | None = None
        self.files: set[str] = set()  # kept across restarts: the workers' reports included
        self.seen: dict[str, Fingerprint] = {}

    def start(self, now: float) -> None:
        self.restart_at = None
        self.files |= set(application_sources())
        watcher = SourceWatcher(self.files)
        try:
            watcher.start()
        except OSError as exc:
            self.log.error("cannot start the source watcher: %s", exc)
            self.restart_at = now + RESTART_DELAY
            return
        self.watcher = watcher
        self.selector.register(watcher.fileno(), selectors.EVENT_READ, self._on_readable)

    def watch_more(self, files: Iterable[str]) -> None:
        new = set(files) - self.files
        if not new:
            return
        self.files |= new
        if self.seen:  # a watch is in place already: these are seen as they are now
            self.seen.update((path, fingerprint(path)) for path in new)
        if self.watcher is not None:
            self.watcher.watch_more(new)

    def private_fds(self) -> list[int]:
        return self.watcher.private_fds() if self.watcher is not None else []

    def check(self, now: float) -> None:
        """Each turn of the main loop: notice a dead helper, restart it when due."""
        watcher = self.watcher
        if watcher is not None and watcher.process is not None:
            if watcher.process.poll() is not None:
                self._lost(now)
        elif self.restart_at is not None and now >= self.restart_at:
            self.start(now)

    def _on_readable(self) -> None:
        assert self.watcher is not None
        report = self.watcher.read()
        if report is None:
            self._lost(time.monotonic())
            return
        changed, watching = report
        if watching is not None:
            self.log.lifecycle("watching %d source file(s) for changes", watching)
            missed = self._compare_with_last_seen()
            if missed:
                self.on_change(f"{_names(missed)} changed while the source watcher was down")
            if self.on_watching is not None:
                self.on_watching()
        if changed:
            self.seen.update((path, fingerprint(path)) for path in changed)
            self.on_change(f"{_names(changed)} changed")

    def _compare_with_last_seen(self) -> list[str]:
        """The watch is in place: the files that differ from what was last seen (none at the
        first start), and from now on what is seen is the files as they are."""
        now_seen = {path: fingerprint(path) for path in sorted(self.files)}
        known, self.seen = self.seen, now_seen
        return [path for path, seen in known.items() if now_seen.get(path) != seen]

    def _lost(self, now: float) -> None:
        self.log.warning("the source watcher exited; restarting it in %gs", RESTART_DELAY)
        self.stop()
        self.restart_at = now + RESTART_DELAY

    def stop(self) -> None:
        watcher, self.watcher = self.watcher, None
        self.restart_at = None
        if watcher is None or watcher.process is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(watcher.fileno())
        watcher.stop()


def _names(paths: list[str]) -> str:
    names = ", ".join(os.path.basename(path) for path in paths[:3])
    return names + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


# -- the helper process --------------------------------------------------------------------------
def main(parent_pid: int) -> None:
    linux.set_parent_death_signal(signal.SIGTERM)
    if linux.orphaned(parent_pid):
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    wanted: list[set[str]] = []
    changed_set = threading.Event()
    finished = threading.Event()

    def read_requests() -> None:
        for line in sys.stdin.buffer:
            with contextlib.suppress(ValueError):
                wanted.append({os.path.abspath(p) for p in json.loads(line)})
                changed_set.set()
        finished.set()
        changed_set.set()

    threading.Thread(target=read_requests, name="requests", daemon=True).start()
    changed_set.wait()
    while not finished.is_set():
        changed_set.clear()
        _watch(wanted[-1] if wanted else set(), changed_set)


def _watch(files: set[str], stop: threading.Event) -> None:
    import watchfiles

    directories = sorted(
        {os.path.dirname(path) for path in files if os.path.isdir(os.path.dirname(path))}
    )
    if not directories:
        stop.wait()
        return
    announced = False
    for changes in watchfiles.watch(
        *directories,
        watch_filter=lambda _change, path: os.path.abspath(path) in files,
        recursive=False,
        step=QUIET_MS,
        stop_event=stop,
        rust_timeout=IDLE_WAKE_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    ):
        if not announced:
            announced = True
            _report({"watching": len(files)})
        if changes:
            _report(sorted({os.path.abspath(path) for _change, path in changes}))


def _report(report: object) -> None:
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
