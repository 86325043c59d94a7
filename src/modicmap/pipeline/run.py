"""``modicmap run``: compose the stages and write every CONTRACT file into ``--out``.

read (T1, T2) -> register T2 to T1 -> vertebral bodies -> body z-scores -> lesion
probability (V-Net on body crops) -> nearest-centroid typing -> endplate and level
grades -> files in the T1's own grid, written all at once (no partial output).
"""

from __future__ import annotations

import logging
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap import __version__, jsonio
from modicmap.errors import InputError
from modicmap.grading.bands import band_signals
from modicmap.grading.coherence import VoxelContext, reconcile
from modicmap.grading.discs import disc_signals
from modicmap.grading.endplates import endplate_regions
from modicmap.grading.grade import GradingRule, grade_endplates, grade_levels, grading_rule
from modicmap.grading.level_crops import level_patches
from modicmap.grading.level_model import (
    LevelModel,
    apply_level_model,
    level_evidence,
    with_network_scores,
    without_t2,
)
from modicmap.grading.level_network import SECTION as LEVEL_NETWORK
from modicmap.grading.level_network import LevelNetSpec, load_level_network, score_patches
from modicmap.grading.level_typing import lesion_signals
from modicmap.grading.operating_point import OperatingPoint, operating_point
from modicmap.grading.tables import EndplateGrade, LevelGrade, write_endplates_csv, write_levels_csv
from modicmap.grading.typing import PAPER_CENTROIDS, Centroids, type_voxels
from modicmap.io.image import LoadedImage
from modicmap.io.output_dir import check_output_dir, output_dir
from modicmap.io.reader import to_native
from modicmap.io.writer import write_image
from modicmap.labels import vertebra_code
from modicmap.lesions.inference import lesion_stage
from modicmap.models.bundle import ModelBundle, load_bundle
from modicmap.pipeline.prepare import prepare_study
from modicmap.pipeline.sequence_check import header_warnings, swapped_warning
from modicmap.pipeline.timing import StageTimer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    model: Path | None = None
    vertebrae: Path | None = None
    register: bool = True
    force: bool = False
    device: str = "cpu"
    include_phi: bool = False
    allow_non_sagittal: bool = False
    #: "balanced", "sensitive", "specific", a cut in (0, 1), or None (the bundle's default)
    operating_point: str | float | None = None


@dataclass(frozen=True)
class RunResult:
    out: Path
    endplates: tuple[EndplateGrade, ...]
    levels: tuple[LevelGrade, ...]
    warnings: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)


