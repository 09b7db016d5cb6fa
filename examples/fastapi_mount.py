"""A FastAPI app mounted under /api2 (needs FastAPI installed); its lifespan runs once per worker.

python examples/fastapi_mount.py   (then open http://127.0.0.1:8008/api2/items/3)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import hwebserver


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.started = True  # open a database pool here, say
    yield


api = FastAPI(lifespan=lifespan)


@api.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, object]:
    return {"item": item_id, "lifespan_ran": api.state.started}


hwebserver.registerASGIApp(api, "/api2")

if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)
