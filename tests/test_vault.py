"""The sealed vault against a real SQLite file: sealing, tampering, deletion, keys, crashes."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import keyring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyring.backend import KeyringBackend
from keyring.backends import fail

import facegate.vault.keys as keys_module
from facegate.config import KeySource, Settings
from facegate.errors import (
    AlreadyEnrolled,
    InputError,
    NotEnrolled,
    VaultError,
    VaultKeyError,
    VaultTampered,
)
from facegate.vault import SqliteVault, UserRecord, Vault, load_key, open_vault
from facegate.vault.base import Outcome

SRC = Path(__file__).resolve().parents[1] / "src"
VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
valid_names = st.from_regex(VALID_NAME, fullmatch=True)
invalid_names = (
    st.text(max_size=80).filter(lambda s: not VALID_NAME.fullmatch(s))
    | st.text(alphabet="abc._-@1", min_size=65, max_size=90)
    | st.sampled_from(["-x", "--help", ".hidden", "@a", "_", "Ålice"])  # read as options
    | st.none()
    | st.integers()
    | st.binary(min_size=1, max_size=8)
)
fixture_ok = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=40
)


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "vault.sqlite3"


@pytest.fixture
def vault(path: Path, key: bytes) -> Iterator[SqliteVault]:
    with SqliteVault(path, key) as opened:
        yield opened


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def sealed_of(path: Path, name: str) -> bytes:
    with raw(path) as conn:
        (blob,) = conn.execute("SELECT sealed FROM users WHERE name = ?", (name,)).fetchone()
    return bytes(blob)


def set_sealed(path: Path, name: str, blob: bytes) -> None:
    with raw(path) as conn:
        conn.execute("UPDATE users SET sealed = ? WHERE name = ?", (blob, name))


def vault_dir_bytes(path: Path) -> bytes:
    """Every file SQLite may use next to the vault: the database, journal, WAL and SHM."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.iterdir()) if p.is_file())


def chunks(blob: bytes, size: int = 16) -> list[bytes]:
    """Fixed slices: a large ciphertext is split over overflow pages, never contiguous."""
    return [blob[i : i + size] for i in range(0, len(blob) - size + 1, size)]


def found(blob: bytes, haystack: bytes) -> int:
    return sum(chunk in haystack for chunk in chunks(blob))


def test_round_trip_persists_across_reopen(path: Path, key: bytes) -> None:
    with SqliteVault(path, key) as vault:
        created = vault.create_user("alice", b"template-1")
        vault.create_user("bob@host", b"template-b")
        assert created.name == "alice" and created.failures == 0 and not created.locked
        assert vault.get_template("alice") == b"template-1"
        replaced = vault.replace_template("alice", b"template-2")
        assert replaced.created_at == created.created_at
        assert replaced.updated_at >= created.updated_at
    with SqliteVault(path, key) as vault:
        assert vault.get_template("alice") == b"template-2"
        assert [r.name for r in vault.users()] == ["alice", "bob@host"]


def test_missing_and_duplicate_users(vault: SqliteVault) -> None:
    vault.create_user("alice", b"x")
    with pytest.raises(AlreadyEnrolled):
        vault.create_user("alice", b"y")
    assert vault.get_template("alice") == b"x"
    for call in (
        lambda: vault.get_template("bob"),
        lambda: vault.replace_template("bob", b"z"),
        lambda: vault.delete_user("bob"),
        lambda: vault.user("bob"),
        lambda: vault.record_failure("bob"),
        lambda: vault.begin_attempt("bob"),
        lambda: vault.read_template("bob"),
        lambda: vault.reset_lockout("bob"),
    ):
        with pytest.raises(NotEnrolled, match="'bob'"):
            call()
    assert [r.name for r in vault.users()] == ["alice"]


