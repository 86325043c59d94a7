"""``modic_sr.dcm``: every level's and endplate's finding as a DICOM SR (TID 1500, highdicom).

One measurement group per endplate and per disc level, in the order of endplates.csv and
levels.csv. A group whose ``modic`` is above 0 is a volumetric ROI group (TID 1411) that
references the SEG segment of its Modic type (``modic_seg.dcm``: segment k = type k);
the others are plain groups (TID 1501) referencing the T1 images. Every group carries
the finding site (SNOMED CT vertebra or disc level), Modic presence and type as coded
concepts, every numeric column of the CSV row as a measurement (the probability, the
shares, the ISSLS measures: whatever fields the row has) and the operating point the
probability was compared with.

Modic types, the ISSLS/Nordic measures and the model's probability have no code in
SNOMED CT, LOINC or DICOM (DCM); they are coded in the private scheme
:data:`PRIVATE_SCHEME` (a designator starting with ``99``, as PS3.16 8.2 asks for local
codes), described in the SR's Coding Scheme Identification Sequence. :func:`read_dicom_sr`
reads the rows back exactly as the CSV files hold them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pydicom

from modicmap import __version__
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.io.image import LoadedImage

logger = logging.getLogger(__name__)

#: local coding scheme of modicmap's concepts (no standard code exists for them)
PRIVATE_SCHEME = "99MODICMAP"
PRIVATE_SCHEME_NAME = "modicmap local codes (Modic changes, ISSLS measures, model outputs)"

#: fields that name the finding (tracking identifier and finding site), not measures of it
_ENDPLATE_ID = ("vertebra", "endplate")
_LEVEL_ID = ("level", "upper_vertebra", "lower_vertebra")
#: fields read as coded Modic types (0 = none) rather than numbers
_MODIC_FIELDS = {
    "modic": "Modic type",
    "upper_endplate_modic": "Modic type of the upper vertebra's inferior endplate",
    "lower_endplate_modic": "Modic type of the lower vertebra's superior endplate",
}
#: integer grades written as coded values ``<CODE><n>`` with these meanings
_GRADE_FIELDS = {
    "extent_grade": (
        "ISSLS extent grade",
        ("none", "< 25 % of the body height", "25-50 % of the body height", "> 50 %"),
    ),
}
#: short private codes (SH: at most 16 characters) and meanings of the known columns;
#: a column added later gets its own name as code (highdicom writes long ones as UC)
_NAMES = {
    "modic": ("MODIC", "Modic type"),
    "upper_endplate_modic": ("MODIC-UPPER", _MODIC_FIELDS["upper_endplate_modic"]),
    "lower_endplate_modic": ("MODIC-LOWER", _MODIC_FIELDS["lower_endplate_modic"]),
    "probability": ("PROB", "Probability of a Modic change"),
    "type1_fraction": ("T1-FRACTION", "Share of the endplate region typed Modic 1"),
    "type2_fraction": ("T2-FRACTION", "Share of the endplate region typed Modic 2"),
    "type3_fraction": ("T3-FRACTION", "Share of the endplate region typed Modic 3"),
    "lesion_mm3": ("LESION-SIZE", "Lesion size (mm3; mm2 on a single slice)"),
    "height_fraction": ("HEIGHT-FRACTION", "Lesion extent / vertebral body height (ISSLS)"),
    "extent_grade": ("EXTENT-GRADE", "ISSLS extent grade"),
    "volume_fraction": ("VOLUME-FRACTION", "Lesion volume / vertebral body volume"),
    "mixed_type": ("MIXED-TYPE", "Mixed Modic type"),
    "second_type_share": ("SECOND-SHARE", "Share of the lesion of the second Modic type"),
    "finding": ("FINDING", "Kind of finding (graded, sub-threshold, none)"),
    "level": ("LEVEL", "Disc level the endplate faces"),
    "carried_by": ("CARRIED-BY", "Endplate(s) carrying the level's Modic change"),
    "index_from_sacrum": ("SACRUM-INDEX", "Disc index from the sacrum (1 = L5-S1 or lowest)"),
}
_PRESENCE = ("MODIC-PRESENT", "Modic change")
_OPERATING_POINT = ("OPERATING-POINT", "Operating point (probability threshold)")
_UNITS = {"lesion_mm3": ("mm3", "cubic millimeter"), "index_from_sacrum": ("{#}", "count")}


def _private(value: str, meaning: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=PRIVATE_SCHEME, meaning=meaning[:64])


def _name(field: str) -> Any:
    value, meaning = _NAMES.get(field, (field, field.replace("_", " ")))
    return _private(value, meaning)


def _field_of(code_value: str) -> str:
    inverse = {code: field for field, (code, _) in _NAMES.items()}
    return inverse.get(code_value, code_value)


def _modic_value(kind: int) -> Any:
    return _private(f"MODIC{kind}", "No Modic change" if kind == 0 else f"Modic type {kind}")


def _text_value(field: str, text: str) -> Any:
    return _private(f"{_NAMES.get(field, (field,))[0]}:{text}"[:64], text or "none")


def _unit(field: str, single_slice: bool) -> Any:
    import highdicom as hd

    code, meaning = _UNITS.get(field, ("1", "no units"))
    if field == "lesion_mm3" and single_slice:
        code, meaning = "mm2", "square millimeter"
    return hd.sr.CodedConcept(value=code, scheme_designator="UCUM", meaning=meaning)


def _vertebra_site(name: str) -> Any:
    from pydicom.sr.codedict import codes

    code = getattr(codes.SCT, f"{name}Vertebra", None)
    if code is None and name == "S1":
        code = codes.SCT.Sacrum
    return code


def _level_site(level: str) -> Any:
    from pydicom.sr.codedict import codes

    return getattr(codes.SCT, f"LevelOf{level.replace('-', '')}IntervertebralDisc", None)


def _group_content(
    row: EndplateGrade | LevelGrade, identity: tuple[str, ...], single_slice: bool
) -> tuple[list[Any], list[Any]]:
    """Measurements and qualitative evaluations of every non-identity field of ``row``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    measurements, evaluations = [], []
    for f in fields(row):
        if f.name in identity:
            continue
        value = getattr(row, f.name)
        if f.name in _MODIC_FIELDS:
            kind = int(value)
            evaluations.append(hd.sr.QualitativeEvaluation(_name(f.name), _modic_value(kind)))
            if f.name == "modic":
                present = codes.SCT.Present if kind > 0 else codes.SCT.Absent
                evaluations.append(hd.sr.QualitativeEvaluation(_private(*_PRESENCE), present))
        elif f.name in _GRADE_FIELDS:
            meanings = _GRADE_FIELDS[f.name][1]
            grade = int(value)
            code, _ = _NAMES.get(f.name, (f.name, ""))
            text = meanings[grade] if 0 <= grade < len(meanings) else str(grade)
            evaluations.append(
                hd.sr.QualitativeEvaluation(
                    _name(f.name), _private(f"{code}{grade}"[:16], f"grade {grade}: {text}")
                )
            )
        elif isinstance(value, str):
            evaluations.append(
                hd.sr.QualitativeEvaluation(_name(f.name), _text_value(f.name, value))
            )
        elif isinstance(value, bool | int | float):
            measurements.append(
                hd.sr.Measurement(
                    name=_name(f.name), value=float(value), unit=_unit(f.name, single_slice)
                )
            )
        else:
            logger.debug("DICOM SR: column %s (%r) is not written", f.name, value)
    return measurements, evaluations


