"""Patient-level cross-validation of the lesion V-Net fine-tuned on SPIDER per-level gradings.

Protocol (issue 5 and 6; no reported patient is used for training or calibration):
the 114 SPIDER dev patients are split into K folds by patient. For fold f, the V-Net
is fine-tuned from the stage-1 bundle (synthetic + painted lesions) on the other
folds' graded levels (80 % of them train, 20 % validation for model selection), the
endplate threshold is calibrated by Youden's J (`modicmap calibrate`) on `modicmap
run` outputs of that fold's validation patients, and the calibrated fold bundle runs on
the fold's test patients. `modicmap evaluate` then scores the union of the test runs:
every patient is reported once, by a model that never saw it.

    python benchmarks/spider_graded_cv.py train --work /tmp/cv --folds 5
    python benchmarks/spider_graded_cv.py evaluate --work /tmp/cv --folds 5
    python benchmarks/spider_levels_eval.py --runs /tmp/cv/test_runs   # baselines, same levels
    python benchmarks/spider_graded_cv.py report --work /tmp/cv        # does the image add?
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from modicmap.evaluation.gradings import match_runs, read_gradings
from modicmap.lesions.graded import (
    GradedVolume,
    LevelCropSet,
    graded_volumes,
    to_level_crop_set,
)
from modicmap.lesions.training import LesionTrainSettings, train
from modicmap.pipeline.prepare import prepare_study

sys.path.insert(0, str(Path(__file__).parent))
from spider_cohort import spider_pids, write_cohort

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def cohort_csv(data: Path, work: Path, patients: list[str] | None = None) -> Path:
    """A `batch` cohort of SPIDER pairs (all, or the given patients)."""
    folder = data / "spider-midsag"
    pids = spider_pids(folder)
    if patients is not None:
        pids = [p for p in pids if p in set(patients)]
    name = "cohort_all.csv" if patients is None else f"cohort_{abs(hash(tuple(pids)))}.csv"
    return write_cohort(folder, pids, work / name)


def spider_volumes(data: Path, work: Path, bundle: Path | None) -> list[GradedVolume]:
    gradings = data / "spider-midsag" / "gradings.csv"
    return graded_volumes(cohort_csv(data, work), gradings, prepare_study, bundle)


def load_levels(
    data: Path,
    work: Path,
    bundle: Path | None,
    volumes: list[GradedVolume] | None = None,
    smooth: bool = False,
) -> LevelCropSet:
    cache = work / ("graded_crops_antialias.npz" if smooth else "graded_crops.npz")
    if cache.is_file():
        z = np.load(cache)
        return LevelCropSet(z["subjects"], z["inputs"], z["bags"], z["labels"])
    if volumes is None:
        volumes = spider_volumes(data, work, bundle)
    crops = to_level_crop_set(volumes, smooth=smooth)
    np.savez_compressed(
        cache, subjects=crops.subjects, inputs=crops.inputs, bags=crops.bags, labels=crops.labels
    )
    return crops


def folds_of(subjects: np.ndarray, k: int, seed: int) -> list[list[str]]:
    ids = sorted(set(subjects.tolist()), key=int)
    order = np.random.default_rng(seed).permutation(len(ids))
    return [sorted((ids[i] for i in order[f::k]), key=int) for f in range(k)]


def cmd_train(args: argparse.Namespace) -> None:
    args.work.mkdir(parents=True, exist_ok=True)
    volumes = spider_volumes(args.data, args.work, args.init) if args.paint_graded else None
    crops = load_levels(args.data, args.work, args.init, volumes, args.antialias)
    folds = folds_of(crops.subjects, args.folds, args.seed)
    (args.work / "folds.json").write_text(json.dumps(folds, indent=1))
    for f in args.only or range(args.folds):
        out = args.work / f"fold{f}"
        if (out / "modicmap.json").is_file() and not args.redo:
            continue
        settings = LesionTrainSettings(
            epochs=args.epochs,
            learning_rate=args.lr,
            seed=args.seed,
            patience=args.patience,
            max_minutes=args.max_minutes,
            threads=args.threads,
            val_fraction=0.2,
            test_fraction=0.0,
            mil_weight=1.0,
            voxel_batch=args.voxel_batch,
            average_last=args.average_last,
            synthetic_matrices=tuple(args.synthetic_matrices),
        )
        train(
            out,
            data=None,
            synthetic=args.synthetic,
            lumbar_vb=args.data / "lumbar-vb" if args.paintings else None,
            paintings=args.paintings,
            test_subjects=(*folds[f], "AKs", "DzZ"),
            settings=settings,
            progress=False,
            command=" ".join(sys.argv),
            graded=crops,
            graded_source={
                "cohort": "SPIDER dev (../shared/data/spider-midsag)",
                "fold": f,
                "paintings_per_study": args.paint_graded,
            },
            graded_studies=volumes,  # train() paints each fold's training patients only
            paint_graded=args.paint_graded,
            init=args.init,
            test_time_flip=args.test_time_flip,
            body_margin_mm=args.body_margin_mm,
            antialias=args.antialias,
        )


def _modicmap(*argv: str) -> None:
    exe = Path(sys.executable).with_name("modicmap")
    subprocess.run([str(exe), *argv], check=False)


def cmd_evaluate(args: argparse.Namespace) -> None:
    folds = json.loads((args.work / "folds.json").read_text())
    gradings = args.data / "spider-midsag" / "gradings.csv"
    test_runs = args.work / "test_runs"
    test_runs.mkdir(exist_ok=True)
    for f in args.only or range(len(folds)):
        bundle = args.work / f"fold{f}"
        if args.test_time_flip:  # fold models trained before the option existed get it here
            config = json.loads((bundle / "modicmap.json").read_text())
            config["lesions"]["test_time_flip"] = True
            (bundle / "modicmap.json").write_text(json.dumps(config, indent=2) + "\n")
        section = json.loads((bundle / "modicmap.json").read_text())["lesions"]
        val = [s for s in section["split"]["val"] if s.isdigit()]
        val_runs = args.work / f"val_runs{f}"
        _modicmap(
            "batch",
            str(cohort_csv(args.data, args.work, val)),
            "--out",
            str(val_runs),
            "--model",
            str(bundle),
            "--quiet",
        )
        calibrated = args.work / f"fold{f}_calibrated"
        _modicmap(
            "calibrate",
            "--runs",
            str(val_runs),
            "--gradings",
            str(gradings),
            "--out",
            str(calibrated),
            "--model",
            str(bundle),
            "--force",
            "--quiet",
        )
        _modicmap(
            "batch",
            str(cohort_csv(args.data, args.work, folds[f])),
            "--out",
            str(test_runs),
            "--model",
            str(calibrated),
            "--quiet",
        )
    _modicmap(
        "evaluate",
        "--runs",
        str(test_runs),
        "--gradings",
        str(gradings),
        "--out",
        str(args.work / "evaluation"),
        "--force",
    )


def _level_rows(runs: Path, gradings: dict[tuple[str, int], int]) -> list[dict[str, float]]:
    return [
        {
            "pid": m.patient,
            "index": m.index_from_sacrum,
            "truth": m.graded > 0,
            "probability": m.probability,
        }
        for m in match_runs(runs, gradings).levels
    ]


def _design(rows: list[dict], with_image: bool) -> np.ndarray:
    index = np.array([min(r["index"], 6) for r in rows])
    columns = [(index == i).astype(float) for i in range(1, 7)]
    if with_image:
        p = np.clip([r["probability"] for r in rows], 1e-4, 1 - 1e-4)
        columns.append(np.log(p / (1 - p)))
    return np.stack(columns, 1)


def cmd_report(args: argparse.Namespace) -> None:
    """Does the image add to the disc level? Nested: a logistic model of "any Modic" on
    the level (one-hot) with and without the V-Net's level probability, fitted on each
    fold's VALIDATION runs and applied to that fold's test runs (out of fold)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from spider_levels_eval import bootstrap_auc, bootstrap_auc_difference

    folds = json.loads((args.work / "folds.json").read_text())
    gradings = read_gradings(args.data / "spider-midsag" / "gradings.csv")
    test_all = _level_rows(args.work / "test_runs", gradings)
    combined, level_only, image, rows_out = [], [], [], []
    for f, patients in enumerate(folds):
        if not (args.work / f"val_runs{f}").is_dir():
            continue
        val = _level_rows(args.work / f"val_runs{f}", gradings)
        test = [r for r in test_all if r["pid"] in set(patients)]
        if not test or not val:
            continue
        y_val = np.array([r["truth"] for r in val])
        for with_image, sink in ((True, combined), (False, level_only)):
            model = LogisticRegression(C=1.0, max_iter=1000).fit(_design(val, with_image), y_val)
            sink += model.predict_proba(_design(test, with_image))[:, 1].tolist()
        image += [r["probability"] for r in test]
        rows_out += test
    patients_arr = np.array([r["pid"] for r in rows_out])
    y = np.array([r["truth"] for r in rows_out], int)
    result = {
        "levels": len(rows_out),
        "auc_image": bootstrap_auc(patients_arr, y, np.array(image)),
        "auc_level_only_fitted_on_val": bootstrap_auc(patients_arr, y, np.array(level_only)),
        "auc_level_plus_image_fitted_on_val": bootstrap_auc(patients_arr, y, np.array(combined)),
        "auc_level_plus_image_minus_level_only": bootstrap_auc_difference(
            patients_arr, y, np.array(combined), np.array(level_only)
        ),
        "auc_level_rule_lower_is_likelier": float(
            roc_auc_score(y, -np.array([r["index"] for r in rows_out], float))
        ),
    }
    print(json.dumps(result, indent=1))
    (args.work / "report.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["train", "evaluate", "report"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--init", type=Path, default=None, help="stage-1 bundle (default: bundled)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, nargs="*", default=None)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument(
        "--average-last", type=int, default=0, help="as `train lesions --average-last` (0: off)"
    )
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--synthetic", type=int, default=6)
    parser.add_argument("--paintings", type=int, default=1)
    parser.add_argument(
        "--paint-graded", type=int, default=0, help="as `train lesions --paint-graded` (0: off)"
    )
    parser.add_argument("--voxel-batch", type=int, default=0, help="0: half a batch")
    parser.add_argument("--max-minutes", type=float, default=15.0)
    parser.add_argument("--test-time-flip", action="store_true")
    parser.add_argument(
        "--body-margin-mm", type=float, default=0.0, help="train: the bundles' lesion body margin"
    )
    parser.add_argument(
        "--antialias", action="store_true", help="train: as `train lesions --antialias`"
    )
    parser.add_argument(
        "--synthetic-matrices", type=int, nargs="+", default=[256], help="train: as `train lesions`"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redo", action="store_true")
    args = parser.parse_args()
    if args.init is None:
        from modicmap.models.bundle import default_bundle_dir

        args.init = default_bundle_dir()
    {"train": cmd_train, "evaluate": cmd_evaluate, "report": cmd_report}[args.phase](args)


if __name__ == "__main__":
    main()
