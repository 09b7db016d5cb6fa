"""Every public name is defined where a reader of the package looks for it: in a module of
api/'s public face (or run.py for run() and its companions), never in api/internal/ or in the
worker. docs/architecture.md describes the three parts of api/."""

from __future__ import annotations

import hwebserver

# run(), requestShutdown() and isInDebugMode() belong to the process that serves (run.py).
DEFINED_BY_RUN = {"run", "requestShutdown", "isInDebugMode"}


def test_every_public_name_is_defined_in_the_public_face_of_api() -> None:
    misplaced = {}
    for name in hwebserver.__all__:
        if name == "apiclient":  # a module of its own
            continue
        module = getattr(hwebserver, name).__module__
        if name in DEFINED_BY_RUN:
            expected_ok = module == "hwebserver.run"
        elif name == "apiFunction":
            expected_ok = module == "hwebserver.api.functions.decorator"
        else:
            expected_ok = module.startswith("hwebserver.api.") and module.count(".") == 2
        if not expected_ok:
            misplaced[name] = module
    assert misplaced == {}


def test_files_are_registered_by_api_files() -> None:
    assert hwebserver.registerStaticFilesDirectory.__module__ == "hwebserver.api.files"
    assert hwebserver.registerArchiveFile.__module__ == "hwebserver.api.files"
