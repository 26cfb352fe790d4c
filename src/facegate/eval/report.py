"""Writing an evaluation run to disk: machine-readable JSON, a DET plot and Markdown.

The JSON is the record of truth (strict JSON: no NaN or Infinity, so any parser reads
it); the Markdown is a short human summary that always shows the counts behind each
rate, because a rate without its denominator cannot be judged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from facegate.eval.det import plot_det
from facegate.eval.metrics import DetCurve, OperatingPoint, VerificationSummary

REPORT_JSON = "report.json"
DET_PNG = "det.png"
SUMMARY_MD = "summary.md"

SCORE_CONVENTION = "similarity; a comparison is accepted when score >= threshold"


def write_report(
    summary: VerificationSummary,
    curve: DetCurve,
    out_dir: Path,
    *,
    title: str,
    extra: dict[str, Any] | None = None,
    sections: list[str] | None = None,
) -> Path:
    """Write ``report.json``, ``det.png`` and ``summary.md`` into ``out_dir``.

    ``out_dir`` is created if missing. ``extra`` (for example the command line, the
    dataset and the machine) is merged into the JSON top level; a key that would
    overwrite a measured figure is refused with ValueError, so a report cannot
    contradict its own numbers. ``sections`` (Markdown blocks) are appended to the
    summary. Rates are fractions, thresholds are similarity scores,
    ``ms_per_image`` is milliseconds. Returns the path of ``report.json``.
    """
    record = _record(summary, title)
    if extra:
        clash = sorted(set(extra) & set(record))
        if clash:
            raise ValueError(f"extra must not overwrite report fields, got keys {clash}")
        record.update(extra)
    text = json.dumps(record, indent=2, allow_nan=False, default=_jsonable)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_det({title: curve}, out / DET_PNG, title)
    md = "\n\n".join([_markdown(summary, title), *(sections or [])]) + "\n"
    (out / SUMMARY_MD).write_text(md, encoding="utf-8")
    report = out / REPORT_JSON
    report.write_text(text + "\n", encoding="utf-8")
    return report


def _jsonable(value: object) -> object:
    """Plain JSON for the non-JSON types ``extra`` typically holds (paths, numpy scalars)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"extra holds a {type(value).__name__}, which has no JSON form")


def _record(summary: VerificationSummary, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "scores": SCORE_CONVENTION,
        "n_genuine": summary.n_genuine,
        "n_impostor": summary.n_impostor,
        "n_attempts": summary.n_attempts,
        "n_failed_acquisitions": summary.n_failed_acquisitions,
        "fta": summary.fta,
        "eer": summary.eer,
        "eer_threshold": summary.eer_threshold,
        "eer_false_matches": summary.eer_false_matches,
        "eer_false_non_matches": summary.eer_false_non_matches,
        "fnmr_at_fmr": dict(summary.fnmr_at_fmr),
        "thresholds_at_fmr": dict(summary.thresholds_at_fmr),
        "operating_points": {p.key: _point(p) for p in summary.operating_points},
        "ms_per_image": summary.ms_per_image,
    }


def _point(point: OperatingPoint) -> dict[str, Any]:
    return {
        "target_fmr": point.target_fmr,
        "impostors_needed": point.impostors_needed,
        "threshold": point.threshold,
        "fmr": point.fmr,
        "fnmr": point.fnmr,
        "false_matches": point.false_matches,
        "false_non_matches": point.false_non_matches,
    }


def _markdown(summary: VerificationSummary, title: str) -> str:
    s = summary
    lines = [
        f"# {title}",
        "",
        f"Scores: {SCORE_CONVENTION}. Rates follow ISO/IEC 19795-1: FMR and FNMR are "
        "measured over completed comparisons; FTA is reported separately.",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        f"| Genuine comparisons | {s.n_genuine:,} |",
        f"| Impostor comparisons | {s.n_impostor:,} |",
        f"| FTA | {_percent(s.fta)} ({s.n_failed_acquisitions:,} / {s.n_attempts:,} attempts) |",
        f"| EER | {_percent(s.eer)} at threshold {s.eer_threshold:.6g} "
        f"({s.eer_false_matches:,} / {s.n_impostor:,} false matches, "
        f"{s.eer_false_non_matches:,} / {s.n_genuine:,} false non-matches) |",
        f"| Time per image | {s.ms_per_image:.1f} ms |",
        "",
        "| FMR target | Threshold | FNMR | False non-matches | False matches |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in s.operating_points:
        if p.threshold is None or p.fnmr is None:
            missing = f"n/a (needs ≥ {p.impostors_needed:,} impostor comparisons)"
            lines.append(f"| {p.key} | {missing} | n/a | n/a | n/a |")
            continue
        lines.append(
            f"| {p.key} | {p.threshold:.6g} | {_percent(p.fnmr)} "
            f"| {p.false_non_matches:,} / {s.n_genuine:,} "
            f"| {p.false_matches:,} / {s.n_impostor:,} |"
        )
    lines += ["", f"![DET curve]({DET_PNG})", ""]
    return "\n".join(lines)


def _percent(rate: float) -> str:
    return f"{100 * rate:.4g}%"
