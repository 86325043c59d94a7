"""``modicmap train lesions``: train the lesion V-Net (METHOD.md step 4) and write a bundle.

Loss cross-entropy + Dice (MONAI ``DiceCELoss``), Adam, channel dropout 0.5. Presets:
``paper`` = the abstract's settings (learning rate 1e-5, base width 16); ``cpu`` =
learning rate 1e-3 and base width 8, which converges within the CPU budget (the
bundled default). Subjects are split 65/20/15 (train/validation/test); lesions painted
into real lumbar-vb subjects are split by subject, with the ``--test-subjects`` held out.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modicmap.lesions.crops import CROP_MM, WORKING_MM
from modicmap.lesions.dataset import (
    CropSet,
    painted_volumes,
    study_volumes,
    synthetic_volumes,
    to_crop_set,
)
from modicmap.lesions.vnet import VNet2D, VNetSpec

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


def split_subjects(
    subjects: list[str], seed: int, test_subjects: tuple[str, ...]
) -> dict[str, str]:
    """subject -> 'train' / 'val' / 'test', 65/20/15 over the subjects not forced into test."""
    rng = np.random.default_rng(seed)
    free = [s for s in sorted(set(subjects)) if s not in test_subjects]
    order = rng.permutation(len(free))
    n_val, n_test = round(0.20 * len(free)), round(0.15 * len(free))
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
) -> dict[str, Any]:
    import torch
    from monai.losses import DiceCELoss

    from modicmap.errors import InputError
    from modicmap.models.bundle import load_bundle, save_bundle

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    volumes = []
    if data is not None:
        volumes += study_volumes(data)
    if synthetic:
        volumes += synthetic_volumes(synthetic, seed=10_000 + settings.seed)
    if lumbar_vb is not None:
        volumes += painted_volumes(lumbar_vb, paintings, settings.seed)
    if not volumes:
        raise InputError(data, "no training studies (give --data, --synthetic or --painted)")
    crops = to_crop_set(volumes, settings.seed)
    roles = split_subjects(list(crops.subjects), settings.seed, test_subjects)
    role = np.array([roles[s] for s in crops.subjects])
    train_set, val_set, test_set = (_subset(crops, role == r) for r in ("train", "val", "test"))
    logger.info(
        "crops: %d train, %d validation, %d test",
        len(train_set.inputs),
        len(val_set.inputs),
        len(test_set.inputs),
    )
    preset = PRESETS[settings.preset]
    spec = VNetSpec(base_channels=preset["base_channels"])
    model = VNet2D(spec).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "history": []}
    checkpoint = out / "lesions_checkpoint.pt"
    if resume and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        state = json.loads((out / "lesions_checkpoint.json").read_text())
    rng = np.random.default_rng(settings.seed + state["epoch"])
    from tqdm import tqdm

    started = time.perf_counter()
    model.train()
    for epoch in range(state["epoch"], settings.epochs):
        order = rng.permutation(len(train_set.inputs))
        losses = []
        for start in tqdm(
            range(0, len(order), settings.batch_size),
            desc=f"epoch {epoch + 1}",
            disable=not progress,
            leave=False,
        ):
            idx = order[start : start + settings.batch_size]
            x = torch.from_numpy(train_set.inputs[idx]).to(device)
            y = torch.from_numpy(train_set.targets[idx][:, None].astype(np.int64)).to(device)
            if (
                rng.random() < 0.5
            ):  # anterior-posterior mirror is not anatomical, superior-inferior is fine
                x, y = torch.flip(x, (2,)), torch.flip(y, (2,))
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        dice = pixel_dice(model, val_set, device)
        state["epoch"] = epoch + 1
        state["history"].append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_dice": dice}
        )
        logger.info("epoch %d loss %.4f validation Dice %.3f", epoch + 1, np.mean(losses), dice)
        if dice > state["best"]:
            state["best"], state["best_epoch"] = dice, epoch + 1
            torch.save(model.state_dict(), out / "best_lesions.pt")
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict()}, checkpoint)
        (out / "lesions_checkpoint.json").write_text(json.dumps(state, indent=1))
        if epoch + 1 - state["best_epoch"] >= settings.patience:
            logger.info("early stop at epoch %d", epoch + 1)
            break
        if (time.perf_counter() - started) / 60 > settings.max_minutes:
            logger.info("time budget reached at epoch %d", epoch + 1)
            break
    model.load_state_dict(
        torch.load(out / "best_lesions.pt", map_location=device, weights_only=True)
    )
    metrics = {"validation_pixel_dice": pixel_dice(model, val_set, device)}
    for subject_kind, mask in (
        ("synthetic", np.char.startswith(test_set.subjects.astype(str), "synthetic")),
        ("painted_real", ~np.char.startswith(test_set.subjects.astype(str), "synthetic")),
    ):
        if mask.any():
            metrics[f"test_{subject_kind}_pixel_dice"] = pixel_dice(
                model, _subset(test_set, mask), device
            )
    section = {
        **spec.to_json(),
        "crop_mm": CROP_MM,
        "working_spacing_mm": WORKING_MM,
        "normalisation": "study-scope body z-scores (modicmap.lesions.zscore); 0 outside bodies",
        "probability_threshold": 0.5,
        "command": command,
        "settings": asdict(settings),
        "training_data": {
            "annotated_folder": None if data is None else str(data),
            "synthetic_studies": synthetic,
            "painted_lumbar_vb": None if lumbar_vb is None else str(lumbar_vb),
            "paintings_per_pair": paintings,
        },
        "split": {
            r: sorted({s for s, v in roles.items() if v == r}) for r in ("train", "val", "test")
        },
        "metrics": metrics,
        "metrics_note": "pixel Dice over body crops at 1 mm (crops of the same body overlap)",
        "best_epoch": state["best_epoch"],
        "history": state["history"],
    }
    try:
        base = load_bundle(None)
    except InputError:
        base = None
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    typing = {
        "means": [[0.23, 1.20], [1.04, 0.37], [-0.53, -0.52]],
        "sds": [[0.73, 1.16], [1.00, 0.85], [0.41, 0.85]],
        "source": "Gao et al., ISMRM (paper defaults)",
    }
    sections = {"lesions": section}
    if base is None or not base.has("typing"):
        sections["typing"] = typing
    if base is None or not base.has("grading"):
        sections["grading"] = {
            "threshold": 0.0,
            "depth_mm": 8.0,
            "source": "paper's optimum (one voxel suffices); not yet calibrated",
        }
    save_bundle(out, sections, {"lesions": weights}, base=base)
    logger.info("lesion metrics: %s", metrics)
    return section


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
        "--test-subjects", nargs="*", default=("DzZ",), help="subjects held out for testing"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-minutes", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default="cpu")


def run_from_args(args: argparse.Namespace) -> int:
    settings = LesionTrainSettings(
        preset=args.preset,
        epochs=args.epochs,
        learning_rate=PRESETS[args.preset]["learning_rate"],
        seed=args.seed,
        max_minutes=args.max_minutes,
        threads=args.threads,
    )
    command = "modicmap " + " ".join(shlex.quote(a) for a in sys.argv[1:])
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
    )
    return 0
