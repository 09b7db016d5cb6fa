"""The API-functions feature: `@apiFunction` (decorator.py) records a function per port
(registry.py), and POST /api calls it (calls.py), its result encoded as JSON (jsonencode.py).

Built on the public face (Request, Response, the route registry); nothing of the public face
imports it (scripts/structure.py checks).
"""
