"""Liveness commands: ``facegate train pad``, ``facegate eval liveness``, ``bench pad``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from facegate.cli.app import (
    app,
    bench_app,
    command_line,
    err,
    eval_app,
    friendly,
    out,
    progress_bar,
)
from facegate.eval.groups import GroupBy

train_app = typer.Typer(help="Train FaceGate's own models from labelled data.")
app.add_typer(train_app, name="train")


def _features(images: list[Any], spec: Any, cache: Path | None, augment: Any = None) -> Any:
    from facegate.eval.pad_train import extract_cached
    from facegate.session import Session

    with Session.open() as session, progress_bar() as progress:
        task = progress.add_task("PAD features", total=len(images))
        detector = session.pipeline.detector
        return extract_cached(
            images, detector, spec, cache, lambda: progress.advance(task), augment
        )


CacheOption = Annotated[
    Path | None, typer.Option(help="Reuse / write extracted features here (.npz under out/).")
]


def _rates(summary: Any) -> str:
    attacks = ", ".join(
        f"{kind} {r.apcer:.2%} ({r.accepted}/{r.n})" for kind, r in summary.apcer.items()
    )
    return (
        f"threshold {summary.threshold:.4f}: BPCER {summary.bpcer:.2%} "
        f"({summary.bona_fide_refused}/{summary.n_bona_fide}); APCER {attacks}"
    )


def _decisions_table(by_group: dict[str, dict[str, dict[str, int]]], title: str) -> Table:
    """One row per group and label: BPCER counts outright refusals of bona fide
    presentations, APCER attacks accepted on the PAD alone; uncertain is the rest."""
    table = Table("label", "n", "live", "uncertain", "attack", "error", title=title)
    table.add_column("group", no_wrap=True)
    for group, labels in by_group.items():
        for label, c in labels.items():
            n = c["live"] + c["uncertain"] + c["attack"]
            wrong = c["attack"] if label == "live" else c["live"]
            name = "BPCER" if label == "live" else "APCER"
            table.add_row(
                label, str(n), str(c["live"]), str(c["uncertain"]), str(c["attack"]),
                f"{name} {wrong / n:.1%} ({wrong}/{n})"
                + (f", <= {3 / n:.1%} (rule of three)" if wrong == 0 else ""),
                group,
            )  # fmt: skip
    return table


@train_app.command("pad")
@friendly
def train_pad(
    labels: Annotated[
        Path, typer.Argument(help="CSV path,label,subject[,source] (live / attack type).")
    ],
    root: Annotated[Path | None, typer.Option(help="Folder the CSV paths are relative to.")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="Weights file to write (.npz).")] = Path(
        "pad_weights.npz"
    ),
    l2: Annotated[float, typer.Option(help="L2 penalty; higher is a simpler model.")] = 0.01,
    bpcer: Annotated[
        float, typer.Option(help="Most of any held-out bona fide group refused outright.")
    ] = 0.02,
    apcer: Annotated[
        float, typer.Option(help="Most of any held-out attack group accepted on PAD alone.")
    ] = 0.02,
    by: Annotated[GroupBy, typer.Option(help="What each fold holds out.")] = GroupBy.SOURCE,
    folds: Annotated[int, typer.Option(help="Group-disjoint folds; 0 = leave one out.")] = 0,
    report: Annotated[Path | None, typer.Option(help="Also write a CV report here.")] = None,
    cache: CacheOption = None,
    exclude_source: Annotated[
        list[str] | None,
        typer.Option(help="Leave this source out of training entirely (repeatable)."),
    ] = None,
    augment: Annotated[
        bool,
        typer.Option(
            help="Also train on noised copies of every presentation and grey-tinted "
            "copies of attacks (see facegate.eval.pad_augment)."
        ),
    ] = True,
) -> None:
    """Fit the passive PAD; set its live / uncertain / attack band on held-out groups."""
    from facegate.eval.pad_augment import Augmentation
    from facegate.eval.pad_data import read_labels
    from facegate.eval.pad_train import TrainOptions, provenance_command, repo_relative, train

    options = TrainOptions(
        l2=l2,
        target_bpcer=bpcer,
        target_apcer=apcer,
        by=by,
        folds=folds,
        augment=Augmentation() if augment else None,
    )
    images = read_labels(labels, root)
    data = _features(images, options.spec, cache, options.augment)
    if exclude_source:
        data = data.without_sources(exclude_source)
    command = provenance_command(command_line())
    result = train(data, options, command=command, dataset=repo_relative(labels))
    result.model.save(out_file)
    cv = result.model.meta["cv"]
    out.print(_decisions_table(result.by_group, f"held out ({cv})"))
    if result.augmented_by_group:
        out.print(_decisions_table(result.augmented_by_group, f"augmented copies, held out ({cv})"))
    out.print(
        f"band: attack below {result.band.refuse_below:.4f}, live from "
        f"{result.band.accept_at:.4f}; pooled held-out {_rates(result.at_threshold)}"
    )
    if report is not None:
        _write_pad_report(
            report,
            result.oof_scores,
            result.data,
            result.at_threshold,
            {
                "protocol": f"cross-validation, {cv}",
                "refuse_below": result.band.refuse_below,
                "decisions_by_group": result.by_group,
                "augmented_decisions_by_group": result.augmented_by_group,
            },
        )
    out.print(f"wrote {out_file} ({out_file.stat().st_size:,} bytes)")


def _write_pad_report(
    folder: Path, scores: Any, data: Any, summary: Any, extra: dict[str, Any]
) -> Path:
    from facegate.bench.timing import machine_description
    from facegate.eval.det import PAD, plot_det
    from facegate.eval.metrics import det_curve

    folder.mkdir(parents=True, exist_ok=True)
    live = data.bona_fide
    labels = data.labels
    curves = {kind: det_curve(scores[live], scores[labels == kind]) for kind in summary.apcer}
    plot_det(curves, folder / "det.png", "PAD DET (ISO/IEC 30107-3)", PAD)
    record = {
        "scores": "bona fide score in [0, 1]; live when score >= threshold, attack when "
        "score < refuse_below, uncertain between",
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
    labels: Annotated[
        Path | None, typer.Option(help="CSV path,label[,subject,source] (live / attack type).")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Folder the CSV paths are relative to.")] = None,
    live: Annotated[Path | None, typer.Option(help="Folder of bona fide images.")] = None,
    attack: Annotated[Path | None, typer.Option(help="Folder of attack images.")] = None,
    weights: Annotated[Path | None, typer.Option(help="PAD weights (default: shipped).")] = None,
    by: Annotated[
        GroupBy | None, typer.Option(help="Report per source or per subject (CSV columns).")
    ] = None,
    leave_one_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-out",
            help="With --by: score each group by a model refit without it (same features, "
            "L2 and band as the weights).",
        ),
    ] = False,
    cache: CacheOption = None,
) -> None:
    """APCER per attack type and BPCER of the passive PAD at its shipped threshold, and
    with --by, the live / uncertain / attack decisions of every source or subject."""
    from facegate.errors import InputError
    from facegate.eval.pad import PadBand
    from facegate.eval.pad_augment import Augmentation
    from facegate.eval.pad_data import from_folders, read_labels
    from facegate.eval.pad_train import (
        decisions_by_group,
        group_folds,
        group_keys,
        held_out_scores,
        summarise,
    )
    from facegate.liveness.pad import PadModel

    if (labels is None) == (live is None or attack is None):
        raise InputError(
            "give either --labels CSV (with --root) or both --live DIR and --attack DIR"
        )
    if leave_one_out and by is None:
        raise InputError("--leave-one-out needs --by source or --by subject")
    images = read_labels(labels, root) if labels is not None else from_folders(live, attack)  # type: ignore[arg-type]
    model = PadModel.load(weights)
    # Refit folds train as the weights were, with their augmented copies.
    augment = model.meta.get("augment") if leave_one_out else None
    data = _features(
        images, model.spec, cache, Augmentation.from_dict(augment) if augment else None
    )
    groups = group_keys(data.images, by) if by is not None else None
    if leave_one_out and groups is not None:
        l2 = float(model.meta.get("l2", 0.01))
        held = held_out_scores(data, group_folds(groups.tolist(), 0), l2, model.spec)
        data, groups, scores = data.originals, groups[~data.augmented], held[~data.augmented]
        protocol = f"leave one {by} out: each group scored by a model fit without it"
    else:
        scores = model.score_features(data.features)
        protocol = "the weights as given"
    summary = summarise(scores, data, model.threshold)
    band = PadBand(model.refuse_below, model.threshold)
    extra: dict[str, Any] = {
        "dataset": str(labels or f"{live} | {attack}"),
        "weights": model.meta.get("command"),
        "protocol": protocol,
        "refuse_below": model.refuse_below,
    }
    if groups is not None:
        extra["decisions_by_group"] = decisions_by_group(scores, data, groups, band)
        out.print(_decisions_table(extra["decisions_by_group"], f"by {by} ({protocol})"))
        out.print(f"band: attack below {model.refuse_below:.4f}, live from {model.threshold:.4f}")
    report = _write_pad_report(out_dir, scores, data, summary, extra)
    out.print(_rates(summary))
    out.print(f"wrote {report}")


@eval_app.command("challenges")
@friendly
def eval_challenges(
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    data: Annotated[Path, typer.Option(help="The shared dataset folder.")] = Path("../shared/data"),
    attacks: Annotated[int, typer.Option(help="Simulated attack trials (a third per kind).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the trial draw (reproducible).")] = 0,
    turn_trials: Annotated[int, typer.Option(help="Tilted-photo trials against turns.")] = 50,
) -> None:
    """Pass rates of genuine challenge responses and of simulated attacks (photo, moved
    photo, wrong-order replay), and attention on labelled open / closed eyes."""
    from collections import Counter

    from facegate.bench.timing import machine_description
    from facegate.eval.challenges import run_trials
    from facegate.liveness.challenge import DEFAULT_POOL, ChallengeOptions

    options = ChallengeOptions()
    trials, attention, skipped = run_trials(
        data, attacks, turn_trials, seed, options, progress=lambda s: err.print(f"[dim]{s}…[/]")
    )
    groups: dict[str, dict[str, Any]] = {}
    for group in sorted({t.group for t in trials}):
        members = [t for t in trials if t.group == group]
        passed = sum(t.passed for t in members)
        failures = Counter(
            "incomplete" if t.incomplete else str(t.result.failure) if t.result else "?"
            for t in members
            if not t.passed
        )
        # Single actions met, also within sequences that failed later: for attacks,
        # how often one prompt alone was fooled.
        actions = Counter(
            c.kind.value for t in members if t.result is not None for c in t.result.answered
        )
        groups[group] = {
            "attack": members[0].attack,
            "n": len(members),
            "passed": passed,
            "pass_rate": passed / len(members),
            "failures": dict(failures),
            "actions_answered": dict(sorted(actions.items())),
        }
    # The pooled figure is the random simulation's; turns and slideshows are apart.
    pooled = [
        t
        for t in trials
        if t.attack and t.group != "moved_photo_turn_first" and not t.group.startswith("slide")
    ]
    attacks_passed = sum(t.passed for t in pooled)
    record = {
        "groups": groups,
        "challenge_pool": [k.value for k in DEFAULT_POOL],
        "n_attack_trials": len(pooled),
        "attack_trials_passed": attacks_passed,
        "attention": {
            "open_eyes_attentive": attention.open_attentive,
            "n_open_frames": attention.n_open,
            "closed_eyes_refused": attention.closed_inattentive,
            "n_closed_frames": attention.n_closed,
        },
        "skipped": skipped,
        "options": {
            **{k: v for k, v in vars(options).items() if k not in ("rules", "continuity")},
            "rules": {k.value: [r.trigger, r.rise] for k, r in options.rules.items()},
            "continuity": vars(options.continuity) if options.continuity else None,
        },
        "command": command_line(),
        "machine": machine_description(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    for group, g in groups.items():
        out.print(
            f"{group}: {g['passed']}/{g['n']} passed ({g['pass_rate']:.1%}) {g['failures']}; "
            f"actions met: {g['actions_answered']}"
        )
    out.print(f"attacks passed: {attacks_passed}/{record['n_attack_trials']}; wrote {path}")


def unlock_liveness(
    mode: Any, probes: Any, templates: dict[str, Any], attacks_csv: Path | None, calibration: Any
) -> tuple[Any, dict[str, Any]]:
    """For ``facegate eval unlock``: which genuine probes pass the PAD (aligned with the
    genuine scores) and the attack figures (IAPAR per level, with counts)."""
    import numpy as np

    from facegate.biometrics.match import SecurityLevel
    from facegate.errors import InputError
    from facegate.eval.attacks import pad_scores, probe_attacks, read_attacks
    from facegate.liveness.check import LivenessMode
    from facegate.liveness.pad import PadModel
    from facegate.session import Session
    from facegate.vision.capture import CaptureClass

    if mode is LivenessMode.ACTIVE:
        raise InputError("eval unlock probes still images; --liveness active needs video")
    model = PadModel.load() if mode is LivenessMode.PASSIVE else None
    genuine_idx = [i for i in np.flatnonzero(probes.usable) if probes.identities[i] in templates]
    live = np.ones(len(genuine_idx), bool)
    extra: dict[str, Any] = {"liveness": mode.value}
    with Session.open() as session, progress_bar() as progress:
        if model is not None:
            task = progress.add_task("PAD genuine", total=int(probes.usable.sum()))
            pad = pad_scores(probes, session.pipeline, model, lambda: progress.advance(task))
            live = np.nan_to_num(pad[genuine_idx], nan=-1.0) >= model.threshold
            extra["pad_threshold"] = model.threshold
            extra["genuine_refused_by_liveness"] = int((~live).sum())
        if attacks_csv is None:
            return live, extra
        rows = read_attacks(attacks_csv)
    attack_set = _embed_attacks([r.sample for r in rows])
    attack_live = np.ones(len(rows), bool)
    if model is not None:
        with Session.open() as session, progress_bar() as progress:
            task = progress.add_task("PAD attacks", total=int(attack_set.usable.sum()))
            pad = pad_scores(attack_set, session.pipeline, model, lambda: progress.advance(task))
        attack_live = np.nan_to_num(pad, nan=-1.0) >= model.threshold
    outcome = probe_attacks(attack_set, [r.label for r in rows], attack_live, templates)
    n = len(outcome.scores)
    by_level = {}
    for lvl in SecurityLevel:
        # Each attack at the threshold unlock would use: its template's and its class's.
        limit = np.array(
            [
                calibration.decision_threshold(lvl, [CaptureClass(c)] if c else [], templates[o])
                for o, c in zip(outcome.owners, outcome.captures, strict=True)
            ],
            np.float64,
        )
        accepted = outcome.accepted(limit)
        by_level[lvl.value] = {
            "iapar": float(accepted.mean()) if n else None,
            "attacks_accepted": int(accepted.sum()),
            "attacks_matched_ignoring_liveness": int(
                (np.nan_to_num(outcome.scores, nan=-np.inf) >= limit).sum()
            ),
        }
    standard = by_level[SecurityLevel.STANDARD.value]
    extra.update(
        {
            "attacks": str(attacks_csv),
            "n_attacks": n,
            "iapar": standard["iapar"],
            "attacks_accepted": standard["attacks_accepted"],
            "n_attacks_unenrolled_identity": outcome.n_unenrolled,
            "n_attacks_no_usable_face": int(np.isnan(outcome.scores).sum()),
            "attack_types": sorted(set(outcome.labels.tolist())),
            "iapar_by_level": by_level,
        }
    )
    return live, extra


def _embed_attacks(samples: list[Any]) -> Any:
    from facegate.eval.dataset import embed_samples
    from facegate.session import Session

    with Session.open() as session, progress_bar() as progress:
        task = progress.add_task("embedding attacks", total=len(samples))
        return embed_samples(
            samples, session.pipeline, None, progress=lambda: progress.advance(task)
        )


@bench_app.command("pad")
@friendly
def bench_pad(runs: Annotated[int, typer.Option(help="Timed repetitions.")] = 200) -> None:
    """Median PAD latency per frame (features + model) from a detected face box."""
    from rich.table import Table

    from facegate.bench.pad import run_pad_bench

    timing = run_pad_bench(runs)
    table = Table("stage", "median ms", "p90 ms", title=f"facegate bench pad ({runs} runs)")
    table.add_row(
        "PAD (features + model + colour check)",
        f"{timing.pad_median_ms:.2f}",
        f"{timing.pad_p90_ms:.2f}",
    )
    table.add_row("  of which features", f"{timing.features_median_ms:.2f}", "")
    table.add_row("detection (already run by unlock)", f"{timing.detect_median_ms:.2f}", "")
    out.print(table)
    out.print(timing.machine)
