"""Eager start of async handlers: same results as a Task, without one when nothing waits."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
import uvloop

from hwebserver.worker.http import eager

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def run(coro_factory):
    async def main():
        loop = asyncio.get_running_loop()
        done, value = eager.start(loop, coro_factory())
        return done, (value if done else await value)

    return uvloop.run(main())


def test_a_coroutine_that_never_waits_needs_no_task():
    async def immediate():
        return 42

    assert run(immediate) == (True, 42)


def test_awaiting_futures_sleeps_and_results():
    async def waits():
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, "x")
        return await future

    assert run(waits) == (False, "x")


def test_exceptions_reach_the_caller_both_ways():
    async def fails_at_once():
        raise ValueError("now")

    async def fails_later():
        await asyncio.sleep(0.01)
        raise KeyError("later")

    with pytest.raises(ValueError):
        run(fails_at_once)
    with pytest.raises(KeyError):
        run(fails_later)


def test_a_failed_future_raises_inside_the_coroutine():
    async def catches():
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_exception, OSError("io"))
        try:
            await future
        except OSError as exc:
            return f"caught {exc}"

    assert run(catches) == (False, "caught io")


def test_cancellation_reaches_the_coroutine():
    seen = []

    async def main():
        async def long():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        _done, task = eager.start(asyncio.get_running_loop(), long())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    uvloop.run(main())
    assert seen == ["cancelled"]


def test_context_variables_do_not_leak_out_of_a_handler():
    async def sets():
        VAR.set("inside")
        await asyncio.sleep(0)
        return VAR.get()

    assert run(sets) == (False, "inside")
    assert VAR.get() == "unset"


def test_closing_a_waiting_handler_closes_it_and_runs_none_of_its_code():
    """A task collected or closed while its handler waits (the loop going away): the handler
    gets GeneratorExit at its await and is closed, it is not resumed as if the wait ended."""
    trace: list[str] = []

    async def waits_forever():
        try:
            await asyncio.get_running_loop().create_future()
            trace.append("resumed")
        except GeneratorExit:
            trace.append("closed")
            raise

    async def main():
        done, task = eager.start(asyncio.get_running_loop(), waits_forever())
        assert not done
        await asyncio.sleep(0)  # the task now waits on the future
        task.get_coro().close()
        task.cancel()  # the closed coroutine's task must not run it again
        await asyncio.sleep(0)

    uvloop.run(main())
    assert trace == ["closed"]
