"""The package's structure as figures: files, import arrows, import circles, and uses of
another module's underscore names.

    python scripts/structure.py [PACKAGE_DIR ...]     (default: hwebserver/worker hwebserver)

An arrow is any import of one of the package's modules by another: at the top, inside a
function, or under TYPE_CHECKING (all three tie the files together for a reader). A circle is
a set of files that import each other in a loop (a strongly connected component of more than
one file). An underscore use is `x._name` (x not self or cls) or `from m import _name` where
`_name` is defined in some other module of the package and not in this one; the standard
library's own underscore names (os._exit, ...) are not counted.

The folders of worker/ are floors, declared in WORKER_FLOORS from the ground up: a module may
import from its own floor or a lower one, never from a higher one (files directly in worker/
are the roof). An upward import, or a folder of worker/ missing from WORKER_FLOORS, is
reported.

api/ is what services import, in three parts: the public face (modules directly in api/, each
defining names that `hwebserver` exports), the API-functions feature (api/functions/) and
the machinery (api/internal/). Reported: an import from api/ of anything outside api/ (it
knows nothing of processes or event loops), and an import of api/functions/ by the public
face (the feature is built on the public classes, never the reverse).

Exits 1 when the package has a circle of more than two files, any underscore use, any
upward import between worker/'s floors or any import against api/'s layout, so it can serve
as a check.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "hwebserver"
WORKER = f"{PACKAGE}.worker"
# worker/'s folders from the ground floor up (docs/architecture.md, "The parts"): what every
# part uses; the port's rules; HTTP/1.1; the files the server serves; hosted apps; the admin
# endpoints; WebSockets; and the process that puts them together.
WORKER_FLOORS = ("common", "policies", "http", "files", "apps", "admin", "websockets", "process")
API = f"{PACKAGE}.api"
API_FUNCTIONS = f"{API}.functions"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def circles(nodes: list[str], arrows: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    successors: dict[str, list[str]] = {node: [] for node in nodes}
    for source, target in arrows:
        if source in successors and target in successors:
            successors[source].append(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if position < len(successors[node]):
                work.append((node, position + 1))
                following = successors[node][position]
                if following not in index:
                    work.append((following, 0))
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
                continue
            for following in successors[node]:
                if following in on_stack:
                    low[node] = min(low[node], low[following])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines: functions, classes, module and instance attributes, slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return names


def underscore_uses(trees: dict[str, ast.Module]) -> list[str]:
    defined = {name: defined_names(tree) for name, tree in trees.items()}
    everywhere = set().union(*defined.values())
    uses = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            used = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                receiver = node.value
                if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
                    used = node.attr
            elif isinstance(node, ast.ImportFrom) and node.level:
                used = next((a.name for a in node.names if a.name.startswith("_")), None)
            if (
                used is not None
                and not used.startswith("__")
                and used in everywhere
                and used not in defined[name]
            ):
                uses.append(f"{name}:{node.lineno}: {used}")
    return uses


def floor_of(module: str) -> str | None:
    """The worker folder a module is in; None for files directly in worker/ (the roof)."""
    rest = module.removeprefix(WORKER + ".").split(".")
    return rest[0] if len(rest) > 1 else None


def upward_imports(arrows: set[tuple[str, str]], known: set[str]) -> list[str]:
    """Imports between worker/'s folders that run up the declared floors, and folders that
    are not declared at all."""
    problems = []
    folders = {floor_of(n) or "" for n in known if n.startswith(WORKER + ".")} - {""}
    for folder in sorted(folders - set(WORKER_FLOORS)):
        problems.append(f"worker/{folder}/ is not in WORKER_FLOORS (scripts/structure.py)")
    roof = len(WORKER_FLOORS)
    rank = {name: height for height, name in enumerate(WORKER_FLOORS)}
    for source, target in sorted(arrows):
        if not (source.startswith(WORKER + ".") and target.startswith(WORKER + ".")):
            continue
        here, there = floor_of(source), floor_of(target)
        here_rank = roof if here is None else rank.get(here, roof)
        there_rank = roof if there is None else rank.get(there, roof)
        if there_rank > here_rank:
            problems.append(f"{source} -> {target} (worker/{here}/ is below worker/{there}/)")
    return problems


def is_public_face(module: str) -> bool:
    """A module directly in api/ (not in one of its folders, not api/__init__)."""
    return module.startswith(API + ".") and "." not in module.removeprefix(API + ".")


def api_layout_problems(arrows: set[tuple[str, str]], packages: set[str]) -> list[str]:
    """Imports against api/'s layout: out of api/, or from the public face into functions/."""
    problems = []
    for source, target in sorted(arrows):
        if not source.startswith(API + "."):
            continue
        if not (target == API or target.startswith(API + ".")):
            problems.append(f"{source} -> {target} (api/ imports nothing outside api/)")
        elif (
            is_public_face(source)
            and source not in packages
            and (target == API_FUNCTIONS or target.startswith(API_FUNCTIONS + "."))
        ):
            problems.append(f"{source} -> {target} (the public face never imports api/functions/)")
    return problems


def main(parts: list[str]) -> int:
    paths = sorted((ROOT / PACKAGE).rglob("*.py"))
    trees = {module_name(path): ast.parse(path.read_text(), str(path)) for path in paths}
    known = set(trees)
    packages = {module_name(path) for path in paths if path.name == "__init__.py"}
    arrows = {
        (name, target)
        for name, tree in trees.items()
        for target in imported_modules(tree, name, name in packages, known)
    }
    worst = 0
    for part in parts or [f"{PACKAGE}/worker", PACKAGE]:
        prefix = part.strip("/").replace("/", ".")
        members = sorted(n for n in known if n == prefix or n.startswith(prefix + "."))
        inside = {(a, b) for a, b in arrows if a in members and b in members}
        found = circles(members, inside)
        print(f"{part}: {len(members)} files, {len(inside)} import arrows, {len(found)} circles")
        for component in found:
            worst = max(worst, len(component))
            print(f"  circle of {len(component)}: {', '.join(component)}")
    uses = underscore_uses(trees)
    print(f"uses of another module's underscore names: {len(uses)}")
    for use in uses:
        print(f"  {use}")
    upward = upward_imports(arrows, known)
    print(f"upward imports between worker/'s floors ({' < '.join(WORKER_FLOORS)}): {len(upward)}")
    for problem in upward:
        print(f"  {problem}")
    layout = api_layout_problems(arrows, packages)
    print(f"imports against api/'s layout (public face, functions/, internal/): {len(layout)}")
    for problem in layout:
        print(f"  {problem}")
    return 1 if worst > 2 or uses or upward or layout else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
