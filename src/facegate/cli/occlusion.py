"""``facegate occlusion`` and its evaluation: thin commands over the library.

facegate occlusion SRC... [--jsonl OUT] [--heatmap DIR]   one record per image or frame
facegate eval occlusion DATA_DIR --out DIR                AUC per region (masks, glasses)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from facegate.cli.app import app, eval_app, friendly, out, progress_bar
from facegate.private_files import private_output


@app.command("occlusion")
@friendly
def occlusion_command(
    sources: Annotated[list[str], typer.Argument(help="Images, videos, or a camera (0).")],
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="One record a line (default: stdout).")
    ] = None,
    heatmap: Annotated[
        Path | None, typer.Option("--heatmap", help="Folder for one heat-map PNG per frame.")
    ] = None,
) -> None:
    """Occlusion map of each face: how covered forehead, eyes, nose, mouth, chin and cheeks are.

    Each record: source, frame, face_found and regions (each in [0, 1]: the region
    model's probability that something covers it; null without a face).
    """
    import cv2

    from facegate.config import load_settings
    from facegate.models import ModelFiles
    from facegate.vision.occlusion import OcclusionAssessor
    from facegate.vision.occlusion_draw import draw_heatmap
    from facegate.vision.pipeline import FacePipeline
    from facegate.vision.sources import iter_sources

    if heatmap is not None:
        try:
            heatmap.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise typer.BadParameter(f"cannot create {heatmap}: {exc.strerror}") from None
    n = found = 0
    with contextlib.ExitStack() as stack:
        handle = None if jsonl is None else stack.enter_context(private_output(jsonl, sources))
        with FacePipeline(ModelFiles.of(load_settings())) as pipe:
            assessor = OcclusionAssessor(pipe)
            for frame in iter_sources(sources):
                result = assessor.assess(frame)
                record: dict[str, Any] = {
                    "source": frame.source,
                    "frame": frame.index,
                    "face_found": result.face_found,
                    "regions": None if result.map is None else result.map.as_dict(),
                }
                line = json.dumps(record, allow_nan=False)
                if handle is not None:
                    handle.write(line + "\n")
                else:
                    out.print(line, highlight=False, soft_wrap=True)
                if heatmap is not None:
                    name = f"{n:05d}_{Path(frame.source).stem}_{frame.index}.png"
                    cv2.imwrite(str(heatmap / name), draw_heatmap(frame.image, result))
                n += 1
                found += result.face_found
    if jsonl is not None:
        out.print(f"{n} records ({found} with a face) from {len(sources)} source(s); wrote {jsonl}")


@eval_app.command("occlusion")
@friendly
def eval_occlusion(
    data: Annotated[
        Path, typer.Argument(help="The shared data folder (rmfrd_masked_identities, yale_faces).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path(
        "out/eval-occlusion"
    ),
    people: Annotated[
        str, typer.Option(help="RMFRD people: held-out (odd positions), tuning, or all.")
    ] = "held-out",
) -> None:
    """Occlusion map AUC per region: RMFRD masked vs unmasked, Yale glasses vs noglasses."""
    from facegate.cli.track import _write_report
    from facegate.config import load_settings
    from facegate.eval.occlusion import evaluate_glasses, evaluate_masks, rmfrd_folds
    from facegate.models import ModelFiles
    from facegate.vision.occlusion import OcclusionAssessor
    from facegate.vision.pipeline import FacePipeline

    tuning, held_out = rmfrd_folds(data / "rmfrd_masked_identities")
    chosen = {"held-out": held_out, "tuning": tuning, "all": sorted(tuning + held_out)}
    if people not in chosen:
        raise typer.BadParameter("--people must be held-out, tuning or all")
    with FacePipeline(ModelFiles.of(load_settings())) as pipe, progress_bar() as progress:
        assessor = OcclusionAssessor(pipe)
        task = progress.add_task("occlusion maps", total=None)
        masks = evaluate_masks(
            data / "rmfrd_masked_identities",
            chosen[people],
            assessor,
            progress=lambda: progress.advance(task),
        )
        glasses = evaluate_glasses(
            data / "yale_faces", assessor, progress=lambda: progress.advance(task)
        )
    path = _write_report(out_dir, {"rmfrd": {"fold": people, **masks}, "yale_glasses": glasses})
    m, g = masks["auc"], glasses["auc"]
    out.print(
        f"RMFRD {people} ({masks['n_people']} people; {masks['n_masked']} masked vs "
        f"{masks['n_unmasked']} unmasked, {masks['n_no_face']} without a face): "
        f"AUC mouth {m['mouth']:.3f}, nose {m['nose']:.3f}, chin {m['chin']:.3f}, "
        f"left eye {m['left_eye']:.3f}, right eye {m['right_eye']:.3f}\n"
        f"Yale glasses vs noglasses ({glasses['n_glasses']} vs {glasses['n_noglasses']}): "
        f"AUC left eye {g['left_eye']:.3f}, right eye {g['right_eye']:.3f}, "
        f"mean of both eyes {glasses['auc_eyes_mean']:.3f}\nwrote {path}",
        highlight=False,
    )
