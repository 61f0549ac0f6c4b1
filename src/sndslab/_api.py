"""Top-level functions of the analyst's API (re-exported by :mod:`sndslab`).

The stages are imported when a function is called, not when ``sndslab`` is imported, so that
``import sndslab`` and the command line start fast (the generator pulls numpy and its tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sndslab.engines import Engine

__all__ = ["extract_events", "ingest_raw", "synthesize"]


def synthesize(
    out: str | Path,
    *,
    patients: int = 10_000,
    years: tuple[int, int] = (2019, 2021),
    seed: int = 0,
    overwrite: bool = False,
    **options: Any,
) -> Any:
    """Generate a synthetic SNDS extract (``out/raw``) and its truth (``out/truth``); returns
    the generation result (files, rows, summary). ``options`` go to
    :class:`sndslab.synth.SynthConfig` (``chunk_size``, ``compress``, …)."""
    from sndslab.synth import SynthConfig, generate

    config = SynthConfig(
        patients=patients, first_year=years[0], last_year=years[1], seed=seed, **options
    )
    return generate(config, Path(out), overwrite=overwrite)


def ingest_raw(raw: str | Path, lake: str | Path, *, engine: str | Engine = "duckdb") -> Any:
    """Ingest the raw files of ``raw`` into the lake at ``lake``
    (:func:`sndslab.ingest.ingest`)."""
    from sndslab.ingest import ingest

    return ingest(raw, lake, engine=engine)


def extract_events(lake: str | Path, *, engine: str | Engine = "duckdb", **options: Any) -> Any:
    """Build ``events/`` of ``lake`` (see :func:`sndslab.events.extract_events`)."""
    from sndslab.events import extract_events as run

    return run(Path(lake), engine=engine, **options)
