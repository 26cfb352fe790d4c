"""Running the service with uvicorn: in the foreground (``facegate serve``) or a thread.

The service binds to 127.0.0.1 unless told otherwise, and refuses a non-loopback
address unless ``allow_remote`` is set: the person's pages act on this machine, and
exposing them is a decision, not a default. Each run mints a fresh user token; the
sign-in link carries it in the URL fragment, which browsers never send to a server.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Self

import uvicorn
from fastapi import FastAPI

from facegate.closing import Closing
from facegate.errors import ConfigError
from facegate.server.connections import ConnectionLimits, guarded_http_protocol
from facegate.server.security import LOOPBACK_NAMES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
START_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Binding:
    """Where the service listens; ``extra_hosts`` are the Host names it must also accept."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, not {self.port}")
        if not self.is_loopback and not self.allow_remote:
            raise ConfigError(
                f"{self.host} is not a loopback address: the consent pages would be reachable "
                "from other machines; pass --allow-remote if that is really intended"
            )

    @property
    def is_loopback(self) -> bool:
        if self.host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def extra_hosts(self) -> frozenset[str]:
        return frozenset() if self.host in LOOPBACK_NAMES else frozenset({self.host})


def new_user_token() -> str:
    return secrets.token_urlsafe(32)


def login_url(base_url: str, user_token: str) -> str:
    """The sign-in link; the token is in the fragment, so it never reaches a log."""
    return f"{base_url.rstrip('/')}/login#{user_token}"


def _config(
    app: FastAPI, binding: Binding, log_level: str, limits: ConnectionLimits
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=binding.host,
        port=binding.port,
        log_level=log_level,
        http=guarded_http_protocol(limits),
        timeout_keep_alive=int(max(1, limits.idle_seconds)),
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=3,
    )


def serve_forever(
    app: FastAPI,
    binding: Binding,
    log_level: str = "info",
    limits: ConnectionLimits | None = None,
) -> None:
    """Run until interrupted (Ctrl-C), closing every stream on the way out."""
    uvicorn.Server(_config(app, binding, log_level, limits or ConnectionLimits())).run()


class BackgroundServer(Closing):
    """The real service on a real socket, in a thread: for tests and the benchmark.

    ``port=0`` picks a free port; ``base_url`` gives the one chosen.
    """

    def __init__(
        self,
        app: FastAPI,
        binding: Binding | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        config = _config(app, binding or Binding(port=0), "warning", limits or ConnectionLimits())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="facegate-server")

    @property
    def port(self) -> int:
        servers = getattr(self._server, "servers", [])
        return int(servers[0].sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the FaceGate service did not start")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        """Stop serving and wait (up to 10 s) for the server's thread to end."""
        self._server.should_exit = True
        self._thread.join(10.0)

    def __enter__(self) -> Self:
        return self.start()
