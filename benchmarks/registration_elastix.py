"""modicmap's registration side by side with elastix (itk-elastix), on the same pairs.

Needs ``pip install itk-elastix`` (not a modicmap dependency). Both run on one thread (our
ITK registration always does; ITK's global default is set to 1 for elastix too) and are
timed in CPU seconds, so the table stays fair on a busy machine. Elastix runs its default
rigid map (Euler transform, Mattes MI, adaptive stochastic gradient descent, 2048 random
samples, 256 iterations) over 3 resolutions, shrinking in-plane only (as ours does: sagittal
series have few thick slices); on single slices a 2-D similarity transform from the same
map, lifted to 3-D as ours is.

- lumbar-vb DzZ T1/T2, undisplaced and displaced by ``--n`` seeded rigid transforms: error
  against the known displacement composed with ours on the undisplaced pair (as
  ``registration_accuracy.py``) for both tools;
- ``--spider`` SPIDER dev mid-sagittal pairs (no truth): distance between the two tools'
  results and each one's edge correlation (``registration.rigid.edge_correlation``).

    python benchmarks/registration_elastix.py --n 10 --spider 20 --json W/elastix.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from registration_settings import pairs

from modicmap.registration import rigid


def to_itk(image: sitk.Image):  # -> itk.Image (float32)
    import itk

    array = sitk.GetArrayFromImage(sitk.Cast(image, sitk.sitkFloat32))
    out = itk.image_from_array(np.ascontiguousarray(array))
    out.SetSpacing(image.GetSpacing())
    out.SetOrigin(image.GetOrigin())
    dim = image.GetDimension()
    out.SetDirection(itk.matrix_from_array(np.asarray(image.GetDirection()).reshape(dim, dim)))
    return out


def elastix(fixed: sitk.Image, moving: sitk.Image, dimension: int) -> sitk.Transform:
    """Elastix's rigid (3-D Euler) or similarity (2-D) result as a SimpleITK transform."""
    import itk

    parameters = itk.ParameterObject.New()
    rigid_map = parameters.GetDefaultParameterMap("rigid", 3)
    schedule = ["4", "4", "1", "2", "2", "1", "1", "1", "1"] if dimension == 3 else []
    if dimension == 3:
        rigid_map["FixedImagePyramidSchedule"] = schedule
        rigid_map["MovingImagePyramidSchedule"] = schedule
    else:
        rigid_map["Transform"] = ["SimilarityTransform"]
    rigid_map["WriteResultImage"] = ["false"]
    parameters.AddParameterMap(rigid_map)
    _, found = itk.elastix_registration_method(
        to_itk(fixed), to_itk(moving), parameter_object=parameters, log_to_console=False
    )
    values = [float(v) for v in found.GetParameter(0, "TransformParameters")]
    centre = [float(v) for v in found.GetParameter(0, "CenterOfRotationPoint")]
    if dimension == 3:
        transform = sitk.Euler3DTransform()
        transform.SetCenter(centre)
        transform.SetParameters(values)
        return transform
    plane = sitk.Similarity2DTransform()
    plane.SetCenter(centre)
    plane.SetParameters(values)
    return plane


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--n", type=int, default=10, help="displaced DzZ pairs")
    parser.add_argument("--spider", type=int, default=20, help="SPIDER dev pairs")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    warm = sitk.GaussianSource(sitk.sitkFloat32, [32, 32, 8], [4, 4, 2], [16, 16, 4])
    elastix(warm, warm, 3)  # ITK's Python wrapping loads lazily (~8 s): not the registration
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    rows = []
    for name, fixed, moving, points, expected in pairs(args.data, args.n, args.spider, args.seed):
        single = fixed.GetSize()[2] == 1 or moving.GetSize()[2] == 1
        start = time.process_time()
        ours = rigid.register_rigid(fixed, moving)
        ours_s = time.process_time() - start
        start = time.process_time()
        if single:
            f2, m2 = rigid._slice_2d(fixed), rigid._slice_2d(moving)
            theirs = rigid._plane_to_3d(fixed, moving, elastix(f2, m2, 2))
        else:
            theirs = elastix(fixed, moving, 3)
        theirs_s = time.process_time() - start
        mapped_ours = np.array([ours.transform.TransformPoint(p) for p in points])
        mapped_theirs = np.array([theirs.TransformPoint(p) for p in points])
        row: dict[str, object] = {
            "pair": name,
            "modicmap_s": round(ours_s, 2),
            "elastix_s": round(theirs_s, 2),
            "between_mm": round(
                float(np.linalg.norm(mapped_ours - mapped_theirs, axis=1).mean()), 3
            ),
            "modicmap_edges": round(float(ours.edge_correlation or 0.0), 3),
            "elastix_edges": round(rigid.edge_correlation(fixed, moving, theirs), 3),
        }
        if expected is not None:
            row["modicmap_error_mm"] = round(
                float(np.linalg.norm(mapped_ours - expected, axis=1).mean()), 3
            )
            row["elastix_error_mm"] = round(
                float(np.linalg.norm(mapped_theirs - expected, axis=1).mean()), 3
            )
        rows.append(row)
        print(json.dumps(row), flush=True)

    def total(key: str, prefix: str) -> float:
        return float(sum(r[key] for r in rows if str(r["pair"]).startswith(prefix)))

    summary = {}
    for prefix in ("DzZ", "SPIDER"):
        chosen = [r for r in rows if str(r["pair"]).startswith(prefix)]
        if not chosen:
            continue
        summary[prefix] = {
            "pairs": len(chosen),
            "modicmap_s": total("modicmap_s", prefix),
            "elastix_s": total("elastix_s", prefix),
            "time_ratio_elastix_over_modicmap": total("elastix_s", prefix)
            / max(total("modicmap_s", prefix), 1e-9),
            "between_mm_median": float(np.median([r["between_mm"] for r in chosen])),
            "modicmap_edges_median": float(np.median([r["modicmap_edges"] for r in chosen])),
            "elastix_edges_median": float(np.median([r["elastix_edges"] for r in chosen])),
        }
        errors = [r for r in chosen if "modicmap_error_mm" in r]
        if errors:
            summary[prefix]["modicmap_error_mm_mean"] = float(
                np.mean([r["modicmap_error_mm"] for r in errors])
            )
            summary[prefix]["elastix_error_mm_mean"] = float(
                np.mean([r["elastix_error_mm"] for r in errors])
            )
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=1))


if __name__ == "__main__":
    main()
