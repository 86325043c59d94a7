"""Write a `batch` / `train lesions --graded` cohort CSV of the SPIDER mid-sagittal pairs.

    python benchmarks/spider_cohort.py ../shared/data/spider-midsag --out spider_cohort.csv
    python benchmarks/spider_cohort.py ../shared/data/spider-midsag --out val.csv \
        --split-of BUNDLE val      # only the patients of a trained bundle's validation split
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def spider_pids(folder: Path) -> list[str]:
    """Patient ids of a spider-midsag folder, in numeric order."""
    with (folder / "series.csv").open(newline="") as handle:
        return sorted({row["pid"] for row in csv.DictReader(handle)}, key=int)


def write_cohort(folder: Path, pids: list[str], out: Path) -> Path:
    """`study_id,t1,t2` rows of the given SPIDER patients."""
    images = (folder / "images").resolve()
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study_id", "t1", "t2"])
        for pid in pids:
            writer.writerow([pid, images / f"{pid}_t1.nii.gz", images / f"{pid}_t2.nii.gz"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="spider-midsag folder (series.csv, images/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--split-of",
        nargs=2,
        metavar=("BUNDLE", "SPLIT"),
        default=None,
        help="keep the patients of this split (train/val/test) of the bundle's lesion model",
    )
    args = parser.parse_args()
    pids = spider_pids(args.folder)
    if args.split_of is not None:
        bundle, split = Path(args.split_of[0]), args.split_of[1]
        config = json.loads((bundle / "modicmap.json").read_text())
        keep = set(config["lesions"]["split"][split])
        pids = [p for p in pids if p in keep]
    write_cohort(args.folder, pids, args.out)
    print(f"{len(pids)} studies -> {args.out}")


if __name__ == "__main__":
    main()