def _image_like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def run_study(
    t1_path: Path, t2_path: Path, out: Path, options: RunOptions = RunOptions()
) -> RunResult:
    """Run the whole pipeline on one study; raises InputError for bad input."""
    from modicmap.report.html import write_report

    inputs = [p for p in (t1_path, t2_path, options.vertebrae) if p is not None]
    check_output_dir(out, force=options.force, inputs=inputs)
    timer = StageTimer()
    bundle = load_bundle(options.model)
    level_model = _level_model(bundle)  # a bad section is bad input before any work
    point = _operating_point(bundle, level_model, options.operating_point)
    if level_model is not None and point is not None:
        level_model = replace(level_model, threshold=point.threshold)
    type_prior = endplate_type_prior(bundle, level_model)
    study = prepare_study(
        t1_path,
        t2_path,
        bundle,
        register=options.register,
        vertebrae_mask=options.vertebrae,
        device=options.device,
        force=options.force,
        allow_non_sagittal=options.allow_non_sagittal,
        timer=timer,
    )
    t1, t2, t2_on_t1, vertebrae = study.t1, study.t2, study.t2_on_t1, study.vertebrae
    registration_json = study.registration_json
    warnings: list[str] = list(study.warnings) + header_warnings(study.t1, study.t2)
    spacing = study.spacing_zyx
    t1_arr = study.t1_array
    t2_arr = study.t2_array
    t2_unreliable = bool(registration_json.get("warnings"))  # it may show other anatomy
    report_patches: dict[str, np.ndarray] = {}  # the level network's input, for the report
    if not t2_unreliable:
        swapped = swapped_warning(t1_arr, t2_arr, vertebrae.labels, spacing)
        if swapped:
            warnings.append(swapped)
    with timer.stage("lesions"):
        stage = lesion_stage(
            t1_arr, t2_arr, vertebrae.labels, spacing, bundle, device=options.device
        )
        zmaps, probability = stage.zmaps, stage.probability
        grading = bundle.section("grading") if bundle.has("grading") else {}
        rule = grading_rule(bundle)
        threshold = float(bundle.section("lesions").get("probability_threshold", 0.5))
        if rule is GradingRule.PROBABILITY:
            # one threshold for the map and the grade, so every graded endplate shows its voxels
            threshold = float(grading.get("threshold", threshold))  # type: ignore[arg-type]
        lesion = probability >= threshold
    with timer.stage("grading"):
        centroids = (
            Centroids.from_json(bundle.section("typing"))
            if bundle.has("typing")
            else PAPER_CENTROIDS
        )
        modic = type_voxels(zmaps.t1z, zmaps.t2z, lesion, centroids)
        depth = float(grading.get("depth_mm", 8.0))  # type: ignore[arg-type]
        regions = endplate_regions(vertebrae.labels, spacing, depth)  # grades and bands
        endplates = grade_endplates(
            modic,
            vertebrae.labels,
            spacing,
            threshold=float(grading.get("threshold", 0.0)),  # type: ignore[arg-type]
            depth_mm=depth,
            probability=probability,
            rule=rule,
            regions=regions,
        )
        levels = grade_levels(endplates, [b.code for b in vertebrae.bodies])
        pairs = [(vertebra_code(r.upper_vertebra), vertebra_code(r.lower_vertebra)) for r in levels]
        evidence = level_evidence(
            levels,
            disc_signals(t1_arr, t2_arr, vertebrae.labels, spacing, pairs),
            band_signals(zmaps.t1z, zmaps.t2z, vertebrae.labels, spacing, pairs, regions=regions),
            lesion_signals(zmaps.t1z, zmaps.t2z, modic, regions, pairs, spacing[1] * spacing[2]),
        )
        if t2_unreliable:
            evidence = without_t2(evidence)
        elif level_model is not None and level_model.uses_network:
            network, spec = load_level_network(bundle, options.device)
            patches = level_patches(t1_arr, t2_arr, vertebrae.labels, spacing, pairs, spec.geometry)
            evidence = with_network_scores(
                evidence, score_patches(network, patches, options.device)
            )
            shown = {r.level: patches.get(pair) for r, pair in zip(levels, pairs, strict=True)}
            report_patches = {
                name: found.patches[len(found.patches) // 2]
                for name, found in shown.items()
                if found is not None
            }
        if level_model is not None:
            levels, evidence = apply_level_model(
                level_model, levels, evidence, endplates, centroids
            )
        findings = reconcile(
            levels,
            endplates,
            VoxelContext(
                modic,
                probability,
                zmaps.t1z,
                zmaps.t2z,
                vertebrae.labels,
                regions,
                spacing,
                centroids,
            ),
            type_prior=type_prior,
        )
        modic, endplates, levels = (
            findings.modic_map,
            list(findings.endplates),
            list(findings.levels),
        )
    with (
        timer.stage("write"),
        output_dir(out, force=options.force, inputs=inputs) as work,
        ThreadPoolExecutor(1, thread_name_prefix="write") as writer,
    ):
        # the volumes are compressed and written beside the report (ITK releases the GIL);
        # leaving the pool waits for them, and output_dir publishes only a complete folder
        volumes = [
            writer.submit(write_image, to_native(image, t1), work / name)
            for image, name in (
                (_image_like(modic, t1.image), "modic_map.nii.gz"),
                (_image_like(vertebrae.labels, t1.image), "vertebrae.nii.gz"),
                (_image_like(probability, t1.image), "lesion_probability.nii.gz"),
                (t2_on_t1, "t2_registered.nii.gz"),
            )
        ]
        write_endplates_csv(endplates, work / "endplates.csv")
        write_levels_csv(levels, work / "levels.csv")
        summary = {
            "software": {"modicmap": __version__, "python": platform.python_version()},
            "model": {"id": bundle.bundle_id, "folder": str(bundle.folder)},
            "inputs": {
                "t1": _describe(t1, options.include_phi),
                "t2": _describe(t2, options.include_phi),
            },
            "registration": registration_json,
            "vertebrae": [b.name for b in vertebrae.bodies],
            "centroids": centroids.to_json(),
            "lesion_probability_threshold": threshold,
            "lesion_body_margin_mm": stage.body_margin_mm,
            "grading_rule": rule.value,
            "endplate_type": "voxels" if type_prior is None else "prior",
            "level_model": None
            if level_model is None
            else {
                "threshold": level_model.threshold,
                "marrow_override": level_model.marrow_override,
                "source": level_model.source,
                "features": list(level_model.features),
                "type_prior": None
                if level_model.type_prior is None
                else list(level_model.type_prior),
            },
            "operating_point": None if point is None else point.to_json(),
            "findings_notes": list(findings.notes),
            "levels": [e.to_json() for e in evidence],
            "seconds": timer.seconds,
            "warnings": warnings,
        }
        write_report(
            work / "report.html",
            t1=t1_arr,
            t2=t2_arr,
            modic=modic,
            vertebrae=vertebrae.labels,
            zmaps=zmaps,
            centroids=centroids,
            endplates=endplates,
            levels=levels,
            summary=summary,
            spacing_zyx=spacing,  # type: ignore[arg-type]
            level_patches=report_patches,
            study_id=out.name,  # the review's study id (work is a staging folder)
        )
        if t1.dicom is not None:
            try:
                from modicmap.export.dicom_seg import write_dicom_seg

                write_dicom_seg(modic, t1, work / "modic_seg.dcm")
                from modicmap.export.dicom_sr import write_dicom_sr

                write_dicom_sr(
                    endplates,
                    levels,
                    t1,
                    work / "modic_seg.dcm",
                    work / "modic_sr.dcm",
                    model_id=bundle.bundle_id,
                    level_operating_point=None if level_model is None else level_model.threshold,
                    endplate_operating_point=threshold,
                )
            except ImportError:
                warnings.append("DICOM SEG export is not available in this build")
        for volume in volumes:
            volume.result()  # a write error surfaces here, before summary.json exists
        (work / "summary.json").write_text(jsonio.dumps(summary, indent=2) + "\n")
    for warning in warnings:
        logger.warning("%s", warning)
    return RunResult(out, tuple(endplates), tuple(levels), tuple(warnings), timer.seconds)


def _operating_point(
    bundle: ModelBundle, level_model: LevelModel | None, requested: str | float | None
) -> OperatingPoint | None:
    """The level model's operating point (None without a level model; a requested one then
    is bad input)."""
    where = bundle.folder / "modicmap.json"
    if level_model is None:
        if requested is not None:
            raise InputError(where, "this bundle has no level model to set an operating point of")
        return None
    return operating_point(bundle.section("level_model"), requested, where=where)


def endplate_type_prior(
    bundle: ModelBundle, level_model: LevelModel | None
) -> tuple[float, float, float] | None:
    """The type prior that types a carrying endplate (``typing.endplate_type`` "prior": the
    level model's, by Bayes on the lesion's mean signal and size), or None: the type with
    most voxels (the paper's rule; "voxels", the default when the bundle names none)."""
    typing = bundle.section("typing") if bundle.has("typing") else {}
    rule = str(typing.get("endplate_type", "voxels"))
    if rule not in ("voxels", "prior"):
        raise InputError(
            bundle.folder / "modicmap.json",
            f'typing.endplate_type is "{rule}"; expected "voxels" or "prior"',
        )
    if rule == "prior" and level_model is not None:
        return level_model.type_prior
    return None


def _level_model(bundle: ModelBundle) -> LevelModel | None:
    if not bundle.has("level_model"):
        return None
    try:
        model = LevelModel.from_json(bundle.section("level_model"))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(
            bundle.folder / "modicmap.json", f"bad level_model section ({exc})"
        ) from None
    if model.uses_network:
        try:
            LevelNetSpec.from_json(bundle.section(LEVEL_NETWORK))
        except (TypeError, ValueError) as exc:
            raise InputError(
                bundle.folder / "modicmap.json", f"bad {LEVEL_NETWORK} section ({exc})"
            ) from None
    return model


def _describe(image: LoadedImage, include_phi: bool) -> dict[str, object]:
    info: dict[str, object] = {
        "path": str(image.source) if include_phi else image.source.name,
        "size": list(image.native.size),
        "spacing_mm": [round(s, 4) for s in image.native.spacing],
        "orientation": image.native.orientation,
    }
    if image.dicom is not None:
        info["series_description"] = image.dicom.series_description
        if include_phi:
            info["patient_id"] = image.dicom.patient_id
            info["patient_name"] = image.dicom.patient_name
    return info
