"""``modic_seg.dcm``: the Modic map as DICOM SEG referencing the T1 series (highdicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap import __version__
from modicmap.io.image import LoadedImage
from modicmap.io.reader import to_native

SEGMENT_LABELS = {1: "Modic type 1", 2: "Modic type 2", 3: "Modic type 3"}


def write_dicom_seg(modic: np.ndarray, t1: LoadedImage, path: Path) -> Path:
    """One segment per Modic type, frames on the T1 DICOM images (file order = slice order)."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    if t1.dicom is None:
        raise ValueError("DICOM SEG needs a DICOM T1 series")
    image = sitk.GetImageFromArray(modic.astype(np.uint8))
    image.CopyInformation(t1.image)
    native = sitk.GetArrayFromImage(to_native(image, t1))  # slice k <-> t1.dicom.files[k]
    sources = [pydicom.dcmread(str(f)) for f in t1.dicom.files]
    pixels = np.stack([native == kind for kind in (1, 2, 3)], axis=-1)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="modicmap", version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=kind,
            segment_label=label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            anatomic_regions=[codes.SCT.LumbarSpine] if hasattr(codes.SCT, "LumbarSpine") else None,
        )
        for kind, label in SEGMENT_LABELS.items()
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=9001,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="modicmap",
        manufacturer_model_name="modicmap",
        software_versions=__version__,
        device_serial_number="0",
        series_description="Modic map (modicmap)",
        omit_empty_frames=False,
    )
    seg.save_as(str(path))
    return path
