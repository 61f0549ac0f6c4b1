"""MEDS export: validates with the ``meds`` package schemas, and loads in its real clients,
``meds_reader`` (``meds_reader_convert`` then ``SubjectDatabase``) and ACES (the 30-day
readmission task of ``sndslab/events/tasks``, labels equal to a direct computation on the lake)."""

from __future__ import annotations

import importlib.resources
import json
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import meds
import meds_reader
import pyarrow.parquet as pq
import pytest
from aces import config as aces_config
from aces import predicates, query
from omegaconf import DictConfig

from sndslab.events import EventsResult, to_meds
from sndslab.events._ids import create_subject_map
from sndslab.events._meds import ADMISSION, DISCHARGE
from sndslab.lake import open_lake, relation

SALT = "test"
TASK = Path(str(importlib.resources.files("sndslab.events"))) / "tasks" / "readmission_30d.yaml"


@pytest.fixture(scope="module")
def meds_dir(events_result: EventsResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(to_meds(events_result.lake, tmp_path_factory.mktemp("meds") / "meds", salt=SALT))


def _lake_sql(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the lake's events (view ``ev``) with ``subject_id`` mapped in (``sm``)."""
    with open_lake(lake) as opened:
        con = opened.con
        create_subject_map(con, relation(con, opened.paths, "events.patients"), SALT, name="sm")
        con.create_view("ev", f"SELECT * FROM {relation(con, opened.paths, 'events.events')}")
        return con.fetchall(sql)


def test_meds_export_validates(meds_dir: Path, events_result: EventsResult) -> None:
    out = meds_dir
    data = pq.read_table(out / "data")
    meds.DataSchema.validate(data)
    codes = pq.read_table(out / meds.code_metadata_filepath)
    meds.CodeMetadataSchema.validate(codes)
    splits = pq.read_table(out / meds.subject_splits_filepath)
    meds.SubjectSplitSchema.validate(splits)
    meta = json.loads((out / meds.dataset_metadata_filepath).read_text())
    meds.DatasetMetadataSchema.validate(meta)
    assert set(data["code"].to_pylist()) <= set(codes["code"].to_pylist())
    assert "person_id" not in data.schema.names
    assert not any(
        "subject" in p.name and p.name != "subject_splits.parquet" for p in out.rglob("*")
    )
    ids = data["subject_id"].to_pylist()
    assert ids == sorted(ids)  # one shard here: subjects contiguous
    assert data.num_rows >= events_result.events
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["format"] == "meds" and manifest["counts"]["data"] == data.num_rows
    assert manifest["events_generation"] == events_result.generation
    assert "salt" not in json.dumps(manifest) and "test" not in manifest.values()
    assert str(data.schema.field("end").type) == "timestamp[us]"


def test_stays_are_paired_admission_and_discharge_events(
    meds_dir: Path, events_result: EventsResult
) -> None:
    data = duckdb.sql(
        f"""SELECT split_part(code, '//', 1) AS kind, subject_id,
                   substr(code, strpos(code, '//') + 2) AS stay_code, time
            FROM read_parquet('{meds_dir}/data/*.parquet')
            WHERE code LIKE '{ADMISSION}//%' OR code LIKE '{DISCHARGE}//%'"""
    ).fetchall()
    lake = _lake_sql(
        events_result.lake,
        """SELECT sm.subject_id, ev.code, CAST(ev.start AS TIMESTAMP),
                  CAST(coalesce(ev."end", ev.start) AS TIMESTAMP)
           FROM ev JOIN sm USING (person_id) WHERE ev.category = 'stay'""",
    )
    assert lake
    assert Counter((s, c, t) for k, s, c, t in data if k == ADMISSION) == Counter(
        (s, c, a) for s, c, a, _ in lake
    )
    assert Counter((s, c, t) for k, s, c, t in data if k == DISCHARGE) == Counter(
        (s, c, d) for s, c, _, d in lake
    )
    codes = dict(
        duckdb.sql(
            f"SELECT code, description FROM read_parquet('{meds_dir}/metadata/codes.parquet')"
        ).fetchall()
    )
    paired = {f"{k}//{c}" for k, _, c, _ in data}
    assert all(codes[c].startswith(("Hospital admission", "Hospital discharge")) for c in paired)
    lake_codes = _lake_sql(events_result.lake, "SELECT count(*) FROM ev WHERE code LIKE 'HOSP%'")
    assert lake_codes == [(0,)]  # the paired rows exist in the MEDS data only


def test_meds_reader_loads_every_subject(meds_dir: Path, tmp_path: Path) -> None:
    # the packaged native converter, as the meds_reader_convert console script runs it
    exe = next(
        m
        for m in importlib.resources.files("meds_reader").iterdir()
        if m.name.startswith("meds_reader_convert")
    )
    db_dir = tmp_path / "db"
    with importlib.resources.as_file(exe) as path:
        run = subprocess.run(
            [str(path), str(meds_dir), str(db_dir), "--num_threads", "2"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    data = pq.read_table(meds_dir / "data", columns=["subject_id", "time", "code", "end"])
    expected: dict[int, list[tuple[datetime | None, str]]] = {}
    ends: dict[tuple[int, datetime | None, str], list[datetime | None]] = {}
    for s, t, c, e in zip(*(data[n].to_pylist() for n in data.column_names), strict=True):
        expected.setdefault(s, []).append((t, c))
        ends.setdefault((s, t, c), []).append(e)
    db = meds_reader.SubjectDatabase(str(db_dir))
    assert sorted(db) == sorted(expected)  # every exported subject, no other
    loaded = 0
    for sid in db:
        events = db[sid].events
        got = [(e.time, e.code) for e in events]
        assert len(got) == len(expected[sid]), sid
        assert sorted(got, key=str) == sorted(expected[sid], key=str), sid
        for e in events:
            assert e.end in ends[(sid, e.time, e.code)], (sid, e)
        loaded += len(got)
    assert loaded == data.num_rows
    stays = [e for sid in db for e in db[sid].events if e.category == "stay" and e.end]
    assert stays and all(isinstance(e.end, datetime) for e in stays)


def test_aces_readmission_30d_labels_match_the_lake(
    meds_dir: Path, events_result: EventsResult
) -> None:
    cfg = aces_config.TaskExtractorConfig.load(config_path=TASK)
    shards = sorted((meds_dir / "data").glob("*.parquet"))
    assert len(shards) == 1  # single_file mode of aces-cli; sharded mode reads the same files
    preds = predicates.get_predicates_df(
        cfg, DictConfig({"path": str(shards[0]), "standard": "meds"})
    )
    result = query.query(cfg, preds)
    got = Counter(
        (s, t, int(y > 0))
        for s, t, y in zip(
            result["subject_id"], result["index_timestamp"], result["label"], strict=True
        )
    )
    # direct: every distinct (person, MCO discharge day) of CMD 01-27; label = an MCO stay of
    # CMD 01-27 starting in (discharge, discharge + 30 days]
    lake = _lake_sql(
        events_result.lake,
        """WITH s AS (
             SELECT sm.subject_id, ev.start, coalesce(ev."end", ev.start) AS stop
             FROM ev JOIN sm USING (person_id)
             WHERE ev.category = 'stay' AND regexp_matches(ev.code, '^GHM//(0[1-9]|1[0-9]|2[0-7])'))
           SELECT i.subject_id, CAST(i.stop AS TIMESTAMP),
                  EXISTS (SELECT 1 FROM s WHERE s.subject_id = i.subject_id
                          AND s.start > i.stop AND s.start <= i.stop + 30)
           FROM (SELECT DISTINCT subject_id, stop FROM s) i""",
    )
    want = Counter((s, t, int(y)) for s, t, y in lake)
    assert sum(want.values()) > 100 and 0 < sum(y for _, _, y in lake) < len(lake)
    assert got == want
