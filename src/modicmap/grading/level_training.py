"""``modicmap train levels``: the level network and the level model, from graded `run` outputs.

Data: a cohort CSV (``study_id,t1,t2``, as ``batch`` reads it), the ``batch`` output folder
of that cohort (each study's ``vertebrae.nii.gz`` and ``t2_registered.nii.gz`` are read
from it) and per-level gradings in SPIDER's format (``Patient`` = study_id, ``IVD label``
1 = lowest disc, ``Modic``; an optional ``Pfirrman grade`` or ``Pfirrmann grade`` column
is learned as a second target, and SPIDER's other per-level gradings (``AUX_TARGETS``:
endplate changes, herniation, narrowing, bulging, spondylolisthesis; any value > 0 =
present), where the file has them, as auxiliary targets when ``aux_weight`` > 0). Runs
whose registration warned are left out (their T2 may show other anatomy).

Training: one patch per level and slice (:mod:`modicmap.grading.level_crops`); loss
binary cross-entropy of "any Modic" plus ``pfirrmann_weight`` times a smooth-L1 loss of
the Pfirrmann grade plus ``aux_weight`` times the binary cross-entropy of the auxiliary
targets (graded ones only); AdamW with a one-cycle learning rate; augmentation by small
random rotations, scalings and shifts and a random gain per channel; a fixed number of epochs
(no early stopping: there is no validation split to spare at a few hundred levels).
The level model needs the network's logit on levels the network never saw, so the
studies are split into ``folds`` by patient: each fold's logits come from a network
trained on the other folds, the level model (:mod:`modicmap.grading.level_model`) is
fitted on those out-of-fold logits and the runs' other evidence, and the shipped network
is then trained on all studies. The bundle records the command, the data, the settings
and the out-of-fold metrics.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from modicmap.errors import InputError
from modicmap.grading.level_crops import LevelPatches, PatchGeometry, level_patches
from modicmap.grading.level_model import (
    FEATURES,
    LevelEvidence,
    LevelModel,
    evidence_features,
    fit_level_model,
)
from modicmap.grading.level_network import (
    PFIRRMANN_CENTRE,
    SECTION,
    LevelNetScore,
    LevelNetSpec,
    build_level_network,
    network_outputs,
)
from modicmap.labels import vertebra_code

logger = logging.getLogger(__name__)

#: SPIDER's other per-level gradings, learned as auxiliary targets (``--aux-weight`` > 0)
#: where a gradings file has them (on SPIDER dev they did not measurably help the Modic
#: ranking, docs/benchmarks.md "More context, more targets", so the default weight is 0)
AUX_TARGETS = (
    "UP endplate",
    "LOW endplate",
    "Disc herniation",
    "Disc narrowing",
    "Disc bulging",
    "Spondylolisthesis",
)


@dataclass(frozen=True)
class LevelTrainSettings:
    epochs: int = 25
    batch_size: int = 32
    learning_rate: float = 2e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-3
    pfirrmann_weight: float = 1.0
    aux_weight: float = 0.0
    folds: int = 5
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class LevelData:
    """Graded levels of many runs: patches, targets and the runs' other evidence."""

    patches: np.ndarray  # float32 arr[n_patches, 2, S, S]
    level_of_patch: np.ndarray  # int arr[n_patches]: row in the per-level arrays below
    modic: np.ndarray  # bool arr[n_levels]: any Modic change
    pfirrmann: np.ndarray  # float arr[n_levels], NaN where not graded
    patients: tuple[str, ...]  # per level
    evidence: tuple[LevelEvidence, ...]  # per level, from the run's summary.json
    aux: np.ndarray | None = None  # float arr[n_levels, n_aux] (1/0, NaN = not graded)
    types: np.ndarray | None = None  # int arr[n_levels]: the graded type, 0-3

    def patch_rows(self, levels: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(self.level_of_patch, levels))

    def subset(self, levels: np.ndarray) -> LevelData:
        """The given levels (rows), renumbered from 0."""
        levels = np.asarray(levels)
        rows = self.patch_rows(levels)
        renumber = {int(old): new for new, old in enumerate(levels)}
        return LevelData(
            patches=self.patches[rows],
            level_of_patch=np.array([renumber[int(i)] for i in self.level_of_patch[rows]]),
            modic=self.modic[levels],
            pfirrmann=self.pfirrmann[levels],
            patients=tuple(self.patients[i] for i in levels),
            evidence=tuple(self.evidence[i] for i in levels),
            aux=None if self.aux is None else self.aux[levels],
            types=None if self.types is None else self.types[levels],
        )


