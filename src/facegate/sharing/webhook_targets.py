"""Where a deletion notice may be sent: the public internet, unless the person says otherwise.

A webhook URL is chosen by the app, so without a check the service would POST on
the app's behalf to anything this machine can reach: its own admin endpoints on
127.0.0.1, a cloud metadata service on 169.254.169.254, a router on 192.168.x.x.
A target is therefore refused when any address it resolves to is not globally
routable (loopback, link-local, private, shared, multicast, reserved, unspecified;
IPv4-mapped IPv6 is judged as the IPv4 inside), and this is checked twice:

* at registration, on the literal host or on what its name resolves to then (a
  name that does not resolve yet is accepted: the send-time check still applies);
* at send time, after resolving again, and the connection then goes to the very
  address that was checked (``pinned``), so a name that changes its answer between
  the check and the connection (DNS rebinding) cannot slip through.

Only the person can make an exception, for an app running on this machine
(``facegate apps register --allow-local-webhook``, or ``facegate osc``): the API an
app registers through has no such switch.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from facegate.sharing.errors import InvalidApp

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` as text; OSError when the name does not resolve."""

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


class TargetRefused(InvalidApp):
    """The webhook would reach this machine or its local network."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _why_not_public(address: str) -> str | None:
    """None for a globally routable address, else what it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "private", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "not globally routable"
    return None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def _default_port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def check_at_registration(url: str, *, allow_local: bool, resolve: Resolver) -> None:
    """TargetRefused if ``url`` (already syntax-checked) points inside, unless allowed."""
    if allow_local:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        raise TargetRefused(f"webhook_url host {host!r} names this machine or its local network")
    literal = _literal(host)
    if literal is not None:
        addresses: Sequence[str] = [literal]
    else:
        try:
            addresses = resolve(host, _default_port(parts.scheme, parts.port))
        except (OSError, UnicodeError):
            return  # not resolvable yet; checked again before every send
    _refuse_inside(host, addresses)


def _refuse_inside(host: str, addresses: Sequence[str]) -> None:
    for address in addresses:
        why = _why_not_public(address)
        if why is not None:
            raise TargetRefused(
                f"webhook_url host {host!r} resolves to {address} ({why}): deletion notices "
                "go only to public addresses"
            )


@dataclass(frozen=True)
class PinnedTarget:
    """A request to ``url`` rewritten to go to one checked ``address``.

    ``host_header`` and ``sni_hostname`` keep the original name for the server and
    for TLS certificate checks.
    """

    url: str
    host_header: str
    sni_hostname: str


def pinned(url: str, *, allow_local: bool, resolve: Resolver) -> PinnedTarget:
    """Resolve ``url``'s host now, check every address, and aim at the first one.

    TargetRefused when an address is not public (and the person did not allow a
    local app) or the name does not resolve.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = _default_port(parts.scheme, parts.port)
    literal = _literal(host)
    try:
        addresses = [literal] if literal is not None else list(resolve(host, port))
    except (OSError, UnicodeError) as err:
        raise TargetRefused(f"webhook host {host!r} does not resolve ({err})") from err
    if not addresses:
        raise TargetRefused(f"webhook host {host!r} does not resolve")
    if not allow_local:
        _refuse_inside(host, addresses)
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port is not None else shown
    return PinnedTarget(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=parts.netloc,
        sni_hostname=host,
    )
