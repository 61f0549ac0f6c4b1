"""MEDS export validates with the ``meds`` package schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sndslab.events import EventsResult, to_meds

meds = pytest.importorskip("meds")


def test_meds_export_validates(tmp_path: Path, events_result: EventsResult) -> None:
    out = Path(to_meds(events_result.lake, tmp_path / "meds", salt="test"))
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
