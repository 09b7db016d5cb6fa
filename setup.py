"""The build's one switch: HWEBSERVER_COMPILE=1 compiles the request path with mypyc.

Everything else about the package is in pyproject.toml. Without the switch the wheel is pure
Python (an editable install always is: an edit must take effect). With it, the modules below
become C extensions beside their sources; the sources stay in the wheel, and Python loads the
extension first. A user's code runs in the same tasks and threads and gets the same answers;
only our own code between the socket and the user's runs compiled (what little differs, such
as an unawaited ASGI send() going without Python's warning: docs/architecture.md).

    HWEBSERVER_COMPILE=1 python -m pip wheel --no-deps -w dist .     # a compiled wheel
    scripts/compile                                                  # a compiled copy to test

Only modules whose every call is on a request's path are here: compiled code trusts its type
annotations (a wrong type raises TypeError) and calls within the group bypass the module's
namespace, so each one must be strict-typed (mypy --strict, warn_unreachable) and tested in its
compiled form (scripts/test runs the whole suite again in scripts/compile's copy).
"""

from __future__ import annotations

import os

from setuptools import setup  # type: ignore[import-untyped]

COMPILED_MODULES = [
    "hwebserver/worker/apps/asgi.py",
    "hwebserver/worker/apps/response_framing.py",
    "hwebserver/worker/http/connection_io.py",
    "hwebserver/worker/http/gate.py",
    "hwebserver/worker/http/pipeline.py",
    "hwebserver/worker/http/protocol.py",
]


def compiled_extensions() -> list[object]:
    # Only a wheel is compiled: the build backend (build_support/hwebserver_build.py) runs
    # every other hook without the switch.
    if os.environ.get("HWEBSERVER_COMPILE") != "1":
        return []
    from mypyc.build import mypycify  # a build requirement only then (build_support/)

    return list(mypycify(COMPILED_MODULES, opt_level="3", group_name="hwebserver"))


if __name__ == "__main__":  # as setuptools runs it; scripts/compile imports the list
    setup(ext_modules=compiled_extensions())
