"""``facegate track`` and the expression evaluations: thin commands over the library.

facegate track SRC... --jsonl OUT          one JSON record per line
facegate eval blink VIDEO LABELS --out DIR  blink detector vs per-frame labels
facegate eval smile YALE_DIR --out DIR      smile AUC, Yale happy vs normal
facegate eval privacy DATA_DIR --out DIR    re-identification attack on the face map
facegate bench track [VIDEO] --out DIR      tracking speed (median of runs)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from facegate.cli.app import (
    SourcesArgument,
    app,
    bench_app,
    command_line,
    eval_app,
    friendly,
    out,
    progress_bar,
)
from facegate.private_files import private_output

if TYPE_CHECKING:
    from facegate.eval.blink import BlinkReport
    from facegate.eval.privacy import PrivacyReport
    from facegate.eval.reid import ReidReport


def _write_report(out_dir: Path, report: dict[str, Any]) -> Path:
    from facegate.bench.timing import machine_description

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    record = {**report, "command": command_line(), "machine": machine_description()}
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


@app.command("track")
@friendly
def track_command(
    sources: SourcesArgument,
    jsonl: Annotated[Path, typer.Option("--jsonl", help="Output file, one record a line.")],
    smooth: Annotated[bool, typer.Option(help="One Euro smoothing on video.")] = False,
) -> None:
    """Track expressions in SOURCE... and write raw per-frame records for your own use.

    The raw stream (resting face, head distance) can identify a person (docs/privacy.md),
    so the file is written private to you (0600, replacing any file of that name only
    when the run completes); apps receive it only through `facegate serve`, which
    re-centres it first."""
    from facegate.config import load_settings
    from facegate.models import ModelFiles
    from facegate.sharing.tracker import track
    from facegate.vision.sources import frame_count

    models = ModelFiles.of(load_settings())
    counts = [frame_count(s) for s in sources]
    n = found = 0
    with private_output(jsonl, sources) as handle, progress_bar() as progress:
        total = None if None in counts else sum(c for c in counts if c is not None)
        task = progress.add_task("tracking", total=total)
        for record in track(sources, smoothing=smooth, models=models):
            handle.write(json.dumps(record.to_json(), allow_nan=False) + "\n")
            n += 1
            found += record.face_found
            progress.advance(task)
    out.print(f"{n} records ({found} with a face) from {len(sources)} source(s); wrote {jsonl}")


@eval_app.command("blink")
@friendly
def eval_blink(
    video: Annotated[
        Path, typer.Argument(help="A video, or a folder of NAME.avi + NAME_ideal.csv.")
    ],
    labels: Annotated[
        Path | None, typer.Argument(help="Per-frame 0/1 labels (1 = closed).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("out/eval-blink"),
    tolerance: Annotated[int, typer.Option(help="Frames of slack when matching.")] = 1,
) -> None:
    """Blink detection vs labels: event recall, frame F1 (+-1 frame), false events/min."""
    from facegate.eval.blink import evaluate_videos
    from facegate.vision.sources import frame_count

    pairs = _blink_pairs(video, labels)
    total = sum(frame_count(v) or 0 for v, _ in pairs) or None
    with progress_bar() as progress:
        task = progress.add_task("tracking eyes", total=total)
        report = evaluate_videos(
            pairs, progress=lambda: progress.advance(task), tolerance=tolerance
        )
    path = _write_report(out_dir, report.as_dict())
    out.print(f"{_blink_summary(report, len(pairs))}\nwrote {path}", highlight=False)


def _blink_pairs(video: Path, labels: Path | None) -> list[tuple[Path, Path]]:
    """(video, labels) pairs: the one given, or every labelled video in a folder."""
    from facegate.errors import UnreadableSource
    from facegate.eval.blink import labelled_videos

    if video.is_dir():
        pairs = labelled_videos(video)
        if not pairs:
            raise UnreadableSource(f"{video}: no NAME.avi with a NAME_ideal.csv beside it")
        return pairs
    if labels is None:
        raise typer.BadParameter("give LABELS for a single video")
    return [(video, labels)]


def _blink_summary(report: BlinkReport, n_videos: int) -> str:
    from facegate.eval.blink import BASELINE_RULE

    got, base = report.pooled, report.baseline
    return (
        f"blink over {n_videos} video(s), {got.minutes:.2f} min: "
        f"event recall {got.event_recall:.1%} ({got.matched}/{got.n_events}), "
        f"frame F1 {got.frame_f1:.3f} (P {got.frame_precision:.3f}, "
        f"R {got.frame_recall:.3f}), false events {got.false_events_per_min:.2f}/min "
        f"({got.false_events})\n"
        f"baseline {BASELINE_RULE}: recall {base.event_recall:.1%}, frame F1 {base.frame_f1:.3f}"
    )


@eval_app.command("smile")
@friendly
def eval_smile(
    yale: Annotated[Path, typer.Argument(help="The yale_faces folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("out/eval-smile"),
) -> None:
    """AUC of mouthSmileLeft + mouthSmileRight, Yale happy vs normal."""
    from facegate.eval.smile import evaluate_smile

    with progress_bar() as progress:
        task = progress.add_task("meshing", total=None)
        result = evaluate_smile(yale, progress=lambda: progress.advance(task))
    path = _write_report(out_dir, result.as_dict())
    out.print(
        f"smile AUC {result.auc:.3f} ({result.n_happy} happy x {result.n_normal} normal, "
        f"{result.n_no_face} without a face)\nwrote {path}",
        highlight=False,
    )


@eval_app.command("privacy")
@friendly
def eval_privacy(
    data: Annotated[
        Path,
        typer.Argument(help="Folder holding orl_att_faces/, yale_faces/, blink_webcam_videos/."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path(
        "out/eval-privacy"
    ),
) -> None:
    """Re-identification from what apps receive, and what the privacy filter costs.

    First the attack on raw landmarks, blend shapes and the face map; then, for the
    stream as sent today and re-centred on the population's resting face (at a few
    quantisation steps): re-identification EER from a full grant's frame, smile AUC
    (Yale happy vs normal) and app-side blink recall (FOCUS videos).
    """
    from facegate.config import load_settings
    from facegate.eval.privacy import evaluate_privacy
    from facegate.eval.reid import evaluate_reid, mesh_images
    from facegate.models import ModelFiles

    models = ModelFiles.of(load_settings())
    with progress_bar() as progress:
        task = progress.add_task("meshing", total=None)
        meshed = mesh_images(data, models, progress=lambda: progress.advance(task))
        reid = evaluate_reid(meshed, models)
        stream = evaluate_privacy(data, meshed, models, lambda: progress.advance(task))
    path = _write_report(out_dir, {**reid.as_dict(), "stream": stream.as_dict()})
    out.print(_reid_summary(reid), highlight=False)
    out.print(_stream_table(stream))
    out.print(f"wrote {path}", highlight=False)


def _reid_summary(reid: ReidReport) -> str:
    first = next(iter(reid.attacks.values()))
    lines = [
        f"  {name:18} EER {r.eer:.3f}  rank-1 {r.rank1:.3f}  ({r.dimensions} dims)"
        for name, r in reid.attacks.items()
    ]
    verdict = "passes" if reid.face_map_passes else "FAILS"
    return (
        f"re-identification over {first.n_images} images, {first.n_identities} people "
        f"({first.n_genuine} genuine / {first.n_impostor} impostor pairs):\n"
        + "\n".join(lines)
        + f"\nface map {verdict}: {reid.as_dict()['rule']}"
    )


def _stream_table(stream: PrivacyReport) -> Table:
    table = Table(
        "stream",
        "full-grant EER",
        "rank-1",
        "blend shapes EER",
        "face map EER",
        "head pose EER",
        "smile AUC",
        "blink recall",
        "false blinks/min",
        title="what a full grant sends per frame (bars: EER >= 0.40, AUC >= 0.95, recall >= 90 %)",
    )
    for name, v in stream.variants.items():
        grant = v.reid["full_grant"]
        table.add_row(
            name,
            f"{grant.eer:.3f}",
            f"{grant.rank1:.3f}",
            f"{v.reid['blendshapes'].eer:.3f}",
            f"{v.reid['face_map'].eer:.3f}",
            f"{v.reid['head_pose'].eer:.3f}",
            f"{v.smile.auc:.3f}",
            "-"
            if v.blink is None
            else f"{v.blink.event_recall:.1%} ({v.blink.matched}/{v.blink.n_events})",
            "-" if v.blink is None else f"{v.blink.false_events_per_min:.2f}",
        )
    return table


@bench_app.command("track")
@friendly
def bench_track(
    video: Annotated[Path | None, typer.Argument(help="A video (default: astronaut clip).")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Timed runs.")] = 5,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path(
        "out/bench-track"
    ),
) -> None:
    """Tracking speed on a 640x480 video: frames per second, median of RUNS runs."""
    from facegate.bench.timing import machine_description
    from facegate.bench.track import benchmark_tracking, write_sample_clip

    with tempfile.TemporaryDirectory() as tmp:
        clip = video or write_sample_clip(Path(tmp) / "astronaut_640x480.avi")
        result = benchmark_tracking(clip, runs=runs)
    report = result.as_dict()
    if video is None:
        report["video"] = "astronaut 640x480 MJPEG clip (facegate.bench.track)"
    path = _write_report(out_dir, report)
    out.print(
        f"tracked {result.frames} frames ({result.frames_with_face} with a face), {runs} runs: "
        f"median {result.median_fps:.1f} fps end to end, {result.steady_fps:.1f} fps steady; "
        f"per frame median "
        f"{result.median_ms_per_frame:.2f} ms, p90 {result.p90_ms_per_frame:.2f} ms\n"
        f"machine: {machine_description()}; load average {result.load_average[0]:.1f} before, "
        f"{result.load_average[1]:.1f} after\nwrote {path}",
        highlight=False,
    )
