"""URLHandler / AsyncURLHandler classes and the opdef path."""

from __future__ import annotations

import asyncio
import threading

from harness import serve

import hwebserver

report: dict[str, str] = {}


class Jobs(hwebserver.URLHandler):
    def handle(self, request):
        return hwebserver.Response(f"jobs {request.path()} {request.method()}")


class Exact(hwebserver.URLHandler):
    def handle(self, request):
        return "exact"


class Now(hwebserver.AsyncURLHandler):
    async def handle(self, request):
        await asyncio.sleep(0)
        request.send(hwebserver.Response("sent now"))


class Later(hwebserver.AsyncURLHandler):
    """Returns at once; the answer comes from work it scheduled, on the loop and in a thread."""

    async def handle(self, request):
        if request.GET().get("thread"):
            threading.Timer(0.2, request.send, args=("sent from a thread",)).start()
            return

        async def work():
            await asyncio.sleep(0.2)
            request.send(hwebserver.Response("sent later"))

        asyncio.get_running_loop().create_task(work())


class Twice(hwebserver.AsyncURLHandler):
    async def handle(self, request):
        request.send(hwebserver.Response("first"))
        try:
            request.send(hwebserver.Response("second"))
        except hwebserver.OperationFailed as exc:
            report["twice"] = f"OperationFailed: {exc}"


class Never(hwebserver.AsyncURLHandler):
    async def handle(self, request):
        await asyncio.sleep(0.01)


class Raises(hwebserver.AsyncURLHandler):
    async def handle(self, request):
        raise ValueError("async class handler failed")


Jobs("/jobs", allows_partial=True)
Exact("/exact", methods=["GET"])
Now("/async/now")
Later("/async/later")
Twice("/async/twice")
Never("/async/never")
Raises("/async/raises")


@hwebserver.urlHandler("/report")
def get_report(request):
    return hwebserver.Response(str(report.get(request.GET()["key"], "")))


def resolver(node_type_path: str, section: str) -> bytes | None:
    if node_type_path == "Sop/box" and section == "Help":
        return b"= Box =\nA box."
    if node_type_path == "Sop/box" and section == "icon.svg":
        return b"<svg/>"
    return None


hwebserver.registerOpdefPath(resolver=resolver)
hwebserver.registerOpdefPath("/noresolver")


@hwebserver.urlHandler("/opdef/Sop/special")
def special(request):
    return "a handler beats the opdef prefix"


if __name__ == "__main__":
    serve(ports=["extra"])
