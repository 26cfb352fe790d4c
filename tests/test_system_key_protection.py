"""`facegate doctor` says what protects the login vault's key, and what could seal it.

A TPM is hardware this machine may lack, so ``systemd-creds`` is also stood in for by
a script on ``PATH`` answering ``has-tpm2`` as a machine with or without a TPM2 would;
the real tool is asked too where it is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app
from facegate.system.key_protection import Sealing, available_sealing, describe_key_protection


def stand_in(folder: Path, exit_code: int) -> str:
    tool = folder / "systemd-creds"
    tool.write_text(f'#!/bin/sh\n[ "$1" = has-tpm2 ] && exit {exit_code}\nexit 2\n')
    os.chmod(tool, 0o755)
    return str(folder)


def test_no_systemd_creds_means_nothing_to_seal_with(tmp_path: Path) -> None:
    assert available_sealing(path=str(tmp_path)) is Sealing.NONE


@pytest.mark.parametrize(("exit_code", "sealing"), [(0, Sealing.TPM2), (1, Sealing.HOST_KEY)])
def test_has_tpm2_decides_between_the_tpm_and_the_host_key(
    tmp_path: Path, exit_code: int, sealing: Sealing
) -> None:
    assert available_sealing(path=stand_in(tmp_path, exit_code)) is sealing


def test_the_real_systemd_creds_is_asked_where_installed() -> None:
    tool = shutil.which("systemd-creds")
    if tool is None:
        pytest.skip("systemd-creds is not installed here")
    has_tpm2 = subprocess.run([tool, "has-tpm2"], capture_output=True).returncode == 0
    assert available_sealing() is (Sealing.TPM2 if has_tpm2 else Sealing.HOST_KEY)


def test_the_line_says_what_protects_the_key_now(tmp_path: Path) -> None:
    key, sealed = tmp_path / "vault.key", tmp_path / "vault.key.cred"
    for sealing in Sealing:
        assert "no key yet" in describe_key_protection(key, sealed, sealing)
    key.write_bytes(b"k")
    for sealing in Sealing:
        line = describe_key_protection(key, sealed, sealing)
        assert line.startswith(f"root-only key file {key}") and "not sealed" in line
        assert sealing.value in line
    sealed.write_bytes(b"s")
    assert describe_key_protection(key, sealed, Sealing.HOST_KEY).startswith(
        f"sealed with systemd-creds in {sealed}"
    )


def test_doctor_reports_the_login_key_protection(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", stand_in(tmp_path, 1) + os.pathsep + os.environ["PATH"])
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    assert Sealing.HOST_KEY.value in rows["login vault key"]["detail"]
