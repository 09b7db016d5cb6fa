"""A client sending requests in a loop while a test makes something happen to the server.

Bounded in count and time. Every outcome is recorded: a failure is any exception or any
status other than 200. `keep_alive=False` opens a connection per request. Paced (`pause`)
so that it lasts through slow events on a shared machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

MAX_REQUESTS = 8000
MAX_SECONDS = 90.0


class ClientLoop:
    def __init__(
        self,
        url: str,
        keep_alive: bool = True,
        max_requests: int = MAX_REQUESTS,
        max_seconds: float = MAX_SECONDS,
        pause: float = 0.01,
    ) -> None:
        self.url = url
        self.keep_alive = keep_alive
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.texts: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._between: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="client-loop", daemon=True)

    def __enter__(self) -> ClientLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "client loop did not stop"

    def between_requests(self, action: Callable[[], None], timeout: float = 30.0) -> None:
        """Run `action` in the loop's thread, when none of its requests is in flight."""
        done = threading.Event()

        def wrapped() -> None:
            try:
                action()
            finally:
                done.set()

        with self._lock:
            self._between.append(wrapped)
        assert done.wait(timeout), "client loop did not run the action"

    @property
    def count(self) -> int:
        return len(self.texts) + len(self.failures)

    def wait_for_text(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        """Until a response (received from now on) satisfies predicate."""
        start = len(self.texts)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.texts[start:]:
                if predicate(text):
                    return text
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no matching response; last: {self.texts[-3:]} {self.failures[-3:]}")

    def wait_for_count(self, more: int, timeout: float = 60.0) -> None:
        target = self.count + more
        deadline = time.monotonic() + timeout
        while self.count < target and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        assert self.count >= target, f"only {self.count} of {target} requests done"

    def _run(self) -> None:
        headers = {} if self.keep_alive else {"Connection": "close"}
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=30.0, headers=headers) as client:
            while (
                not self._stop.is_set()
                and self.count < self.max_requests
                and time.monotonic() < deadline
            ):
                with self._lock:
                    actions, self._between = self._between, []
                for action in actions:
                    action()
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    if response.status_code == 200:
                        self.texts.append(response.text)
                    else:
                        self.failures.append(f"status {response.status_code}: {response.text}")
                if self.pause:
                    time.sleep(self.pause)
