"""The level model, cross-validated by patient on SPIDER dev (nested in the lesion CV).

Input: a finished ``spider_graded_cv.py evaluate`` work folder, whose ``test_runs`` hold
every patient's `run` output by the fold bundle that never saw the patient. For each fold
the level model (``modicmap.grading.level_model``) is fitted on the OTHER folds' test runs
(their summary.json level evidence against gradings.csv) and applied to the fold's own
runs, exactly as `run` applies a bundle's level model; the re-graded runs go to
``W/level_model_runs/<pid>/`` (levels.csv and summary.json rewritten, every other file
linked). So no patient's grading fits the model or the threshold that grade it. Then
`modicmap evaluate` and ``spider_levels_eval.py`` (baselines, paired differences) run on
them.

    python benchmarks/spider_level_model_cv.py --work W [--json out.json]
        [--record-in BUNDLE_DIR] [--level-network --out-name level_net_runs]

``--level-network``: per fold, `train levels`' procedure (``fit_with_network``: a level
network per inner fold for out-of-fold logits, the level model fitted on them, the network
trained on all of the other folds' levels) on the other folds' runs, and the fold's own runs
scored by that network from their files (T1, registered T2, bodies) as `run` scores them.
Each fold's network and level model are kept in ``W/<out-name>_fold<k>/`` (a re-run
reuses them).

``--record-in`` writes the cross-validated metrics into that bundle's ``level_model``
section (``cross_validation``), beside the model fitted on all folds by `calibrate`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from modicmap.evaluation.calibration import read_level_evidence
from modicmap.evaluation.gradings import read_gradings
from modicmap.grading.level_model import (
    LevelEvidence,
    LevelModel,
    apply_level_model,
    fit_level_model,
    with_network_scores,
)
from modicmap.grading.level_network import (
    SECTION,
    LevelNetSpec,
    load_level_network,
    score_patches,
)
from modicmap.grading.level_training import (
    LevelTrainSettings,
    aux_columns,
    fit_with_network,
    level_data,
    patch_spec,
    run_patches,
)
from modicmap.grading.tables import read_endplates_csv, read_levels_csv, write_levels_csv
from modicmap.models.bundle import load_bundle, save_bundle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _training_levels(
    runs: Path, patients: list[str], gradings: dict[tuple[str, int], int]
) -> tuple[list[LevelEvidence], np.ndarray]:
    evidence, truth = [], []
    for pid in patients:
        if not (runs / pid / "summary.json").is_file():
            continue
        for item in read_level_evidence(runs / pid):
            if (pid, item.index_from_sacrum) in gradings:
                evidence.append(item)
                truth.append(gradings[(pid, item.index_from_sacrum)])
    return evidence, np.array(truth)  # graded types 0-3


def regrade(
    run: Path, out: Path, model: LevelModel, evidence: list[LevelEvidence] | None = None
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for item in run.iterdir():
        target = out / item.name
        if item.name not in ("levels.csv", "summary.json") and not target.exists():
            target.symlink_to(item.resolve())
    levels = read_levels_csv(run / "levels.csv")
    evidence = read_level_evidence(run) if evidence is None else evidence
    graded, updated = apply_level_model(
        model, levels, evidence, read_endplates_csv(run / "endplates.csv")
    )
    write_levels_csv(graded, out / "levels.csv")
    summary = json.loads((run / "summary.json").read_text())
    summary["levels"] = [e.to_json() for e in updated]
    summary["level_model"] = {
        "threshold": model.threshold,
        "marrow_override": model.marrow_override,
        "source": model.source,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def record(bundle: Path, metrics_json: Path, folds: int) -> None:
    """The nested CV's metrics into the bundle's level_model section."""
    config_path = bundle / "modicmap.json"
    config = json.loads(config_path.read_text())
    evaluation = json.loads(metrics_json.read_text())
    m, ci = evaluation["metrics"], evaluation["ci95"]
    keys = ("auc", "kappa_presence", "kappa_types", "accuracy", "sensitivity", "specificity")
    config["level_model"]["cross_validation"] = {
        "protocol": f"{folds}-fold by patient on SPIDER dev (benchmarks/spider_graded_cv.py "
        "folds): each patient's levels scored by a lesion model and a level model that never "
        "saw the patient (benchmarks/spider_level_model_cv.py)",
        "levels": m["levels"],
        "patients": m["patients"],
        **{k: round(float(m[k]), 4) for k in keys},
        "ci95": {k: [round(float(v), 4) for v in ci[k]] for k in keys},
    }
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--json", type=Path, default=None, help="spider_levels_eval.py --json")
    parser.add_argument("--record-in", type=Path, default=None, metavar="BUNDLE_DIR")
    parser.add_argument(
        "--level-network",
        action="store_true",
        help="also train a level network per fold (`train levels`: its own inner folds for "
        "the level model's out-of-fold logits) on the other folds' runs",
    )
    parser.add_argument("--out-name", default="level_model_runs", help="folder under --work")
    parser.add_argument(
        "--pfirrmann-weight", type=float, default=LevelTrainSettings().pfirrmann_weight
    )
    parser.add_argument("--aux-weight", type=float, default=LevelTrainSettings().aux_weight)
    parser.add_argument(
        "--patch", type=float, nargs=3, default=None, metavar=("SIZE", "ALONG", "ACROSS")
    )
    args = parser.parse_args()
    folds = json.loads((args.work / "folds.json").read_text())
    gradings = read_gradings(args.data / "spider-midsag" / "gradings.csv")
    runs = args.work / "test_runs"
    out = args.work / args.out_name
    models = []
    images = args.data / "spider-midsag" / "images"
    data = None
    if args.level_network:
        cohort = args.work / "cohort_all.csv"
        with cohort.open("w") as handle:
            handle.write("study_id,t1,t2\n")
            for pid in sorted({p for fold in folds for p in fold}, key=int):
                handle.write(f"{pid},{images / f'{pid}_t1.nii.gz'},{images / f'{pid}_t2.nii.gz'}\n")
        gradings_csv = args.data / "spider-midsag" / "gradings.csv"
        aux = aux_columns(gradings_csv) if args.aux_weight > 0 else ()
        spec = patch_spec(args.patch, aux) if args.patch else LevelNetSpec(aux_targets=aux)
        data = level_data(cohort, runs, gradings_csv, spec)
    for f, patients in enumerate(folds):
        others = [p for g, fold in enumerate(folds) if g != f for p in fold]
        network = None
        if data is not None:
            rows = np.flatnonzero([p not in patients for p in data.patients])
            saved = args.work / f"{args.out_name}_fold{f}"
            if (saved / "modicmap.json").is_file():  # a finished fold of an interrupted run
                bundle = load_bundle(saved)
                network, fold_spec = load_level_network(bundle)  # its own geometry
                model = LevelModel.from_json(bundle.section("level_model"))
            else:
                settings = LevelTrainSettings(
                    seed=f, pfirrmann_weight=args.pfirrmann_weight, aux_weight=args.aux_weight
                )
                fold_spec = spec
                network, _, model, metrics = fit_with_network(data.subset(rows), settings, spec)
                print(f"fold {f}: level network {metrics}", flush=True)
                save_bundle(
                    saved,
                    {SECTION: spec.to_json(), "level_model": model.to_json()},
                    {SECTION: network.state_dict()},
                )
            truth = data.modic[rows]
        else:
            evidence, truth = _training_levels(runs, others, gradings)
            model = fit_level_model(
                evidence,
                truth > 0,
                source=f"fold {f}: fitted on the other folds' {len(truth)} levels",
                types=truth,
            )
        models.append({"fold": f, **model.to_json()})
        for pid in patients:
            if not (runs / pid / "levels.csv").is_file():
                continue
            evidence = None
            if network is not None:  # the network's scores, as `run` adds them
                t1 = images / f"{pid}_t1.nii.gz"
                patches, evidence, _ = run_patches(t1, runs / pid, fold_spec.geometry)
                evidence = with_network_scores(evidence, score_patches(network, patches))
            regrade(runs / pid, out / pid, model, evidence)
        print(
            f"fold {f}: {len(truth)} training levels, threshold {model.threshold:.3f}, "
            "coefficients " + " ".join(f"{c:+.2f}" for c in model.coefficients),
            flush=True,
        )
    (args.work / f"{args.out_name}_models.json").write_text(json.dumps(models, indent=2) + "\n")
    exe = Path(sys.executable).with_name("modicmap")
    gradings_csv = args.data / "spider-midsag" / "gradings.csv"
    evaluate = [str(exe), "evaluate", "--runs", str(out), "--gradings", str(gradings_csv)]
    evaluation = args.work / f"evaluation_{args.out_name}"
    evaluate += ["--out", str(evaluation), "--force"]
    subprocess.run(evaluate, check=True)
    if args.record_in is not None:
        record(args.record_in, evaluation / "metrics.json", len(folds))
    command = [sys.executable, str(Path(__file__).with_name("spider_levels_eval.py"))]
    command += ["--runs", str(out), "--folds", str(args.work / "folds.json")]
    command += ["--data", str(args.data)]
    if args.json is not None:
        command += ["--json", str(args.json)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
