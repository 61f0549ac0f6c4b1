"""MEDS 0.4 export of ``lake/events`` (modern-and-style.md A1).

``out_dir/data/shard-NNNN.parquet``: ``subject_id`` (int64, from a private surrogate map that is
never written), ``time`` (event start at midnight, timestamp[us]), ``code``, ``numeric_value``
(float32: the event quantity) plus extension columns ``modifier`` (code modifier),
``source_table``/``source_key``/``stay_id`` (raw source ids), ``establishment_id`` (site),
``category``, ``end``. ``MEDS_BIRTH`` (estimated birth date) and ``MEDS_DEATH`` rows are added
from ``patients``. A subject lives in one shard; rows sorted by (subject_id, time, code).
``metadata/codes.parquet`` (every code of the data), ``metadata/dataset.json``,
``metadata/subject_splits.parquet`` (80/10/10 train/tuning/held_out).

Intervals are kept in the ``end`` extension column rather than paired start/end codes (see
meds#16/#23); the paired form is left for the ML-tokenisation exporter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sndslab import __version__
from sndslab._atomic import atomic_output_dir
from sndslab.errors import SndslabError
from sndslab.events._ids import create_subject_map, new_salt
from sndslab.events._schema import EventSchema

__all__ = ["MEDS_VERSION", "to_meds"]

MEDS_VERSION = "0.4"
BIRTH, DEATH = "MEDS_BIRTH", "MEDS_DEATH"
ROWS_PER_SHARD = 5_000_000


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def to_meds(
    lake: Path,
    out_dir: Path,
    *,
    overwrite: bool = False,
    salt: str | None = None,
    con: Any = None,
) -> Path:
    """Write the MEDS dataset of ``lake/events`` to ``out_dir`` (atomically); returns it.

    ``salt`` seeds the surrogate ``subject_id`` order (random by default, so ids cannot be
    recomputed from ``person_id``); the map itself is never written.
    """
    import duckdb

    lake, out_dir = Path(lake), Path(out_dir)
    events = lake / EventSchema.events_dir
    patients = lake / EventSchema.patients_file
    codes = lake / EventSchema.codes_file
    if not events.is_dir() or not patients.exists():
        raise SndslabError(f"{lake} has no events: run extract_events (sndslab events) first")
    salt = new_salt() if salt is None else salt
    own = con is None
    con = duckdb.connect() if own else con
    try:
        create_subject_map(con, patients, salt)
        ext = "modifier, source_table, source_key, stay_id, establishment_id, category"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _meds AS
            SELECT m.subject_id, CAST(e.start AS TIMESTAMP) AS time, e.code,
                   CAST(e.quantity AS FLOAT) AS numeric_value, e.{ext.replace(", ", ", e.")},
                   e."end"
            FROM read_parquet({_q(events / "*.parquet")}) e JOIN _subject m USING (person_id)
            UNION ALL
            SELECT m.subject_id, CAST(p.birth_date AS TIMESTAMP), '{BIRTH}', NULL, NULL,
                   'patients', NULL, NULL, NULL, NULL, NULL
            FROM read_parquet({_q(patients)}) p JOIN _subject m USING (person_id)
            WHERE p.birth_date IS NOT NULL
            UNION ALL
            SELECT m.subject_id, CAST(p.death_date AS TIMESTAMP), '{DEATH}', NULL,
                   p.death_source, 'patients', NULL, NULL, NULL, NULL, NULL
            FROM read_parquet({_q(patients)}) p JOIN _subject m USING (person_id)
            WHERE p.death_date IS NOT NULL"""
        )
        with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
            (tmp / "data").mkdir()
            (tmp / "metadata").mkdir()
            total = int(con.execute("SELECT count(*) FROM _meds").fetchone()[0])
            shards = max(1, -(-total // ROWS_PER_SHARD))
            for i in range(shards):
                con.execute(
                    f"""COPY (SELECT * FROM _meds WHERE subject_id % {shards} = {i}
                        ORDER BY subject_id, time, code, source_key)
                    TO {_q(tmp / "data" / f"shard-{i:04d}.parquet")} (FORMAT PARQUET)"""
                )
            con.execute(
                f"""COPY (
                  SELECT code, description, parent_codes FROM read_parquet({_q(codes)})
                  UNION ALL SELECT '{BIRTH}', 'Birth (estimated date)', CAST([] AS VARCHAR[])
                  UNION ALL SELECT '{DEATH}', 'Death', CAST([] AS VARCHAR[])
                  ORDER BY code)
                TO {_q(tmp / "metadata" / "codes.parquet")} (FORMAT PARQUET)"""
            )
            con.execute(
                f"""COPY (SELECT subject_id,
                    CASE WHEN hash(subject_id, ?) % 10 < 8 THEN 'train'
                         WHEN hash(subject_id, ?) % 10 < 9 THEN 'tuning'
                         ELSE 'held_out' END AS split
                  FROM _subject ORDER BY subject_id)
                TO {_q(tmp / "metadata" / "subject_splits.parquet")} (FORMAT PARQUET)""",
                [salt, salt],
            )
            meta = {
                "dataset_name": f"sndslab events of {lake.name}",
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
            (tmp / "metadata" / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out_dir
    finally:
        if own:
            con.close()
