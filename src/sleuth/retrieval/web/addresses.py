"""Which addresses a web page may come from, checked on every connection the page fetcher makes.

A host is resolved when a connection to it is opened, every address it resolves to is checked, and the
connection goes to one of those checked addresses, never through a second lookup: a DNS answer that changes
between a check and a connect (DNS rebinding) cannot reach a refused address. A redirect to another host
opens a new connection, checked the same way. By default only public (globally routable, not multicast)
addresses pass; private, loopback, link-local, shared, reserved and documentation ranges are refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the addresses to connect to, in order (`system_resolve`; tests pass their own)."""


class RefusedAddressError(Exception):
    """A page's host resolves to an address the rules refuse.

    Not an httpx error on purpose: httpx re-raises it as it is, so the fetcher can tell a refusal from a
    network failure.
    """


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses pages may be fetched from.

    Args:
        allow_private: every address passes (`SLEUTH_WEB_ALLOW_PRIVATE=true`, for an intranet).
        allow_networks: networks that pass even when private (`SLEUTH_WEB_ALLOW_NETWORKS`).
    """

    allow_private: bool = False
    allow_networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, networks: Iterable[str]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def refusal(self, address: str) -> str | None:
        """Why `address` is refused, or None when a page may come from it."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (`fe80::1%eth0`) is not part of it
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if self.allow_private or any(ip in network for network in self.allow_networks):
            return None
        if ip.is_global and not ip.is_multicast:
            return None
        kind = (
            "loopback"
            if ip.is_loopback
            else "link-local"
            if ip.is_link_local
            else "private"
            if ip.is_private
            else "non-public"
        )
        return f"{ip}, a {kind} address"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to checked addresses."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver) -> None:
        self.policy = policy
        self.resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:  # every one: a mixed answer is refused whole, whichever would be tried first
            reason = self.policy.refusal(address)
            if reason is not None:
                where = reason if host == address.split("%", 1)[0] else f"{host} resolves to {reason}"
                raise RefusedAddressError(
                    f"refused: {where} (SLEUTH_WEB_ALLOW_PRIVATE=true reads the pages of a private network)"
                )
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure


class CheckedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through `_CheckedBackend`; no proxy from the environment
    (a proxy would fetch whatever address it is asked for)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver = system_resolve) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 takes no network backend: the pool it built is replaced by the same pool on the checked
        # backend (httpx and httpcore are pinned, so this private attribute is known).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_CheckedBackend(policy, resolve),
        )
