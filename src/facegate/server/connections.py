"""Slow and greedy clients: deadlines for each request, and a cap per client address.

uvicorn closes a connection that sits idle between requests (``timeout_keep_alive``)
but waits forever for a request that arrives a byte at a time (slowloris), and lets
one address hold any number of connections. ``guarded_http_protocol`` adds what is
missing, in the HTTP protocol object itself so it applies before any application
code runs:

* **request deadline**: from its first byte (or the connection's start), a request's
  headers and body must be complete within ``request_seconds``, else the connection
  is closed;
* **per-address cap**: a client address may hold at most ``per_address`` connections
  (HTTP and WebSocket together); the next one is closed at once.

Every local app, the person's browser and their streams all come from 127.0.0.1,
so the cap is sized for all of them together, not for one caller.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_INCOMPLETE = (h11.IDLE, h11.SEND_BODY)


@dataclass(frozen=True)
class ConnectionLimits:
    """Seconds and counts; a smaller number is stricter."""

    per_address: int = 64
    request_seconds: float = 10.0
    idle_seconds: float = 5.0
    """Between requests on a kept-alive connection (uvicorn's ``timeout_keep_alive``)."""

    def __post_init__(self) -> None:
        if self.per_address < 1 or self.request_seconds <= 0 or self.idle_seconds <= 0:
            raise ValueError(f"connection limits must be positive, got {self}")


def _address_of(protocol: object) -> str | None:
    """The client address of any uvicorn protocol object (HTTP or WebSocket)."""
    client = getattr(protocol, "client", None)
    return str(client[0]) if isinstance(client, tuple) and client else None


def guarded_http_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the request deadline and the per-address cap."""

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if address is not None:
                held = sum(_address_of(other) == address for other in self.connections)
                if held > limits.per_address:
                    log.warning(
                        "refused a connection from %s: it already holds %d", address, held - 1
                    )
                    transport.close()
                    return
            self._arm()

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(limits.request_seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing() or self.conn.their_state not in _INCOMPLETE:
                return
            log.info("closed a connection whose request took over %s s", limits.request_seconds)
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                self._arm()
            super().data_received(data)
            if self.conn.their_state not in _INCOMPLETE:
                self._disarm()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol
