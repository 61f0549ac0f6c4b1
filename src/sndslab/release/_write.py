"""``release``: protect, attack, record, write. Nothing is written unless the attack on the new
tables together with everything released before from the same lake recovers nothing.

The released folder (atomic: complete or absent)::

    <out>/<table>.parquet, <out>/<table>.csv    the protected tables (CSV: ';', UTF-8,
                                                optionally a decimal comma)
    <out>/data_dictionary.csv                   one row per column of every table
    <out>/README.md                             how to read suppressed cells
    <out>/audit.json                            the audit (counts only) with content hashes
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import sndslab
from sndslab._atomic import atomic_output_dir, check_output_dir
from sndslab.lake import Lake, LakePaths
from sndslab.release._log import ReleaseLog
from sndslab.release._protect import STATUS_COLUMN, ProtectedTable, Zeros, attack, protect
from sndslab.release._secondary import Cost
from sndslab.release._spec import DEFAULT_THRESHOLD, ReleaseRefusedError, TableSpec
from sndslab.release._system import DEFAULT_MINIMUM, DEFAULT_RATIO

__all__ = ["ReleaseResult", "release"]


@dataclass(frozen=True)
class ReleaseResult:
    """A completed release: where it was written, its id, its audit and protected tables."""

    out_dir: Path
    release_id: str
    audit: dict[str, Any]
    tables: list[ProtectedTable]


def release(
    tables: Sequence[tuple[Any, TableSpec]],
    out_dir: Path | str,
    *,
    lake: str | Path | LakePaths | Lake,
    threshold: int = DEFAULT_THRESHOLD,
    zeros: Zeros = "publish",
    decimal_comma: bool = False,
    overwrite: bool = False,
    allow_unit_level: bool = False,
    ratio: float = DEFAULT_RATIO,
    minimum: int = DEFAULT_MINIMUM,
    cost: Cost = "value",
    requested_by: str = "",
) -> ReleaseResult:
    """Release ``tables`` (pairs of a table and its spec) from ``lake`` into ``out_dir``.

    Each table is protected against the lake's release log and the tables before it in this
    call; the attack then runs on all of them with the log and must recover nothing, or
    ``ReleaseRefusedError`` is raised and nothing is written.
    """
    out = Path(out_dir)
    log = ReleaseLog(lake)
    check_output_dir(out, overwrite=overwrite, inputs=[log.paths.root])
    names = [spec.stem for _, spec in tables]
    if len(set(names)) != len(names):
        raise ReleaseRefusedError(
            "two tables of one release share a file name: give each its own (spec.file)"
        )
    done: list[ProtectedTable] = []
    for table, spec in tables:
        done.append(
            protect(
                table,
                spec,
                threshold,
                zeros=zeros,
                history=_History(log, done),
                allow_unit_level=allow_unit_level,
                ratio=ratio,
                minimum=minimum,
                cost=cost,
            )
        )
    result = attack(done, history=log)
    if not result.passed:
        raise ReleaseRefusedError(
            f"attack test failed: {len(result.failures)} small cell(s) recoverable "
            f"(first: table {result.failures[0]['table']}, {result.failures[0]['reason']}); "
            "nothing was released"
        )
    created = datetime.now(UTC)
    files = {}
    for t in done:
        files.update(_render(t, decimal_comma))
    files["data_dictionary.csv"] = _dictionary(done)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    release_id = f"{created:%Y%m%dT%H%M%S}-{digest.hexdigest()[:10]}"
    audit = {
        "format": "sndslab-release-audit",
        "release_id": release_id,
        "created": created.isoformat(timespec="seconds"),
        "sndslab_version": sndslab.__version__,
        "requested": {
            "by": requested_by,
            "tables": [t.spec.model_dump(exclude_defaults=True) for t in done],
            "zeros": zeros,
            "decimal_comma": decimal_comma,
            "allow_unit_level": allow_unit_level,
        },
        "threshold": threshold,
        "protection": {"ratio": ratio, "minimum": minimum, "cost": cost},
        "previous_releases": log.releases(),
        "tables": [t.summary() for t in done],
        "attack": result.summary(),
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in sorted(files.items())},
        "content_hash": digest.hexdigest(),
    }
    log.record(release_id, done, audit)
    files["README.md"] = _readme(done, audit).encode("utf-8")
    files["audit.json"] = (json.dumps(audit, indent=1, ensure_ascii=False) + "\n").encode()
    with atomic_output_dir(
        out, overwrite=overwrite, kind="release", inputs=[log.paths.root]
    ) as tmp:
        for name, body in files.items():
            (tmp / name).write_bytes(body)
    return ReleaseResult(out, release_id, audit, done)


class _History:
    """The lake's log plus the tables already protected in this call."""

    def __init__(self, log: ReleaseLog, done: list[ProtectedTable]) -> None:
        self.log, self.done = log, list(done)

    def parts(self, name: str) -> list[Any]:
        return self.log.parts(name) + [t.part() for t in self.done if t.spec.name == name]


