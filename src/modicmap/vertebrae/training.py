"""``modicmap train vertebrae``: train the vertebral-body network and write a model bundle.

Training is on 2-D sagittal slices at the working spacing, random crops with
augmentation that imitates other contrasts and scanners (intensity inversion,
gamma, bias field, noise, blur), scale and rotation. Subjects are kept together
when splitting. The loss is cross-entropy + soft Dice over the labelled pixels;
pixels labelled IGNORE (the unlabelled sacrum of masks that stop at L5) do not count.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from modicmap import jsonio
from modicmap.argtypes import positive_int
from modicmap.errors import InputError
from modicmap.vertebrae.data import TrainingSlice, find_cases, load_slices, synthetic_slices
from modicmap.vertebrae.network import (
    CLASSES,
    FALLBACK,
    IGNORE,
    VertebraeNetSpec,
    build_network,
    join_members,
    split_members,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 40
    crops_per_epoch: int = 320
    batch_size: int = 8
    learning_rate: float = 2e-3
    seed: int = 0
    val_subjects: tuple[str, ...] = ()
    val_fraction: float = 0.2
    synthetic_studies: int = 0
    #: every slice of 15-slice synthetic studies instead of the 5 central of 7
    #: (``vertebrae.data.synthetic_slices``)
    synthetic_all_slices: bool = False
    #: working pixels either side of a synthetic outline left out of the loss
    synthetic_outline_ignore: int = 0
    patience: int = 12
    threads: int = 2
    #: keep the last epoch's weights instead of the best on validation (cross-validation
    #: uses the held-out fold only to watch training, never to choose weights)
    keep_last: bool = False
    #: cross-entropy weight of the sacrum class (:data:`CLASS_WEIGHTS`)
    sacrum_weight: float = 5.0
    #: end after this epoch although the learning-rate schedule spans ``epochs``: the
    #: shipped network's first phase was such a cut-short run (resume continues it)
    stop_after: int | None = None


def augment(
    image: np.ndarray, target: np.ndarray, tile: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random crop of side ``tile`` with geometric and intensity augmentation."""
    angle = math.radians(rng.uniform(-15, 15))
    scale = rng.uniform(0.8, 1.25)
    matrix = (
        np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) / scale
    )
    rows, cols = image.shape
    # centre the crop near the labelled spine most of the time
    labelled = np.argwhere(target == 1)
    if labelled.size and rng.random() < 0.85:
        centre = labelled[rng.integers(len(labelled))] + rng.normal(0, 25, 2)
    else:
        centre = np.array([rng.uniform(0, rows), rng.uniform(0, cols)])
    offset = centre - matrix @ np.array([tile / 2, tile / 2])
    img = ndimage.affine_transform(
        image, matrix, offset, output_shape=(tile, tile), order=1, mode="constant"
    )
    lab = ndimage.affine_transform(
        target, matrix, offset, output_shape=(tile, tile), order=0, mode="constant", cval=0
    )
    if rng.random() < 0.35:
        img = 1.0 - img  # T1-like <-> T2-like contrast
    img = np.clip(img, 0, 1) ** rng.uniform(0.6, 1.6)
    yy, xx = np.mgrid[-1 : 1 : tile * 1j, -1 : 1 : tile * 1j]
    bias = np.exp(rng.normal(0, 0.2) * yy + rng.normal(0, 0.2) * xx + rng.normal(0, 0.1) * xx * yy)
    img = img * bias * rng.uniform(0.8, 1.2)
    if rng.random() < 0.3:
        img = ndimage.gaussian_filter(img, rng.uniform(0.3, 1.0))
    img = img + rng.normal(0, rng.uniform(0, 0.05), img.shape)
    return img.astype(np.float32), lab.astype(np.int64)


def split_by_subject(
    slices: list[TrainingSlice], settings: TrainSettings
) -> tuple[list[TrainingSlice], list[TrainingSlice]]:
    subjects = sorted({s.subject for s in slices if not s.subject.startswith("synthetic")})
    if settings.val_subjects:
        val = set(settings.val_subjects)
        missing = val - set(subjects)
        if missing:
            raise InputError(None, f"--val-subjects not in the data: {sorted(missing)}")
    elif settings.val_fraction <= 0:
        val = set()
    else:
        rng = np.random.default_rng(settings.seed)
        n_val = max(1, round(settings.val_fraction * len(subjects)))
        val = set(rng.choice(subjects, n_val, replace=False).tolist())
    return [s for s in slices if s.subject not in val], [s for s in slices if s.subject in val]


