"""Write synthetic studies to disk in the layout ``modicmap synth`` promises (CONTRACT)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Literal

import SimpleITK as sitk
from pydicom.uid import generate_uid

from modicmap.grading.tables import write_endplates_csv, write_levels_csv
from modicmap.io.dicom_writer import write_dicom_series
from modicmap.synth.study import SyntheticStudy, SynthOptions, synthesize_study

logger = logging.getLogger(__name__)

Format = Literal["nifti", "dicom"]


def study_seed(seed: int, index: int) -> int:
    """Per-study seed: studies of one cohort differ, the same (seed, index) is reproducible."""
    return seed * 100_003 + index


def write_study(study: SyntheticStudy, folder: Path, fmt: Format = "nifti") -> tuple[Path, Path]:
    """Write one study and its ground truth; returns the T1 and T2 paths."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "dicom":
        study_uid = generate_uid(entropy_srcs=[study.study_id, "study"])
        for name, image, tr, te, number in (
            ("t1", study.t1, 550.0, 10.0, 2),
            ("t2", study.t2, 3500.0, 100.0, 3),
        ):
            write_dicom_series(
                image,
                folder / name,
                patient_id=study.study_id,
                patient_name="Synthetic^Study",
                series_description=f"{name}_tse_sag (modicmap synth)",
                repetition_time_ms=tr,
                echo_time_ms=te,
                series_number=number,
                study_instance_uid=study_uid,
                uid_seed=f"{study.study_id}-{name}",
            )
        t1_path, t2_path = folder / "t1", folder / "t2"
    else:
        t1_path, t2_path = folder / "t1.nii.gz", folder / "t2.nii.gz"
        sitk.WriteImage(study.t1, str(t1_path), useCompression=True)
        sitk.WriteImage(study.t2, str(t2_path), useCompression=True)
    truth = folder / "truth"
    truth.mkdir(exist_ok=True)
    sitk.WriteImage(study.vertebrae, str(truth / "vertebrae.nii.gz"), useCompression=True)
    sitk.WriteImage(study.modic_map, str(truth / "modic_map.nii.gz"), useCompression=True)
    write_endplates_csv(list(study.endplates), truth / "endplates.csv")
    write_levels_csv(list(study.levels), truth / "levels.csv")
    sitk.WriteTransform(study.transform, str(truth / "transform.tfm"))
    return t1_path, t2_path


def write_cohort(
    out: Path,
    n: int,
    seed: int = 0,
    fmt: Format = "nifti",
    options: SynthOptions | None = None,
    progress: bool = False,
) -> Path:
    """Write ``n`` studies into ``out`` plus ``cohort.csv`` (study_id,t1,t2; relative paths)."""
    from tqdm import tqdm

    rows = []
    for index in tqdm(range(n), desc="synth", unit="study", disable=not progress):
        study = synthesize_study(
            study_seed(seed, index), options, study_id=f"synth{seed:03d}-{index:04d}"
        )
        t1, t2 = write_study(study, out / study.study_id, fmt)
        rows.append(
            (study.study_id, t1.relative_to(out).as_posix(), t2.relative_to(out).as_posix())
        )
    cohort = out / "cohort.csv"
    with cohort.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("study_id", "t1", "t2"))
        writer.writerows(rows)
    logger.info("wrote %d synthetic studies to %s", n, out)
    return cohort
