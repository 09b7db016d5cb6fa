"""setuptools' build backend, with mypy added to a wheel's build requirements when
HWEBSERVER_COMPILE=1 asks for the compiled request path (setup.py): a pure-Python build, the
default, does not download a compiler front end it does not use."""

from __future__ import annotations

import os

from setuptools import build_meta  # type: ignore[import-untyped]
from setuptools.build_meta import *  # type: ignore[import-untyped]  # noqa: F403  (the rest, as is)

COMPILER = "mypy>=1.10"


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    requires: list[str] = list(build_meta.get_requires_for_build_wheel(config_settings))
    if os.environ.get("HWEBSERVER_COMPILE") == "1":
        requires.append(COMPILER)
    return requires
