"""Do the grades depend on the pixel grid? The same synthetic studies at several matrices.

For each matrix: ``modicmap synth --n N --seed S --matrix M`` (the same anatomy and lesions,
only the in-plane pixel size changes), ``modicmap batch``, ``modicmap evaluate --truth``;
then one table of endplate presence kappa, per-type sensitivity, the ISSLS height
fractions against the truth's, and the contradictions left between levels.csv and
endplates.csv. Use seeds that nothing was tuned on (name them in the record).

    python benchmarks/synthetic_grid_eval.py --work W --seed 9100 --n 6 \
        --matrices 256 384 512 [--model BUNDLE] [--json docs/benchmarks/synthetic_grid.json]

Steps whose output exists are not redone (delete W to start over).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from modicmap.cli.main import main as modicmap


def _step(argv: list[str], done: Path) -> None:
    if done.exists():
        return
    code = modicmap(argv)
    if code not in (0, 1):  # batch exits 1 when a study failed; evaluate reports it
        raise SystemExit(f"modicmap {' '.join(argv)} exited {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--matrices", type=int, nargs="+", default=[256, 384, 512])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    model = ["--model", str(args.model)] if args.model else []
    rows = {}
    for matrix in args.matrices:
        start = time.perf_counter()
        synth, runs, ev = (args.work / f"{name}{matrix}" for name in ("synth", "runs", "eval"))
        _step(
            [
                *("synth", "--out", str(synth), "--n", str(args.n), "--seed", str(args.seed)),
                *("--matrix", str(matrix), "--quiet"),
            ],
            synth / "cohort.csv",
        )
        _step(
            ["batch", str(synth / "cohort.csv"), "--out", str(runs), "--quiet", *model],
            runs / "cohort_levels.csv",
        )
        _step(
            [
                *("evaluate", "--runs", str(runs), "--truth", str(synth), "--out", str(ev)),
                *("--bootstrap", str(args.bootstrap), "--quiet"),
            ],
            ev / "metrics.json",
        )
        metrics = json.loads((ev / "metrics.json").read_text())
        endplates = metrics["endplates"]
        rows[str(matrix)] = {
            "endplates": endplates["levels"],
            "kappa_presence": round(endplates["kappa_presence"], 3),
            "kappa_presence_ci95": endplates["ci95"].get("kappa_presence"),
            "kappa_types": round(endplates["kappa_types"], 3),
            "sensitivity": round(endplates["sensitivity"], 3),
            "specificity": round(endplates["specificity"], 3),
            "type_sensitivity": {
                t: round(v["sensitivity"], 3) for t, v in endplates["per_type"].items()
            },
            "type_graded": {t: v["graded"] for t, v in endplates["per_type"].items()},
            "levels_kappa_presence": round(metrics["levels"]["kappa_presence"], 3),
            "lesion_voxel_dice": round(metrics["voxel_dice"]["pooled"]["lesion"], 3),
            "issls_measures": metrics.get("issls_measures"),
            "contradictions": metrics.get("consistency", {}).get("contradictions"),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(matrix, json.dumps(rows[str(matrix)]), flush=True)
    kappas = [r["kappa_presence"] for r in rows.values()]
    result = {
        "command": "python benchmarks/synthetic_grid_eval.py "
        f"--work W --seed {args.seed} --n {args.n} --matrices "
        + " ".join(str(m) for m in args.matrices)
        + (f" --model {args.model}" if args.model else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "seeds": f"{args.seed}..{args.seed + args.n - 1}",
        "by_matrix": rows,
        "kappa_presence_spread": round(max(kappas) - min(kappas), 3),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "by_matrix"}))


if __name__ == "__main__":
    main()
