"""API functions, called from another program with hwebserver.apiclient.

python examples/api_functions.py
python -c "from hwebserver import apiclient; print(apiclient.Service('http://127.0.0.1:8008/api').geo.vector_length(1, 2, 2))"
"""

from __future__ import annotations

import os

import hwebserver


@hwebserver.apiFunction(namespace="geo", arg_types={"x": float, "y": float, "z": float})
def vector_length(request: hwebserver.Request, x: float, y: float, z: float) -> float:
    """A plain function: it runs on a handler thread, never on the event loop."""
    return (x * x + y * y + z * z) ** 0.5


# Form fields arrive as text (Houdini's form-style call:
# curl -d cmd_function=jobs.submit -d name=shot010 -d frames=3 http://127.0.0.1:8008/api):
# arg_types turns `frames` into an int, and answers 400 to what is not one.
@hwebserver.apiFunction(namespace="jobs", arg_types={"frames": int})
def submit(request: hwebserver.Request, name: str, frames: int = 1) -> dict[str, object]:
    if frames < 1:
        raise hwebserver.APIError("frames must be at least 1", 422)
    return {"job": name, "frames": frames, "worker": os.getpid()}


if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)
