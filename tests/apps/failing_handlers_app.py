"""Handlers that raise from a helper of their own: the tests read their tracebacks."""

from __future__ import annotations

from harness import serve

import hwebserver


def check_stock(item: str) -> int:
    raise LookupError(f"no stock for {item}")


@hwebserver.urlHandler("/plain")
def plain(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(str(check_stock("plain")))


@hwebserver.urlHandler("/async")
async def async_handler(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(str(check_stock("async")))


@hwebserver.apiFunction(namespace="shop")
def stock(request: hwebserver.Request, item: str) -> int:
    return check_stock(item)


if __name__ == "__main__":
    serve()
