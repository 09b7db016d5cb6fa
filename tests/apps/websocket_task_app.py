"""WebSocket classes that tell which asyncio task runs their code (tests/websockets/
test_websocket_task.py): one task per connection runs connect(), each receive() and
disconnect(), as Django Channels runs a consumer.

/task answers each message with "<same> <token>": `same` says whether receive() runs in the
task connect() ran in (and in the one every earlier receive() ran in); `token` names that task
for this worker's lifetime (the tasks are kept, so no two connections share a number).
/order answers each message with itself, a message starting with "slow" after a sleep.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import serve

import hwebserver

# Every connection's task, kept: its index is its token, never reused.
TASKS: list[asyncio.Task[Any]] = []
# What each connection's disconnect() saw: token -> whether its task was connect()'s.
DISCONNECTS: dict[str, bool] = {}


def token_of(task: asyncio.Task[Any]) -> str:
    for index, known in enumerate(TASKS):
        if known is task:
            return str(index)
    TASKS.append(task)
    return str(len(TASKS) - 1)


@hwebserver.webSocket("/task")
class TaskIdentity(hwebserver.WebSocket):
    async def connect(self, request: Any) -> None:
        self.task = asyncio.current_task()
        await self.accept()

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        task = asyncio.current_task()
        if text_data == "sleep":
            await asyncio.sleep(0.01)  # after a suspension too
        assert task is not None
        await self.send(f"{task is self.task} {token_of(task)}")

    async def disconnect(self, code: int) -> None:
        task = self.task
        assert task is not None
        DISCONNECTS[token_of(task)] = asyncio.current_task() is task


@hwebserver.webSocket("/order")
class Ordered(hwebserver.WebSocket):
    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        if text_data.startswith("slow"):
            await asyncio.sleep(0.3)
        await self.send(text_data)


@hwebserver.urlHandler("/disconnects")
def disconnects(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(" ".join(f"{k}={v}" for k, v in sorted(DISCONNECTS.items())))


if __name__ == "__main__":
    serve()
