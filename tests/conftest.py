"""Session fixtures shared by the tests: one synthetic extract, generated once, its full
ingest, run once, and that lake with its events layer (all read-only: copy before modifying);
a Spark standalone cluster on the loopback interface (``spark_cluster``), started only by the
tests that ask."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sndslab.synth import ArtefactRates, SynthConfig, generate

if TYPE_CHECKING:
    from sndslab.engines import StandaloneCluster


@pytest.fixture(scope="session")
def synth_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 persons over 2019–2020 (seed 1): ``raw/`` and ``truth/`` (generated once).
    Inter-establishment records far above the default (50 % of stays of a night or more, 90 %
    of them sessions) so that the CMD 28 sessions the SEJ_TYP = 'B' rule must keep (only those
    of cancer and kidney-failure patients, ~4 % of the sessions) occur at this size (~10
    expected) whatever the random draws of other generator changes."""

    out = tmp_path_factory.mktemp("ingest-synth") / "extract"
    generate(
        SynthConfig(
            patients=2000,
            first_year=2019,
            last_year=2020,
            seed=1,
            chunk_size=1000,
            # far more inter-establishment records, mostly sessions, than by default (1 % of
            # stays, 35 % sessions): see the docstring (test_rules)
            # and the rarest PMSI artefacts (0.2-0.3 % of records by default) a few times more
            # often, so every rule the tests expect to fire has cases at 2,000 persons
            artefacts=ArtefactRates(
                inter_establishment_rate=0.5,
                inter_establishment_session_share=0.9,
                ghm_error_rate=0.02,
                typ_gen_rsa_rate=0.01,
                placeholder_nir_rate=0.01,
                ghs_not_billed_rate=0.01,
            ),
        ),
        out,
    )
    return out


@pytest.fixture(scope="session")
def ingested_synth(
    synth_extract: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(generator output, lake after the full ``ingest``) of the session's synthetic extract.
    Read-only: copy the lake before modifying it."""
    from sndslab.ingest import ingest

    lake = tmp_path_factory.mktemp("ingest-full") / "lake"
    ingest(synth_extract / "raw", lake)
    return synth_extract, lake


@pytest.fixture(scope="session")
def events_synth(
    ingested_synth: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The session's ingested lake with its events layer, extracted once for the tests of
    every analysis (indicators, pathways, cohorts, signals, supply). Read-only: each copies
    it before writing into it."""
    from sndslab.events import extract_events

    lake = tmp_path_factory.mktemp("events-synth") / "lake"
    shutil.copytree(ingested_synth[1], lake)
    extract_events(lake)
    return lake


@pytest.fixture(scope="session")
def spark_engine() -> Any:
    """One local Spark engine for the test session (``local[2]``, 2 GB driver; the session is
    shared by every Spark test through ``getOrCreate``). Spark is part of the project's test
    contract: without pyspark or Java this fails (CI installs both); deselect with
    ``-m "not spark"`` to run without them."""
    from sndslab.engines import SparkEngine, java_available, spark_available

    if not spark_available() or not java_available():
        pytest.fail(
            "the Spark tests need pyspark (extra [spark]) and Java 17+; "
            'deselect them with -m "not spark"'
        )
    engine = SparkEngine(threads=2, memory_limit="2g")
    engine.session()
    return engine


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A Spark standalone cluster on 127.0.0.1 (a master and 2 workers × 1 core × 1g, each its
    own JVM), started once per test session (per xdist worker that asks for it) and stopped at
    its end. Fails when pyspark or Java is missing. Logs: ``<basetemp>/spark-cluster*/``."""
    from sndslab.engines import StandaloneCluster, spark_available
    from sndslab.engines._spark import java_available

    if not spark_available() or not java_available():
        pytest.fail(
            "the Spark cluster tests need pyspark (extra [spark]) and Java 17+; "
            'deselect them with -m "not spark"'
        )
    cluster = StandaloneCluster(
        workers=2,
        cores_per_worker=1,
        memory_per_worker="1g",
        work_dir=tmp_path_factory.mktemp("spark-cluster"),
    )
    with cluster:
        yield cluster


def copy_staged(source: Path, dest: Path) -> Path:
    """A new lake at ``dest`` holding the staged part of the lake ``source`` (marker, staging
    cache, stg, quarantine), published by one commit of its staged files alone: what a test
    needs to rebuild ``int`` without touching a session-wide lake."""
    import shutil

    from sndslab.lake import LakePaths, current_commit, publish

    dest.mkdir(parents=True)
    for item in ("_lake.json", "_state", "stg", "quarantine"):
        src = source / item
        if src.is_dir():
            shutil.copytree(src, dest / item)
        elif src.exists():
            shutil.copy2(src, dest / item)
    staged = current_commit(LakePaths(str(source)))
    assert staged is not None
    publish(LakePaths(str(dest)), command="stage", stg=staged.stg, raw_dirs=staged.raw_dirs)
    return dest


@pytest.fixture(scope="session")
def staged_copy() -> Any:
    """:func:`copy_staged` (``staged_copy(source_lake, dest)``)."""
    return copy_staged
