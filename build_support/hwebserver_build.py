"""setuptools' build backend, with what compiling the request path takes (setup.py) added to a
wheel's build requirements when HWEBSERVER_COMPILE=1 asks for it: a pure-Python build, the
default, downloads nothing it does not use.

mypyc type-checks the package as it compiles it, so it needs what the package imports (its
runtime dependencies, from pyproject.toml) and the stubs of those that ship no types: without
them a build in a fresh environment fails with "Cannot find implementation or library stub".
"""

from __future__ import annotations

import os
import tomllib

from setuptools import build_meta  # type: ignore[import-untyped]
from setuptools.build_meta import *  # type: ignore[import-untyped]  # noqa: F403  (the rest, as is)

COMPILER = ["mypy>=1.10", "types-psutil"]


def compile_requirements() -> list[str]:
    """mypy, and the package's runtime dependencies for it to check against."""
    with open("pyproject.toml", "rb") as file:  # the build runs in the project's directory
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    return [*COMPILER, *dependencies]


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
        requires += compile_requirements()
    return requires
