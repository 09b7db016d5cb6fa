"""TLS for a listener, from its SSL_* settings, with the standard ssl module.

run() builds every context once before binding (see supervisor/options.py), so a missing,
unreadable, encrypted or mismatched certificate or key is a ValueError naming the setting
at start-up, never a failure inside a worker.

- SSL_CERTIFICATE: PEM certificate chain (the server's certificate first); it turns TLS on.
- SSL_CERTIFICATE_KEY: PEM private key, unencrypted (a daemon has nobody to ask for a
  passphrase); omitted when the key is in the certificate file.
- SSL_DH_PARAMS: PEM Diffie-Hellman parameters for DHE cipher suites (TLS 1.2).
- SSL_CIPHERS: the TLS 1.2 cipher suites, an OpenSSL cipher list; by default only AEAD
  suites with forward secrecy (AES-GCM, ChaCha20-Poly1305 after ECDHE or DHE), as current
  guidance has it: no CBC suite (padding oracles), no RSA key exchange. TLS 1.3 suites are
  all AEAD already; TLS 1.0 and 1.1 are never offered (the ssl module's minimum is 1.2).
- SSL_VERIFY_PEER: require a client certificate signed by a CA the system trusts, or with
- SSL_CLIENT_CA (PEM CA certificates) by one of those only: a private PKI for mutual TLS
  should not also let in every holder of a public certificate.
"""

from __future__ import annotations

import ssl
from typing import NoReturn

from ...api.settings import PortSettings

_NEEDS_CERTIFICATE = (
    "SSL_CERTIFICATE_KEY",
    "SSL_DH_PARAMS",
    "SSL_CIPHERS",
    "SSL_VERIFY_PEER",
    "SSL_CLIENT_CA",
)

# TLS 1.2 suites offered unless SSL_CIPHERS says otherwise: AEAD, forward secrecy.
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!DSS"


def _readable(setting: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path!r}: {exc.strerror or exc}") from None


def _refuse_passphrase() -> NoReturn:
    raise ValueError("the key is encrypted with a passphrase")


def server_ssl_context(settings: PortSettings) -> ssl.SSLContext | None:
    """The listener's context, None without SSL_CERTIFICATE; bad settings -> ValueError."""
    certificate = settings.SSL_CERTIFICATE
    if not certificate:
        for setting in _NEEDS_CERTIFICATE:
            if getattr(settings, setting):
                raise ValueError(f"{setting} is set but SSL_CERTIFICATE is not")
        return None
    key = settings.SSL_CERTIFICATE_KEY or None
    _readable("SSL_CERTIFICATE", certificate)
    if key is not None:
        _readable("SSL_CERTIFICATE_KEY", key)
    client_ca = settings.SSL_CLIENT_CA or None
    if client_ca is not None:
        if not settings.SSL_VERIFY_PEER:
            raise ValueError("SSL_CLIENT_CA is set but SSL_VERIFY_PEER is not")
        _readable("SSL_CLIENT_CA", client_ca)
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    except ssl.SSLError as exc:
        raise ValueError(
            f"SSL_CLIENT_CA: cannot load CA certificates from {client_ca!r} ({_reason(exc)})"
        ) from None
    try:
        context.load_cert_chain(certificate, key, password=_refuse_passphrase)
    except (ssl.SSLError, ValueError) as exc:
        names = "SSL_CERTIFICATE" + ("/SSL_CERTIFICATE_KEY" if key else "")
        raise ValueError(
            f"{names}: cannot use certificate {certificate!r}"
            + (f" with key {key!r}" if key else "")
            + f" ({_reason(exc)}); both must be PEM files, the key unencrypted and matching"
        ) from None
    dh_params = settings.SSL_DH_PARAMS
    if dh_params:
        _readable("SSL_DH_PARAMS", dh_params)
        try:
            context.load_dh_params(dh_params)
        except ssl.SSLError as exc:
            raise ValueError(f"SSL_DH_PARAMS: cannot load {dh_params!r} ({_reason(exc)})") from None
    ciphers = settings.SSL_CIPHERS or DEFAULT_CIPHERS
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError:
        raise ValueError(f"SSL_CIPHERS: no cipher suite matches {ciphers!r}") from None
    if settings.SSL_VERIFY_PEER:
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc)
