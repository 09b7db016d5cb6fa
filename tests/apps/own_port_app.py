"""A service that picks its own port and address in run(), as a deployed script does; the
test gives the port (SERVICE_PORT). Run under `hwebserver` with the README's systemd line."""

import os

import hwebserver


@hwebserver.urlHandler("/pid")
def pid(request):
    return hwebserver.Response(str(os.getpid()))


# 127.0.0.2 (loopback too): the command line's --address 127.0.0.1 must win over it.
hwebserver.run(port=int(os.environ["SERVICE_PORT"]), address="127.0.0.2", in_background=False)
