"""Spark engine (PySpark, extra ``[spark]``): the same SQL on a cluster.

``SparkEngine.session()`` builds (or reuses) a SparkSession configured so that its SQL and
its Parquet output match the DuckDB engine: UTC session time zone, timestamps without time zone
(``TIMESTAMP_NTZ``), ``TIMESTAMP_MICROS`` Parquet output, proleptic-Gregorian dates written and
read as they are (``CORRECTED`` rebase), ANSI mode off (DuckDB's ``TRY_CAST`` semantics are
spelled explicitly in the SQL), no UI, few shuffle partitions.

``SparkEngine.connect()`` returns a :class:`SparkConnection`: the operations of
:class:`sndslab.engines.Connection` over the session. Queries are DuckDB SQL transpiled by
:func:`sndslab.engines.to_spark_sql`; datasets are written by Spark's own Parquet writer as
directories of parts (one task per partition, a ``_SUCCESS`` marker), on any Hadoop file system;
the lake's small files go through :class:`sndslab.engines.HadoopStorage`.

``SparkEngine(master="spark://host:port")`` runs on a standalone cluster (e.g.
:class:`sndslab.engines.StandaloneCluster`): the master is checked with a short TCP connect
first and the session start is bounded (one clear ``SndslabError`` naming the URL instead of a
Java stack or a hang), executors get the sizes set on the engine, the executors run the
driver's interpreter (``PYSPARK_PYTHON``), and a driver talking to a loopback master binds to
127.0.0.1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import sqlglot

from sndslab.engines._base import ArrowConversions
from sndslab.engines._sql import dedup_names, to_spark_sql
from sndslab.engines._storage import HadoopStorage, is_uri
from sndslab.errors import SndslabError

__all__ = ["SparkConnection", "SparkEngine", "SparkRelation", "spark_available"]

SPARK_MISSING = "the spark engine needs the [spark] extra: pip install 'sndslab[spark]'"

#: Settings that make Spark SQL and Parquet output comparable with DuckDB's.
SPARK_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
    # SNDS tables are wide (ER_PRS_F > 100 columns): keep codegen and the vectorised reader
    "spark.sql.codegen.maxFields": "1000",
    "spark.sql.execution.arrow.pyspark.enabled": "false",
}


#: Driver memory when no ``memory_limit`` is given.
DEFAULT_DRIVER_MEMORY = "4g"

#: Seconds allowed for the TCP connect to a ``spark://`` master.
CONNECT_TIMEOUT = 3.0

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def master_addresses(master: str) -> list[tuple[str, int]]:
    """The ``(host, port)`` pairs of a ``spark://`` URL (several for a high-availability list:
    ``spark://h1:7077,h2:7077``); port 7077 when omitted.

    >>> master_addresses("spark://127.0.0.1:7077,node2")
    [('127.0.0.1', 7077), ('node2', 7077)]
    """
    from sndslab.errors import InvalidArgumentError

    if not master.startswith("spark://"):
        raise InvalidArgumentError(f"not a spark:// master URL: {master!r}")
    out = []
    for item in master.removeprefix("spark://").split(","):
        parsed = urlsplit(f"//{item.strip()}")
        try:
            port = parsed.port or 7077
        except ValueError:
            port = 0
        if not parsed.hostname or not port:
            raise InvalidArgumentError(f"invalid Spark master URL {master!r}")
        out.append((parsed.hostname, port))
    return out


def check_master(master: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise a one-line ``SndslabError`` naming ``master`` when none of its addresses accepts
    a TCP connection within ``timeout`` seconds."""
    errors = []
    for host, port in master_addresses(master):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as exc:
            errors.append(exc.strerror or str(exc) or type(exc).__name__)
    raise SndslabError(f"cannot reach the Spark master {master}: {'; '.join(errors)}")


def spark_available() -> bool:
    """Whether ``pyspark`` can be imported."""
    return importlib.util.find_spec("pyspark") is not None


