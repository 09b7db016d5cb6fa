"""A service whose workers' start-up a test steers with files in the directory named by the
BOOT_CONTROL environment variable. Start-up here is an ASGI lifespan, which every worker
runs before it reports READY:

- `hang-once`: the first worker to boot takes the file away, writes `booting-<pid>` and
  hangs, so that a test can kill it while it boots; the workers after it boot at once;
- `hang-always`: the same for every worker;
- `exit-at-boot`: a booting worker exits on its own, with the code the file holds;
- `import-at-boot`: a booting worker imports the module the file names, from the same
  directory (a test writes a broken one there).

/version answers "v1 <pid>" once a worker serves.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from harness import serve

import hwebserver

CONTROL = Path(os.environ["BOOT_CONTROL"])


async def start_up() -> None:
    if _take(CONTROL / "hang-once") or (CONTROL / "hang-always").exists():
        (CONTROL / f"booting-{os.getpid()}").write_text("")
        await asyncio.sleep(120)
    exit_code = CONTROL / "exit-at-boot"
    if exit_code.exists():
        os._exit(int(exit_code.read_text()))
    module = CONTROL / "import-at-boot"
    if module.exists():
        sys.path.insert(0, str(CONTROL))
        importlib.import_module(module.read_text().strip())


def _take(path: Path) -> bool:
    """True for the one process that removes the file."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await start_up()
            except Exception:
                # As frameworks do: the worker reports the traceback and does not serve.
                await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


hwebserver.registerASGIApp(lifespan_app, "/asgi")


@hwebserver.urlHandler("/version")
def version(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(f"v1 {os.getpid()}", content_type="text/plain")


if __name__ == "__main__":
    serve()
