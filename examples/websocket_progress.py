"""A WebSocket progress feed: a client starts a (simulated) render and receives each frame's
progress as it happens, pushed by a task that connect() starts.

    python examples/websocket_progress.py
    python -m websockets ws://127.0.0.1:8008/progress     (then type: render 5)
"""

from __future__ import annotations

import asyncio
import json
import os

import hwebserver


@hwebserver.webSocket("/progress")
class Progress(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        self.job: asyncio.Task[None] | None = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        command, _, count = (text_data or "").partition(" ")
        frames = count.strip() or "3"
        if command != "render" or not frames.isdigit() or int(frames) < 1:
            # Tell the client what it may say; a bad argument is no reason to close.
            await self.send(json.dumps({"error": "say: render N"}))
        elif self.job is not None:
            await self.send(json.dumps({"error": "a render is running already"}))
        else:
            self.job = asyncio.get_running_loop().create_task(self.render(int(frames)))

    async def render(self, frames: int) -> None:
        for frame in range(1, frames + 1):
            await asyncio.sleep(0.05)  # a frame's work
            await self.send(json.dumps({"frame": frame, "of": frames}))
        await self.send(json.dumps({"done": True}))
        self.job = None

    async def disconnect(self, code: int) -> None:
        if self.job is not None:
            self.job.cancel()


if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)
