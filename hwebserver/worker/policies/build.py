"""Per-port request policies from the port's settings (allowed hosts, CORS, TLS redirects, HSTS).

A listener whose settings need none of them gets no policy, and requests pay nothing.
The checks run in this order: the Host allow-list (400), the redirect to HTTPS (301), the
CORS preflight (204/403), and for a WebSocket upgrade an Origin not on the CORS allow-list
(403); after the handler, CORS and HSTS headers are added. The gate (worker/http/gate.py)
applies them to every request of the port, whatever serves it.
"""

from __future__ import annotations

from ...api.request import Request
from ...api.response import Response
from ...api.settings import PortSettings
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


def build_policy(settings: PortSettings) -> PortPolicy | None:
    """The port's policy, or None; bad values -> ValueError naming the setting."""
    policies: list[PortPolicy] = []
    if settings.ALLOWED_HOSTS is not None:
        policies.append(AllowedHosts(settings.ALLOWED_HOSTS))
    exempt = compile_exemptions(settings.SSL_REDIRECT_EXEMPT or ())  # checked always
    if settings.SSL_REDIRECT:
        policies.append(SslRedirect(settings.SSL_REDIRECT_HOST, exempt))
    if settings.CORS_ORIGIN_WHITELIST:
        policies.append(CorsPolicy(settings.CORS_ORIGIN_WHITELIST))
    if settings.SECURE_HSTS_SECONDS:
        policies.append(
            Hsts(
                settings.SECURE_HSTS_SECONDS,
                settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
                settings.SECURE_HSTS_PRELOAD,
            )
        )
    if not policies:
        return None
    return policies[0] if len(policies) == 1 else PolicyChain(policies)
