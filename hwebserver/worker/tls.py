"""TLS for a listener, from its SSL_* settings, with the standard ssl module."""

from __future__ import annotations

import ssl
from typing import Any


def server_ssl_context(settings: dict[str, Any]) -> ssl.SSLContext | None:
    certificate = settings.get("SSL_CERTIFICATE")
    if not certificate:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, settings.get("SSL_CERTIFICATE_KEY") or None)
    dh_params = settings.get("SSL_DH_PARAMS")
    if dh_params:
        context.load_dh_params(dh_params)
    if settings.get("SSL_VERIFY_PEER"):
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return context