@dataclass(frozen=True)
class LevelGrading:
    """One graded level: Modic type, Pfirrmann grade (NaN: not graded) and the auxiliary
    targets (1.0 present, 0.0 absent, NaN not graded; in the order asked for)."""

    modic: int
    pfirrmann: float
    aux: tuple[float, ...] = ()


def aux_columns(path: Path) -> tuple[str, ...]:
    """The AUX_TARGETS columns the gradings file has."""
    try:
        with path.open(newline="") as handle:
            fields = csv.DictReader(handle).fieldnames or []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read ({exc.__class__.__name__})") from None
    return tuple(t for t in AUX_TARGETS if t in fields)


def read_level_gradings(
    path: Path, aux: tuple[str, ...] = ()
) -> dict[tuple[str, int], LevelGrading]:
    """(patient, IVD label) -> grading: the Modic column (``read_spider_gradings``) plus the
    optional ``Pfirrman grade`` (SPIDER's spelling) or ``Pfirrmann grade`` column and the
    ``aux`` columns."""
    from modicmap.io.gradings import read_spider_gradings

    modic = read_spider_gradings(path)  # checks the file and its SPIDER columns
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        missing = [c for c in aux if c not in fields]
        if missing:
            raise InputError(path, f"has no column {missing[0]!r}")
        column = next((f for f in ("Pfirrmann grade", "Pfirrman grade") if f in fields), None)
        grades: dict[tuple[str, int], tuple[float, tuple[float, ...]]] = {}
        for number, row in enumerate(reader, start=2):
            try:
                values = [_number(row, column)] + [_number(row, c) for c in aux]
            except ValueError as error:
                raise InputError(path, f"line {number}: non-numeric {error}") from None
            present = tuple(v if np.isnan(v) else float(v > 0) for v in values[1:])
            grades[(row["Patient"].strip(), int(row["IVD label"]))] = (values[0], present)
    nothing = (float("nan"), (float("nan"),) * len(aux))
    return {key: LevelGrading(m, *grades.get(key, nothing)) for key, m in modic.items()}


def _number(row: dict[str, str], column: str | None) -> float:
    value = (row.get(column) or "").strip() if column else ""
    try:
        return float(value) if value else float("nan")
    except ValueError:
        raise ValueError(column) from None


def _canonical_array(path: Path) -> np.ndarray:
    from modicmap.io.orientation import to_canonical
    from modicmap.io.reader import read_label_image

    return sitk.GetArrayFromImage(to_canonical(read_label_image(path)))


def run_patches(
    t1_path: Path, run: Path, geometry: PatchGeometry
) -> tuple[dict[tuple[int, int], LevelPatches], list[LevelEvidence], bool]:
    """The level patches of one `run` output (T1 read from ``t1_path``), its level evidence
    and whether its registration warned (then no patch: `run` does not read its T2)."""
    from modicmap.grading.level_model import read_level_evidence
    from modicmap.io.reader import read_image

    evidence = read_level_evidence(run)
    summary = json.loads((run / "summary.json").read_text())
    if summary.get("registration", {}).get("warnings"):
        return {}, evidence, True
    t1 = read_image(t1_path)
    t1_arr = sitk.GetArrayFromImage(t1.image)
    t2_arr = _canonical_array(run / "t2_registered.nii.gz").astype(np.float32)
    labels = _canonical_array(run / "vertebrae.nii.gz")
    if not t1_arr.shape == t2_arr.shape == labels.shape:
        raise InputError(run, f"run outputs do not match the T1 grid of {t1_path}")
    spacing = t1.image.GetSpacing()
    pairs = []
    for item in evidence:
        upper, lower = item.level.split("-")
        pairs.append((vertebra_code(upper), vertebra_code(lower)))
    spacing_zyx = (spacing[2], spacing[1], spacing[0])
    patches = level_patches(t1_arr, t2_arr, labels, spacing_zyx, pairs, geometry)
    return patches, evidence, False


