"""``modicmap segment-vertebrae``.

Segment and name the vertebral bodies (VerSe codes) in a sagittal image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from modicmap.cli import common
from modicmap.errors import InputError

if TYPE_CHECKING:
    from modicmap.vertebrae.result import VertebraeResult

HELP = "Segment and name the vertebral bodies (VerSe codes) in a sagittal image."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment-vertebrae",
        help=HELP,
        description=HELP
        + " Writes FILE.nii.gz (uint8, the image's own grid: L1-L5 = 20-24, L6 = 25, S1 = 26, "
        "T12 = 19, ...) and FILE.json beside it (bodies found, warnings).",
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="DICOM folder or image file")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.nii.gz",
        help="where to write the labels (required unless --check-names)",
    )
    parser.add_argument(
        "--check-names",
        action="store_true",
        help="print, for each body, the evidence its level name was checked against "
        "(order from S1, discs counted from the bodies' spacing, volume against its "
        "neighbours, left-right offset from the column, presence on the middle slices); "
        "docs/vertebra-names.md",
    )
    common.add_model(parser)
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    import SimpleITK as sitk

    from modicmap.io.reader import read_image, to_native
    from modicmap.io.writer import write_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae

    out: Path | None = args.out
    if out is None:
        if not args.check_names:
            raise InputError(args.image, "give --out FILE.nii.gz (or --check-names)")
    elif not out.name.endswith((".nii.gz", ".nii", ".mha", ".nrrd")):
        raise InputError(out, "output must be a .nii.gz, .nii, .mha or .nrrd file")
    if out is not None and out.exists() and not args.force:
        raise InputError(out, "exists; use --force to replace it")
    if out is not None and out.resolve() == args.image.resolve():
        raise InputError(out, "is the input image")
    bundle = load_bundle(args.model)
    loaded = read_image(args.image)
    result = segment_vertebrae(loaded.image, bundle, device=args.device)
    if not result.bodies:
        raise InputError(args.image, "no vertebrae found")
    if args.check_names:
        print(evidence_table(result), flush=True)
    for warning in result.warnings:
        logger.warning("%s", warning)
    logger.info("%s: %s", args.image, ", ".join(b.name for b in result.bodies))
    if out is None:
        return 0
    labels = sitk.GetImageFromArray(result.labels)
    labels.CopyInformation(loaded.image)
    report = {
        "image": str(args.image),
        "model": bundle.bundle_id,
        "bodies": [{"name": b.name, "code": b.code, "voxels": b.voxels} for b in result.bodies],
        "warnings": list(result.warnings),
        "evidence": [dataclasses.asdict(e) for e in result.evidence],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # both files appear together
        staged = Path(tmp) / out.name
        write_image(to_native(labels, loaded), staged)
        (Path(tmp) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        shutil.move(str(staged), out)
        shutil.move(str(Path(tmp) / "report.json"), out.with_name(out.name.split(".")[0] + ".json"))
    return 0


def evidence_table(result: VertebraeResult) -> str:
    """One line per body: its name and the evidence it was checked against."""
    lines = ["body   order  spacing  step  volume  lateral  middle"]
    for e in result.evidence:
        order = "-" if e.levels_above_s1 is None else str(e.levels_above_s1)
        spaced = "-" if e.discs_by_spacing is None else str(e.discs_by_spacing)
        step = "-" if e.step_ratio is None else f"{e.step_ratio:.2f}"
        if e.posterior_shift_mm is not None:  # S1: its own evidence
            lines.append(
                f"{e.name:<5} {order:>6} {spaced:>8}  S1 centre {e.posterior_shift_mm:+.1f} mm "
                "behind L5's"
            )
            continue
        line = (
            f"{e.name:<5} {order:>6} {spaced:>8} {step:>5} {e.volume_ratio:>7.2f} "
            f"{e.lateral_offset_mm:>5.1f} mm  {'yes' if e.on_midline else 'NO'}"
        )
        lines.append(line + ("  <- order and spacing disagree" if not e.agrees else ""))
    lines += [
        "order: levels above S1 from the order of the bodies (the name); spacing: discs down "
        "to S1 counted from the bodies' spacing; step: distance to the body below (L5: to S1) "
        "/ the median step; volume: / its neighbours'; lateral: centre's left-right distance "
        "from the column line; middle: reaches the column's middle sagittal slices",
        *(f"warning: {w}" for w in result.warnings),
    ]
    return "\n".join(lines)