def write_dicom_sr(
    endplates: Sequence[EndplateGrade],
    levels: Sequence[LevelGrade],
    t1: LoadedImage,
    seg_path: Path,
    path: Path,
    *,
    model_id: str,
    level_operating_point: float | None = None,
    endplate_operating_point: float | None = None,
) -> Path:
    """The TID 1500 Measurement Report of the grades, citing ``seg_path`` and the T1 images."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if t1.dicom is None:
        raise ValueError("DICOM SR needs a DICOM T1 series")
    sources = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in t1.dicom.files]
    seg = pydicom.dcmread(str(seg_path), stop_before_pixels=True)
    single_slice = t1.is_single_slice
    algorithm = hd.sr.AlgorithmIdentification(
        name="modicmap", version=f"{__version__} (model {model_id})"[:64]
    )
    source_images = [hd.sr.SourceImageForMeasurementGroup.from_source_image(s) for s in sources]
    series = hd.sr.SourceSeriesForSegmentation(t1.dicom.series_instance_uid)

    def group(
        label: str,
        row: EndplateGrade | LevelGrade,
        identity: tuple[str, ...],
        site: Any,
        operating_point: float | None,
    ) -> Any:
        measurements, evaluations = _group_content(row, identity, single_slice)
        if operating_point is not None:
            measurements.append(
                hd.sr.Measurement(
                    name=_private(*_OPERATING_POINT),
                    value=float(operating_point),
                    unit=_unit("", single_slice),
                )
            )
        common: dict[str, Any] = {
            "tracking_identifier": hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
            "finding_type": _private("MODIC-CHANGE", "Modic change (vertebral endplate marrow)"),
            "algorithm_id": algorithm,
            "finding_sites": None if site is None else [hd.sr.FindingSite(site)],
            "measurements": measurements,
            "qualitative_evaluations": evaluations,
        }
        if row.modic > 0:
            segment = hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID,
                sop_instance_uid=seg.SOPInstanceUID,
                segment_number=int(row.modic),
                source_series=series,
            )
            return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                referenced_segment=segment, **common
            )
        return hd.sr.MeasurementsAndQualitativeEvaluations(source_images=source_images, **common)

    groups = [
        group(
            f"{e.vertebra} {e.endplate} endplate",
            e,
            _ENDPLATE_ID,
            _vertebra_site(e.vertebra),
            endplate_operating_point,
        )
        for e in endplates
    ] + [
        group(f"{lv.level} level", lv, _LEVEL_ID, _level_site(lv.level), level_operating_point)
        for lv in levels
    ]
    if not groups:  # no vertebra graded: TID 1500 still needs one group; it says so
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier="no endplate or level graded"
                ),
                algorithm_id=algorithm,
                source_images=source_images,
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(_private(*_PRESENCE), codes.SCT.Absent)
                ],
            )
        )
    device = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="modicmap", manufacturer_name="modicmap", model_name=model_id[:64]
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*sources, seg],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=9002,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="modicmap",
        is_complete=True,
        series_description=series_description(model_id),
    )
    scheme = pydicom.Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = PRIVATE_SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = "modicmap"
    sr.CodingSchemeIdentificationSequence = [scheme]
    sr.save_as(str(path))
    return path


def series_description(model_id: str) -> str:
    """The SR's Series Description: names this software and model version (LO, 64 chars);
    ``modicmap pacs`` finds a study's earlier results by it."""
    return f"Modic findings modicmap {__version__} {model_id}"[:64]