def level_data(cohort: Path, runs: Path, gradings: Path, spec: LevelNetSpec) -> LevelData:
    """Every graded level of the cohort's runs that has a patch of the network's geometry,
    with the network's auxiliary targets."""
    from modicmap.batch.cohort import read_cohort

    aux = spec.aux_targets
    graded = read_level_gradings(gradings, aux)
    patches, owner, modic, types, pfirrmann, patients, evidence = [], [], [], [], [], [], []
    aux_rows: list[tuple[float, ...]] = []
    skipped = 0
    for study in read_cohort(cohort):
        run = runs / study.study_id
        if not (run / "summary.json").is_file():
            continue
        found, items, warned = run_patches(study.t1, run, spec.geometry)
        if warned:
            skipped += 1
            continue
        for item in items:
            key = (study.study_id, item.index_from_sacrum)
            upper, lower = item.level.split("-")
            code_pair = (vertebra_code(upper), vertebra_code(lower))
            if key not in graded or code_pair not in found:
                continue
            row = len(modic)
            patches.append(found[code_pair].patches)
            owner += [row] * len(found[code_pair].patches)
            modic.append(graded[key].modic > 0)
            types.append(graded[key].modic)
            pfirrmann.append(graded[key].pfirrmann)
            aux_rows.append(graded[key].aux)
            patients.append(study.study_id)
            evidence.append(item)
    if not modic:
        raise InputError(runs, "no graded level with a patch (folder name = study_id = Patient)")
    logger.info(
        "%d graded levels of %d studies (%d runs left out: registration warned)",
        len(modic),
        len(set(patients)),
        skipped,
    )
    return LevelData(
        patches=np.concatenate(patches).astype(np.float32),
        level_of_patch=np.asarray(owner),
        modic=np.asarray(modic, bool),
        pfirrmann=np.asarray(pfirrmann, np.float64),
        patients=tuple(patients),
        evidence=tuple(evidence),
        aux=np.asarray(aux_rows, np.float64).reshape(len(modic), len(aux)) if aux else None,
        types=np.asarray(types, np.int64),
    )


def _augment(x, generator):  # torch tensors; lazily imported torch
    import torch
    import torch.nn.functional as F

    n = len(x)
    angle = (torch.rand(n, generator=generator) - 0.5) * 2 * np.deg2rad(8.0)
    scale = 1 + (torch.rand(n, generator=generator) - 0.5) * 0.2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) * scale
    theta[:, 0, 1] = -torch.sin(angle) * scale
    theta[:, 1, 0] = torch.sin(angle) * scale
    theta[:, 1, 1] = torch.cos(angle) * scale
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) - 0.5) * 0.1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False)
    return x * torch.exp(torch.randn(n, 2, 1, 1, generator=generator) * 0.1)


