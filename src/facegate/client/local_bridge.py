"""The OSC bridge as an app of the person's own: registered locally, consented like any app.

``facegate osc`` needs a grant token like every app, but the person should not
have to write code to get one. The bridge therefore keeps its own Ed25519 key in
``$FACEGATE_HOME`` (0600), registers itself once, directly in the person's sharing
database (only someone who can write that database can do this, i.e. the person),
accepts the terms, and then asks the running service for consent through the
ordinary signed API, so the person decides on the same consent page as for any app,
and the grant is audited and revocable like any other.

Its webhook is on this machine (allowed because the person registers it) and
nothing listens there: the bridge keeps no data (retention 0 days), so a deletion
notice has nothing to delete and its failed delivery is recorded in the audit log.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.config import Settings
from facegate.errors import ConfigError
from facegate.sharing.app_names import BRIDGE_NAME
from facegate.sharing.apps import AppRegistration
from facegate.sharing.errors import NotFound
from facegate.sharing.keys import public_key_b64
from facegate.sharing.service import Sharing, Via
from facegate.sharing.terms import CURRENT_VERSION

KEY_FILE = "osc_bridge_ed25519.pem"
APP_FILE = "osc_bridge_app.json"
# `facegate osc --host` may name another machine, so the consent text must not promise
# "this computer": it says where the frames go and that the wire is not encrypted.
BRIDGE_PURPOSE = (
    "Forward your expressions and head pose to the avatar software at the address "
    "given to `facegate osc` (this computer unless you chose another), as VMC over "
    "unencrypted UDP; nothing is stored"
)
BRIDGE_WEBHOOK = "http://127.0.0.1:9/osc-bridge/notices"


@dataclass(frozen=True)
class LocalApp:
    app_id: str
    key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"LocalApp({self.app_id!r}, key=<hidden>)"


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as err:
            raise ConfigError(f"{path} is not a readable key: move it aside") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} does not hold an Ed25519 key: move it aside")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def bridge_app(settings: Settings) -> LocalApp:
    """The bridge's app id and key, registering it (and accepting the terms) if needed.

    A bridge whose registration was removed or banned is registered afresh only
    when it is missing; a banned bridge stays banned (the service refuses it).
    """
    key = _load_or_create_key(settings.home / KEY_FILE)
    app_file = settings.home / APP_FILE
    with Sharing.open(settings) as sharing:
        try:
            known = json.loads(app_file.read_text("utf-8"))["app_id"]
            app = sharing.app(str(known))
        except (OSError, ValueError, KeyError, NotFound):
            app = None
        if app is None or app.public_key != public_key_b64(key):
            app = sharing.register_app(
                AppRegistration(
                    name=BRIDGE_NAME,
                    developer="The person at this computer",
                    contact="local@this-computer",
                    purpose=BRIDGE_PURPOSE,
                    retention_days=0,
                    webhook_url=BRIDGE_WEBHOOK,
                    public_key=public_key_b64(key),
                    allow_local_webhook=True,
                ),
                Via.CLI,
            )
            app_file.write_text(json.dumps({"app_id": app.id}), "utf-8")
        if not app.banned and not app.accepted_current_terms:
            sharing.accept_terms(app.id, CURRENT_VERSION)
    return LocalApp(app.id, key)
