"""Per-port request policies from the port's settings (allowed hosts, CORS, TLS redirects, HSTS).

A listener whose settings need none of them gets no policy, and requests pay nothing.
The checks run in this order: the Host allow-list (400), the redirect to HTTPS (301), the
CORS preflight (204/403), and for a WebSocket upgrade an Origin not on the CORS allow-list
(403); after the handler, CORS and HSTS headers are added. The gate (worker/http/gate.py)
applies them to every request of the port, whatever serves it.
"""

from __future__ import annotations

from typing import Any

from ...api.request import Request
from ...api.response import Response
from .base import PortPolicy
from .cors import CorsPolicy
from .hosts import AllowedHosts
from .https import Hsts, SslRedirect, compile_exemptions

__all__ = ["PolicyChain", "PortPolicy", "build_policy"]


class PolicyChain(PortPolicy):
    """Several policies of one port: the first before() that answers wins; every after() runs."""

    def __init__(self, policies: list[PortPolicy]) -> None:
        self.policies = tuple(policies)

    def before(self, request: Request) -> Response | None:
        for policy in self.policies:
            answer = policy.before(request)
            if answer is not None:
                return answer
        return None

    def before_upgrade(self, request: Request) -> Response | None:
        for policy in self.policies:
            answer = policy.before_upgrade(request)
            if answer is not None:
                return answer
        return None

    def after(self, request: Request, response: Response) -> None:
        for policy in self.policies:
            policy.after(request, response)

    def header_lines(self, request: Request) -> list[tuple[bytes, bytes]]:
        return [line for policy in self.policies for line in policy.header_lines(request)]


def build_policy(settings: dict[str, Any]) -> PortPolicy | None:
    """The port's policy, or None; bad values -> ValueError naming the setting."""
    policies: list[PortPolicy] = []
    hosts = settings.get("ALLOWED_HOSTS")
    if hosts is not None:
        policies.append(AllowedHosts(hosts))
    exempt = compile_exemptions(settings.get("SSL_REDIRECT_EXEMPT") or ())  # checked always
    if settings.get("SSL_REDIRECT"):
        policies.append(SslRedirect(settings.get("SSL_REDIRECT_HOST"), exempt))
    origins = settings.get("CORS_ORIGIN_WHITELIST")
    if origins:
        policies.append(CorsPolicy(origins))
    seconds = settings.get("SECURE_HSTS_SECONDS") or 0
    if seconds:
        policies.append(
            Hsts(
                int(seconds),
                bool(settings.get("SECURE_HSTS_INCLUDE_SUBDOMAINS")),
                bool(settings.get("SECURE_HSTS_PRELOAD")),
            )
        )
    if not policies:
        return None
    return policies[0] if len(policies) == 1 else PolicyChain(policies)