#: cross-entropy class weights: the sacrum is one blob among many bodies, and without
#: extra weight a first run never predicted it (validation sacrum Dice 0 after 14 epochs)
CLASS_WEIGHTS = (1.0, 1.0, 5.0)


def loss_fn(logits, target, class_weights: tuple[float, ...] = CLASS_WEIGHTS):  # torch tensors
    import torch
    import torch.nn.functional as F

    weight = torch.tensor(class_weights, dtype=logits.dtype, device=logits.device)
    ce = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)
    valid = (target != IGNORE).unsqueeze(1)
    probs = torch.softmax(logits, 1)
    onehot = F.one_hot(torch.where(target == IGNORE, 0, target), len(CLASSES)).permute(0, 3, 1, 2)
    probs, onehot = probs * valid, onehot * valid
    inter = (probs * onehot).sum((0, 2, 3))[1:]
    denom = (probs + onehot).sum((0, 2, 3))[1:]
    dice = 1 - ((2 * inter + 1) / (denom + 1)).mean()
    return ce + dice


def pad16(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    rows, cols = image.shape[-2:]
    pr, pc = (-rows) % 16, (-cols) % 16
    pad = [(0, 0)] * (image.ndim - 2) + [(0, pr), (0, pc)]
    return np.pad(image, pad), (rows, cols)


def evaluate_dice(model, slices: list[TrainingSlice], device: str) -> dict[str, float]:
    """Pixel Dice per class over the validation slices (IGNORE pixels left out)."""
    import torch

    model.eval()
    inter = np.zeros(len(CLASSES))
    total = np.zeros(len(CLASSES))
    with torch.no_grad():
        for item in slices:
            padded, (rows, cols) = pad16(item.image)
            logits = model(torch.from_numpy(padded)[None, None].to(device))
            pred = logits.argmax(1)[0, :rows, :cols].cpu().numpy()
            valid = item.target != IGNORE
            for c in range(1, len(CLASSES)):
                a, b = (pred == c) & valid, (item.target == c) & valid
                inter[c] += (a & b).sum()
                total[c] += a.sum() + b.sum()
    model.train()
    return {
        CLASSES[c]: float(2 * inter[c] / total[c]) if total[c] else float("nan")
        for c in range(1, len(CLASSES))
    }


def train(
    data: Path,
    out: Path,
    spec: VertebraeNetSpec,
    settings: TrainSettings,
    *,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
    command: str = "",
    init_weights: Path | None = None,
    ensemble_with: Path | None = None,
    fallback_in: Path | None = None,
) -> dict[str, Any]:
    """Train, checkpoint every epoch, early-stop on validation Dice, write a bundle to ``out``.

    ``ensemble_with``: a bundle whose vertebra network(s) the new network joins; the
    written bundle averages all members' probabilities (and keeps that bundle's other
    models). ``fallback_in``: write a copy of that bundle with the new network as its
    ``vertebrae_fallback`` (asked only when the main network's result is implausible).
    Otherwise the written bundle has no fallback: one chosen for another main network
    does not carry over."""
    import torch

    from modicmap.models.bundle import load_bundle, save_bundle

    if ensemble_with is not None and fallback_in is not None:
        raise InputError(fallback_in, "--fallback-in and --ensemble-with exclude each other")
    partner = load_bundle(ensemble_with) if ensemble_with is not None else None
    if partner is not None:
        _check_partner(partner, spec)
    host = load_bundle(fallback_in) if fallback_in is not None else None
    if host is not None and not host.has("vertebrae"):
        raise InputError(host.folder, "--fallback-in: the bundle has no vertebra network")
    initial = _initial_weights(init_weights) if init_weights is not None else None

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    cases = find_cases(data)
    slices = load_slices(cases, spec.working_spacing_mm)
    train_slices, val_slices = split_by_subject(slices, settings)
    if settings.synthetic_studies:
        train_slices += synthetic_slices(
            settings.synthetic_studies,
            spec.working_spacing_mm,
            all_slices=settings.synthetic_all_slices,
            outline_ignore_px=settings.synthetic_outline_ignore,
        )
    logger.info("%d training slices, %d validation slices", len(train_slices), len(val_slices))
    model = build_network(spec).to(device)
    if initial is not None:
        try:
            model.load_state_dict(initial)
        except RuntimeError:
            raise InputError(init_weights, "--init-weights do not fit the network") from None
        logger.info("initialised from %s", init_weights)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.epochs)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "history": [], "best_epoch": 0}
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        state = json.loads((out / "checkpoint.json").read_text())
        rng = np.random.default_rng(settings.seed + state["epoch"])
        logger.info("resumed from epoch %d", state["epoch"])
    best_path = out / "best_vertebrae.pt"
    from tqdm import tqdm

    class_weights = (*CLASS_WEIGHTS[:2], settings.sacrum_weight)
    last_epoch = min(settings.epochs, settings.stop_after or settings.epochs)
    model.train()
    for epoch in range(state["epoch"], last_epoch):
        start = time.perf_counter()
        losses = []
        steps = settings.crops_per_epoch // settings.batch_size
        for _ in tqdm(
            range(steps),
            desc=f"epoch {epoch + 1}/{settings.epochs}",
            disable=not progress,
            leave=False,
        ):
            batch = [
                augment(s.image, s.target, spec.tile, rng)
                for s in (
                    train_slices[i]
                    for i in rng.integers(len(train_slices), size=settings.batch_size)
                )
            ]
            x = torch.from_numpy(np.stack([b[0] for b in batch]))[:, None].to(device)
            y = torch.from_numpy(np.stack([b[1] for b in batch])).to(device)
            optimiser.zero_grad()
            loss = loss_fn(model(x), y, class_weights)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        schedule.step()
        dice = evaluate_dice(model, val_slices, device) if val_slices else {}
        score = float(np.nanmean(list(dice.values()))) if dice else -float(np.mean(losses))
        state["epoch"] = epoch + 1
        state["history"].append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "val_dice": dice,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        logger.info(
            "epoch %d loss %.4f val dice %s (%.0f s)",
            epoch + 1,
            np.mean(losses),
            {k: round(v, 3) for k, v in dice.items()},
            time.perf_counter() - start,
        )
        if settings.keep_last or not state["best_epoch"] or score > state["best"]:
            state["best"], state["best_epoch"] = score, epoch + 1
            torch.save(model.state_dict(), best_path)
        torch.save(
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
            },
            checkpoint,
        )
        (out / "checkpoint.json").write_text(jsonio.dumps(state, indent=1))
        if not settings.keep_last and epoch + 1 - state["best_epoch"] >= settings.patience:
            logger.info("early stop: no better validation Dice for %d epochs", settings.patience)
            break
    model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    final = evaluate_dice(model.to(device), val_slices, device) if val_slices else {}
    section = {
        **spec.to_json(),
        "classes": list(CLASSES),
        "normalisation": "per-image 0.5-99.5 percentile scaling to 0..1",
        "command": command,
        "training_data": {
            "folder": str(data),
            "cases": [c.case for c in find_cases(data)],
            "synthetic_studies": settings.synthetic_studies,
            "citations": [
                "C. Chu et al., PLoS ONE 10(11): e0143327 (2015) (VB1)",
                "D. Zukic et al., Computer Graphics Forum 33(6):190-204 (2014) (VB2)",
                "J.S. Ramos et al., Magnetic Resonance Imaging 109:134-146 (2024) (distribution)",
            ],
        },
        "split": {
            "train_subjects": sorted({s.subject for s in train_slices}),
            "validation_subjects": sorted({s.subject for s in val_slices}),
        },
        "settings": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()
        },
        "best_epoch": state["best_epoch"],
        "metrics": {"validation_pixel_dice": final},
        "history": state["history"],
    }
    base = partner or host
    if base is None:
        try:
            base = load_bundle(None)
        except InputError:
            base = None
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    if partner is not None:
        section, weights = _ensemble(partner, section, weights, spec)
    if host is not None:
        save_bundle(out, {FALLBACK: section}, {FALLBACK: weights}, base=host)
    else:
        sections, stored = {"vertebrae": section}, {"vertebrae": weights}
        save_bundle(out, sections, stored, base=base, drop=(FALLBACK,))
    return section


