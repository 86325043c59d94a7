"""The front of the pipeline shared by ``run`` and training on graded studies.

read T1 and T2 -> register T2 to T1 -> T2 on the T1 grid -> vertebral bodies.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.errors import InputError
from modicmap.io.image import LoadedImage, SeriesRole
from modicmap.io.reader import read_image, read_label_image
from modicmap.io.validate import check_same_patient
from modicmap.models.bundle import ModelBundle
from modicmap.pipeline.timing import StageTimer
from modicmap.registration.rigid import register_rigid, resample_to_fixed
from modicmap.vertebrae.result import VertebraeResult


@dataclass(frozen=True)
class PreparedStudy:
    """A study read, aligned and with its vertebral bodies, in canonical arr[z, y, x]."""

    t1: LoadedImage
    t2: LoadedImage
    t2_on_t1: sitk.Image
    vertebrae: VertebraeResult
    registration_json: dict[str, object]
    warnings: tuple[str, ...]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in self.t1.image.GetSpacing()[::-1])  # type: ignore[return-value]

    @property
    def t1_array(self) -> np.ndarray:
        return sitk.GetArrayFromImage(self.t1.image)

    @property
    def t2_array(self) -> np.ndarray:
        return sitk.GetArrayFromImage(self.t2_on_t1)


def prepare_study(
    t1_path: Path,
    t2_path: Path,
    bundle: ModelBundle,
    *,
    register: bool = True,
    vertebrae_mask: Path | None = None,
    device: str = "cpu",
    force: bool = False,
    allow_non_sagittal: bool = False,
    timer: StageTimer | None = None,
) -> PreparedStudy:
    """Read, register and find the vertebral bodies; InputError when none are found."""
    from modicmap.vertebrae.inference import segment_vertebrae
    from modicmap.vertebrae.user_mask import vertebrae_from_mask

    timer = timer or StageTimer()
    warnings: list[str] = []
    with timer.stage("read"), ThreadPoolExecutor(1, thread_name_prefix="read") as pool:
        # the T2 is read beside the T1 (ITK and zlib release the GIL); a bad T1 is named first
        reading = pool.submit(
            read_image, t2_path, SeriesRole.T2, allow_non_sagittal=allow_non_sagittal
        )
        t1 = read_image(t1_path, SeriesRole.T1, allow_non_sagittal=allow_non_sagittal)
        t2 = reading.result()
        check_same_patient(t1, t2, force=force)
    # Registration runs in a second thread while the vertebra network reads the T1: ITK
    # (single-threaded for reproducibility, registration.rigid) and torch both release the
    # GIL, so on 2 cores the two stages overlap (about 1.5 s of a 15 x 512 x 512 run). The
    # T2 is asked for only after the T1's own passes (segment_vertebrae's second opinion).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register") as pool:
        registering = pool.submit(_register, t1, t2, register, timer)

        def registered_t2() -> sitk.Image | None:
            t2_on_t1, registration_json = registering.result()
            # the registered T2 replaces an implausible T1 result and cross-checks the
            # level names of a plausible one, only when the registration raised no
            # warning (else its bodies may sit in the wrong place on the T1: SPIDER pid 52)
            trusted = register and not registration_json.get("warnings")
            return t2_on_t1 if trusted else None

        with timer.stage("vertebrae"):
            if vertebrae_mask is not None:
                mask = read_label_image(vertebrae_mask)
                vertebrae = vertebrae_from_mask(mask, t1.image, str(vertebrae_mask))
            else:
                vertebrae = segment_vertebrae(
                    t1.image, bundle, device=device, second_opinion=registered_t2
                )
        t2_on_t1, registration_json = registering.result()
    warnings += [f"registration: {w}" for w in registration_json.get("warnings", [])]
    warnings += [f"vertebrae: {w}" for w in vertebrae.warnings]
    if not vertebrae.bodies:
        raise InputError(t1_path, "no vertebrae found")
    return PreparedStudy(t1, t2, t2_on_t1, vertebrae, registration_json, tuple(warnings))


def _register(
    t1: LoadedImage, t2: LoadedImage, register: bool, timer: StageTimer
) -> tuple[sitk.Image, dict[str, object]]:
    """T2 on the T1 grid (rigidly registered unless ``register`` is False) and its record."""
    with timer.stage("register"):
        if not register:
            return resample_to_fixed(t2.image, t1.image), {"skipped": True}
        try:
            registration = register_rigid(t1.image, t2.image)
        except RuntimeError as exc:  # ITK: e.g. "the images do not sufficiently overlap"
            detail = next((ln for ln in str(exc).splitlines() if "ITK ERROR" in ln), str(exc))
            raise InputError(
                t2.source, f"cannot be registered to the T1 ({detail.split(': ')[-1][:160]})"
            ) from None
        moved = registration.moved  # made for the edge check; the same resample_to_fixed
        if moved is None:
            moved = resample_to_fixed(t2.image, t1.image, registration.transform)
        return moved, registration.to_json()
