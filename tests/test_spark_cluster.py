"""A real cluster: ingest and events on a Spark standalone cluster (a master and 2 workers on
127.0.0.1, each its own JVM: the ``spark_cluster`` fixture) write exactly what the DuckDB
engine writes — same Parquet files under stg/, quarantine/, int/ and events/, same column
names and Arrow types, same multiset of rows.

The Spark side runs in a child process (``tests/spark_cluster_job.py``): a SparkSession is a
process-wide singleton and the other Spark tests of this process hold a local-mode one. The
extract is small (9 raw files of 200 persons × 2019, see :data:`CLUSTER_FILES`) so that the run,
job after job on two one-core executors, stays within the default suite's budget; the
full-extract parity of the two engines is pinned in local mode by
``tests/ingest/test_engines_parity.py`` and ``tests/events/test_engines_parity.py``. The
whole cluster run is one test, so that pytest-xdist never starts it twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.engines import StandaloneCluster, spark_available
from sndslab.engines._spark_cluster import free_port
from sndslab.lake import open_lake, relation

JOB = Path(__file__).with_name("spark_cluster_job.py")
#: Seconds allowed to the cluster run (ingest + events of the small extract).
JOB_TIMEOUT = 900


def _child_env() -> dict[str, str]:
    """This process's environment, with this checkout's ``sndslab`` first on ``PYTHONPATH``
    (the child must run the code under test, not another installed copy)."""
    env = dict(os.environ)
    src = str(Path(sndslab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"  # the driver's JVM too binds to the loopback only
    return env


#: The raw files the cluster ingests: the beneficiaries, DCIR prestations with a satellite
#: (the 9-key join and its orphans) and the establishment table a rule joins, MCO stays and
#: diagnoses, three referentials (what the rules and extractors of these tables need: a
#: missing source table is an error). A Spark job costs about a second whatever its size and
#: each file takes a few: the whole 48-file year would take many minutes on two one-core
#: executors.
CLUSTER_FILES = (
    "BE_IDE_R",
    "ER_ETE_F_2019",  # the join table of the rule dcir_public_t2a_duplicates
    "ER_PHA_F_2019",
    "ER_PRS_F_2019",
    "IR_BEN_R",
    "IR_CIM_V",
    "IR_NAT_V",  # joined by the practitioner_visit and ngap_act extractors
    "IR_PHA_R",
    "T_MCO19B",
    "T_MCO19C",
    "T_MCO19D",
)


@pytest.fixture(scope="module")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small raw extract: :data:`CLUSTER_FILES` of a synthetic one (200 persons, 2019)."""
    from sndslab.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("cluster-synth")
    generate(SynthConfig(patients=200, first_year=2019, last_year=2019, seed=5), base / "x")
    raw = base / "raw"
    raw.mkdir()
    for name in CLUSTER_FILES:
        shutil.copy2(base / "x" / "raw" / f"{name}.csv", raw)
    return raw


