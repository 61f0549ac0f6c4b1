"""Shared helpers of the fault and crash-consistency tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sndslab.lake import open_lake


def lake_fingerprint(lake: Path) -> dict[str, Any]:
    """What readers see of a lake: every table of the current commit (internal ones included)
    with its rows and an order-insensitive content hash, the staged files (name → content
    hash), the published layers and the report's table accounts."""
    with open_lake(lake) as opened:
        commit = opened.commit
        assert commit is not None
        names = [f"stg.{t}" for t in commit.stg_tables()]
        for layer in ("int", "events"):
            if layer in commit.layers:
                names += [f"{layer}.{t}" for t in opened.manifest(layer).tables]
        tables: dict[str, Any] = {}
        for name in sorted(names):
            got = opened.sql(
                f"SELECT count(*) AS n, bit_xor(hash(CAST(t AS VARCHAR))) AS h FROM {name} t"
            ).to_arrow()
            tables[name] = tuple(got.to_pylist()[0].values())
        return {
            "tables": tables,
            "files": {n: f.sha256 for n, f in commit.stg.items()},
            "layers": sorted(commit.layers),
            "report": opened.report["tables"] if commit.report else None,
        }


@pytest.fixture(scope="session")
def fingerprint() -> Any:
    """:func:`lake_fingerprint`."""
    return lake_fingerprint
