"""``modicmap segment-vertebrae``.

Segment and name the vertebral bodies (VerSe codes) in a sagittal image.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import InputError

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
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.nii.gz")
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

    out: Path = args.out
    if not out.name.endswith((".nii.gz", ".nii", ".mha", ".nrrd")):
        raise InputError(out, "output must be a .nii.gz, .nii, .mha or .nrrd file")
    if out.exists() and not args.force:
        raise InputError(out, "exists; use --force to replace it")
    if out.resolve() == args.image.resolve():
        raise InputError(out, "is the input image")
    bundle = load_bundle(args.model)
    loaded = read_image(args.image)
    result = segment_vertebrae(loaded.image, bundle, device=args.device)
    if not result.bodies:
        raise InputError(args.image, "no vertebrae found")
    labels = sitk.GetImageFromArray(result.labels)
    labels.CopyInformation(loaded.image)
    report = {
        "image": str(args.image),
        "model": bundle.bundle_id,
        "bodies": [{"name": b.name, "code": b.code, "voxels": b.voxels} for b in result.bodies],
        "warnings": list(result.warnings),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # both files appear together
        staged = Path(tmp) / out.name
        write_image(to_native(labels, loaded), staged)
        (Path(tmp) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        shutil.move(str(staged), out)
        shutil.move(str(Path(tmp) / "report.json"), out.with_name(out.name.split(".")[0] + ".json"))
    for warning in result.warnings:
        logger.warning("%s", warning)
    logger.info("%s: %s", args.image, ", ".join(b.name for b in result.bodies))
    return 0
