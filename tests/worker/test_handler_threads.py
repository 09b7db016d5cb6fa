"""HandlerThreads on a real event loop: order, the size limit, errors, and no call left waiting
behind a long one while threads sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import uvloop

from hwebserver.worker.common.threads import HandlerThreads


@pytest.fixture
def loop():
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


def run_calls(loop, threads: HandlerThreads, calls: list[tuple[Any, Any]], timeout: float = 20):
    """Make every call in one turn of the loop; (context, ok, value, seconds) as they finish."""
    results: list[tuple[Any, bool, Any, float]] = []
    started = time.monotonic()
    everything = loop.create_future()

    def done(context: Any, ok: bool, value: Any) -> None:
        results.append((context, ok, value, time.monotonic() - started))
        if len(results) == len(calls) and not everything.done():
            everything.set_result(None)

    def make() -> None:
        for index, (function, argument) in enumerate(calls):
            threads.call(function, argument, done, index)

    loop.call_soon(make)
    loop.run_until_complete(asyncio.wait_for(everything, timeout))
    return results


def test_short_calls_do_not_wait_behind_a_long_one(loop):
    threads = HandlerThreads(loop, 4, "test")
    calls = [(time.sleep, 2.0)] + [(lambda x: x * 2, n) for n in range(5)]
    results = run_calls(loop, threads, calls)
    short = [seconds for context, ok, value, seconds in results if context != 0]
    assert len(short) == 5 and max(short) < 1.0
    threads.close()


def test_at_most_size_calls_run_at_once_and_they_start_in_order(loop):
    threads = HandlerThreads(loop, 2, "test")
    lock = threading.Lock()
    running = [0, 0]  # now, peak
    order: list[int] = []

    def work(n: int) -> int:
        with lock:
            order.append(n)
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return n

    results = run_calls(loop, threads, [(work, n) for n in range(10)])
    assert sorted(value for _, _, value, _ in results) == list(range(10))
    assert running[1] == 2
    assert order[:2] in ([0, 1], [1, 0]) and order[2:] == sorted(order[2:])
    threads.close()


def test_errors_come_back_as_values_and_system_exit_does_not_escape(loop):
    threads = HandlerThreads(loop, 2, "test")

    def fail(kind: type[BaseException]) -> None:
        raise kind("boom")

    results = {
        c: (ok, v)
        for c, ok, v, _ in run_calls(loop, threads, [(fail, ValueError), (fail, SystemExit)])
    }
    assert results[0][0] is False and isinstance(results[0][1], ValueError)
    assert results[1][0] is False and isinstance(results[1][1], RuntimeError)
    assert isinstance(results[1][1].__cause__, SystemExit)
    threads.close()


def test_run_gives_a_future_and_calls_run_on_named_threads(loop):
    threads = HandlerThreads(loop, 2, "hwebserver-test")
    name = loop.run_until_complete(threads.run(lambda _: threading.current_thread().name, None))
    assert name.startswith("hwebserver-test-")
    threads.close()


def _later(n: int) -> int:
    time.sleep(n / 1000)
    return n


def _collect(context: tuple[list[int], asyncio.Future[None], int], ok: bool, value: Any) -> None:
    delivered, everything, index = context
    assert ok and value == index
    delivered.append(index)
    if len(delivered) == 1:
        time.sleep(0.005)  # the other three report meanwhile
    if len(delivered) == 4:
        everything.set_result(None)


def test_no_result_is_lost_when_threads_finish_calls_while_the_loop_delivers(loop):
    """Results come back without a lock. Round after round, three calls finish on their
    threads while the loop is delivering the result of a fourth (it lets go of the GIL
    there): every result comes back, each once, none left waiting for a wake-up that no
    later result will bring."""
    threads = HandlerThreads(loop, 4, "test")

    async def rounds() -> None:
        for round_number in range(200):
            delivered: list[int] = []
            everything = loop.create_future()
            for index in range(4):  # the first returns at once, the others a little later
                threads.call(_later, index, _collect, (delivered, everything, index))
            try:
                await asyncio.wait_for(everything, 10)
            except TimeoutError:
                pytest.fail(f"round {round_number}: only {sorted(delivered)} came back")
            assert sorted(delivered) == [0, 1, 2, 3]

    loop.run_until_complete(rounds())
    threads.close()
