"""Write a `batch` / `train lesions --graded` cohort CSV of the SPIDER mid-sagittal pairs.

    python benchmarks/spider_cohort.py ../shared/data/spider-midsag --out spider_cohort.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="spider-midsag folder (series.csv, images/)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with (args.folder / "series.csv").open(newline="") as handle:
        pids = sorted({row["pid"] for row in csv.DictReader(handle)}, key=int)
    images = (args.folder / "images").resolve()
    with args.out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study_id", "t1", "t2"])
        for pid in pids:
            writer.writerow([pid, images / f"{pid}_t1.nii.gz", images / f"{pid}_t2.nii.gz"])
    print(f"{len(pids)} studies -> {args.out}")


if __name__ == "__main__":
    main()