def _initial_weights(path: Path) -> dict[str, Any]:
    """``--init-weights``: a state dict file, or a bundle folder's vertebra network, read
    before the training data so that a wrong path fails at once."""
    import torch

    from modicmap.models.bundle import expand_weights, load_bundle

    if path.is_dir():
        bundle = load_bundle(path)
        if VertebraeNetSpec.from_json(bundle.section("vertebrae")).members > 1:
            raise InputError(path, "--init-weights: an ensemble cannot seed one network")
        return expand_weights(bundle.load_weights("vertebrae"))
    if not path.is_file():
        raise InputError(path, "--init-weights: does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises several kinds for a file that is not a state dict
        raise InputError(path, "--init-weights: cannot be read as a torch state dict") from None


def _check_partner(partner, spec: VertebraeNetSpec) -> None:  # partner: ModelBundle
    if not partner.has("vertebrae"):
        raise InputError(partner.folder, "--ensemble-with: the bundle has no vertebra network")
    theirs = VertebraeNetSpec.from_json(partner.section("vertebrae"))
    if replace(theirs, members=1, dropout=spec.dropout) != spec:
        raise InputError(
            partner.folder, "--ensemble-with: its vertebra network has another architecture"
        )


def _ensemble(
    partner, section: dict[str, Any], weights: dict[str, Any], spec: VertebraeNetSpec
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The partner bundle's members plus the new network, as one averaged network."""
    old = partner.section("vertebrae")
    old_spec = VertebraeNetSpec.from_json(old)
    states = split_members(partner.load_weights("vertebrae"), old_spec.members)
    records = old.get("members_info") or [{k: v for k, v in old.items() if k != "members"}]
    member = {k: v for k, v in section.items() if k not in ("members", "architecture")}
    members = len(states) + 1
    joined = {
        **replace(spec, members=members).to_json(),
        "classes": section["classes"],
        "normalisation": section["normalisation"],
        "command": section["command"],
        "ensemble": f"mean of the class probabilities of {members} U-Nets (members_info)",
        "members_info": [*records, member],
    }
    return joined, join_members([*states, weights])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder of image/mask pairs (layouts: see the module docs)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="bundle folder to write (checkpoints go there too)"
    )
    parser.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    parser.add_argument("--crops-per-epoch", type=int, default=TrainSettings.crops_per_epoch)
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--lr", type=float, default=TrainSettings.learning_rate)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--val-subjects", nargs="*", default=(), help="subjects held out for validation"
    )
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="add N synthetic studies to training"
    )
    parser.add_argument(
        "--synthetic-all-slices",
        action="store_true",
        help="take every slice of 15-slice synthetic studies, lateral partial-volume ones "
        "included (default: the 5 central slices of 7-slice studies, as the shipped networks)",
    )
    parser.add_argument(
        "--synthetic-outline-ignore",
        type=int,
        default=0,
        metavar="PX",
        help="leave PX working pixels either side of every synthetic body outline out of the "
        "loss (synthetic bodies include their cortex ring; real masks draw that edge their way)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=TrainSettings.val_fraction,
        help="share of subjects held out when --val-subjects is not given (0: train on all)",
    )
    parser.add_argument(
        "--keep-last",
        action="store_true",
        help="keep the last epoch (no early stopping, no choice on validation)",
    )
    parser.add_argument(
        "--sacrum-weight",
        type=float,
        default=TrainSettings.sacrum_weight,
        help="cross-entropy weight of the sacrum class (background and body: 1)",
    )
    parser.add_argument(
        "--stop-after",
        type=positive_int,
        default=None,
        metavar="EPOCH",
        help="end after this epoch; the learning-rate schedule still spans --epochs "
        "(--resume continues)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --out"
    )
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="start from these weights: a state dict (.pt) or a bundle folder (its vertebra "
        "network)",
    )
    parser.add_argument(
        "--ensemble-with",
        type=Path,
        default=None,
        metavar="BUNDLE",
        help="write a bundle whose vertebra network averages BUNDLE's network(s) and the new one",
    )
    parser.add_argument(
        "--fallback-in",
        type=Path,
        default=None,
        metavar="BUNDLE",
        help="write a copy of BUNDLE (to --out) with the new network as its fallback vertebra "
        "network, asked only when the main network's result stays implausible",
    )
    parser.add_argument("--device", default="cpu")


def run_from_args(args: argparse.Namespace) -> int:
    settings = TrainSettings(
        epochs=args.epochs,
        crops_per_epoch=args.crops_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        val_subjects=tuple(args.val_subjects),
        val_fraction=args.val_fraction,
        synthetic_studies=args.synthetic,
        synthetic_all_slices=args.synthetic_all_slices,
        synthetic_outline_ignore=args.synthetic_outline_ignore,
        threads=args.threads,
        keep_last=args.keep_last,
        sacrum_weight=args.sacrum_weight,
        stop_after=args.stop_after,
    )
    command = str(getattr(args, "command_line", ""))
    train(
        args.data,
        args.out,
        VertebraeNetSpec(),
        settings,
        device=args.device,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
        command=command,
        init_weights=args.init_weights,
        ensemble_with=args.ensemble_with,
        fallback_in=args.fallback_in,
    )
    return 0