def test_files_are_private(vault: SqliteVault, path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_wrong_key_is_refused_at_open(path: Path, key: bytes) -> None:
    SqliteVault(path, key).close()
    with pytest.raises(VaultKeyError, match="wrong key or passphrase"):
        SqliteVault(path, secrets.token_bytes(32))
    with pytest.raises(VaultKeyError, match="32 bytes"):
        SqliteVault(path, key[:16])


def test_every_flipped_byte_is_detected(vault: SqliteVault, path: Path) -> None:
    vault.create_user("alice", b"a small template")
    good = sealed_of(path, "alice")
    for index in range(len(good)):
        bad = bytearray(good)
        bad[index] ^= 0x01
        set_sealed(path, "alice", bytes(bad))
        with pytest.raises(VaultTampered, match="failed authentication"):
            vault.get_template("alice")
    set_sealed(path, "alice", good[:-1])
    with pytest.raises(VaultTampered):
        vault.get_template("alice")
    set_sealed(path, "alice", good)
    assert vault.get_template("alice") == b"a small template"


def test_ciphertext_is_bound_to_its_user(vault: SqliteVault, path: Path) -> None:
    vault.create_user("alice", b"alice's face")
    vault.create_user("bob", b"bob's face")
    alice, bob = sealed_of(path, "alice"), sealed_of(path, "bob")
    set_sealed(path, "alice", bob)
    set_sealed(path, "bob", alice)
    for name in ("alice", "bob"):
        with pytest.raises(VaultTampered, match=name):
            vault.get_template(name)
    with raw(path) as conn:
        conn.execute("DELETE FROM users WHERE name = 'bob'")
        conn.execute("UPDATE users SET name = 'bob', sealed = ? WHERE name = 'alice'", (alice,))
    with pytest.raises(VaultTampered):
        vault.get_template("bob")


@pytest.mark.parametrize("size", [40, 20_000])
def test_delete_and_replace_leave_no_ciphertext_on_disk(
    vault: SqliteVault, path: Path, size: int
) -> None:
    marker = b"PLAINTEXT-MARKER" * (size // 16)
    vault.create_user("alice", marker)
    vault.create_user("bob", secrets.token_bytes(size))
    old = sealed_of(path, "alice")
    vault.replace_template("alice", marker)
    current, bob = sealed_of(path, "alice"), sealed_of(path, "bob")

    on_disk = vault_dir_bytes(path)
    assert found(current, on_disk) >= len(chunks(current)) // 2  # the probe does see ciphertext
    assert found(old, on_disk) == 0
    assert marker[:16] not in on_disk

    vault.delete_user("alice")
    on_disk = vault_dir_bytes(path)
    assert found(current, on_disk) == 0
    assert found(bob, on_disk) >= len(chunks(bob)) // 2
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    with pytest.raises(NotEnrolled):
        vault.get_template("alice")


def test_lockout_needs_an_explicit_reset(path: Path, key: bytes) -> None:
    with SqliteVault(path, key) as vault:
        vault.create_user("alice", b"t")
        for _ in range(4):
            assert not vault.record_failure("alice").locked
        success = vault.begin_attempt("alice")
        record, accepted = vault.finish_attempt(success, Outcome.SUCCESS)
        assert accepted and record.failures == 0
        for expected in range(1, 5):
            assert vault.record_failure("alice").failures == expected
        fifth = vault.record_failure("alice")
        assert fifth.locked and fifth.failures == 5
        refused = vault.begin_attempt("alice")
        assert not refused.admitted and refused.record.locked
    with SqliteVault(path, key) as vault:
        assert vault.user("alice").locked
        assert vault.record_failure("alice").locked
        cleared = vault.reset_lockout("alice")
        assert not cleared.locked and cleared.failures == 0
        assert vault.get_template("alice") == b"t"


def test_max_failures_is_configurable(path: Path, key: bytes) -> None:
    with SqliteVault(path, key, max_failures=2) as vault:
        vault.create_user("alice", b"t")
        assert not vault.record_failure("alice").locked
        assert vault.record_failure("alice").locked
    with pytest.raises(InputError):
        SqliteVault(path, key, max_failures=0)


def test_listing_and_reprs_hold_no_secrets(vault: SqliteVault, key: bytes) -> None:
    payload = b"\x01secret-template-bytes\x02"
    vault.create_user("alice", payload)
    records = vault.users()
    assert [type(r) for r in records] == [UserRecord]
    assert {f.name for f in dataclasses.fields(UserRecord)} == {
        "name",
        "created_at",
        "updated_at",
        "failures",
        "locked",
    }
    assert all(not isinstance(v, bytes) for v in dataclasses.astuple(records[0]))
    text = repr(records) + repr(vault) + repr(vault.user("alice"))
    assert repr(payload) not in text and key.hex() not in text and repr(key) not in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].locked = True  # type: ignore[misc]


def test_non_bytes_payload_is_rejected(vault: SqliteVault) -> None:
    with pytest.raises(InputError, match="bytes"):
        vault.create_user("alice", 5)  # type: ignore[arg-type]
    assert vault.users() == []


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 200, b"SQLite format 3\x00" + b"\xff" * 5000],
)
def test_corrupt_file_is_refused_untouched(path: Path, key: bytes, content: bytes) -> None:
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(VaultError, match=re.escape(str(path))):
        SqliteVault(path, key)
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_foreign_sqlite_database_is_refused_untouched(path: Path, key: bytes) -> None:
    path.parent.mkdir()
    with raw(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(VaultError, match="not a FaceGate vault"):
        SqliteVault(path, key)
    assert path.read_bytes() == before


def test_failed_write_rolls_back(vault: SqliteVault, path: Path) -> None:
    vault.create_user("alice", b"old")
    with raw(path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_update BEFORE UPDATE ON users"
            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    with pytest.raises(VaultError, match="injected failure"):
        vault.replace_template("alice", b"new")
    assert vault.get_template("alice") == b"old"
    assert vault.user("alice").failures == 0


WRITER = """
import sys
from pathlib import Path
from facegate.vault import SqliteVault

vault = SqliteVault(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]))
generation = 0
while True:
    vault.replace_template("alice", b"generation-%08d;" % generation * 2000)
    vault.record_failure("bob")
    vault.reset_lockout("bob")
    if generation == 0:
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
    generation += 1
"""


def test_killed_writer_leaves_a_consistent_vault(
    vault: SqliteVault, path: Path, key: bytes
) -> None:
    """SIGKILL a writer until one dies mid-transaction (a hot journal is left), then reopen."""
    vault.create_user("alice", b"generation-initial")
    vault.create_user("bob", b"bob's template")
    vault.close()
    journal = path.with_name(path.name + "-journal")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    for attempt in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), key.hex()], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(0.05 + 0.1 * (attempt % 3))
        child.kill()
        child.wait()
        child.stdout.close()
        interrupted = journal.exists() and journal.stat().st_size > 0
        with SqliteVault(path, key) as reopened:
            assert re.fullmatch(rb"(generation-\d{8};){2000}", reopened.get_template("alice"))
            assert reopened.get_template("bob") == b"bob's template"
            assert not reopened.user("bob").locked
        with raw(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        if interrupted:
            break
    else:
        pytest.fail("no kill landed inside a transaction")


@fixture_ok
@given(name=valid_names, payload=st.binary(max_size=3000))
def test_any_payload_round_trips(vault: SqliteVault, name: str, payload: bytes) -> None:
    vault.create_user(name, payload)
    try:
        assert vault.get_template(name) == payload
        assert vault.user(name).name == name
    finally:
        vault.delete_user(name)


@fixture_ok
@given(name=invalid_names)
def test_any_invalid_name_is_rejected(vault: SqliteVault, name: object) -> None:
    for call in (
        lambda: vault.create_user(name, b"t"),  # type: ignore[arg-type]
        lambda: vault.get_template(name),  # type: ignore[arg-type]
        lambda: vault.delete_user(name),  # type: ignore[arg-type]
        lambda: vault.record_failure(name),  # type: ignore[arg-type]
    ):
        with pytest.raises(InputError, match="invalid user name"):
            call()
    assert vault.users() == []


# --- key sources ---------------------------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """A working keyring with no OS behind it, to exercise the keyring path in CI."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class HangingKeyring(MemoryKeyring):
    """Stands in for a D-Bus secret service that never answers."""

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(30)
        return None


@pytest.fixture
def use_keyring() -> Iterator[None]:
    """Tests swap the process-wide keyring backend; put the real one back afterwards."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def home_settings(tmp_path: Path, source: KeySource, passphrase: str | None = None) -> Settings:
    return Settings(home=tmp_path / "home", key_source=source, passphrase=passphrase)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    cfg = home_settings(tmp_path, KeySource.KEYFILE)
    with open_vault(cfg) as vault:
        vault.create_user("alice", b"t")
    assert stat.S_IMODE(cfg.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.home.stat().st_mode) == 0o700
    assert len(cfg.key_path.read_bytes()) == 32
    assert load_key(cfg) == cfg.key_path.read_bytes()
    with open_vault(cfg) as vault:
        assert vault.get_template("alice") == b"t"


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    cfg = home_settings(tmp_path, KeySource.KEYFILE)
    load_key(cfg)
    cfg.key_path.chmod(0o644)
    with pytest.raises(VaultKeyError, match="chmod 600"):
        load_key(cfg)
    cfg.key_path.chmod(0o600)
    assert len(load_key(cfg)) == 32


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_key_file_another_user_owns_is_refused(tmp_path: Path) -> None:
    """The attack: in a folder others can write to, swap in your own key and vault with
    your face enrolled under the victim's name; a run as root would then let you in."""
    cfg = home_settings(tmp_path, KeySource.KEYFILE)
    load_key(cfg)
    os.chown(cfg.key_path, 65534, 65534)
    with pytest.raises(VaultKeyError, match="belongs to uid 65534"):
        load_key(cfg)
    os.chown(cfg.key_path, os.geteuid(), os.getegid())
    assert len(load_key(cfg)) == 32


def test_lost_or_damaged_key_file_is_reported(tmp_path: Path) -> None:
    cfg = home_settings(tmp_path, KeySource.KEYFILE)
    open_vault(cfg).close()
    original = cfg.key_path.read_bytes()
    cfg.key_path.write_bytes(original[:10])
    with pytest.raises(VaultKeyError, match="damaged"):
        load_key(cfg)
    cfg.key_path.unlink()
    with pytest.raises(VaultKeyError, match="missing"):
        load_key(cfg)
    assert not cfg.key_path.exists()


def test_passphrase_derives_a_key_bound_to_the_vault(tmp_path: Path) -> None:
    cfg = home_settings(tmp_path, KeySource.PASSPHRASE, passphrase="correct horse")
    with open_vault(cfg) as vault:
        vault.create_user("alice", b"t")
    with open_vault(cfg) as vault:
        assert vault.get_template("alice") == b"t"
    with pytest.raises(VaultKeyError, match="wrong key or passphrase"):
        open_vault(home_settings(tmp_path, KeySource.PASSPHRASE, passphrase="wrong horse"))
    other = Settings(
        home=tmp_path / "other", key_source=KeySource.PASSPHRASE, passphrase="correct horse"
    )
    assert load_key(other) != load_key(cfg)
    assert not cfg.key_path.exists()


def test_passphrase_must_be_given_and_match_the_vault_kind(tmp_path: Path) -> None:
    with pytest.raises(VaultKeyError, match="FACEGATE_PASSPHRASE"):
        load_key(home_settings(tmp_path, KeySource.PASSPHRASE))
    open_vault(home_settings(tmp_path, KeySource.KEYFILE)).close()
    with pytest.raises(VaultKeyError, match="not a passphrase"):
        load_key(home_settings(tmp_path, KeySource.PASSPHRASE, passphrase="p"))


def test_auto_without_a_keyring_falls_back_to_a_key_file(tmp_path: Path, use_keyring: None) -> None:
    keyring.set_keyring(fail.Keyring())
    cfg = home_settings(tmp_path, KeySource.AUTO)
    with open_vault(cfg) as vault:
        vault.create_user("alice", b"t")
    assert stat.S_IMODE(cfg.key_path.stat().st_mode) == 0o600
    with pytest.raises(VaultKeyError, match="no OS keyring"):
        load_key(home_settings(tmp_path, KeySource.KEYRING))


def test_auto_uses_a_working_keyring(tmp_path: Path, use_keyring: None) -> None:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    cfg = home_settings(tmp_path, KeySource.AUTO)
    with open_vault(cfg) as vault:
        vault.create_user("alice", b"t")
    assert not cfg.key_path.exists()
    assert list(backend.entries) == [("facegate", str(cfg.vault_path.resolve()))]
    with open_vault(home_settings(tmp_path, KeySource.KEYRING)) as vault:
        assert vault.get_template("alice") == b"t"
    backend.entries.clear()
    with pytest.raises(VaultKeyError, match="no key for the existing vault"):
        load_key(cfg)
    assert not cfg.key_path.exists()


def test_auto_does_not_hang_on_a_silent_keyring(
    tmp_path: Path, use_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(HangingKeyring())
    monkeypatch.setattr(keys_module, "KEYRING_TIMEOUT_S", 0.2)
    cfg = home_settings(tmp_path, KeySource.AUTO)
    started = time.monotonic()
    with open_vault(cfg) as vault:
        vault.create_user("alice", b"t")
    assert time.monotonic() - started < 5
    assert cfg.key_path.exists()


def test_sqlite_vault_satisfies_the_protocol(vault: SqliteVault) -> None:
    engine: Vault = vault  # mypy checks the structural match
    assert engine.users() == []
