"""The README's quick start, as is: it calls run() itself at import, as Houdini scripts do."""

import hwebserver


@hwebserver.urlHandler("/hello")
def hello(request):
    return hwebserver.Response("Hello, " + request.GET().get("name", "world"))


@hwebserver.urlHandler("/slow")
async def slow(request):  # async handlers run on the event loop
    return hwebserver.Response("done")


hwebserver.run(port=8008, in_background=False)  # blocks until SIGINT/SIGTERM
