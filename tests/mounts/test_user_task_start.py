"""user_tasks.start, in process: the one way the worker starts a coroutine of user code.

Through real sockets, every kind of user code is covered by test_user_tasks.py; these pin the
function's own promises: a task from the first line, the outcome handed to done() exactly
once, SystemExit carried, the context given, closing from outside.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import warnings
from typing import Any

import pytest
import uvloop

from hwebserver.worker.http import user_tasks

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")
EAGER = sys.version_info >= (3, 12)


@pytest.fixture(params=["coroutine", "make"])
def making(request) -> bool:
    """Each promise holds for both ways in: a coroutine given, or made in the task's first
    step by `make` (as the ASGI adapter makes its scope and the app's coroutine)."""
    return request.param == "make"


def outcome_of(
    coro_factory, context: contextvars.Context | None = None, making: bool = False
) -> list[Any]:
    """[error, result] handed to done(), and whether done() had run when start() returned."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        record: list[Any] = []

        def done(subject: list[Any], error: BaseException | None, result: Any) -> None:
            subject.extend((error, result))
            ended.set_result(None)

        context_given = context or contextvars.copy_context()
        if making:
            user_tasks.start(
                loop, context_given, None, done, record, "test", make=lambda _s: coro_factory()
            )
        else:
            user_tasks.start(loop, context_given, coro_factory(), done, record, "test")
        ended_at_once = ended.done()
        await asyncio.wait_for(ended, 10)
        return [*record, ended_at_once]

    return uvloop.run(main())


def test_the_first_line_runs_in_the_code_s_own_task(making):
    async def which_task():
        task = asyncio.current_task()
        assert task is not None
        async with asyncio.timeout(5), asyncio.TaskGroup() as group:
            group.create_task(asyncio.sleep(0))
        return task

    error, task, _ = outcome_of(which_task, making=making)
    assert error is None
    assert isinstance(task, asyncio.Task)


def test_code_that_does_not_wait_has_ended_when_start_returns_on_3_12(making):
    async def immediate():
        return 42

    assert outcome_of(immediate, making=making) == [None, 42, EAGER]


def test_awaiting_futures_sleeps_and_results(making):
    async def waits():
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, "x")
        return await future

    assert outcome_of(waits, making=making) == [None, "x", False]


@pytest.mark.parametrize("late", [False, True])
def test_what_the_code_raises_reaches_done(late, making):
    async def fails():
        if late:
            await asyncio.sleep(0.01)
        raise KeyError("failed")

    error, result, _ = outcome_of(fails, making=making)
    assert isinstance(error, KeyError) and result is None


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt])
@pytest.mark.parametrize("late", [False, True])
def test_system_exit_is_carried_and_the_loop_goes_on(kind, late, making):
    """In a task, a SystemExit would leave the loop (and stop every connection)."""

    async def exits():
        if late:
            await asyncio.sleep(0.01)
        raise kind("bye")

    error, _, _ = outcome_of(exits, making=making)
    assert isinstance(error, RuntimeError) and isinstance(error.__cause__, kind)


def test_a_cancelled_task_reports_its_cancellation_and_runs_its_finally():
    trace: list[str] = []

    async def main():
        loop = asyncio.get_running_loop()
        errors: list[BaseException | None] = []

        async def long():
            try:
                await asyncio.sleep(10)
            finally:
                trace.append("finally")

        task = user_tasks.start(
            loop, contextvars.copy_context(), long(), lambda _s, e, _r: errors.append(e), None, "t"
        )
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return errors

    errors = uvloop.run(main())
    assert trace == ["finally"]
    assert len(errors) == 1 and isinstance(errors[0], asyncio.CancelledError)


def test_a_task_cancelled_before_its_first_step_reports_its_cancellation_once(making):
    """Its code never runs (Python 3.11, or eager=False): done() still hears of it, once, and
    the code is closed without a 'never awaited' warning (or never made); a request would
    hang otherwise."""
    ran: list[str] = []

    async def main():
        loop = asyncio.get_running_loop()
        errors: list[BaseException | None] = []

        async def code():
            ran.append("ran")

        def make(_subject: None):
            ran.append("made")
            return code()

        task = user_tasks.start(
            loop,
            contextvars.copy_context(),
            None if making else code(),
            lambda _s, e, _r: errors.append(e),
            None,
            "t",
            eager=False,
            make=make if making else None,
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)  # a second report would have come by now
        return errors

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = uvloop.run(main())
    assert ran == []
    assert len(errors) == 1 and isinstance(errors[0], asyncio.CancelledError)


def test_the_code_runs_in_the_context_given_and_its_changes_stay_there(making):
    base = contextvars.copy_context()
    base.run(VAR.set, "base")

    async def sets():
        seen = VAR.get()
        VAR.set("inside")
        await asyncio.sleep(0)
        return seen, VAR.get()

    context = base.copy()
    assert outcome_of(sets, context, making)[:2] == [None, ("base", "inside")]
    assert base.run(VAR.get) == "base"
    assert VAR.get() == "unset"


def test_closing_a_waiting_task_closes_the_code_and_reports_nothing():
    """A task collected or closed while its code waits (the loop going away): the code gets
    GeneratorExit at its await and is closed, it is not resumed as if the wait ended, and
    nothing is reported (the server may not answer for code that was closed)."""
    trace: list[str] = []
    reported: list[Any] = []

    async def waits_forever():
        try:
            await asyncio.get_running_loop().create_future()
            trace.append("resumed")
        except GeneratorExit:
            trace.append("closed")
            raise

    async def main():
        task = user_tasks.start(
            asyncio.get_running_loop(),
            contextvars.copy_context(),
            waits_forever(),
            lambda _s, e, r: reported.append((e, r)),
            None,
            "test",
        )
        await asyncio.sleep(0)  # the task now waits on the future
        task.get_coro().close()
        task.cancel()  # the closed coroutine's task must not run it again
        await asyncio.sleep(0)
        if task.done() and not task.cancelled():
            task.exception()  # (stepping a closed coroutine fails: seen, not logged)

    uvloop.run(main())
    assert trace == ["closed"]
    assert reported == []


def test_a_generator_exit_of_the_code_s_own_is_its_failure(making):
    async def raises_it():
        await asyncio.sleep(0)
        raise GeneratorExit("mine")

    error, _, _ = outcome_of(raises_it, making=making)
    assert isinstance(error, GeneratorExit)


def test_make_runs_in_the_task_and_a_fault_making_the_coroutine_reaches_done():
    made_in: list[asyncio.Task[Any] | None] = []

    async def code():
        return "ran"

    def make(subject: list[Any]):
        made_in.append(asyncio.current_task())
        if subject == ["fail"]:
            raise ValueError("could not make it")
        return code()

    async def main():
        loop = asyncio.get_running_loop()
        outcomes = []
        for subject in (["ok"], ["fail"]):
            ended = loop.create_future()
            task = user_tasks.start(
                loop,
                contextvars.copy_context(),
                None,
                lambda _s, e, r, ended=ended: ended.set_result((e, r)),
                subject,
                "t",
                make=make,
            )
            outcomes.append((task, await asyncio.wait_for(ended, 10)))
        return outcomes

    (ok_task, (error, result)), (fail_task, (failure, _)) = uvloop.run(main())
    assert made_in == [ok_task, fail_task]
    assert error is None and result == "ran"
    assert isinstance(failure, ValueError)
