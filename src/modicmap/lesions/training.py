"""``modicmap train lesions``: train the lesion V-Net (METHOD.md step 4) and write a bundle.

Loss cross-entropy + Dice (MONAI ``DiceCELoss``), Adam, channel dropout 0.5. Presets:
``paper`` = the abstract's settings (learning rate 1e-5, base width 16); ``cpu`` =
learning rate 1e-3 and base width 8, which converges within the CPU budget (the
bundled default). Subjects are split 65/20/15 (train/validation/test); lesions painted
into real lumbar-vb subjects are split by subject, with the ``--test-subjects`` held out.
With ``--graded COHORT --gradings CSV`` the V-Net also learns from per-level gradings
(multiple-instance loss, ``modicmap.lesions.graded``); ``--init BUNDLE`` fine-tunes a
bundle's V-Net.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modicmap import jsonio
from modicmap.argtypes import positive_int
from modicmap.grading.grade import TOP_AREA_MM2
from modicmap.grading.typing import PAPER_CENTROIDS, fit_centroids
from modicmap.lesions.crops import CROP_MM, WORKING_MM
from modicmap.lesions.dataset import (
    CropSet,
    LesionVolume,
    painted_volumes,
    study_volumes,
    synthetic_volumes,
    to_crop_set,
)
from modicmap.lesions.graded import (
    GradedVolume,
    LevelCropSet,
    bag_scores,
    mil_loss,
    painted_graded_volumes,
)
from modicmap.lesions.vnet import VNet2D, VNetSpec
from modicmap.zscore import zscore_maps

logger = logging.getLogger(__name__)

PRESETS = {
    "cpu": {"learning_rate": 1e-3, "base_channels": 8},
    "paper": {"learning_rate": 1e-5, "base_channels": 16},
}


@dataclass(frozen=True)
class LesionTrainSettings:
    preset: str = "cpu"
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    patience: int = 6
    max_minutes: float = 45.0
    threads: int = 2
    val_fraction: float = 0.20
    test_fraction: float = 0.15
    mil_weight: float = 1.0  # weight of the graded-level loss beside the voxel loss
    # with graded levels: voxel-annotated crops added to every graded batch (0 = half a batch)
    voxel_batch: int = 0
    # with annotated studies (--data): keep the paper's typing centroids instead of fitting
    paper_centroids: bool = False
    # bag score = mean of the top_k voxel probabilities: TOP_AREA_MM2 at the crops' 1 mm pixels
    top_k: int = round(TOP_AREA_MM2 / WORKING_MM**2)
    # > 0: keep the mean of the weights after each of the last ``average_last`` epochs and run
    # every epoch (no selection, no early stop); 0: keep the best validation epoch
    average_last: int = 0
    # the matrices the synthetic studies cycle through (same field of view, finer pixels)
    synthetic_matrices: tuple[int, ...] = (256,)


def average_weights(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The element-wise mean of several state dicts of one network: parameters and the batch
    norms' running statistics alike (the snapshots lie a few epochs apart on one trajectory,
    so their running statistics are close); integer buffers (batch counters) from the last."""
    if not snapshots:
        raise ValueError("no weights to average")
    out = {}
    for key, last in snapshots[-1].items():
        if last.is_floating_point():
            out[key] = sum(s[key] for s in snapshots) / len(snapshots)
        else:
            out[key] = last
    return out


def _averaged_epochs(state: dict[str, Any], snapshots: list[Any]) -> list[int]:
    return list(range(state["epoch"] - len(snapshots) + 1, state["epoch"] + 1))


def split_subjects(
    subjects: list[str],
    seed: int,
    test_subjects: tuple[str, ...],
    fractions: tuple[float, float] = (0.20, 0.15),
) -> dict[str, str]:
    """subject -> 'train' / 'val' / 'test': by default 65/20/15 (validation, test) over the
    subjects not forced into test."""
    rng = np.random.default_rng(seed)
    free = [s for s in sorted(set(subjects)) if s not in test_subjects]
    order = rng.permutation(len(free))
    n_val, n_test = round(fractions[0] * len(free)), round(fractions[1] * len(free))
    roles = {s: "test" for s in test_subjects}
    for rank, i in enumerate(order):
        roles[free[i]] = "val" if rank < n_val else ("test" if rank < n_val + n_test else "train")
    return roles


