"""What the public classes are made of, and what the server reads of the registrations:
bodies and temp dirs, headers and cookies, form parsing, tracebacks, run()'s arguments, the
opdef endpoint, every registry listed once and the check of the ports they name.

No service imports these modules: they may change between releases.
"""
