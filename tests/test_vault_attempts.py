"""The atomic lockout in the vault: slots taken up front, settled at the end."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest

from facegate.errors import NotEnrolled
from facegate.vault import DEFAULT_MAX_FAILURES, SqliteVault
from facegate.vault.base import Attempt, Outcome


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "vault.sqlite3"


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def vault(path: Path, key: bytes) -> SqliteVault:
    v = SqliteVault(path, key)
    v.create_user("alice", b"t")
    return v


def test_twelve_parallel_attempts_get_only_the_remaining_slots(path: Path, key: bytes) -> None:
    with SqliteVault(path, key) as setup:
        setup.create_user("alice", b"t")
    barrier = threading.Barrier(12)
    attempts: list[Attempt] = []

    def take() -> None:
        with SqliteVault(path, key) as own:  # one connection per thread, as SQLite wants
            barrier.wait()
            attempts.append(own.begin_attempt("alice"))

    threads = [threading.Thread(target=take) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = [a for a in attempts if a.admitted]
    assert len(admitted) == DEFAULT_MAX_FAILURES
    assert sorted(a.slot for a in admitted) == list(range(1, DEFAULT_MAX_FAILURES + 1))
    with SqliteVault(path, key) as after:
        assert after.user("alice").locked


def test_an_attempt_that_never_finishes_stays_counted(vault: SqliteVault) -> None:
    vault.begin_attempt("alice")  # the process "crashed" here
    assert vault.user("alice").failures == 1


def test_a_neutral_attempt_gives_its_slot_back(vault: SqliteVault) -> None:
    attempt = vault.begin_attempt("alice")
    record, accepted = vault.finish_attempt(attempt, Outcome.NEUTRAL)
    assert not accepted and record.failures == 0


def test_a_success_after_failures_closed_the_lock_behind_it_is_refused(
    vault: SqliteVault,
) -> None:
    slow = vault.begin_attempt("alice")
    for _ in range(DEFAULT_MAX_FAILURES - 1):
        vault.finish_attempt(vault.begin_attempt("alice"), Outcome.FAILURE)
    assert vault.user("alice").locked
    record, accepted = vault.finish_attempt(slow, Outcome.SUCCESS)
    assert not accepted and record.locked


def test_the_last_slot_may_still_succeed(vault: SqliteVault) -> None:
    for _ in range(DEFAULT_MAX_FAILURES - 1):
        vault.record_failure("alice")
    last = vault.begin_attempt("alice")
    assert last.admitted and vault.user("alice").locked  # nobody else may start now
    record, accepted = vault.finish_attempt(last, Outcome.SUCCESS)
    assert accepted and record.failures == 0 and not record.locked


def test_a_failure_wiped_by_a_concurrent_success_is_counted_again(vault: SqliteVault) -> None:
    impostor = vault.begin_attempt("alice")
    genuine = vault.begin_attempt("alice")
    assert vault.finish_attempt(genuine, Outcome.SUCCESS)[1]
    record, _ = vault.finish_attempt(impostor, Outcome.FAILURE)
    assert record.failures == 1


def test_a_reset_during_an_attempt_is_not_undone_by_its_refund(vault: SqliteVault) -> None:
    vault.record_failure("alice")
    attempt = vault.begin_attempt("alice")
    vault.reset_lockout("alice")
    record, _ = vault.finish_attempt(attempt, Outcome.NEUTRAL)
    assert record.failures == 0


def test_locked_users_are_refused_at_the_door(vault: SqliteVault) -> None:
    for _ in range(DEFAULT_MAX_FAILURES):
        vault.record_failure("alice")
    attempt = vault.begin_attempt("alice")
    assert not attempt.admitted
    assert vault.user("alice").failures == DEFAULT_MAX_FAILURES


def test_template_updates_are_compare_and_swap(vault: SqliteVault) -> None:
    seen = vault.read_template("alice")
    vault.replace_template("alice", b"re-enrolled")
    assert not vault.update_template("alice", b"stale update", seen.version)
    assert vault.get_template("alice") == b"re-enrolled"
    now = vault.read_template("alice")
    assert vault.update_template("alice", b"fresh update", now.version)
    assert vault.read_template("alice").version == now.version + 1


def test_attempts_on_unknown_users_are_not_enrolled(vault: SqliteVault) -> None:
    with pytest.raises(NotEnrolled, match="facegate enroll bob"):
        vault.begin_attempt("bob")
