"""Where a screening goes: ``marts.signals`` in the lake (full detail, internal) and a released
folder (the signal table through the release gate, and lag-curve plots drawn from the
released cells only).

The released table is counted on ``exposed_cases`` (distinct persons); cells under the
threshold and their complements are suppressed by :func:`sndslab.release.release`, and a
plot never shows a suppressed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab._atomic import atomic_write_bytes
from sndslab.errors import SndslabError
from sndslab.lake import Lake, read_manifest, relation_or_none, write_generation
from sndslab.release import DEFAULT_THRESHOLD, ReleaseResult, TableSpec, release
from sndslab.signals._screen import SIGNAL_COLUMNS, Screening

__all__ = ["ReleasedSignals", "release_signals", "signals_spec", "write_signals"]

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}
_ORDER = ("study", "rank", "atc", "kind", "lag_first")


def write_signals(lake: Lake, screening: Screening, *, notes: list[str] | None = None) -> int:
    """Write the screening's signal table as ``marts.signals`` in a new ``marts`` generation
    (rows of other studies and the other marts tables carried over); returns its rows."""
    table = screening.summary()
    study = screening.study.name
    con = lake.con
    name = f"_sig_out_{study}"
    con.register_arrow(name, table)
    inputs = {"events_generation": read_manifest(lake.paths, "events").generation}
    config = {"study": screening.study.model_dump(mode="json")}
    cols = ", ".join(f.name for f in SIGNAL_COLUMNS)
    try:
        with write_generation(
            lake.paths, "marts", con, config=config, inputs=inputs, notes=notes,
            command="screen",
        ) as w:  # fmt: skip
            parts = [f"SELECT {cols} FROM {name}"]
            prev = w.previous_relation("signals")
            if prev is not None:
                have = {c for c, _ in con.describe(f"SELECT * FROM {prev}")}
                # rows of other studies written by an older version keep their values; a
                # column added since is NULL for them
                old = ", ".join(
                    f.name
                    if f.name in have
                    else f"CAST(NULL AS {_SQL_TYPES[str(f.type)]}) AS {f.name}"
                    for f in SIGNAL_COLUMNS
                )
                parts.append(f"SELECT {old} FROM {prev} WHERE study <> '{study}'")
            rows = w.write("signals", " UNION ALL ".join(parts), order_by=list(_ORDER))
            w.carry_rest()
            w.counts.update({"signals": {"study": study, "rows": table.num_rows}})
        return rows
    finally:
        con.drop(name)


def signals_spec(study: str) -> TableSpec:
    """Release-gate spec of a study's signal table: drug × window/lag cells counted on
    ``exposed_cases``."""
    return TableSpec.parse(
        {
            "name": f"signals_{study}",
            "count": "exposed_cases",
            "count_description": "distinct cases (persons) exposed to the drug",
            "dimensions": [
                {"name": "drug", "levels": [{"column": "atc", "description": "ATC code"}]},
                {
                    "name": "window",
                    "levels": [
                        {"column": "lag_window", "description": "lag window or lag bin after a "
                         "purchase (pre_exposure: before it)"}
                    ],
                },
            ],
            "measures": [
                {"column": "exposed_events", "kind": "events",
                 "description": "outcome events in exposed time"},
                {"column": "irr", "kind": "mean", "description": "relative incidence"},
                {"column": "lower", "kind": "mean", "description": "lower 95 % limit"},
                {"column": "upper", "kind": "mean", "description": "upper 95 % limit"},
                {"column": "q_value", "kind": "mean",
                 "description": "Benjamini-Hochberg q-value of the drug"},
            ],
            "description": f"ConvSCCS drug-safety signals of study {study}",
        },
        where=f"signals of {study}",
    )  # fmt: skip


@dataclass(frozen=True)
class ReleasedSignals:
    """A released screening: the gate's result and the plots written next to it."""

    result: ReleaseResult
    plots: list[Path]

    @property
    def out_dir(self) -> Path:
        return self.result.out_dir


def release_signals(
    lake: Lake,
    study: str,
    out_dir: str | Path,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    overwrite: bool = False,
    plots: int = 12,
    requested_by: str = "sndslab screen",
) -> ReleasedSignals:
    """Release ``study``'s rows of ``marts.signals`` through the gate into ``out_dir`` and
    draw the lag curves of its ``plots`` best-ranked drugs (flagged ones first) from the
    released cells."""
    rel = relation_or_none(lake.con, lake.paths, "marts.signals")
    if rel is None:
        raise SndslabError(f"{lake.root} has no marts.signals: run `sndslab screen` first")
    table = lake.con.sql(
        f"""SELECT atc, lag_window, exposed_cases, exposed_events, irr, lower, upper, q_value
            FROM {rel} WHERE study = '{study.replace("'", "''")}'
            ORDER BY rank, kind DESC, lag_first"""
    ).to_arrow()
    if table.num_rows == 0:
        raise SndslabError(f"marts.signals has no row of study {study!r}")
    meta = lake.con.sql(
        f"""SELECT atc, any_value(drug_name) AS drug_name, min(rank) AS rank,
                   bool_or(flagged) AS flagged, bool_or(event_dependent) AS event_dependent
            FROM {rel} WHERE study = '{study.replace("'", "''")}' GROUP BY atc ORDER BY rank"""
    ).to_arrow()
    result = release(
        [(table, signals_spec(study))],
        out_dir,
        lake=lake,
        threshold=threshold,
        overwrite=overwrite,
        requested_by=requested_by,
    )
    released = result.tables[0].released()
    files = _plots(released, meta.to_pylist()[:plots], Path(result.out_dir) / "figures")
    return ReleasedSignals(result, files)


def _plots(released: pa.Table, drugs: list[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per drug: relative incidence per lag bin with its CI (released values only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = released.to_pylist()
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    for d in drugs:
        lag = [
            r for r in rows
            if r["atc"] == d["atc"] and r["lag_window"][-1:] in ("w", "b") and r["irr"] is not None
        ]  # fmt: skip
        if not lag:
            continue
        x = [int(r["lag_window"][:-1]) for r in lag]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls=":")
        ax.fill_between(x, [r["lower"] for r in lag], [r["upper"] for r in lag], alpha=0.25,
                        step="mid")  # fmt: skip
        ax.step(x, [r["irr"] for r in lag], where="mid")
        ax.set_yscale("log")
        unit = "weeks" if lag[0]["lag_window"].endswith("w") else "buckets"
        ax.set_xlabel(f"time since purchase ({unit}; negative: before it)")
        ax.set_ylabel("relative incidence (95 % CI)")
        flag = " - flagged" if d["flagged"] else ""
        flag += " - event-dependent exposure" if d.get("event_dependent") else ""
        ax.set_title(f"{d['atc']} {d['drug_name'] or ''} (rank {d['rank']}{flag})", fontsize=10)
        fig.tight_layout()
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        path = out / f"lag_curve_{d['rank']:03d}_{d['atc']}.png"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written
