"""Timing every benchmark shares: the median and 90th percentile of repeated calls, and
the machine they ran on, printed beside every figure."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class StageTiming:
    stage: str
    median_ms: float
    p90_ms: float


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), {platform.system()}"
    )


def time_call(func: Callable[[], object], runs: int) -> StageTiming:
    """Median and 90th percentile milliseconds of ``runs`` calls after one warm-up call
    (the warm-up pays for lazy model loads, which no later call repeats)."""
    func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return StageTiming("", float(np.median(samples)), float(np.percentile(samples, 90)))


def time_alternating(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[StageTiming, StageTiming]:
    """``time_call`` for two calls taken in turn, ``runs`` times each after one warm-up
    each: on a shared machine both see the same load, so their ratio holds even when
    the absolute figures drift with it."""
    first()
    second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for func, out in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            func()
            out.append((time.perf_counter() - start) * 1000.0)
    a, b = (StageTiming("", float(np.median(x)), float(np.percentile(x, 90))) for x in samples)
    return a, b


def time_extra(
    base: Callable[[], object], whole: Callable[[], object], runs: int
) -> tuple[StageTiming, StageTiming]:
    """``whole``'s timing, and what it costs beyond ``base`` (a call it contains): the
    two are taken in turn and each pair's difference is summarised, so a load that
    drifts between pairs does not leak into the difference."""
    base()
    whole()
    totals: list[float] = []
    extras: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        base()
        middle = time.perf_counter()
        whole()
        end = time.perf_counter()
        totals.append((end - middle) * 1000.0)
        extras.append(((end - middle) - (middle - start)) * 1000.0)
    return (
        StageTiming("", float(np.median(totals)), float(np.percentile(totals, 90))),
        StageTiming("", float(np.median(extras)), float(np.percentile(extras, 90))),
    )


def time_by_threads(
    func: Callable[[], object], counts: tuple[int, ...], runs: int
) -> list[StageTiming]:
    """``time_call`` of ``func`` under each OpenCV thread count in ``counts``, taken in
    turn (the count is set outside the timed call), then the count found on entry is
    restored. OpenCV's DNN gives the same outputs at any count, so only time differs."""
    before = cv2.getNumThreads()
    samples: list[list[float]] = [[] for _ in counts]
    try:
        for n in counts:
            cv2.setNumThreads(n)
            func()
        for _ in range(runs):
            for n, out in zip(counts, samples, strict=True):
                cv2.setNumThreads(n)
                start = time.perf_counter()
                func()
                out.append((time.perf_counter() - start) * 1000.0)
    finally:
        cv2.setNumThreads(before)
    return [StageTiming("", float(np.median(x)), float(np.percentile(x, 90))) for x in samples]
