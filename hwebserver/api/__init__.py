"""Houdini's API, what services import, in three parts: the public face (the modules here, each
defining names that `hwebserver` exports), the API-functions feature (functions/) and the
machinery (internal/). docs/architecture.md, "The parts", says what each holds."""
