"""MEDS 0.4 export of the ``events`` layer (modern-and-style.md A1), on either engine.

``out_dir/data/``: one dataset directory written by the engine's writer (DuckDB: one
``part-00000.parquet``; Spark: its range-partitioned parts), rows ordered by (subject_id, time,
code, source_key): ``subject_id`` (int64, from a private surrogate map that is never written),
``time`` (event start at midnight, timestamp[us]), ``code``, ``numeric_value`` (float32: the
event quantity) plus extension columns ``modifier`` (code modifier),
``source_table``/``source_key``/``stay_id`` (raw source ids), ``establishment_id`` (site),
``category``, ``end`` (event end at midnight, timestamp[us]: ``meds_reader`` reads no date
column). ``MEDS_BIRTH`` (estimated birth date) and ``MEDS_DEATH`` rows are added from
``patients``.

``metadata/codes.parquet`` (every code of the data), ``metadata/dataset.json`` and
``metadata/subject_splits.parquet`` (80/10/10 train/tuning/held_out on ``subject_id % 10``:
the ids are a salted random permutation, so the split is random and the same on both engines)
are single files, as the MEDS specification names them: they are small (one row per code or
subject), so they are collected through the connection as Arrow tables
(``con.sql(q).to_arrow()``) and written on the driver with ``pyarrow.parquet.write_table``
(through ``pyarrow.fs`` for a URI). ``_manifest.json`` records the sndslab version, git
revision, lake events generation and counts. A local output is published atomically
(:func:`sndslab._atomic.atomic_output_dir`); a URI (Spark) is written in place and
``_manifest.json``, written last, marks it complete.

Intervals are kept in the ``end`` extension column (see meds#16/#23) and, for hospital stays
only, also as paired point events, so that tools that only see ``(time, code)`` (ACES task
configs) can write admission/readmission tasks: every event of category ``stay`` (MCO ``GHM//…``,
SSR/HAD/RIP ``STAY//…``) gets one ``HOSPITAL_ADMISSION//<stay code>`` row at the stay start and
one ``HOSPITAL_DISCHARGE//<stay code>`` row at the stay end (the start when the end is unknown),
both with the stay's extension columns (``end`` NULL). The stay row itself is kept. These rows
exist in the MEDS data only (not in the lake's events); ``codes.parquet`` describes them, with
the stay code as parent. See ``sndslab/events/tasks/readmission_30d.yaml`` for an ACES task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from sndslab import __version__
from sndslab._faults import failpoint
from sndslab.engines import Connection, Engine
from sndslab.events._export import ExportTarget, events_relations, open_export
from sndslab.events._ids import create_subject_map, new_salt
from sndslab.events._schema import CODE_SEP, Category

__all__ = ["ADMISSION", "DISCHARGE", "MEDS_VERSION", "to_meds"]

MEDS_VERSION = "0.4"
BIRTH, DEATH = "MEDS_BIRTH", "MEDS_DEATH"
DATA_ORDER = ("subject_id", "time", "code", "source_key")
#: Prefixes of the paired stay events (``HOSPITAL_ADMISSION//GHM//05M092``).
ADMISSION, DISCHARGE = "HOSPITAL_ADMISSION", "HOSPITAL_DISCHARGE"


def _data_sql(events: str, patients: str) -> str:
    ext = "e.modifier, e.source_table, e.source_key, e.stay_id, e.establishment_id, e.category"
    src = f"{events} e JOIN _subject m USING (person_id)"
    stays = f"FROM {src} WHERE e.category = '{Category.STAY.value}'"
    return f"""SELECT m.subject_id, CAST(e.start AS TIMESTAMP) AS time, e.code,
               CAST(e.quantity AS FLOAT) AS numeric_value, {ext},
               CAST(e."end" AS TIMESTAMP) AS "end"
        FROM {src}
        UNION ALL
        SELECT m.subject_id, CAST(e.start AS TIMESTAMP), '{ADMISSION}{CODE_SEP}' || e.code,
               CAST(NULL AS FLOAT), {ext}, CAST(NULL AS TIMESTAMP)
        {stays}
        UNION ALL
        SELECT m.subject_id, CAST(coalesce(e."end", e.start) AS TIMESTAMP),
               '{DISCHARGE}{CODE_SEP}' || e.code, CAST(NULL AS FLOAT), {ext},
               CAST(NULL AS TIMESTAMP)
        {stays}
        UNION ALL
        SELECT m.subject_id, CAST(p.birth_date AS TIMESTAMP), '{BIRTH}', CAST(NULL AS FLOAT),
               CAST(NULL AS VARCHAR), 'patients', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
               CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP)
        FROM {patients} p JOIN _subject m USING (person_id)
        WHERE p.birth_date IS NOT NULL
        UNION ALL
        SELECT m.subject_id, CAST(p.death_date AS TIMESTAMP), '{DEATH}', CAST(NULL AS FLOAT),
               p.death_source, 'patients', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
               CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP)
        FROM {patients} p JOIN _subject m USING (person_id)
        WHERE p.death_date IS NOT NULL"""


def _metadata(con: Connection, codes: str, events: str) -> tuple[pa.Table, pa.Table]:
    """The code metadata (with the paired stay codes) and the subject splits, collected as
    Arrow tables."""
    code_meta = con.sql(
        f"""SELECT code, description, parent_codes FROM (
              SELECT code, description, parent_codes FROM {codes}
              UNION ALL SELECT '{BIRTH}', 'Birth (estimated date)', CAST([] AS VARCHAR[])
              UNION ALL SELECT '{DEATH}', 'Death', CAST([] AS VARCHAR[])
              UNION ALL
              SELECT p.prefix || '{CODE_SEP}' || s.code,
                     p.label || coalesce(': ' || c.description, ''), [s.code]
              FROM (SELECT DISTINCT code FROM {events}
                    WHERE category = '{Category.STAY.value}') s
              CROSS JOIN (SELECT '{ADMISSION}' AS prefix, 'Hospital admission' AS label
                          UNION ALL SELECT '{DISCHARGE}', 'Hospital discharge') p
              LEFT JOIN {codes} c ON c.code = s.code) c
            ORDER BY code"""
    ).to_arrow()
    splits = con.sql(
        """SELECT subject_id,
               CASE WHEN subject_id % 10 < 8 THEN 'train'
                    WHEN subject_id % 10 < 9 THEN 'tuning'
                    ELSE 'held_out' END AS split
        FROM _subject ORDER BY subject_id"""
    ).to_arrow()
    return code_meta, splits


def _dataset_json(lake: str) -> str:
    meta = {
        "dataset_name": f"sndslab events of {Path(lake.rstrip('/')).name}",
        "dataset_version": __version__,
        "etl_name": "sndslab",
        "etl_version": __version__,
        "meds_version": MEDS_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "raw_source_id_columns": ["source_table", "source_key", "stay_id"],
        "code_modifier_columns": ["modifier"],
        "site_id_columns": ["establishment_id"],
        "other_extension_columns": ["category", "end"],
    }
    return json.dumps(meta, indent=2) + "\n"


def _write(
    con: Connection,
    target: ExportTarget,
    lake: str,
    rels: dict[str, str],
    step: Callable[[int, str], None] = lambda _done, _name: None,
) -> None:
    step(1, "data")
    rows = con.write_dataset(
        _data_sql(rels["events"], rels["patients"]),
        target.join("data"),
        order_by=list(DATA_ORDER),
    )
    step(2, "metadata")
    code_meta, splits = _metadata(con, rels["codes"], rels["events"])
    target.write_parquet(code_meta, "metadata", "codes.parquet")
    target.write_parquet(splits, "metadata", "subject_splits.parquet")
    target.storage.write_text(target.join("metadata", "dataset.json"), _dataset_json(lake))
    target.counts.update({"data": rows, "codes": code_meta.num_rows, "subjects": splits.num_rows})


def to_meds(
    lake: Path | str,
    out_dir: Path | str,
    *,
    overwrite: bool = False,
    salt: str | None = None,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
    progress: Callable[[int, int, str], None] | None = None,
) -> Path | str:
    """Write the MEDS dataset of the lake's ``events`` layer to ``out_dir``; returns it.

    ``salt`` seeds the surrogate ``subject_id`` order (random by default, so ids cannot be
    recomputed from ``person_id``); the map itself is never written. ``engine`` (or ``con``)
    runs the queries and writes ``data/``; see the module docstring for the files.
    ``progress(done, total, step)`` is called as each step starts (``subjects``, ``data``,
    ``metadata``) and once at the end (``done == total``).
    """
    salt = new_salt() if salt is None else salt

    def step(done: int, name: str) -> None:
        if progress is not None:
            progress(done, 3, name)

    with open_export(lake, out_dir, "meds", overwrite=overwrite, con=con, engine=engine) as (
        c,
        paths,
        target,
    ):
        rels = events_relations(c, paths)
        step(0, "subjects")
        create_subject_map(c, rels["patients"], salt)
        try:
            failpoint("export.meds.write")
            _write(c, target, str(lake), rels, step)
        finally:
            c.drop("_subject")
        target.manifest["meds_version"] = MEDS_VERSION
    step(3, "")
    return out_dir
