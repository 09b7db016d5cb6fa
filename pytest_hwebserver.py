"""hwebserver's pytest plugin: the `hwebserver_client` and `hwebserver_service` fixtures.

pytest loads it in every project where hwebserver is installed (the `pytest11` entry point).
It is a module of its own, outside the `hwebserver` package, and imports nothing of the server
until a test asks for a fixture: a test run that uses neither pays nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hwebserver.testing import Service, TestClient


@pytest.fixture
def hwebserver_client() -> Iterator[TestClient]:
    """A `TestClient` serving this process's handlers on a free port, with an isolated
    registry: what the test registers is gone after it."""
    from hwebserver.testing import TestClient, isolated_registry

    with isolated_registry(), TestClient() as client:
        yield client


@pytest.fixture
def hwebserver_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Service]]:
    """A factory: `hwebserver_service("service.py", "--workers", "2")` starts the service as
    the real supervised program (`hwebserver service.py --port 0 ...`, or `as_script=True`
    for `python service.py`), waits until it answers, and returns it (`url`, `port`, `pid`,
    `workers()`, `reload()`, `stop()`, `log`). At teardown, even after a failure, every
    service started is stopped with its whole process group; a process left over fails the
    test."""
    from hwebserver.testing import Services

    services = Services(tmp_path_factory.mktemp("hwebserver-service"))

    def start(script: Any, *cli_args: str, **options: Any) -> Service:
        return services.start(script, *cli_args, **options)

    try:
        yield start
    finally:
        problems = services.finish()
        for service in services.started:  # shown by pytest with a failing test's report
            sys.stderr.write(f"--- log of {service} ---\n{service.log}\n")
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
