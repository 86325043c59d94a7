"""Does the registered T2 show the T1's anatomy? Edge correlation of true and mixed-up pairs.

For every SPIDER dev patient, its T2 is registered to its T1 (a true pair) and another
patient's T2 to the same T1 (a mixed-up pair: a cohort CSV off by one row, a wrong series
picked by hand; the patients paired by a seeded derangement). For each registration the
existing quality warnings and :func:`modicmap.registration.rigid.edge_correlation` are
recorded; prints both distributions and how many pairs a cut would flag.

    python benchmarks/registration_pairing.py [--n 114] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import numpy as np

from modicmap.io.reader import read_image
from modicmap.registration.rigid import edge_correlation, register_rigid

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--n", type=int, default=114)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    folder = args.data / "spider-midsag"
    with (folder / "series.csv").open(newline="") as handle:
        pids = sorted({row["pid"] for row in csv.DictReader(handle)}, key=int)[: args.n]
    rng = random.Random(args.seed)
    others = pids[:]
    while any(a == b for a, b in zip(pids, others, strict=True)):
        rng.shuffle(others)
    rows = []
    for pid, other in zip(pids, others, strict=True):
        t1 = read_image(folder / "images" / f"{pid}_t1.nii.gz").image
        for kind, source in (("true", pid), ("mixed", other)):
            t2 = read_image(folder / "images" / f"{source}_t2.nii.gz").image
            result = register_rigid(t1, t2)
            rows.append(
                {
                    "t1": pid,
                    "t2": source,
                    "pair": kind,
                    "edge_correlation": round(edge_correlation(t1, t2, result.transform), 4),
                    "other_warnings": list(result.warnings),
                }
            )
    out = {}
    for kind in ("true", "mixed"):
        values = np.array([r["edge_correlation"] for r in rows if r["pair"] == kind])
        warned = sum(bool(r["other_warnings"]) for r in rows if r["pair"] == kind)
        out[kind] = {
            "pairs": len(values),
            "min_p5_median_p95_max": [
                round(float(v), 3) for v in np.percentile(values, [0, 5, 50, 95, 100])
            ],
            "flagged_by_other_checks": warned,
            "below": {str(c): int((values < c).sum()) for c in (0.2, 0.3, 0.4)},
            "below_0.3_or_other": sum(
                bool(r["other_warnings"]) or r["edge_correlation"] < 0.3
                for r in rows
                if r["pair"] == kind
            ),
            "lowest": sorted((r["edge_correlation"], r["t1"]) for r in rows if r["pair"] == kind)[
                :5
            ],
        }
    print(json.dumps(out, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": out, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
