"""setuptools' build backend, with the one switch of the compiled build (setup.py):
HWEBSERVER_COMPILE=1 compiles the request path with mypyc, and only a wheel is ever compiled.

- Every other hook (an editable install, an sdist, the metadata) runs with the switch off, so
  that setup.py neither imports mypyc nor compiles: an editable install is pure Python whatever
  the environment says.
- A compiled wheel's build requirements add mypy and what mypyc type-checks the package
  against: its runtime dependencies (a fresh build environment has none of them) and the stubs
  of those without types. mypy's range and the stubs are the test extra's (pyproject.toml),
  declared once: the compiled build is tested with that mypy.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from setuptools import build_meta  # type: ignore[import-untyped]

SWITCH = "HWEBSERVER_COMPILE"
COMPILER_NAMES = ("mypy", "types-psutil")  # taken from the test extra, with its ranges


def compile_requested() -> bool:
    """Whether the environment asks for a compiled build; an unknown value is refused (a
    `true` would otherwise build pure Python without a word)."""
    value = os.environ.get(SWITCH, "")
    if value not in ("", "0", "1"):
        raise SystemExit(f"{SWITCH} must be 1 (compile) or 0 (pure Python), not {value!r}")
    return value == "1"


@contextmanager
def switched_off() -> Iterator[None]:
    """setup.py run without the switch: neither mypyc imported nor anything compiled."""
    value = os.environ.pop(SWITCH, None)
    try:
        yield
    finally:
        if value is not None:
            os.environ[SWITCH] = value


def compile_requirements() -> list[str]:
    """mypy and the stubs from the test extra, and the runtime dependencies to check against."""
    with open("pyproject.toml", "rb") as file:  # the build runs in the project's directory
        project = tomllib.load(file)["project"]
    compiler = [
        requirement
        for requirement in project["optional-dependencies"]["test"]
        if re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0] in COMPILER_NAMES
    ]
    return [*compiler, *project["dependencies"]]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    with switched_off():
        requires: list[str] = list(build_meta.get_requires_for_build_wheel(config_settings))
    return requires + compile_requirements() if compile_requested() else requires


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    compile_requested()  # refuses an unknown value before any work
    name: str = build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)
    return name


def _without_switch(hook: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with switched_off():
            return hook(*args, **kwargs)

    run.__name__ = hook.__name__
    return run


get_requires_for_build_sdist = _without_switch(build_meta.get_requires_for_build_sdist)
get_requires_for_build_editable = _without_switch(build_meta.get_requires_for_build_editable)
prepare_metadata_for_build_wheel = _without_switch(build_meta.prepare_metadata_for_build_wheel)
prepare_metadata_for_build_editable = _without_switch(
    build_meta.prepare_metadata_for_build_editable
)
build_sdist = _without_switch(build_meta.build_sdist)
build_editable = _without_switch(build_meta.build_editable)
