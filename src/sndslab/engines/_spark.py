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
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot

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
    overrides the master URL (a cluster).
    """

    memory_limit: str | None = None
    threads: int | None = None
    master: str | None = None
    name: str = "spark"

    def __post_init__(self) -> None:
        if not spark_available():
            raise SndslabError(SPARK_MISSING)

    def session(self) -> Any:  # pragma: no cover - needs pyspark
        """A ``SparkSession`` with :data:`SPARK_CONF` (an active session is reused and
        reconfigured for the runtime SQL settings)."""
        from pyspark.sql import SparkSession

        if not java_available():
            raise SndslabError("the spark engine needs Java (17+): install a JDK or set JAVA_HOME")
        master = self.master or f"local[{self.threads or '*'}]"
        builder = SparkSession.builder.master(master).appName("sndslab")
        # local mode runs in the driver: Spark's 1g default cannot hold the broadcast side of
        # the DCIR 9-key joins from ~10,000 persons on
        mem = (self.memory_limit or DEFAULT_DRIVER_MEMORY).strip().lower().removesuffix("b")
        builder = builder.config("spark.driver.memory", mem)
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        for key, value in SPARK_CONF.items():
            if key.startswith("spark.sql."):
                spark.conf.set(key, value)
        return spark

    def accepts(self, path: str) -> bool:
        """Spark reads and writes any Hadoop file system (local, HDFS, S3, ADLS, …)."""
        return True

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


class SparkRelation:
    """A lazy Spark query (:class:`sndslab.engines.Relation`); ``native`` is the DataFrame."""

    def __init__(self, con: SparkConnection, query: str) -> None:
        self._con = con
        self.query = query

    @property
    def native(self) -> Any:
        return self._con.dataframe(self.query)

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    def to_arrow(self) -> pa.Table:
        return self.native.toArrow()

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow())

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
        order give the rows sorted. Returns the rows written (from the parts' footers)."""
        from pyspark.sql import functions as F

        df = self.dataframe(query)
        if order_by:
            keys = [F.expr(sqlglot.transpile(k, read="duckdb", write="spark")[0]) for k in order_by]
            df = df.repartitionByRange(*keys).sortWithinPartitions(*keys)
        target = hadoop_path(path)
        df.write.mode("overwrite").parquet(target)
        return int(self.spark.read.parquet(target).count())

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