def java_available() -> bool:
    """Whether a ``java`` executable is on ``PATH`` or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


@dataclass(frozen=True)
class SparkEngine:
    """Factory of Spark sessions; raises a one-line error when pyspark is not installed.

    ``memory_limit`` (e.g. ``'2g'`` or DuckDB-style ``'2GB'``) sets the driver memory;
    ``threads`` the local parallelism (``local[threads]``, default ``local[*]``); ``master``
    overrides the master URL (a cluster). On a ``spark://`` master each executor gets
    ``executor_memory`` and ``executor_cores`` (1g × 1 core: one executor per worker of a
    :class:`~sndslab.engines.StandaloneCluster`), the application at most ``max_cores`` cores
    (``None``: every free core), and the session must have an executor within
    ``start_timeout`` seconds.
    """

    memory_limit: str | None = None
    threads: int | None = None
    master: str | None = None
    name: str = "spark"
    executor_memory: str = "1g"
    executor_cores: int = 1
    max_cores: int | None = None
    start_timeout: float = 90.0

    def __post_init__(self) -> None:
        if not spark_available():
            raise SndslabError(SPARK_MISSING)

    def session(self) -> Any:  # pragma: no cover - needs pyspark
        """A ``SparkSession`` with :data:`SPARK_CONF` (an active session is reused and
        reconfigured for the runtime SQL settings)."""
        if not java_available():
            raise SndslabError("the spark engine needs Java (17+): install a JDK or set JAVA_HOME")
        master = self.master or f"local[{self.threads or '*'}]"
        cluster = master.startswith("spark://")
        if cluster:  # before anything slow: a master that does not answer fails in seconds
            check_master(master)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(master).appName("sndslab")
        for key, value in self.cluster_conf().items():
            builder = builder.config(key, value)
        # local mode runs in the driver: Spark's 1g default cannot hold the broadcast side of
        # the DCIR 9-key joins from ~10,000 persons on
        mem = (self.memory_limit or DEFAULT_DRIVER_MEMORY).strip().lower().removesuffix("b")
        builder = builder.config("spark.driver.memory", mem)
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        if cluster:  # the executors' Python is the driver's (PySpark reads the variable)
            os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        if cluster:
            self._wait_for_executors(spark, master)
        for key, value in SPARK_CONF.items():
            if key.startswith("spark.sql."):
                spark.conf.set(key, value)
        return spark

    def accepts(self, path: str) -> bool:
        """Spark reads and writes any Hadoop file system (local, HDFS, S3, ADLS, …)."""
        return True

    def cluster_conf(self) -> dict[str, str]:
        """The settings added on a ``spark://`` master (empty in local mode)."""
        if not (self.master or "").startswith("spark://"):
            return {}
        conf = {
            "spark.executor.memory": self.executor_memory,
            "spark.executor.cores": str(self.executor_cores),
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
        }
        if self.max_cores is not None:
            conf["spark.cores.max"] = str(self.max_cores)
        assert self.master is not None
        if all(host in LOOPBACK for host, _ in master_addresses(self.master)):
            # a loopback cluster: the executors call the driver back on 127.0.0.1
            conf["spark.driver.host"] = "127.0.0.1"
            conf["spark.driver.bindAddress"] = "127.0.0.1"
        return conf

    def _wait_for_executors(self, spark: Any, master: str) -> None:  # pragma: no cover
        """Return once one executor has registered; else stop the session and raise one line
        (a master that accepts connections but gives no executor would hang the first job)."""
        if spark.sparkContext.master != master:  # getOrCreate reused another session
            raise SndslabError(
                f"a Spark session on {spark.sparkContext.master} is already running in this "
                f"process: stop it before using the Spark master {master}"
            )
        status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus()
        deadline = time.monotonic() + self.start_timeout
        while status.size() < 2:  # the driver's block manager counts as one
            if spark.sparkContext._jsc.sc().isStopped() or time.monotonic() > deadline:
                spark.stop()
                raise SndslabError(
                    f"the Spark master {master} gave no executor within "
                    f"{self.start_timeout:.0f} s (no ALIVE worker with "
                    f"{self.executor_cores} free core(s) and {self.executor_memory}?)"
                )
            time.sleep(0.2)
            status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus()

    def connect(self) -> SparkConnection:  # pragma: no cover - needs pyspark
        """A :class:`SparkConnection` over this engine's session."""
        return SparkConnection(self.session(), self)


def hadoop_path(path: str | Path) -> str:
    r"""A local path made absolute, or a URI as is, with Hadoop glob characters escaped (Spark's
    readers expand globs).

    >>> hadoop_path("s3a://b/lake/int/t[1]")
    's3a://b/lake/int/t\\[1\\]'
    """
    out = str(path) if is_uri(path) else str(Path(path).absolute())
    for ch in "\\[]{}*?":
        out = out.replace(ch, "\\" + ch)
    return out


