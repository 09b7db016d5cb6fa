"""Autobahn|Testsuite's fuzzing client against hwebserver's WebSocket echo service.

autobahntestsuite 0.8.2 runs on Python 2.7 only. This module finds a 2.7 interpreter (the
HWEBSERVER_PYTHON27 variable, pyenv's versions, or python2.7 on PATH), makes a virtualenv
with it under .autobahn/ with the pinned set of packages below, starts the echo service
(tests/apps/websocket_echo.py) as a real process, runs the cases and counts the results of
the JSON report. Used by scripts/autobahn and by tests/websockets/test_autobahn.py.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import ROOT, ServerProcess

WORK = ROOT / ".autobahn"
VENV = WORK / "py27"
DEFAULT_ECHO_APP = "websocket_echo.py"  # the WebSocket API's echo, in tests/apps
# virtualenv 16 is a single module that still makes Python 2.7 environments.
VIRTUALENV = "virtualenv==16.7.12"
# A set that installs and runs on 2.7: autobahntestsuite 0.8.2 pins autobahn 0.10.9, and the
# newest releases of the rest that still support 2.7.
PINS = """
autobahntestsuite==0.8.2
autobahn==0.10.9
txaio==2.1.0
Twisted==20.3.0
zope.interface==5.5.2
Automat==22.10.0
attrs==21.4.0
constantly==15.1.0
hyperlink==21.0.0
idna==2.10
incremental==22.10.0
PyHamcrest==1.10.1
typing==3.10.0.0
six==1.17.0
wsaccel==0.6.6
ujson==2.0.3
klein==20.6.0
Tubes==0.2.1
Werkzeug==1.0.1
Jinja2==2.11.3
MarkupSafe==1.1.1
pyOpenSSL==21.0.0
cryptography==3.3.2
cffi==1.15.1
pycparser==2.21
enum34==1.1.10
ipaddress==1.0.23
service-identity==21.1.0
pyasn1==0.5.1
pyasn1-modules==0.3.0
unittest2==1.1.0
traceback2==1.4.0
linecache2==1.0.0
argparse==1.4.0
""".split()

ALL_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*", "12.*", "13.*"]
CI_CASES = ALL_CASES[:10]
BEHAVIOURS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")


class NoPython27(RuntimeError):
    pass


def _is_python27(path: str) -> bool:
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info[:2] == (2, 7))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python27() -> str:
    """The path of a Python 2.7 interpreter, or NoPython27 saying where we looked."""
    candidates = []
    if os.environ.get("HWEBSERVER_PYTHON27"):
        candidates.append(os.environ["HWEBSERVER_PYTHON27"])
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    if shutil.which("pyenv"):
        try:
            pyenv_root = (
                subprocess.run(
                    ["pyenv", "root"], capture_output=True, text=True, timeout=30
                ).stdout.strip()
                or pyenv_root
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
    candidates += sorted(
        glob.glob(os.path.join(pyenv_root, "versions", "2.7*", "bin", "python")), reverse=True
    )
    on_path = shutil.which("python2.7")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if _is_python27(candidate):
            return candidate
    raise NoPython27(
        "Autobahn|Testsuite needs Python 2.7 and none was found "
        f"(looked at $HWEBSERVER_PYTHON27, {pyenv_root}/versions/2.7*, python2.7 on PATH); "
        "install one, e.g. `pyenv install 2.7.18`"
    )


def ensure_environment(python27: str, log: Path) -> Path:
    """The wstest command of a virtualenv under .autobahn/ with PINS installed (once)."""
    stamp = VENV / ".pins"
    wanted = hashlib.sha256("\n".join(PINS).encode()).hexdigest()
    wstest = VENV / "bin" / "wstest"
    if wstest.exists() and stamp.exists() and stamp.read_text() == wanted:
        return wstest
    print(
        f"building the Autobahn|Testsuite environment ({VENV.relative_to(ROOT)}: Python 2.7 "
        f"virtualenv with {PINS[0]}; once, about a minute; log: {log.relative_to(ROOT)})",
        file=sys.stderr,
        flush=True,
    )
    WORK.mkdir(exist_ok=True)
    if VENV.exists():
        shutil.rmtree(VENV)
    bootstrap = WORK / "bootstrap"
    constraints = WORK / "constraints.txt"
    constraints.write_text("\n".join(PINS) + "\n")
    with_virtualenv = dict(os.environ, PYTHONPATH=str(bootstrap))
    steps: list[tuple[list[str], dict[str, str] | None]] = []
    if not (bootstrap / "virtualenv.py").exists():
        steps.append(
            ([python27, "-m", "pip", "install", "-q", "--target", str(bootstrap), VIRTUALENV], None)
        )
    steps.append(([python27, "-m", "virtualenv", "-q", str(VENV)], with_virtualenv))
    pip = str(VENV / "bin" / "pip")
    steps.append(([pip, "install", "-q", "-c", str(constraints), PINS[0]], None))
    with log.open("ab") as output:
        for command, env in steps:
            subprocess.run(
                command, check=True, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=1800
            )
    stamp.write_text(wanted)
    return wstest


def run_cases(
    cases: list[str],
    echo_settings: dict[str, object] | None = None,
    echo_app: str = DEFAULT_ECHO_APP,
) -> Counter[str]:
    """Start the echo service (`echo_app` in tests/apps), run the fuzzing client on `cases`,
    count the behaviours."""
    python27 = find_python27()
    WORK.mkdir(exist_ok=True)
    log = WORK / "install.log"
    wstest = ensure_environment(python27, log)
    run_dir = WORK / run_dir_name(echo_app)
    reports = reports_dir(echo_app)
    shutil.rmtree(reports, ignore_errors=True)
    run_dir.mkdir(exist_ok=True)
    kwargs: dict[str, object] = {}
    if echo_settings:
        kwargs["settings"] = echo_settings
    service = ServerProcess(echo_app, run_dir, kwargs)
    try:
        service.start()
        spec = run_dir / "fuzzingclient.json"
        spec.write_text(
            json.dumps(
                {
                    "outdir": str(reports),
                    "servers": [{"agent": "hwebserver", "url": f"ws://127.0.0.1:{service.port}"}],
                    "cases": cases,
                    "exclude-cases": [],
                    "exclude-agent-cases": {},
                }
            )
        )
        with open(run_dir / "wstest.log", "wb") as output:
            subprocess.run(
                [str(wstest), "-m", "fuzzingclient", "-s", str(spec)],
                cwd=str(run_dir),
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=3600,
            )
    finally:
        service.stop()
    index = json.loads((reports / "index.json").read_text())
    return Counter(result["behavior"] for result in index["hwebserver"].values())


def run_dir_name(echo_app: str) -> str:
    """Each echo app its own directories, so that two runs may go on side by side."""
    return "run" if echo_app == DEFAULT_ECHO_APP else f"run-{Path(echo_app).stem}"


def reports_dir(echo_app: str = DEFAULT_ECHO_APP) -> Path:
    if echo_app == DEFAULT_ECHO_APP:
        return WORK / "reports"
    return WORK / f"reports-{Path(echo_app).stem}"


def failed_cases(echo_app: str = DEFAULT_ECHO_APP) -> list[str]:
    index = json.loads((reports_dir(echo_app) / "index.json").read_text())
    return sorted(
        (case for case, result in index["hwebserver"].items() if result["behavior"] == "FAILED"),
        key=lambda case: [int(part) for part in case.split(".")],
    )


def prepare() -> int:
    """Build the environment ahead of the tests, where the user sees that it is being built."""
    try:
        python27 = find_python27()
    except NoPython27:
        return 0  # test_autobahn reports its skip and why
    WORK.mkdir(exist_ok=True)
    log = WORK / "install.log"
    try:
        ensure_environment(python27, log)
    except subprocess.CalledProcessError as exc:
        print(f"scripts/autobahn: {exc} (see {log})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/autobahn",
        description="Run Autobahn|Testsuite's fuzzing client against hwebserver's echo service.",
    )
    parser.add_argument(
        "--cases",
        default=",".join(ALL_CASES),
        help="comma-separated case patterns (default: %(default)s; 'ci' for 1-10)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only build the Python 2.7 environment if it is missing (nothing without Python 2.7)",
    )
    args = parser.parse_args(argv)
    if args.prepare:
        return prepare()
    cases = (
        CI_CASES if args.cases == "ci" else [c.strip() for c in args.cases.split(",") if c.strip()]
    )
    started = time.monotonic()
    try:
        counts = run_cases(cases)
    except NoPython27 as exc:
        print(f"scripts/autobahn: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"scripts/autobahn: {exc} (see {WORK}/install.log and {WORK}/run/)", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"Autobahn|Testsuite cases {','.join(cases)}: {sum(counts.values())} in {elapsed:.0f}s")
    for behaviour in BEHAVIOURS:
        print(f"  {behaviour:<14} {counts.get(behaviour, 0)}")
    others = {k: v for k, v in counts.items() if k not in BEHAVIOURS}
    for behaviour, count in sorted(others.items()):
        print(f"  {behaviour:<14} {count}")
    print(f"report: {WORK / 'reports' / 'index.html'}")
    if counts.get("FAILED"):
        print("FAILED cases: " + " ".join(failed_cases()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
