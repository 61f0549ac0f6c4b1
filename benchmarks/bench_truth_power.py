"""Recoverability of the injected truth: at which population size each effect can be found.

Generates one extract (default 100,000 persons × 2019–2021, seed 11), measures on its truth
tables the quantities a power calculation needs (``sndslab.synth.power``), and writes
``benchmarks/results/truth_power.json`` with the per-effect table (also as Markdown, the table
of ``docs/synthetic-snds.md``) and the generator's own recoverability warnings.

Usage::

    python benchmarks/bench_truth_power.py
    python benchmarks/bench_truth_power.py --patients 300000 --keep /tmp/extract
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from sndslab.synth import SynthConfig, generate
from sndslab.synth.power import as_dicts, falls_power, power_markdown

RESULTS = Path(__file__).parent / "results" / "truth_power.json"


def run(patients: int, years: tuple[int, int], seed: int, keep: Path | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench_power_"))
    out = keep or work / "extract"
    t0 = time.perf_counter()
    result = generate(
        SynthConfig(patients=patients, first_year=years[0], last_year=years[1], seed=seed),
        out,
        overwrite=keep is not None,
    )
    generation_s = time.perf_counter() - t0
    rows = falls_power(out)
    manifest = result.manifest
    shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "recoverability of the injected truth (SCCS power per fall effect)",
        "extract": {"patients": patients, "years": list(years), "seed": seed},
        "generation_seconds": round(generation_s, 1),
        "method": "Musonda, Farrington & Whitaker (Stat Med 2006) binomial sample size for an "
        "SCCS with one risk window; share of the cases' time at risk and cases per person "
        "measured on the extract's truth; power 0.8; nominal alpha 0.05 and Bonferroni over "
        "every drug of the referential (screening)",
        "falls": as_dicts(rows),
        "falls_markdown": power_markdown(rows),
        "unrecoverable_warnings": manifest.get("drug_effects", {}).get("unrecoverable", []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--years", default="2019-2021")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the extract here.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    first, last = (int(y) for y in args.years.split("-"))
    result = run(args.patients, (first, last), args.seed, args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["falls_markdown"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