def pixel_dice(model, crops: CropSet, device: str, batch: int = 64) -> float:
    import torch

    model.eval()
    inter = total = 0.0
    with torch.no_grad():
        for start in range(0, len(crops.inputs), batch):
            x = torch.from_numpy(crops.inputs[start : start + batch]).to(device)
            pred = model(x).argmax(1).cpu().numpy() == 1
            truth = crops.targets[start : start + batch] == 1
            inter += float((pred & truth).sum())
            total += float(pred.sum() + truth.sum())
    model.train()
    return 2 * inter / total if total else float("nan")


def _subset(crops: CropSet, mask: np.ndarray) -> CropSet:
    return CropSet(crops.subjects[mask], crops.inputs[mask], crops.targets[mask])


def _joined(a: CropSet, b: CropSet) -> CropSet:
    if not len(b.inputs):
        return a
    if not len(a.inputs):
        return b
    return CropSet(
        np.concatenate([a.subjects, b.subjects]),
        np.concatenate([a.inputs, b.inputs]),
        np.concatenate([a.targets, b.targets]),
    )


def level_auc(model, levels: LevelCropSet, device: str, k: int, batch: int = 64) -> float:
    """ROC AUC of the bag scores against "any Modic" over the graded bags of ``levels``."""
    import torch
    from sklearn.metrics import roc_auc_score

    if not len(levels):
        return float("nan")
    model.eval()
    probs = []
    with torch.no_grad():
        for start in range(0, len(levels), batch):
            x = torch.from_numpy(levels.inputs[start : start + batch]).to(device)
            probs.append(torch.softmax(model(x), 1)[:, 1].cpu().numpy())
    model.train()
    scores = bag_scores(np.concatenate(probs), levels.bags, levels.labels, k)
    graded = levels.labels >= 0
    truth = levels.labels[graded] > 0
    if len(np.unique(truth)) < 2:
        return float("nan")
    return float(roc_auc_score(truth, scores[graded]))