def read_dicom_sr(path: Path) -> tuple[list[EndplateGrade], list[LevelGrade]]:
    """The endplate and level rows of a ``modic_sr.dcm``, as endplates.csv/levels.csv hold them.

    Fields this version's rows have but the SR lacks (an older SR) get their type's zero.
    """
    ds = pydicom.dcmread(str(path))
    endplates: list[EndplateGrade] = []
    levels: list[LevelGrade] = []
    for container in ds.ContentSequence:
        if _concept(container)[0] != "126010":  # Imaging Measurements
            continue
        for item in container.ContentSequence:
            values: dict[str, object] = {}
            label = ""
            for content in getattr(item, "ContentSequence", []):
                code, _ = _concept(content)
                if code == "112039":  # Tracking Identifier
                    label = str(content.TextValue)
                elif content.ValueType == "NUM":
                    values[_field_of(code)] = float(content.MeasuredValueSequence[0].NumericValue)
                elif (
                    content.ValueType == "CODE"
                    and content.ConceptNameCodeSequence[0].CodingSchemeDesignator == PRIVATE_SCHEME
                ):
                    values[_field_of(code)] = content.ConceptCodeSequence[0]
            if label.endswith(" endplate"):
                vertebra, endplate, _ = label.split(" ")
                endplates.append(_row(EndplateGrade, values, vertebra=vertebra, endplate=endplate))
            elif label.endswith(" level"):
                level = label.split(" ")[0]
                upper, _, lower = level.partition("-")
                levels.append(
                    _row(
                        LevelGrade, values, level=level, upper_vertebra=upper, lower_vertebra=lower
                    )
                )
    return endplates, levels


def _concept(content: pydicom.Dataset) -> tuple[str, str]:
    name = content.ConceptNameCodeSequence[0]
    value = str(getattr(name, "CodeValue", "") or getattr(name, "LongCodeValue", ""))
    return value, str(name.CodeMeaning)


def _row(cls: type, values: dict[str, object], **identity: str) -> Any:
    kwargs: dict[str, object] = dict(identity)
    for f in fields(cls):
        if f.name in kwargs:
            continue
        value = values.get(f.name)
        kind = str(f.type)
        if isinstance(value, pydicom.Dataset):  # a coded value
            code = str(getattr(value, "CodeValue", "") or getattr(value, "LongCodeValue", ""))
            if kind == "str":
                kwargs[f.name] = code.split(":", 1)[1] if ":" in code else ""
            else:
                kwargs[f.name] = int("".join(c for c in code if c.isdigit()) or 0)
        elif value is None:
            kwargs[f.name] = {"int": 0, "float": 0.0, "str": ""}.get(kind)
        elif kind == "int":
            kwargs[f.name] = round(float(value))  # type: ignore[arg-type]
        else:
            kwargs[f.name] = value
    return cls(**kwargs)
