"""The truth manifest: what the generator injected, for scoring every downstream analysis.

Written beside the raw export, in ``truth/``:

- ``manifest.json``: configuration, counts of every artefact and of every care event by
  category, the injected drug effects, the readmission model, practitioner communities and
  abusive providers summary, calibration figures;
- Parquet tables (one row per …): ``persons`` (person), ``identities`` (pseudonymous key),
  ``conditions`` (person × condition with onset), ``falls`` (fall with injury), ``exposure_windows``
  (risk window of an effect drug), ``stays`` (MCO stay, with the readmission probability and
  outcome), ``practitioners`` (professional, with community and abuse type).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sndslab.synth._care import CATEGORIES
from sndslab.synth._ids import to_date32

_CATEGORY_NAMES = {v: k for k, v in CATEGORIES.items()}


class Truth:
    """Accumulates counters and truth tables chunk by chunk, then writes the manifest."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.counts: Counter[str] = Counter()
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.sections: dict[str, Any] = {}

    # ------------------------------------------------------------------ counters
    def count(self, name: str, n: int) -> None:
        self.counts[name] += int(n)

    def count_lines(self, prefix: str, categories: np.ndarray) -> None:
        values, counts = np.unique(categories, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            if v >= 0:
                self.counts[f"{prefix}.lines.{_CATEGORY_NAMES[v]}"] += c

    # ------------------------------------------------------------------ tables
    def append(self, name: str, columns: dict[str, Any]) -> None:
        table = pa.table({k: _arrow(v) for k, v in columns.items()})
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(self.dir / f"{name}.parquet", table.schema)
        writer = self._writers[name]
        writer.write_table(table.cast(writer.schema))
        self.counts[f"truth_rows.{name}"] += table.num_rows

    @staticmethod
    def dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
        return to_date32(days, missing)

    # ------------------------------------------------------------------ finish
    def close(self, manifest: dict[str, Any]) -> dict[str, Any]:
        for w in self._writers.values():
            w.close()
        out = dict(manifest)
        out.update(self.sections)
        out["counts"] = dict(sorted(self.counts.items()))
        (self.dir / "manifest.json").write_text(
            json.dumps(out, indent=2, sort_keys=False, default=_json_default) + "\n", "utf-8"
        )
        return out


def _arrow(values: Any) -> pa.Array:
    """Arrow array of a truth column (object arrays are text, bytes decoded as ASCII)."""
    if isinstance(values, pa.Array):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind == "S":
        return pa.array(arr).cast(pa.string())
    if arr.dtype.kind in "OU":
        return pa.array(arr.astype(object), pa.string())
    return pa.array(arr)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
