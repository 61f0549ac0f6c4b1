"""Shared synthetic extracts for the generator tests (generated once per test session)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sndslab.synth import SynthConfig, generate


@pytest.fixture(scope="session")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 persons over 2019–2020 with default artefact rates (the issue's reference size)."""
    out = tmp_path_factory.mktemp("synth") / "extract"
    generate(
        SynthConfig(patients=10_000, first_year=2019, last_year=2020, seed=11, chunk_size=4000),
        out,
    )
    return out


@pytest.fixture(scope="session")
def db(extract: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB views over every raw file (all columns as text) and the truth tables."""
    con = duckdb.connect()
    raw = extract / "raw"
    tables: dict[str, list[str]] = {}
    for f in sorted(raw.glob("*.csv")):
        tables.setdefault(_table_of(f.stem), []).append(str(f))
    for table, files in tables.items():
        listing = ", ".join(f"'{p}'" for p in files)
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv([{listing}], delim=';', "
            "header=true, all_varchar=true, union_by_name=true)"
        )
    for f in sorted((extract / "truth").glob("*.parquet")):
        con.execute(f"CREATE VIEW truth_{f.stem} AS SELECT * FROM read_parquet('{f}')")
    return con


def _table_of(stem: str) -> str:
    """Registry table name of a raw file stem (T_MCO20B → T_MCOaaB, ER_PRS_F_2020 → ER_PRS_F)."""
    from sndslab.registry import resolve_file_stem

    try:
        spec, _ = resolve_file_stem(stem)
    except Exception:  # nomenclature copies keep their own name
        return stem
    return spec.name