def train_network(
    data: LevelData,
    levels: np.ndarray,
    settings: LevelTrainSettings,
    spec: LevelNetSpec,
    *,
    seed: int,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[Any, list[float]]:
    """A level network trained on the patches of ``levels``; (module in eval mode, loss per
    epoch)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rows = data.patch_rows(levels)
    x = torch.from_numpy(data.patches[rows])
    owner = data.level_of_patch[rows]
    y = torch.from_numpy(data.modic[owner].astype(np.float32))
    pf = torch.from_numpy((data.pfirrmann[owner] - PFIRRMANN_CENTRE).astype(np.float32))
    n_aux = len(spec.aux_targets)
    if n_aux and (data.aux is None or data.aux.shape[1] != n_aux):
        raise ValueError(f"the network has {n_aux} auxiliary outputs, the data other targets")
    aux = torch.from_numpy(data.aux[owner].astype(np.float32)) if n_aux else None
    model = build_level_network(spec).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), settings.learning_rate / 2, weight_decay=settings.weight_decay
    )
    per_epoch = (len(rows) + settings.batch_size - 1) // settings.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=settings.epochs * per_epoch
    )
    losses = []
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(rows), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(rows), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            if len(batch) < 2:  # batch norm needs two
                schedule.step()
                continue
            out = model(_augment(x[batch], generator).to(device))
            loss = F.binary_cross_entropy_with_logits(out[:, 0], y[batch].to(device))
            graded = ~torch.isnan(pf[batch])
            if settings.pfirrmann_weight > 0 and bool(graded.any()):
                target = pf[batch][graded].to(device)
                loss = loss + settings.pfirrmann_weight * F.smooth_l1_loss(
                    out[:, 1][graded.to(device)], target
                )
            if aux is not None and settings.aux_weight > 0:
                known = ~torch.isnan(aux[batch])
                if bool(known.any()):
                    loss = loss + settings.aux_weight * F.binary_cross_entropy_with_logits(
                        out[:, 2:][known.to(device)], aux[batch][known].to(device)
                    )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
            count += len(batch)
        losses.append(total / max(count, 1))
        if progress:
            print(f"  epoch {epoch + 1}/{settings.epochs} loss {losses[-1]:.4f}", file=sys.stderr)
    return model.eval(), losses


def level_scores(
    model: Any, data: LevelData, levels: np.ndarray, device: str = "cpu"
) -> dict[int, LevelNetScore]:
    """The network's score of every level in ``levels`` (means over its patches)."""
    rows = data.patch_rows(levels)
    outputs = network_outputs(model, data.patches[rows], device)
    owner = data.level_of_patch[rows]
    return {
        int(level): LevelNetScore(
            logit=float(outputs[owner == level, 0].mean()),
            pfirrmann=float(outputs[owner == level, 1].mean() + PFIRRMANN_CENTRE),
        )
        for level in np.unique(owner)
    }


def patient_folds(patients: tuple[str, ...], folds: int, seed: int) -> np.ndarray:
    """Fold number per level, patients shuffled and dealt round-robin."""
    unique = sorted(set(patients))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: k % folds for k, i in enumerate(order)}
    return np.array([fold_of[p] for p in patients])


def with_scores(
    evidence: tuple[LevelEvidence, ...], scores: dict[int, LevelNetScore]
) -> list[LevelEvidence]:
    """The levels' evidence with the network's scores (``scores`` keyed by level row)."""
    return [
        replace(e, level_net_logit=scores[i].logit, pfirrmann_estimate=scores[i].pfirrmann)
        for i, e in enumerate(evidence)
    ]