@pytest.fixture(scope="module")
def small_lake(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB ingest of :func:`small_raw` (read-only: copy before modifying)."""
    from sndslab.ingest import ingest

    lake = tmp_path_factory.mktemp("cluster-duckdb") / "lake"
    ingest(small_raw, lake)
    return lake


def _sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows sorted on every non-list column (row order is not part of the contract), as in the
    local-mode parity tests."""
    keys = [(c, "ascending") for c in table.column_names if not pa.types.is_list(table[c].type)]
    return table.sort_by(keys).to_pylist() if table.num_rows else []


def test_cluster_daemons_are_separate_processes(spark_cluster: StandaloneCluster) -> None:
    assert spark_cluster.url.startswith("spark://127.0.0.1:")
    state = spark_cluster.status()
    assert state["status"] == "ALIVE"
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert [(w["cores"], w["memory"]) for w in alive] == [(1, 1024), (1, 1024)]
    assert all(w["host"] == "127.0.0.1" for w in alive)
    pids = [p.pid for p in spark_cluster.processes]
    assert len(set(pids)) == 3 and all(p.poll() is None for p in spark_cluster.processes)


def test_cluster_stops_every_process(tmp_path: Path) -> None:
    """A one-worker cluster of its own: after ``stop()`` no process of its groups is left."""
    if not spark_available():
        pytest.fail('pyspark is not installed (deselect: -m "not spark")')
    from sndslab.engines._spark import java_available

    if not java_available():
        pytest.fail('java is not available (deselect: -m "not spark")')
    with StandaloneCluster(workers=1, work_dir=tmp_path) as cluster:
        groups = [p.pid for p in cluster.processes]
        assert cluster.alive_workers() == 1
    assert cluster.processes == []
    ps = subprocess.run(["ps", "-eo", "pgid="], capture_output=True, text=True, check=True)
    assert not set(groups) & {int(g) for g in ps.stdout.split()}
    assert "Master" in (tmp_path / "master.log").read_text()


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_ingest_and_events_on_the_cluster_match_duckdb(
    spark_cluster: StandaloneCluster, small_raw: Path, small_lake: Path, tmp_path: Path
) -> None:
    from sndslab.events import extract_events

    # the cluster run, in its own process (see the module docstring)
    lake = tmp_path / "cluster"
    report = tmp_path / "cluster.json"
    started = time.monotonic()
    try:
        job = subprocess.run(
            [sys.executable, str(JOB), str(small_raw), str(lake), spark_cluster.url, str(report)],
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the cluster run took more than {JOB_TIMEOUT} s\n{spark_cluster.log_tail()}")
    seconds = time.monotonic() - started
    assert job.returncode == 0, f"{job.stderr[-4000:]}\n{spark_cluster.log_tail()}"
    run = json.loads(report.read_text())
    print(f"cluster run: {seconds:.0f} s ({run})")

    # it ran on the cluster: its master, both workers' executors, an app the master knows
    assert run["master"] == spark_cluster.url
    assert run["executors"] == 2, run
    apps = spark_cluster.status()
    known = {a["id"]: a for a in apps["completedapps"] + apps["activeapps"]}
    assert run["app_id"] in known, sorted(known)
    assert known[run["app_id"]]["name"] == run["app_name"] == "sndslab"
    assert known[run["app_id"]]["state"] in ("FINISHED", "RUNNING")

    # the DuckDB reference, on the same extract
    duck = tmp_path / "duckdb"
    shutil.copytree(small_lake, duck)
    events = extract_events(duck)
    with open_lake(duck) as ref:
        persons = ref.table("int.persons").count()
    assert (run["persons"], run["events"]) == (persons, events.events)
    assert run["persons"] > 0 and run["events"] > 0

    # every table of every layer (internal working tables included), and the quarantine
    tables = _tables(duck)
    assert tables == _tables(lake)
    # the quarantine: unparsable rows (quarantine/) or satellite rows without a parent row
    for prefix in ("stg.", "int.clean__", "int.persons", "events.events", "int.orphans__"):
        assert any(t.startswith(prefix) for t in tables), prefix
    stg_part = next(lake.glob("stg/*/*/*/*.parquet"))
    assert "parquet-mr" in str(pq.ParquetFile(stg_part).metadata.created_by)  # Spark wrote it
    different = []
    for name in tables:
        d, s_ = _read(duck, name), _read(lake, name)
        # names and Arrow types must match (not Parquet nullability: Spark writes OPTIONAL)
        same_types = [(f.name, f.type) for f in d.schema] == [(f.name, f.type) for f in s_.schema]
        if not same_types or _sorted_rows(d) != _sorted_rows(s_):
            different.append((name, d.num_rows, s_.num_rows, same_types))
    assert not different, different


def _tables(lake: Path) -> list[str]:
    """Every table of the lake (``layer.name``, internal ones included) and its quarantine
    datasets (``quarantine/<TABLE>/<part>``)."""
    from sndslab.lake import LakePaths, known_tables

    quarantine = sorted(
        p.relative_to(lake).as_posix() for p in lake.glob("quarantine/*/*") if p.is_dir()
    )
    return known_tables(LakePaths(str(lake)), internal=True) + quarantine


def _read(lake: Path, name: str) -> pa.Table:
    if name.startswith("quarantine/"):
        return pq.read_table(lake / name)
    with open_lake(lake) as opened:
        return opened.con.sql(
            f"SELECT * FROM {relation(opened.con, opened.paths, name)}"
        ).to_arrow()


# ---- a master that does not answer ----------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (picked free, then released)."""
    return free_port()


@pytest.mark.parametrize("command", ["ingest", "events"])
def test_unreachable_master_is_one_line_and_fast(
    command: str, small_raw: Path, small_lake: Path, tmp_path: Path
) -> None:
    if not spark_available():
        pytest.fail('pyspark is not installed (deselect: -m "not spark")')
    url = f"spark://127.0.0.1:{_closed_port()}"
    target = (
        ["ingest", str(small_raw), "--lake", str(tmp_path / "lake")]
        if command == "ingest"
        else ["events", str(small_lake)]  # fails before writing: the lake is not modified
    )
    cmd = [sys.executable, "-m", "sndslab"]
    # "fast": the error comes within 15 s of what starting the command line costs on this
    # machine (the interpreter and imports alone can take seconds on a loaded CI runner)
    started = time.monotonic()
    subprocess.run([*cmd, "--version"], env=_child_env(), capture_output=True, check=True)
    baseline = time.monotonic() - started
    started = time.monotonic()
    proc = subprocess.run(
        [*cmd, *target, "--engine", "spark", "--spark-master", url],
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=60 + 2 * baseline,
    )
    assert time.monotonic() - started < baseline + 15, (baseline, proc)
    assert proc.returncode in (1, 2), proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot reach the Spark master {url}: "), lines
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("command", ["ingest", "events"])
def test_spark_master_needs_the_spark_engine(command: str, tmp_path: Path) -> None:
    (tmp_path / "int").mkdir()
    target = (
        ["ingest", str(tmp_path), "--lake", str(tmp_path.parent / f"{tmp_path.name}-lake")]
        if command == "ingest"
        else [command, str(tmp_path)]
    )
    result = CliRunner().invoke(app, [*target, "--spark-master", "spark://127.0.0.1:7077"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --spark-master is only valid with --engine spark"


def test_cluster_conf_only_on_spark_masters() -> None:
    if not spark_available():
        pytest.fail('pyspark is not installed (deselect: -m "not spark")')
    from sndslab.engines import SparkEngine

    assert SparkEngine().cluster_conf() == {}
    assert SparkEngine(master="local[2]").cluster_conf() == {}
    conf = SparkEngine(master="spark://127.0.0.1:7077", max_cores=2).cluster_conf()
    assert conf["spark.executor.memory"] == "1g" and conf["spark.executor.cores"] == "1"
    assert conf["spark.cores.max"] == "2"
    assert conf["spark.pyspark.python"] == sys.executable
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    remote = SparkEngine(master="spark://node1:7077,node2:7077").cluster_conf()
    assert "spark.driver.host" not in remote and "spark.cores.max" not in remote


def test_a_bad_master_url_is_an_invalid_argument() -> None:
    from sndslab.engines._spark import check_master
    from sndslab.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="invalid Spark master URL"):
        check_master("spark://127.0.0.1:notaport")
