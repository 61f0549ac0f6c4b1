"""Spark engine (PySpark, extra ``[spark]``).

``SparkEngine.session()`` builds (or reuses) a local SparkSession configured so that its SQL and
its Parquet output match the DuckDB engine: UTC session time zone, timestamps without time zone
(``TIMESTAMP_NTZ``), ``TIMESTAMP_MICROS`` Parquet output, proleptic-Gregorian dates written and
read as they are (``CORRECTED`` rebase), ANSI mode off (DuckDB's ``TRY_CAST`` semantics are
spelled explicitly in the SQL), no UI, few shuffle partitions.

``SparkEngine.connect()`` returns a :class:`sndslab.ingest._spark_sql.SparkSqlConnection`: a
DuckDB-like ``execute(sql).fetchall()`` facade that transpiles the pipeline's DuckDB SQL to
Spark SQL with ``sqlglot`` (one definition of the logic, two engines).
``sndslab.ingest.ingest(..., engine="spark")`` runs every step on Spark: staging raw files
(``sndslab.ingest._stage_spark``: Spark's own reader with exact line numbers, then the same
typing SQL; it sets ``STAGING_CONF`` there while files are staged), rules, identity and the
intermediate tables.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sndslab.errors import SndslabError

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

    def connect(self) -> Any:  # pragma: no cover - needs pyspark
        """A DuckDB-like SQL facade over this engine's session (see the module docstring)."""
        from sndslab.ingest._spark_sql import SparkSqlConnection

        return SparkSqlConnection(self.session())
