"""MEDS 0.4 export of ``lake/events`` (modern-and-style.md A1).

``out_dir/data/shard-NNNN.parquet``: ``subject_id`` (int64, from a private surrogate map that is
never written), ``time`` (event start at midnight, timestamp[us]), ``code``, ``numeric_value``
(float32: the event quantity) plus extension columns ``modifier`` (code modifier),
``source_table``/``source_key``/``stay_id`` (raw source ids), ``establishment_id`` (site),
``category``, ``end`` (event end at midnight, timestamp[us]: ``meds_reader`` reads no date
column). ``MEDS_BIRTH`` (estimated birth date) and ``MEDS_DEATH`` rows are added from
``patients``. A subject lives in one shard; rows sorted by (subject_id, time, code).
``metadata/codes.parquet`` (every code of the data), ``metadata/dataset.json``,
``metadata/subject_splits.parquet`` (80/10/10 train/tuning/held_out).

Intervals are kept in the ``end`` extension column (see meds#16/#23) and, for hospital stays
only, also as paired point events, so that tools that only see ``(time, code)`` (ACES task
configs) can write admission/readmission tasks: every event of category ``stay`` (MCO ``GHM//…``,
SSR/HAD/RIP ``STAY//…``) gets one ``HOSPITAL_ADMISSION//<stay code>`` row at the stay start and
one ``HOSPITAL_DISCHARGE//<stay code>`` row at the stay end (the start when the end is unknown),
both with the stay's extension columns (``end`` NULL). The stay row itself is kept. These rows
exist in the MEDS data only (not in ``lake/events``); ``codes.parquet`` describes them, with the
stay code as parent. See ``sndslab/events/tasks/readmission_30d.yaml`` for an ACES task.
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
from sndslab.events._schema import CODE_SEP, Category, EventSchema

__all__ = ["ADMISSION", "DISCHARGE", "MEDS_VERSION", "to_meds"]

MEDS_VERSION = "0.4"
BIRTH, DEATH = "MEDS_BIRTH", "MEDS_DEATH"
#: Prefixes of the paired stay events (``HOSPITAL_ADMISSION//GHM//05M092``).
ADMISSION, DISCHARGE = "HOSPITAL_ADMISSION", "HOSPITAL_DISCHARGE"
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
        ext = "e.modifier, e.source_table, e.source_key, e.stay_id, e.establishment_id, e.category"
        src = f"read_parquet({_q(events / '*.parquet')}) e JOIN _subject m USING (person_id)"
        stays = f"FROM {src} WHERE e.category = '{Category.STAY.value}'"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _meds AS
            SELECT m.subject_id, CAST(e.start AS TIMESTAMP) AS time, e.code,
                   CAST(e.quantity AS FLOAT) AS numeric_value, {ext},
                   CAST(e."end" AS TIMESTAMP) AS "end"
            FROM {src}
            UNION ALL
            SELECT m.subject_id, CAST(e.start AS TIMESTAMP), '{ADMISSION}{CODE_SEP}' || e.code,
                   NULL, {ext}, NULL
            {stays}
            UNION ALL
            SELECT m.subject_id, CAST(coalesce(e."end", e.start) AS TIMESTAMP),
                   '{DISCHARGE}{CODE_SEP}' || e.code, NULL, {ext}, NULL
            {stays}
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
                  UNION ALL
                  SELECT p.prefix || '{CODE_SEP}' || s.code,
                         p.label || coalesce(': ' || c.description, ''), [s.code]
                  FROM (SELECT DISTINCT code FROM _meds WHERE category = '{Category.STAY.value}'
                        AND code NOT LIKE '{ADMISSION}{CODE_SEP}%'
                        AND code NOT LIKE '{DISCHARGE}{CODE_SEP}%') s
                  CROSS JOIN (VALUES ('{ADMISSION}', 'Hospital admission'),
                                     ('{DISCHARGE}', 'Hospital discharge')) p(prefix, label)
                  LEFT JOIN read_parquet({_q(codes)}) c USING (code)
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