def train(
    out: Path,
    *,
    data: Path | None,
    synthetic: int,
    lumbar_vb: Path | None,
    paintings: int,
    test_subjects: tuple[str, ...],
    settings: LesionTrainSettings,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
    command: str = "",
    graded: LevelCropSet | None = None,
    graded_source: dict[str, Any] | None = None,
    graded_studies: list[GradedVolume] | None = None,
    paint_graded: int = 0,
    init: Path | None = None,
    test_time_flip: bool = False,
    body_margin_mm: float = 0.0,
    antialias: bool = False,
) -> dict[str, Any]:
    """Train (or, with ``init``, fine-tune) the V-Net and write a bundle into ``out``.

    Voxel-annotated crops (``data``, ``synthetic``, ``lumbar_vb``) train with DiceCE;
    ``graded`` crops (per-level gradings) with the multiple-instance loss of
    ``modicmap.lesions.graded``. With graded crops, the epoch runs over them, each step
    adds a voxel batch, and the model is selected by the validation level AUC.
    With ``paint_graded`` > 0, lesions painted into the normal bodies of ``graded_studies``
    (``painted_graded_volumes``) join the voxel crops of the studies of the training role;
    the validation studies' paintings are only scored. ``antialias``: every crop (and the
    bundle at inference) is anti-aliased to the working spacing; ``graded`` crops must have
    been made with the same setting (``to_level_crop_set(..., smooth=antialias)``)."""
    import torch
    from monai.losses import DiceCELoss

    from modicmap.errors import InputError
    from modicmap.models.bundle import (
        compact_weights,
        load_bundle,
        load_weights_into,
        save_bundle,
    )

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    volumes = []
    annotated = study_volumes(data) if data is not None else []
    volumes += annotated
    if synthetic:
        volumes += synthetic_volumes(
            synthetic, seed=10_000 + settings.seed, matrices=settings.synthetic_matrices
        )
    if lumbar_vb is not None:
        volumes += painted_volumes(lumbar_vb, paintings, settings.seed)
    if not volumes and (graded is None or not len(graded)):
        raise InputError(
            data, "no training studies (give --data, --synthetic, --painted or --graded)"
        )
    fractions = (settings.val_fraction, settings.test_fraction)
    crops = to_crop_set(volumes, settings.seed, smooth=antialias)
    roles = split_subjects(list(crops.subjects), settings.seed, test_subjects, fractions)
    role = np.array([roles[s] for s in crops.subjects])
    train_set, val_set, test_set = (_subset(crops, role == r) for r in ("train", "val", "test"))
    painted_val: CropSet | None = None
    if graded is not None:
        graded_roles = split_subjects(
            list(graded.subjects), settings.seed, test_subjects, fractions
        )
        roles.update(graded_roles)
        grole = np.array([graded_roles[s] for s in graded.subjects])
        graded_train, graded_val, graded_test = (
            graded.subset(grole == r) for r in ("train", "val", "test")
        )
        if paint_graded and graded_studies:
            studies = {
                r: [v for v in graded_studies if graded_roles.get(v.subject) == r]
                for r in ("train", "val")
            }

            def painted_crops(role: str) -> CropSet:
                paintings = painted_graded_volumes(studies[role], paint_graded, settings.seed)
                return to_crop_set(paintings, settings.seed, smooth=antialias)

            extra = painted_crops("train")
            logger.info(
                "voxel crops painted into %d graded training studies: %d",
                len(set(extra.subjects.tolist())),
                len(extra.inputs),
            )
            train_set = _joined(train_set, extra)
            # the validation studies' paintings are only scored: the pixel Dice of lesions
            # painted into the user's own scans, beside the level AUC that selects the epoch
            if studies["val"]:
                painted_val = painted_crops("val")
        logger.info(
            "graded crops: %d train, %d validation, %d test",
            len(graded_train),
            len(graded_val),
            len(graded_test),
        )
    logger.info(
        "voxel crops: %d train, %d validation, %d test",
        len(train_set.inputs),
        len(val_set.inputs),
        len(test_set.inputs),
    )
    preset = PRESETS[settings.preset]
    base = None
    if init is not None:
        base = load_bundle(init)
        spec = VNetSpec.from_json(base.section("lesions"))
        model = load_weights_into(base, "lesions", VNet2D(spec)).to(device)
    else:
        spec = VNetSpec(base_channels=preset["base_channels"])
        model = VNet2D(spec).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "history": []}
    checkpoint = out / "lesions_checkpoint.pt"
    snapshots: list[dict[str, torch.Tensor]] = []  # the last epochs' weights, to average
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        snapshots = list(saved.get("snapshots", []))
        state = json.loads((out / "lesions_checkpoint.json").read_text())
    rng = np.random.default_rng(settings.seed + state["epoch"])
    from tqdm import tqdm

    def voxel_step(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(train_set.inputs[idx]).to(device)
        y = torch.from_numpy(train_set.targets[idx][:, None].astype(np.int64)).to(device)
        if rng.random() < 0.5:  # superior-inferior mirror (dim 2); anterior-posterior is not
            x, y = torch.flip(x, (2,)), torch.flip(y, (2,))
        return loss_fn(model(x), y)

    def graded_step(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(graded_train.inputs[idx]).to(device)
        bags = torch.from_numpy(graded_train.bags[idx]).to(device)
        labels = torch.from_numpy(graded_train.labels[idx]).to(device)
        if rng.random() < 0.5:
            x, bags = torch.flip(x, (2,)), torch.flip(bags, (2,))
        # a small gain/offset jitter: real z-scores vary with coil and body composition
        x = x * float(rng.uniform(0.9, 1.1)) + float(rng.normal(0.0, 0.1)) * (x != 0)
        probability = torch.softmax(model(x), 1)[:, 1]
        return mil_loss(probability, bags, labels, settings.top_k)

    started = time.perf_counter()
    model.train()
    n_voxel = len(train_set.inputs)
    for epoch in range(state["epoch"], settings.epochs):
        if graded is not None:
            order = rng.permutation(len(graded_train))
        else:
            order = rng.permutation(n_voxel)
        losses = []
        for start in tqdm(
            range(0, len(order), settings.batch_size),
            desc=f"epoch {epoch + 1}",
            disable=not progress,
            leave=False,
        ):
            idx = order[start : start + settings.batch_size]
            optimiser.zero_grad()
            if graded is None:
                loss = voxel_step(idx)
            else:
                loss = settings.mil_weight * graded_step(idx)
                if n_voxel:
                    n = settings.voxel_batch or settings.batch_size // 2
                    loss = loss + voxel_step(rng.choice(n_voxel, n))
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        dice = pixel_dice(model, val_set, device) if len(val_set.inputs) else float("nan")
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_dice": dice}
        if painted_val is not None:
            record["val_painted_graded_dice"] = pixel_dice(model, painted_val, device)
        score = dice
        if graded is not None:
            record["val_level_auc"] = score = level_auc(model, graded_val, device, settings.top_k)
        state["epoch"] = epoch + 1
        state["history"].append(record)
        logger.info("epoch %d: %s", epoch + 1, record)
        if score > state["best"]:
            state["best"], state["best_epoch"] = score, epoch + 1
            if not settings.average_last:
                torch.save(model.state_dict(), out / "best_lesions.pt")
        if settings.average_last:
            snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            snapshots = snapshots[-settings.average_last :]
        torch.save(
            {"model": model.state_dict(), "optimiser": optimiser.state_dict()}
            | ({"snapshots": snapshots} if snapshots else {}),
            checkpoint,
        )
        (out / "lesions_checkpoint.json").write_text(jsonio.dumps(state, indent=1))
        if not settings.average_last and epoch + 1 - state["best_epoch"] >= settings.patience:
            logger.info("early stop at epoch %d", epoch + 1)
            break
        if (time.perf_counter() - started) / 60 > settings.max_minutes:
            logger.info("time budget reached at epoch %d", epoch + 1)
            break
    if settings.average_last:
        model.load_state_dict(average_weights(snapshots))
        logger.info("kept the mean weights of epochs %s", _averaged_epochs(state, snapshots))
    else:
        model.load_state_dict(
            torch.load(out / "best_lesions.pt", map_location=device, weights_only=True)
        )
    metrics: dict[str, float] = {}
    if len(val_set.inputs):
        metrics["validation_pixel_dice"] = pixel_dice(model, val_set, device)
    if painted_val is not None:
        metrics["validation_painted_graded_pixel_dice"] = pixel_dice(model, painted_val, device)
    for subject_kind, mask in (
        ("synthetic", np.char.startswith(test_set.subjects.astype(str), "synthetic")),
        ("painted_real", ~np.char.startswith(test_set.subjects.astype(str), "synthetic")),
    ):
        if mask.any():
            metrics[f"test_{subject_kind}_pixel_dice"] = pixel_dice(
                model, _subset(test_set, mask), device
            )
    if graded is not None:
        metrics["validation_level_auc"] = level_auc(model, graded_val, device, settings.top_k)
        metrics["test_level_auc_crops"] = level_auc(model, graded_test, device, settings.top_k)
    previous = base.section("lesions") if base is not None else {}
    section = {
        **spec.to_json(),
        "crop_mm": CROP_MM,
        "working_spacing_mm": WORKING_MM,
        "normalisation": "study-scope body z-scores (modicmap.zscore); 0 outside bodies",
        "probability_threshold": 0.5,
        "top_k_mm2": TOP_AREA_MM2,
        "command": command,
        "settings": asdict(settings),
        "training_data": {
            "annotated_folder": None if data is None else str(data),
            "synthetic_studies": synthetic,
            "painted_lumbar_vb": None if lumbar_vb is None else str(lumbar_vb),
            "paintings_per_pair": paintings,
            "graded_levels": graded_source,
        },
        "split": {
            r: sorted({s for s, v in roles.items() if v == r}) for r in ("train", "val", "test")
        },
        "metrics": metrics,
        "metrics_note": "pixel Dice over body crops at 1 mm (crops of the same body overlap); "
        "level AUC over graded bags of body crops (each level is scored from the crops of its "
        "two bodies); the per-level numbers of the whole pipeline come from `modicmap evaluate`",
        "test_time_flip": test_time_flip,
        "body_margin_mm": body_margin_mm,
        "antialias": antialias,
        "best_epoch": state["best_epoch"],
        "history": state["history"],
    }
    if settings.average_last:
        section["averaged_epochs"] = _averaged_epochs(state, snapshots)
        del section["best_epoch"]  # nothing was selected
    if init is not None:
        section["initialised_from"] = {
            "bundle": str(init),
            "id": base.bundle_id if base is not None else None,
            "command": previous.get("command"),
            "training_data": previous.get("training_data"),
            "metrics": previous.get("metrics"),
        }
    if base is None:
        try:
            base = load_bundle(None)
        except InputError:
            base = None
    weights = compact_weights(model.state_dict())  # int8 + scales: the bundle stays small
    sections: dict[str, dict[str, Any]] = {"lesions": section}
    fitted_on = [v for v in annotated if roles.get(v.subject) == "train"]
    if fitted_on and not settings.paper_centroids:
        sections["typing"] = annotated_centroids(fitted_on, data)
        if base is not None and base.has("typing") and "endplate_type" in base.section("typing"):
            # the base's rule for typing a carrying endplate stays with the new centroids
            sections["typing"]["endplate_type"] = base.section("typing")["endplate_type"]
    elif base is None or not base.has("typing"):
        sections["typing"] = PAPER_CENTROIDS.to_json()
    sections["grading"] = {
        "rule": "probability" if graded is not None else "share",
        "threshold": 0.5 if graded is not None else 0.0,
        "depth_mm": 8.0,
        "source": "not yet calibrated: run `modicmap calibrate` on validation runs"
        if graded is not None
        else "paper's optimum (one voxel suffices); not yet calibrated",
    }
    if base is not None and base.has("level_model"):
        # the level model weighs the old V-Net's marrow evidence: refit it for the new one
        logger.info(
            "the new bundle has no level model: fit one with `modicmap calibrate --level-model`"
        )
    save_bundle(out, sections, {"lesions": weights}, base=base, drop=("level_model",))
    logger.info("lesion metrics: %s", metrics)
    return section


def annotated_centroids(volumes: list[LesionVolume], folder: Path | None) -> dict[str, Any]:
    """The bundle's typing section: per-type mean and sd of the annotated lesion voxels'
    (T1 z, T2 z), z-scored as the pipeline does (types without voxels: the paper's)."""
    t1z, t2z, types = [], [], []
    for volume in volumes:
        z = zscore_maps(volume.t1, volume.t2, volume.vertebrae)
        lesion = volume.modic > 0
        t1z.append(z.t1z[lesion])
        t2z.append(z.t2z[lesion])
        types.append(volume.modic[lesion])
    kinds = np.concatenate(types)
    source = f"fitted on the annotated lesion voxels of {len(volumes)} training studies in {folder}"
    fitted = fit_centroids(np.concatenate(t1z), np.concatenate(t2z), kinds, source)
    counts = {str(t): int((kinds == t).sum()) for t in (1, 2, 3)}
    return {**fitted.to_json(), "voxels_per_type": counts}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument(
        "--data", type=Path, default=None, help="annotated studies in the synth truth layout"
    )
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="add N synthetic studies"
    )
    parser.add_argument(
        "--painted",
        type=Path,
        default=None,
        metavar="LUMBAR_VB",
        help="paint lesions into these real pairs",
    )
    parser.add_argument("--paintings", type=int, default=6, help="paintings per real pair")
    parser.add_argument(
        "--graded",
        type=Path,
        default=None,
        metavar="COHORT_CSV",
        help="studies with per-level gradings (study_id,t1,t2 as for `batch`); needs --gradings",
    )
    parser.add_argument(
        "--gradings",
        type=Path,
        default=None,
        metavar="CSV",
        help="per-level gradings in SPIDER's format (Patient = study_id, IVD label, Modic)",
    )
    parser.add_argument(
        "--paint-graded",
        type=int,
        default=0,
        metavar="N",
        help="with --graded: also paint lesions N times into the bodies of the graded training "
        "studies whose every adjacent level is graded none (voxel supervision on your own "
        "scanners' marrow)",
    )
    parser.add_argument(
        "--init", type=Path, default=None, metavar="BUNDLE", help="start from this bundle's V-Net"
    )
    parser.add_argument(
        "--test-subjects", nargs="*", default=("DzZ",), help="subjects held out for testing"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="override the preset's learning rate"
    )
    parser.add_argument(
        "--val-fraction", type=float, default=0.20, help="share of subjects for validation"
    )
    parser.add_argument(
        "--test-fraction", type=float, default=0.15, help="share of subjects for testing"
    )
    parser.add_argument(
        "--mil-weight", type=float, default=1.0, help="weight of the graded-level loss"
    )
    parser.add_argument(
        "--voxel-batch",
        type=int,
        default=0,
        help="with --graded: voxel-annotated crops added to every graded batch "
        "(default: half a batch)",
    )
    parser.add_argument(
        "--paper-centroids",
        action="store_true",
        help="with --data: keep the paper's typing centroids instead of fitting them on the "
        "annotated voxels of the training studies",
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument(
        "--average-last",
        type=positive_int,
        default=None,
        metavar="K",
        help="keep the mean of the weights after each of the last K epochs instead of the best "
        "validation epoch; every epoch runs (no early stop). Steadier than picking one epoch "
        "when the validation set is small",
    )
    parser.add_argument("--max-minutes", type=float, default=45.0)
    parser.add_argument(
        "--test-time-flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the bundle averages each crop's probability with its superior-inferior mirror's "
        "(default: as the --init bundle, else off)",
    )
    parser.add_argument(
        "--body-margin-mm",
        type=float,
        default=None,
        help="inference setting written into the bundle: the lesion stage grows the segmented "
        "bodies by this margin in-plane (default: as the --init bundle, else 0; the default "
        "bundle: 1.0; training uses the masks as given)",
    )
    parser.add_argument(
        "--antialias",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="smooth the V-Net's input in-plane to its 1 mm working spacing where the series' "
        "pixels are finer, in training and (written into the bundle) at inference (default: "
        "as the --init bundle, else off)",
    )
    parser.add_argument(
        "--synthetic-matrices",
        type=positive_int,
        nargs="+",
        default=(256,),
        metavar="N",
        help="the in-plane matrices the --synthetic studies cycle through (default 256; e.g. "
        "256 384 512: the same tissue at several pixel sizes)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default="cpu")


def run_from_args(args: argparse.Namespace, prepare_study: Callable[..., Any]) -> int:
    """``modicmap train lesions``; ``prepare_study``: the pipeline's front, for ``--graded``
    studies (:func:`modicmap.lesions.graded.graded_volumes`)."""
    from modicmap.errors import InputError
    from modicmap.lesions.graded import graded_volumes, to_level_crop_set

    settings = LesionTrainSettings(
        preset=args.preset,
        epochs=args.epochs,
        learning_rate=args.learning_rate or PRESETS[args.preset]["learning_rate"],
        seed=args.seed,
        patience=args.patience,
        max_minutes=args.max_minutes,
        threads=args.threads,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        mil_weight=args.mil_weight,
        voxel_batch=args.voxel_batch,
        paper_centroids=args.paper_centroids,
        average_last=args.average_last or 0,
        synthetic_matrices=tuple(args.synthetic_matrices),
    )
    command = str(getattr(args, "command_line", ""))
    run_settings = inference_settings(args)
    graded = graded_source = volumes = None
    if (args.graded is None) != (args.gradings is None):
        raise InputError(args.graded or args.gradings, "--graded and --gradings go together")
    if args.paint_graded < 0 or (args.paint_graded and args.graded is None):
        raise InputError(args.graded, "--paint-graded takes a count >= 0 and needs --graded")
    if args.graded is not None:
        volumes = graded_volumes(args.graded, args.gradings, prepare_study, args.init, args.device)
        if not volumes:
            raise InputError(args.graded, "no study could be read and matched to a graded level")
        graded = to_level_crop_set(volumes, smooth=run_settings["antialias"])
        graded_source = {
            "cohort": str(args.graded),
            "gradings": str(args.gradings),
            "studies": len(volumes),
            "levels": int(sum(len(v.levels) for v in volumes)),
            "paintings_per_study": args.paint_graded,
        }
    train(
        args.out,
        data=args.data,
        synthetic=args.synthetic,
        lumbar_vb=args.painted,
        paintings=args.paintings,
        test_subjects=tuple(args.test_subjects),
        settings=settings,
        device=args.device,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
        command=command,
        graded=graded,
        graded_source=graded_source,
        graded_studies=volumes,
        paint_graded=args.paint_graded,
        init=args.init,
        **run_settings,
    )
    return 0


def inference_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The bundle's inference settings: as given, else as the ``--init`` bundle's, else off,
    so fine-tuning a bundle keeps how it is run."""
    from modicmap.models.bundle import load_bundle

    previous = load_bundle(args.init).section("lesions") if args.init is not None else {}
    flip, margin, smooth = args.test_time_flip, args.body_margin_mm, args.antialias
    return {
        "test_time_flip": bool(previous.get("test_time_flip", False)) if flip is None else flip,
        "body_margin_mm": float(previous.get("body_margin_mm", 0.0)) if margin is None else margin,
        "antialias": bool(previous.get("antialias", False)) if smooth is None else smooth,
    }