def fit_with_network(
    data: LevelData,
    settings: LevelTrainSettings,
    spec: LevelNetSpec,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[Any, list[float], LevelModel, dict[str, Any]]:
    """Out-of-fold logits, the level model fitted on them, and the network trained on all
    levels: (network, its losses, level model, out-of-fold metrics)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    everything = np.arange(len(data.modic))
    fold = patient_folds(data.patients, settings.folds, settings.seed)
    scores: dict[int, LevelNetScore] = {}
    for k in range(settings.folds):
        logger.info("fold %d of %d: network for the out-of-fold logits", k + 1, settings.folds)
        model, _ = train_network(
            data,
            everything[fold != k],
            settings,
            spec,
            seed=settings.seed + 1 + k,
            device=device,
            progress=progress,
        )
        scores.update(level_scores(model, data, everything[fold == k], device))
    evidence = with_scores(data.evidence, scores)
    level_model = fit_level_model(
        evidence,
        data.modic,
        features=FEATURES,
        types=data.types,
        source=f"train levels: {len(data.modic)} levels of {len(set(data.patients))} "
        f"patients, level network logits out of fold ({settings.folds} folds)",
    )
    logit = np.array([scores[i].logit for i in everything])
    pf = np.array([scores[i].pfirrmann for i in everything])
    graded_pf = ~np.isnan(data.pfirrmann)
    metrics = {
        "levels": len(data.modic),
        "patients": len(set(data.patients)),
        "out_of_fold_auc_network": round(float(roc_auc_score(data.modic, logit)), 4),
        "pfirrmann_spearman": round(
            float(spearmanr(pf[graded_pf], data.pfirrmann[graded_pf]).statistic), 4
        )
        if graded_pf.sum() > 2
        else None,
        "in_sample_auc_level_model": round(
            float(roc_auc_score(data.modic, level_model.probability(evidence_features(evidence)))),
            4,
        ),
    }
    logger.info("out of fold: %s", metrics)
    network, losses = train_network(
        data, everything, settings, spec, seed=settings.seed, device=device, progress=progress
    )
    return network, losses, level_model, metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LevelTrainSettings()
    parser.add_argument("--cohort", type=Path, required=True, help="study_id,t1,t2 CSV")
    parser.add_argument("--runs", type=Path, required=True, help="`batch` output of the cohort")
    parser.add_argument("--gradings", type=Path, required=True, help="SPIDER-format gradings")
    parser.add_argument("--out", type=Path, required=True, help="new bundle folder")
    parser.add_argument("--model", type=Path, default=None, help="base bundle (default: bundled)")
    parser.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="per network (default %(default)s)"
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=defaults.folds,
        help="patient folds for the out-of-fold logits, >= 2 (default %(default)s)",
    )
    parser.add_argument(
        "--pfirrmann-weight",
        type=float,
        default=defaults.pfirrmann_weight,
        help="weight of the Pfirrmann loss, 0 = off (default %(default)s)",
    )
    parser.add_argument(
        "--aux-weight",
        type=float,
        default=defaults.aux_weight,
        help="weight of the auxiliary targets' loss, 0 = off (default %(default)s)",
    )
    parser.add_argument(
        "--aux-targets",
        nargs="*",
        default=None,
        metavar="COLUMN",
        help="gradings columns learned as auxiliary targets, > 0 = present (default: those "
        f"of {', '.join(AUX_TARGETS)} the file has)",
    )
    geometry = PatchGeometry()
    parser.add_argument(
        "--patch",
        nargs=3,
        type=float,
        default=(geometry.size, geometry.along, geometry.across),
        metavar=("SIZE", "ALONG", "ACROSS"),
        help="patch side in pixels and half height / half width in units of the distance "
        "between the two bodies' centroids (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="(default %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="CPU threads (default %(default)s)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")


def patch_spec(patch: list[float], aux: tuple[str, ...] = ()) -> LevelNetSpec:
    """The network spec of a ``--patch SIZE ALONG ACROSS`` option."""
    size, along, across = patch
    try:
        return LevelNetSpec(size=int(size), along=along, across=across, aux_targets=aux)
    except ValueError as exc:
        raise InputError(Path("--patch"), str(exc)) from None


def run_from_args(args: argparse.Namespace) -> int:
    import torch

    from modicmap.io.output_dir import output_dir
    from modicmap.models.bundle import load_bundle, save_bundle

    settings = LevelTrainSettings(
        epochs=args.epochs,
        folds=args.folds,
        pfirrmann_weight=args.pfirrmann_weight,
        aux_weight=args.aux_weight,
        seed=args.seed,
        threads=args.threads,
    )
    if settings.folds < 2 or settings.epochs < 1:
        raise InputError(Path("--folds"), "needs at least 2 folds and 1 epoch")
    torch.set_num_threads(settings.threads)
    base = load_bundle(args.model)
    started = time.time()
    inputs = [args.cohort, args.runs, args.gradings]
    aux: tuple[str, ...] = ()
    if settings.aux_weight > 0:
        aux = aux_columns(args.gradings) if args.aux_targets is None else tuple(args.aux_targets)
    spec = patch_spec(args.patch, aux)
    with output_dir(args.out, force=args.force, inputs=inputs) as work:
        data = level_data(args.cohort, args.runs, args.gradings, spec)
        network, losses, level_model, metrics = fit_with_network(
            data, settings, spec, device=args.device, progress=not args.quiet
        )
        section = {
            **spec.to_json(),
            "training": {
                "command": str(getattr(args, "command_line", "")),
                "cohort": str(args.cohort),
                "runs": str(args.runs),
                "gradings": str(args.gradings),
                "settings": asdict(settings),
                "final_losses": [round(v, 5) for v in losses[-3:]],
                "minutes": round((time.time() - started) / 60, 1),
            },
            "metrics_out_of_fold": metrics,
        }
        save_bundle(
            work,
            {SECTION: section, "level_model": level_model.to_json()},
            {SECTION: network.state_dict()},
            base=base,
        )
    print(f"wrote {args.out} (out-of-fold level network AUC {metrics['out_of_fold_auc_network']})")
    return 0
