"""Start-up cost: how long ``facegate --help`` and an app's ``import facegate.client`` take.

The SDK's names load on first use, so the third command, which takes the client and
the stream by name, is what an app's start-up really pays.

Each is run as a fresh process ``runs`` times (median and 90th percentile wall time),
and ``python -X importtime`` names the modules that cost the most, so a heavy import
that creeps back into the command line or the app SDK shows up by name.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegate.bench.timing import StageTiming


@dataclass(frozen=True)
class StartupResult:
    """Wall times per command and the costliest imports (cumulative microseconds)."""

    timings: list[StageTiming]
    heaviest: dict[str, list[tuple[str, int]]]


def _commands() -> dict[str, list[str]]:
    script = str(Path(sys.executable).with_name("facegate"))
    return {
        "facegate --help": [script, "--help"],
        "python -c 'import facegate.client'": [sys.executable, "-c", "import facegate.client"],
        "python -c 'from facegate.client import AppClient, stream'": [
            sys.executable,
            "-c",
            "from facegate.client import AppClient, stream",
        ],
    }


def _wall(command: list[str], runs: int) -> StageTiming:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000.0)
    return StageTiming("", float(np.median(samples)), float(np.percentile(samples, 90)))


def _heaviest(module: str, top: int) -> list[tuple[str, int]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((parts[2], int(parts[1])))
    return sorted(rows, key=lambda r: -r[1])[:top]


def run_startup_bench(runs: int = 7, top: int = 8) -> StartupResult:
    timings = [
        StageTiming(name, t.median_ms, t.p90_ms)
        for name, command in _commands().items()
        for t in [_wall(command, runs)]
    ]
    heaviest = {
        m: _heaviest(m, top)
        for m in ("facegate.cli", "facegate.client.app", "facegate.client.streaming")
    }
    return StartupResult(timings, heaviest)
