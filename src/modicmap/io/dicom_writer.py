"""Writing an image as a DICOM MR series (synthetic studies, tests, examples).

Written with pydicom rather than SimpleITK's writer because SimpleITK stores
Secondary Capture objects, while the series must look like a scanner's MR Image
Storage series (timing, orientation, UIDs) for series choice and DICOM SEG.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from modicmap.io.image import DicomSeriesInfo


def write_dicom_series(
    image: sitk.Image,
    folder: Path,
    *,
    patient_id: str,
    series_description: str,
    repetition_time_ms: float,
    echo_time_ms: float,
    patient_name: str = "Anonymous",
    series_number: int = 1,
    study_instance_uid: str | None = None,
    inversion_time_ms: float | None = None,
    uid_seed: str | None = None,
) -> DicomSeriesInfo:
    """Write a 3-D image as one DICOM file per slice along its third axis.

    The slices are the image's own (x, y) planes, so write a canonical ``PIR``
    image to get sagittal slices. Pixels are stored as int16 with a rescale that
    keeps the value range. ``uid_seed`` makes the UIDs deterministic.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = sitk.GetArrayFromImage(image).astype(np.float64)  # z, y, x
    low, high = float(array.min()), float(array.max())
    slope = max((high - low) / 4000.0, 1e-6)
    stored = np.round((array - low) / slope).astype(np.int16)
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    spacing = image.GetSpacing()

    def uid(suffix: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, suffix]) if uid_seed else generate_uid()

    study_uid = study_instance_uid or uid("study")
    series_uid = uid(f"series{series_number}")
    frame_uid = uid("frame")
    today = (
        _dt.date(2026, 1, 1).strftime("%Y%m%d") if uid_seed else _dt.date.today().strftime("%Y%m%d")
    )
    files: list[Path] = []
    for k in range(stored.shape[0]):
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        sop_uid = uid(f"series{series_number}-sop{k}")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = today
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.Modality = "MR"
        ds.Manufacturer = "modicmap"
        ds.SeriesDescription = series_description
        ds.SeriesNumber = series_number
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = f"{repetition_time_ms:g}"
        ds.EchoTime = f"{echo_time_ms:g}"
        if inversion_time_ms:
            ds.InversionTime = f"{inversion_time_ms:g}"
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = "1.5"
        ds.SliceThickness = f"{spacing[2]:.6g}"
        ds.SpacingBetweenSlices = f"{spacing[2]:.6g}"
        ds.PixelSpacing = [f"{spacing[1]:.6g}", f"{spacing[0]:.6g}"]  # row spacing, column spacing
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*direction[:, 0], *direction[:, 1])]
        ds.SliceLocation = f"{float(np.dot(position, direction[:, 2])):.6f}"
        ds.PositionReferenceIndicator = ""
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = f"{low:.6g}"
        ds.RescaleSlope = f"{slope:.6g}"
        ds.RescaleType = "US"
        ds.PixelData = stored[k].tobytes()
        path = folder / f"IM{k + 1:04d}.dcm"
        ds.save_as(str(path), enforce_file_format=True)
        files.append(path)
    return DicomSeriesInfo(
        files=tuple(files),
        series_instance_uid=series_uid,
        study_instance_uid=study_uid,
        patient_id=patient_id,
        patient_name=patient_name,
        series_description=series_description,
        modality="MR",
        repetition_time_ms=repetition_time_ms,
        echo_time_ms=echo_time_ms,
        inversion_time_ms=inversion_time_ms,
    )
