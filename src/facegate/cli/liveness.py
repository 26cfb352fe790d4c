"""Liveness commands: ``facegate train pad`` and ``facegate eval liveness``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from facegate.cli.app import app, command_line, err, eval_app, friendly, out

train_app = typer.Typer(help="Train FaceGate's own models from labelled data.")
app.add_typer(train_app, name="train")


def _features(images: list[Any], spec: Any) -> Any:
    from facegate.liveness.train import extract
    from facegate.session import Session

    with Session.open(vault=False) as session, Progress(console=err) as progress:
        task = progress.add_task("PAD features", total=len(images))
        return extract(images, session.pipeline.detector, spec, lambda: progress.advance(task))


def _rates(summary: Any) -> str:
    attacks = ", ".join(
        f"{kind} {r.apcer:.2%} ({r.accepted}/{r.n})" for kind, r in summary.apcer.items()
    )
    return (
        f"threshold {summary.threshold:.4f}: BPCER {summary.bpcer:.2%} "
        f"({summary.bona_fide_refused}/{summary.n_bona_fide}); APCER {attacks}"
    )


@train_app.command("pad")
@friendly
def train_pad(
    labels: Annotated[Path, typer.Argument(help="CSV path,label,subject (live / attack type).")],
    root: Annotated[Path | None, typer.Option(help="Folder the CSV paths are relative to.")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="Weights file to write (.npz).")] = Path(
        "pad_weights.npz"
    ),
    l2: Annotated[float, typer.Option(help="L2 penalty; higher is a simpler model.")] = 0.01,
    bpcer: Annotated[float, typer.Option(help="Cross-validated BPCER of the threshold.")] = 0.05,
    folds: Annotated[int, typer.Option(help="Subject-disjoint folds; 0 = leave one out.")] = 0,
    report: Annotated[Path | None, typer.Option(help="Also write a CV report here.")] = None,
) -> None:
    """Fit the passive PAD; report subject-disjoint cross-validated APCER / BPCER."""
    from facegate.liveness.dataset import read_labels
    from facegate.liveness.train import TrainOptions, train

    options = TrainOptions(l2=l2, target_bpcer=bpcer, folds=folds)
    images = read_labels(labels, root)
    data = _features(images, options.spec)
    result = train(data, options, command=command_line(), dataset=str(labels))
    result.model.save(out_file)
    for target, summary in result.at_targets.items():
        out.print(f"CV at BPCER <= {target}: {_rates(summary)}")
    out.print(f"shipped ({result.model.meta['cv']}): {_rates(result.at_threshold)}")
    if report is not None:
        _write_pad_report(
            report,
            result.oof_scores,
            data,
            result.at_threshold,
            {"protocol": f"cross-validation, {result.model.meta['cv']}",
             "cv_at_bpcer": {k: v.as_dict() for k, v in result.at_targets.items()}},
        )
    out.print(f"wrote {out_file} ({out_file.stat().st_size:,} bytes)")


def _write_pad_report(
    folder: Path, scores: Any, data: Any, summary: Any, extra: dict[str, Any]
) -> Path:
    from facegate.bench import machine_description
    from facegate.eval.pad_plot import plot_pad_det

    folder.mkdir(parents=True, exist_ok=True)
    live = data.bona_fide
    labels = data.labels
    curves = {kind: (scores[live], scores[labels == kind]) for kind in summary.apcer}
    plot_pad_det(curves, folder / "det.png", "PAD DET (ISO/IEC 30107-3)")
    record = {
        "scores": "bona fide score in [0, 1]; accepted as bona fide when score >= threshold",
        **summary.as_dict(),
        "n_no_face": len(data.no_face),
        "command": command_line(),
        "machine": machine_description(),
        **extra,
    }
    path = folder / "report.json"
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path


@eval_app.command("liveness")
@friendly
def eval_liveness(
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    labels: Annotated[Path | None, typer.Option(help="CSV path,label (live / attack type).")] = None,
    root: Annotated[Path | None, typer.Option(help="Folder the CSV paths are relative to.")] = None,
    live: Annotated[Path | None, typer.Option(help="Folder of bona fide images.")] = None,
    attack: Annotated[Path | None, typer.Option(help="Folder of attack images.")] = None,
    weights: Annotated[Path | None, typer.Option(help="PAD weights (default: shipped).")] = None,
) -> None:
    """APCER per attack type and BPCER of the passive PAD at its shipped threshold."""
    from facegate.errors import InputError
    from facegate.liveness.dataset import from_folders, read_labels
    from facegate.liveness.pad import PadModel
    from facegate.liveness.train import summarise

    if (labels is None) == (live is None or attack is None):
        raise InputError("give either --labels CSV (with --root) or both --live DIR and --attack DIR")
    images = read_labels(labels, root) if labels is not None else from_folders(live, attack)  # type: ignore[arg-type]
    model = PadModel.load(weights)
    data = _features(images, model.spec)
    scores = model.score_features(data.features)
    summary = summarise(scores, data, model.threshold)
    report = _write_pad_report(
        out_dir, scores, data, summary,
        {"dataset": str(labels or f"{live} | {attack}"), "weights": model.meta.get("command")},
    )
    out.print(_rates(summary))
    out.print(f"wrote {report}")
