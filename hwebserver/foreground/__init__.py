"""Serving without a supervisor (`run(supervisor=False)`): the calling process serves itself
and reloads by re-executing in place with its listening sockets."""