class SparkRelation(ArrowConversions):
    """A lazy Spark query (:class:`sndslab.engines.Relation`); ``native`` is the DataFrame."""

    def __init__(self, con: SparkConnection, query: str) -> None:
        self._con = con
        self.query = query

    @property
    def native(self) -> Any:
        return self._con.dataframe(self.query)

    def to_arrow(self) -> pa.Table:
        return self.native.toArrow()

    def count(self) -> int:
        return int(self.native.count())

    def __repr__(self) -> str:
        return f"SparkRelation({self.query!r})"


class SparkConnection:  # pragma: no cover - needs pyspark
    """The :class:`sndslab.engines.Connection` operations over a SparkSession.

    Temp views are the named relations (``create_table`` checkpoints the rows first, which also
    cuts the lineage of iterative steps such as the identity label propagation); ``close()``
    drops the views this connection created, the session stays up (sessions are costly to start
    and are shared, e.g. by a test session).
    """

    def __init__(self, spark: Any, engine: SparkEngine) -> None:
        self.spark = spark
        self._engine = engine
        self._views: set[str] = set()
        self._storage = HadoopStorage(spark)

    @property
    def engine(self) -> SparkEngine:
        return self._engine

    @property
    def storage(self) -> HadoopStorage:
        return self._storage

    def dataframe(self, query: str) -> Any:
        """The Spark DataFrame of a DuckDB query (transpiled)."""
        return self.spark.sql(to_spark_sql(query, columns_of=self._columns_of))

    def _columns_of(self, spark_sql: str) -> list[str]:
        return list(self.spark.sql(spark_sql).columns)

    def _view(self, name: str, df: Any) -> None:
        df.createOrReplaceTempView(name)
        self._views.add(name)

    def sql(self, query: str) -> SparkRelation:
        return SparkRelation(self, query)

    def fetchall(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.dataframe(query).collect()]

    def fetchone(self, query: str) -> tuple[Any, ...] | None:
        rows = self.dataframe(query).take(1)
        return tuple(rows[0]) if rows else None

    def scalar(self, query: str) -> Any:
        row = self.fetchone(query)
        return row[0] if row else None

    def create_table(self, name: str, query: str) -> None:
        df = self.dataframe(query)
        # DuckDB renames clashing columns of a table (x, x_1, …); Spark would keep both
        self._view(name, df.toDF(*dedup_names(df.columns)).localCheckpoint(eager=True))

    def create_view(self, name: str, query: str) -> None:
        self._view(name, self.dataframe(query))

    def register(self, name: str, df: Any) -> None:
        """Expose a Spark DataFrame to later queries as temp view ``name``."""
        self._view(name, df)

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def describe(self, query: str) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in self.dataframe(query).schema.fields]

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self._view(name, self.spark.createDataFrame(table))

    def dataset(self, paths: str | Sequence[str]) -> str:
        """A temp view over the Parquet parts of one or several dataset directories (defined
        anew at each call, so a rewritten dataset is listed again)."""
        items = [paths] if isinstance(paths, str) else list(paths)
        if not items:
            raise SndslabError("no dataset to read")
        name = "_ds_" + hashlib.sha1("\0".join(items).encode()).hexdigest()[:16]
        reader = self.spark.read
        if len(items) > 1:
            reader = reader.option("mergeSchema", "true")
        self._view(name, reader.parquet(*(hadoop_path(p) for p in items)))
        return name

    def write_dataset(self, query: str, path: str, *, order_by: Sequence[str] = ()) -> int:
        """Write ``query`` with Spark's Parquet writer as the directory ``path`` (replaced):
        with ``order_by``, range-partitioned and sorted within parts, so the parts read in
        order give the rows sorted. Returns the rows written, counted while writing (an
        ``Observation`` of the write job: no second pass over the output)."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        df = self.dataframe(query)
        if order_by:
            keys = [F.expr(sqlglot.transpile(k, read="duckdb", write="spark")[0]) for k in order_by]
            df = df.repartitionByRange(*keys).sortWithinPartitions(*keys)
        rows = Observation("rows")
        df.observe(rows, F.count(F.lit(1)).alias("rows")).write.mode("overwrite").parquet(
            hadoop_path(path)
        )
        return int(rows.get["rows"])

    def cursor(self) -> SparkConnection:
        """Another connection over the same session (Spark runs their jobs side by side)."""
        return SparkConnection(self.spark, self._engine)

    def interrupt(self) -> None:
        """Cancel the session's running jobs."""
        self.spark.sparkContext.cancelAllJobs()

    def close(self) -> None:
        """Drop the temp views created through this connection (the session stays up)."""
        for name in sorted(self._views):
            self.spark.catalog.dropTempView(name)
        self._views.clear()
