"""The cluster side of ``tests/test_spark_cluster.py``, run in its own Python process.

A SparkSession is a process-wide singleton and the other Spark tests of a pytest process hold
a local-mode one: the cluster run therefore happens here, in a child process
(``python tests/spark_cluster_job.py RAW LAKE MASTER REPORT``), which ingests RAW into LAKE and
extracts the events with ``SparkEngine(master=MASTER)``, then writes REPORT (JSON): the
session's master URL, application id and name, and how many executors served it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def run(raw: Path, lake: Path, master: str, report: Path) -> None:
    from sndslab.engines import SparkEngine
    from sndslab.events import extract_events
    from sndslab.ingest import ingest

    engine = SparkEngine(master=master)
    spark = engine.session()
    sc = spark.sparkContext
    # the engine waits for one executor; use every worker of the cluster before the first job
    deadline = time.monotonic() + 60
    while sc._jsc.sc().getExecutorMemoryStatus().size() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    executors = sc._jsc.sc().getExecutorMemoryStatus().size() - 1  # minus the driver's
    started = time.monotonic()
    result = ingest(raw, lake, engine=engine)
    ingest_seconds = time.monotonic() - started
    events = extract_events(lake, engine=engine)
    out = {
        "master": sc.master,
        "app_id": sc.applicationId,
        "app_name": sc.appName,
        "executors": executors,
        "executors_at_end": sc._jsc.sc().getExecutorMemoryStatus().size() - 1,
        "persons": result.identity.persons,
        "events": events.events,
        "ingest_seconds": round(ingest_seconds, 1),
        "events_seconds": round(time.monotonic() - started - ingest_seconds, 1),
    }
    spark.stop()
    report.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    raw_dir, lake_dir, url, report_path = sys.argv[1:5]
    run(Path(raw_dir), Path(lake_dir), url, Path(report_path))