def _render(t: ProtectedTable, decimal_comma: bool) -> dict[str, bytes]:
    table = t.released()
    sink = io.BytesIO()
    pq.write_table(table, sink)
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if decimal_comma and pa.types.is_floating(col.type):
            col = pc.replace_substring(pc.cast(col, pa.string()), ".", ",")
        cols[name] = col
    text = io.BytesIO()
    pacsv.write_csv(
        pa.table(cols),
        text,
        pacsv.WriteOptions(delimiter=";", quoting_style="needed"),
    )
    return {f"{t.spec.stem}.parquet": sink.getvalue(), f"{t.spec.stem}.csv": text.getvalue()}


def _dictionary(done: list[ProtectedTable]) -> bytes:
    rows: dict[str, list[str]] = {
        "table": [],
        "column": [],
        "type": [],
        "role": [],
        "description": [],
    }

    def add(table: str, column: str, typ: str, role: str, text: str) -> None:
        for key, value in zip(rows, (table, column, typ, role, text), strict=True):
            rows[key].append(value)

    for t in done:
        schema = t.released().schema
        spec = t.spec
        for dim in spec.dimensions:
            for lv in dim.levels:
                total = f"; total code {lv.total!r}" if lv.total is not None else ""
                add(
                    spec.stem,
                    lv.column,
                    str(schema.field(lv.column).type),
                    f"dimension {dim.name}",
                    (lv.description or dim.description) + total,
                )
        add(
            spec.stem,
            spec.count,
            str(schema.field(spec.count).type),
            "count of distinct persons",
            spec.count_description + "; empty when suppressed",
        )
        for m in spec.measures:
            add(
                spec.stem,
                m.column,
                str(schema.field(m.column).type),
                f"measure ({m.kind})",
                m.description + "; empty when the count is suppressed",
            )
        add(
            spec.stem,
            STATUS_COLUMN,
            "string",
            "status",
            "published, or suppressed (statistical secrecy: primary or secondary, not said)",
        )
    sink = io.BytesIO()
    pacsv.write_csv(pa.table(rows), sink, pacsv.WriteOptions(delimiter=";"))
    return sink.getvalue()


def _readme(done: list[ProtectedTable], audit: dict[str, Any]) -> str:
    lines = [
        f"# Released aggregates ({audit['release_id']})",
        "",
        "Produced by the sndslab release gate. Every table is given in Parquet and in CSV (`;`, "
        "UTF-8); `data_dictionary.csv` describes every column; `audit.json` records the request, "
        "the threshold, the number of suppressed cells, the attack test and the SHA-256 of each "
        "file.",
        "",
        "## How to read suppressed cells",
        "",
        f"- No published cell counts between 1 and {audit['threshold'] - 1} distinct persons "
        f"(threshold {audit['threshold']}).",
        f"- A row whose `{STATUS_COLUMN}` is `suppressed` has its count and every measure left "
        "empty (null in Parquet, empty field in CSV). It may be small (primary suppression) or "
        "hidden so that a small one cannot be recomputed from margins (secondary suppression); "
        "which one is deliberately not said.",
        "- Do not read an empty value as zero and do not try to recompute it from totals: the "
        "suppression pattern was checked by linear programming so that every small cell's "
        "interval stays at least ±max(3, 10 %) wide and never excludes both 0 and the "
        "threshold.",
        "- Margins (codes such as `ALL`) are given as rows; totals are counts of distinct "
        "persons, so along a non-additive dimension (months within a year) a total may be less "
        "than the sum of its parts.",
        "- Zero counts are "
        + (
            "published as 0."
            if audit["requested"]["zeros"] == "publish"
            else "treated as sensitive and suppressed like small counts."
        ),
        "",
        "## Tables",
        "",
    ]
    for t in done:
        s = t.summary()
        lines.append(
            f"- `{t.spec.stem}`: {s['cells']} cells, {s['published']} published, "
            f"{s['primary'] + s['secondary']} suppressed. {t.spec.description}".rstrip()
        )
    return "\n".join(lines) + "\n"
