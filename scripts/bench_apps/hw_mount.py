"""hwebserver serving one peer app mounted at "/": `python hw_mount.py KIND PORT`.

KIND is asgi (peer_asgi.py, registerASGIApp), starlette (peer_starlette.py), fastapi
(peer_fastapi.py) or flask (peer_flask.py, registerWSGIApp): the very app objects the peers
serve, so that a row compares servers, not apps.
"""

from __future__ import annotations

import importlib
import sys

import hwebserver

MOUNTS = {
    "asgi": ("peer_asgi", hwebserver.registerASGIApp),
    "starlette": ("peer_starlette", hwebserver.registerASGIApp),
    "fastapi": ("peer_fastapi", hwebserver.registerASGIApp),
    "flask": ("peer_flask", hwebserver.registerWSGIApp),
}

if __name__ == "__main__":
    module_name, register = MOUNTS[sys.argv[1]]
    register(importlib.import_module(module_name).app, "/")
    hwebserver.run(port=int(sys.argv[2]), in_background=False, max_num_threads=4)
