"""setuptools' build backend, with mypy added to a wheel's build requirements when
HWEBSERVER_COMPILE=1 asks for the compiled request path (setup.py): a pure-Python build, the
default, does not download a compiler front end it does not use."""

from __future__ import annotations

import os

from setuptools import build_meta  # type: ignore[import-untyped]
from setuptools.build_meta import *  # type: ignore[import-untyped]  # noqa: F403  (the rest, as is)

COMPILER = "mypy>=1.10"


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    compile_it = os.environ.pop("HWEBSERVER_COMPILE", None)
    try:
        # setuptools runs setup.py to collect its requirements: without the switch here, so
        # that it does not import mypyc before mypyc is installed.
        requires: list[str] = list(build_meta.get_requires_for_build_wheel(config_settings))
    finally:
        if compile_it is not None:
            os.environ["HWEBSERVER_COMPILE"] = compile_it
    if compile_it == "1":
        requires.append(COMPILER)
    return requires
