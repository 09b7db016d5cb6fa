"""Route matching rules: trailing slashes, exact over prefix, longest prefix, ports."""

from __future__ import annotations

import pytest

from hwebserver.api.routing import PRIORITY_MOUNT, Route, Router


def endpoint(request):  # pragma: no cover - never called here
    return "x"


def make_router(*routes: tuple[str, bool], ports=None) -> Router:
    router = Router()
    for path, is_prefix in routes:
        router.add(Route(path, endpoint, is_prefix=is_prefix), ports)
    return router


def matched(router: Router, path: str, port: str = "main") -> str | None:
    route = router.match(port, path)
    return None if route is None else route.path + ("*" if route.is_prefix else "")


def test_trailing_slashes_never_matter():
    router = make_router(("/a", False), ("/b/", False))
    assert matched(router, "/a") == "/a"
    assert matched(router, "/a/") == "/a"
    assert matched(router, "/b") == "/b/"
    assert matched(router, "/b/") == "/b/"
    assert matched(router, "/a/x") is None


def test_prefix_matches_itself_and_below_and_longest_wins():
    router = make_router(("/api", True), ("/api/v2", True), ("/", True))
    assert matched(router, "/api") == "/api*"
    assert matched(router, "/api/x/y") == "/api*"
    assert matched(router, "/api/v2/x") == "/api/v2*"
    assert matched(router, "/api/v2") == "/api/v2*"
    assert matched(router, "/api/v20") == "/api*"
    assert matched(router, "/other") == "/*"


def test_exact_beats_prefix():
    router = make_router(("/a/b", False), ("/a", True), ("/a/b", True))
    assert matched(router, "/a/b") == "/a/b"
    assert matched(router, "/a/b/c") == "/a/b*"


def test_handler_beats_mount_on_same_path_and_longer_handler_beats_mount():
    router = Router()
    router.add(Route("/static", endpoint, is_prefix=True, kind="static", priority=PRIORITY_MOUNT))
    router.add(Route("/static", endpoint, is_prefix=True))
    router.add(Route("/", endpoint, is_prefix=True, kind="wsgi", priority=PRIORITY_MOUNT))
    router.add(Route("/app/special", endpoint))
    assert router.match("main", "/static/x").kind == "handler"
    assert router.match("main", "/app/special").kind == "handler"
    assert router.match("main", "/app/other").kind == "wsgi"


def test_ports_are_separate_and_main_is_default():
    router = Router()
    router.add(Route("/x", endpoint), ())
    router.add(Route("/y", endpoint), ["admin"])
    router.add(Route("/z", endpoint), ["main", "admin"])
    assert matched(router, "/x") == "/x"
    assert matched(router, "/x", "admin") is None
    assert matched(router, "/y") is None
    assert matched(router, "/y", "admin") == "/y"
    assert matched(router, "/z", "admin") == "/z" and matched(router, "/z") == "/z"


def test_methods_imply_head_for_get_and_build_allow():
    route = Route("/m", endpoint, methods=["get", "POST"])
    assert route.methods == frozenset({"GET", "HEAD", "POST"})
    assert route.allow == "GET, HEAD, POST"


def test_path_must_start_with_slash():
    with pytest.raises(ValueError):
        Route("nope", endpoint)


def test_async_detection():
    async def handler(request):
        return "x"

    class Callable:
        async def __call__(self, request):
            return "x"

    assert Route("/a", handler).is_async
    assert Route("/b", Callable()).is_async
    assert not Route("/c", endpoint).is_async


def test_a_route_for_every_port_reaches_old_new_and_unknown_ports():
    router = Router()
    router.add(Route("/a", endpoint), ["api"])  # the "api" table exists before
    mount = Route("/static", endpoint, is_prefix=True, kind="static", priority=PRIORITY_MOUNT)
    router.add(mount, -1)
    router.add(Route("/b", endpoint), ["admin"])  # the "admin" table is created after
    for port in ("main", "api", "admin", "never-registered"):
        assert router.match(port, "/static/x.css") is mount, port
    assert matched(router, "/a", "api") == "/a"
    assert matched(router, "/b", "admin") == "/b"
    assert router.port_names() == {"api", "admin"}


def test_a_handler_beats_a_mount_for_every_port_at_the_same_path():
    router = Router()
    mount = Route("/static", endpoint, is_prefix=True, kind="static", priority=PRIORITY_MOUNT)
    router.add(mount, -1)
    handler = Route("/static", endpoint, is_prefix=True)
    router.add(handler, ["api"])
    assert router.match("api", "/static/x") is handler
    assert router.match("main", "/static/x") is mount
    # a mount registered later for every port does not displace the handler
    router.add(Route("/static", endpoint, is_prefix=True, priority=PRIORITY_MOUNT), -1)
    assert router.match("api", "/static/x") is handler
