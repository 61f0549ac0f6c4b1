"""The ``sndslab`` command line (typer + rich).

Every user-facing failure (``SndslabError``, usage errors) is printed as one line
``error: <message>`` on stderr with exit code 2 (usage, invalid argument) or 1 (runtime); an
interrupt prints ``interrupted`` and exits with 130. No traceback for any of them; set
``SNDSLAB_DEBUG=1`` to get the traceback of an ``OSError`` instead of its one-line message.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

import sndslab
from sndslab._atomic import check_disjoint, check_output_dir, mark_output
from sndslab.errors import InvalidArgumentError, SndslabError

__all__ = ["app", "main"]

MIN_YEAR, MAX_YEAR = 2010, 2030
_YEARS = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Interrupted(Exception):
    """A KeyboardInterrupt carried past click, which would turn it into a plain exit 130."""


def _error(message: str) -> None:
    first = " ".join(str(message).split())  # one line, whatever the message holds
    err.print(f"error: {first}", markup=False)


class _Group(TyperGroup):
    """Top-level group that reports errors as one line and never shows a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted from exc

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = _run(
            lambda: super(_Group, self).main(
                args, prog_name or "sndslab", complete_var, standalone_mode=False, **extra
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


#: Modules whose exceptions are engine errors: reported as one line keeping their message.
_ENGINE_MODULES = {"duckdb": "DuckDB", "_duckdb": "DuckDB", "pyspark": "Spark", "py4j": "Spark"}


def _engine_of(exc: BaseException) -> str | None:
    """``"DuckDB"`` or ``"Spark"`` when ``exc`` (or its cause) comes from an engine."""
    seen: BaseException | None = exc
    while seen is not None:
        root = type(seen).__module__.split(".")[0]
        if root in _ENGINE_MODULES:
            return _ENGINE_MODULES[root]
        seen = seen.__cause__
    return None


@contextmanager
def _interrupt_flag() -> Iterator[list[bool]]:
    """Record a Ctrl-C (SIGINT) while the command runs, so an engine that turns the interrupt
    into its own error (DuckDB's "Query interrupted", a Spark job cancelled) still exits 130."""
    import signal
    import threading

    seen = [False]
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        seen[0] = True
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(call: Callable[[], Any]) -> int:
    """Run the click command in non-standalone mode and map every outcome to an exit code."""
    with _interrupt_flag() as interrupted:
        try:
            return _outcome(call)
        except BaseException:
            if interrupted[0]:
                err.print("interrupted", markup=False)
                return 130
            raise


def _outcome(call: Callable[[], Any]) -> int:
    try:
        rv = call()
    except SndslabError as exc:
        _error(str(exc))
        return exc.exit_code
    except (_Interrupted, KeyboardInterrupt):
        err.print("interrupted", markup=False)
        return 130
    except typer.Abort:
        err.print("interrupted", markup=False)
        return 130
    except OSError as exc:
        if os.environ.get("SNDSLAB_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return 1
    except Exception as exc:
        # click usage errors (BadParameter, MissingParameter, NoSuchOption, ...) carry
        # ``format_message`` and ``exit_code``; typer vendors click, so match on the shape
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``sndslab``: show the help
                out.print(exc.format_message(), markup=False)
                return 0
            _error(exc.format_message())
            return int(exc.exit_code)  # type: ignore[attr-defined]
        engine = _engine_of(exc)
        if engine is not None and not os.environ.get("SNDSLAB_DEBUG"):
            _error(f"{engine}: {exc}")
            return 1
        raise
    # non-standalone click returns the exit code of typer.Exit (e.g. --help, --version), or
    # the command's own return value (None)
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


app = typer.Typer(
    cls=_Group,
    name="sndslab",
    help="SNDS raw extracts to typed tables, events and indicators; synthetic SNDS generator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
registry_app = typer.Typer(
    help="Browse the SNDS table registry.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(registry_app, name="registry")
export_app = typer.Typer(
    help="Export the event layer (LAKE/events) to a standard format.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")
lake_app = typer.Typer(help="Inspect a lake.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(lake_app, name="lake")


def _version(value: bool) -> None:
    if value:
        out.print(f"sndslab {sndslab.__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """sndslab: SNDS raw extracts to typed tables, events and indicators."""


# -- argument validation ----------------------------------------------------------------------
def parse_years(text: str) -> tuple[int, int]:
    """``"2019"`` → (2019, 2019); ``"2019-2021"`` → (2019, 2021); anything else is an error.

    >>> parse_years("2019-2021")
    (2019, 2021)
    """
    m = _YEARS.match(text)
    if not m:
        raise InvalidArgumentError(f"--years must be YYYY or YYYY-YYYY, got {text!r}")
    first = int(m.group(1))
    last = int(m.group(2) or first)
    if first > last:
        raise InvalidArgumentError(f"--years: first year {first} is after last year {last}")
    for y in (first, last):
        if not MIN_YEAR <= y <= MAX_YEAR:
            raise InvalidArgumentError(f"--years: {y} is outside {MIN_YEAR}..{MAX_YEAR}")
    return first, last


def _check_positive(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be ≥ {minimum}, got {value}")


def _make_config(patients: int, years: str, seed: int, chunk_size: int, gzip: bool) -> Any:
    first, last = parse_years(years)
    from pydantic import ValidationError

    from sndslab.synth import SynthConfig

    try:
        return SynthConfig(
            patients=patients,
            first_year=first,
            last_year=last,
            seed=seed,
            chunk_size=chunk_size,
            compress=gzip,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidArgumentError(f"invalid configuration: {problems}") from None


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    bar = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def report(description: str, completed: int, total: int) -> None:
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total)
        bar.update(tasks[description], completed=completed, total=total)

    with bar:
        yield report


def _print_result(result: Any) -> None:
    files = Table(title=f"raw files in {result.out_dir}", title_justify="left")
    files.add_column("file")
    files.add_column("rows", justify="right")
    files.add_column("MB", justify="right")
    for name, st in sorted(result.files.items()):
        rows = f"{st.rows:,}" if st.rows >= 0 else "-"
        files.add_row(name, rows, f"{st.bytes / 1e6:,.2f}")
    out.print(files)
    _print_summary(result.summary())


def _print_summary(rows: list[tuple[str, str]]) -> None:
    summary = Table(title="summary", title_justify="left", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("", justify="right")
    for label, value in rows:
        summary.add_row(label, value)
    out.print(summary)


def _synth(
    out_dir: Path,
    *,
    patients: int,
    years: str,
    seed: int,
    chunk_size: int,
    gzip: bool,
    overwrite: bool,
) -> Any:
    # cheap checks first, before the generator (and its reference data) is imported
    _check_positive("--patients", patients, 1)
    _check_positive("--seed", seed, 0)
    _check_positive("--chunk-size", chunk_size, 1)
    parse_years(years)
    check_output_dir(out_dir, overwrite=overwrite)
    config = _make_config(patients, years, seed, chunk_size, gzip)
    from sndslab.synth import generate

    with _progress() as report:
        return generate(config, out_dir, overwrite=overwrite, progress=report)


# -- commands ---------------------------------------------------------------------------------
@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory (created).")],
    patients: Annotated[int, typer.Option("--patients", help="Number of persons.")] = 10_000,
    years: Annotated[str, typer.Option("--years", help="YYYY or YYYY-YYYY.")] = "2019-2021",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (≥ 0).")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .csv.gz files.")] = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Persons per chunk (bounds memory).")
    ] = 10_000,
) -> None:
    """Generate a synthetic SNDS extract (raw CNAM-like files + injected truth) into --out."""
    result = _synth(
        out_dir,
        patients=patients,
        years=years,
        seed=seed,
        chunk_size=chunk_size,
        gzip=gzip,
        overwrite=overwrite,
    )
    _print_result(result)


def _spark_engine(engine: str, spark_master: str | None) -> Any:
    """``engine``, or a ``SparkEngine`` on ``spark_master`` (``--spark-master`` needs spark)."""
    if spark_master is None:
        return engine
    if engine != "spark":
        raise InvalidArgumentError("--spark-master is only valid with --engine spark")
    from sndslab.engines import SparkEngine

    return SparkEngine(master=spark_master)


def _ingest(
    raw_dir: Path,
    lake: Path,
    engine: str,
    spark_master: str | None = None,
    mapping: dict[str, str] | None = None,
    keep_fictitious_persons: bool = False,
    truth: Path | None = None,
) -> Any:
    if not raw_dir.is_dir():
        raise InvalidArgumentError(f"raw directory {raw_dir} does not exist or is not a directory")
    check_disjoint(lake, [raw_dir], what="lake")
    if engine not in ("duckdb", "spark"):
        raise InvalidArgumentError(f"--engine must be duckdb or spark, got {engine!r}")
    eng = _spark_engine(engine, spark_master)
    from sndslab.ingest import ingest as run_ingest

    with _progress() as report:

        def files(done: int, total: int, _name: str) -> None:
            report("files", done, total)

        return run_ingest(
            raw_dir,
            lake,
            engine=eng,
            progress=files,
            mapping=mapping,
            keep_fictitious_persons=keep_fictitious_persons,
            truth=truth,
        )


def _print_ingest(result: Any) -> None:
    tables = Table(title=f"lake {result.lake}", title_justify="left")
    for col in ("table", "rows in", "kept", "filtered", "quarantined"):
        tables.add_column(col, justify="left" if col == "table" else "right")
    for name, t in sorted(result.report["tables"].items()):
        tables.add_row(
            name,
            f"{t['rows_in']:,}",
            f"{t['kept']:,}",
            f"{sum(t['filtered'].values()):,}",
            f"{sum(t['quarantined'].values()):,}",
        )
    out.print(tables)
    rules = Table(title="rows filtered per rule", title_justify="left")
    rules.add_column("rule")
    rules.add_column("rows", justify="right")
    totals: dict[str, int] = {}
    for t in result.report["tables"].values():
        for rule, n in t["filtered"].items():
            totals[rule] = totals.get(rule, 0) + n
    for rule, n in sorted(totals.items()):
        rules.add_row(rule, f"{n:,}")
    out.print(rules)
    ident = result.report.get("identity") or {}
    rows = [("persons", f"{ident.get('persons', '-')}")]
    score = result.report.get("identity_score")
    if score:  # scored against a generator truth
        rows += [
            ("identity precision", f"{score['pairwise_precision']:.4%}"),
            ("identity recall", f"{score['pairwise_recall']:.4%}"),
            ("split / merged persons", f"{score['split_persons']} / {score['merged_persons']}"),
            ("PMSI link precision", f"{score['pmsi']['precision']:.4%}"),
            ("PMSI link recall", f"{score['pmsi']['recall']:.4%}"),
        ]
    rows.append(("report", _lake_paths(result.lake).report_file("ingest.md")))
    _print_summary(rows)


@app.command()
def ingest(
    raw_dir: Annotated[Path, typer.Argument(help="Directory of raw CNAM export files.")],
    lake: Annotated[Path, typer.Option("--lake", help="Lake directory (created).")],
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master", help="Spark master URL (spark://host:port); --engine spark."
        ),
    ] = None,
    allow_refused: Annotated[
        bool,
        typer.Option(
            "--allow-refused",
            help="Exit 0 even when raw files were refused (their lines are in the report).",
        ),
    ] = False,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FILE=TABLE: stage a raw file whose name names no registry table into TABLE "
            "(FILE: its path under RAW_DIR, its name or its stem). Repeatable.",
        ),
    ] = None,
    keep_fictitious_persons: Annotated[
        bool,
        typer.Option(
            "--keep-fictitious-persons",
            help="Make each fictitious-NIR key (BEN_CDI_NIR 01/05/06/08/09/11) a pseudo-person "
            "(default: its claims are kept attached to no person).",
        ),
    ] = False,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Generator truth directory to score identity against (default: "
            "RAW_DIR/../truth when it holds identities.parquet).",
        ),
    ] = None,
) -> None:
    """Ingest raw SNDS files into a typed lake: stg/, quarantine/, int/ and _reports/.

    A file is staged into the table its name identifies (T_MCO19B, ER_PRS_F_2019, ...) or the
    one --map gives; any other file is refused, with the reason in the report.
    Incremental and idempotent: files already ingested (same content) are not read again.
    """
    result = _ingest(
        raw_dir,
        lake,
        engine,
        spark_master,
        _parse_maps(maps or []),
        keep_fictitious_persons,
        truth,
    )
    _print_ingest(result)
    if not allow_refused:
        _refuse_refused(result)


def _refuse_refused(result: Any) -> None:
    """Exit 1 when a file was refused or had data lines but none staged (one line)."""
    bad = [
        f
        for f in result.report["files"]
        if f["rows_in"] > 0 and (f["status"] == "refused" or f["staged"] == 0)
    ]
    if not bad:
        return
    lines = sum(f["rows_in"] for f in bad)
    first = bad[0]
    why = first["message"] or first["status"]
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    raise SndslabError(
        f"{len(bad)} raw file(s) with {lines:,} data line(s) not staged ({why}{more}); see "
        f"{_lake_paths(result.lake).report_file('ingest.md')}; --allow-refused accepts this"
    )


def _parse_maps(items: list[str]) -> dict[str, str]:
    """``["a.csv=T_MCOaaB", ...]`` → ``{"a.csv": "T_MCOaaB"}`` (usage error when malformed)."""
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, table = item.partition("=")
        if not sep or not name.strip() or not table.strip():
            raise InvalidArgumentError(f"--map expects FILE=TABLE, got {item!r}")
        mapping[name.strip()] = table.strip()
    return mapping


def _lake_paths(lake: Path | str) -> Any:
    from sndslab.lake import LakePaths

    return LakePaths(str(lake))


def _require_layer(lake: Path, layer: str, command: str) -> None:
    """A one-line usage error unless ``lake`` is a lake whose ``layer`` is committed."""
    from sndslab.lake import LakeLayoutError, has_manifest

    paths = _lake_paths(lake)
    try:
        paths.check_version()
    except LakeLayoutError as exc:
        raise InvalidArgumentError(f"{exc}; run `{command}` first") from exc
    if not has_manifest(paths, layer):
        raise InvalidArgumentError(f"{lake} has no {layer}/ layer: run `{command}` first")


def _events(lake: Path, engine: str = "duckdb", spark_master: str | None = None) -> Any:
    if engine not in ("duckdb", "spark"):
        raise InvalidArgumentError(f"--engine must be duckdb or spark, got {engine!r}")
    eng = _spark_engine(engine, spark_master)
    _require_layer(lake, "int", "sndslab ingest")
    from sndslab.events import extract_events

    return extract_events(lake, engine=eng)


def _print_events(result: Any) -> None:
    table = Table(title=f"events in {result.events_dir}", title_justify="left")
    table.add_column("category")
    table.add_column("events", justify="right")
    for category, n in result.by_category().items():
        table.add_row(category, f"{n:,}")
    out.print(table)
    _print_summary(
        [
            ("events", f"{result.events:,}"),
            ("patients", f"{result.patients:,}"),
            ("codes", f"{result.codes:,}"),
        ]
    )


@app.command()
def events(
    lake: Annotated[Path, typer.Argument(help="Lake directory built by `sndslab ingest`.")],
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master", help="Spark master URL (spark://host:port); --engine spark."
        ),
    ] = None,
) -> None:
    """Extract the long event table, patients and codes: the events layer of LAKE (declarative
    extractors: src/sndslab/events/extractors/*.yaml). Same tables on both engines."""
    _print_events(_events(lake, engine, spark_master))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("demo_out"),
    patients: Annotated[int, typer.Option("--patients", help="Number of persons.")] = 2000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Run the whole pipeline end to end on a small synthetic population.

    Generates --patients persons over 2019-2021 (seed 42) into --out/synth (raw files and
    truth), ingests them into --out/lake (typed stg/, quarantine/, int/, report), extracts
    the event table (--out/lake/events) and exports it to OMOP CDM 5.4 (--out/omop, validated
    against the CDM DDL). Later stages (indicators) will be chained here.
    """
    _check_positive("--patients", patients, 1)
    check_output_dir(out_dir, overwrite=overwrite)  # refuses a directory sndslab did not make
    if overwrite and out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mark_output(out_dir, "demo")
    result = _synth(
        out_dir / "synth",
        patients=patients,
        years="2019-2021",
        seed=42,
        chunk_size=10_000,
        gzip=False,
        overwrite=True,
    )
    _print_summary(result.summary())
    _print_ingest(_ingest(out_dir / "synth" / "raw", out_dir / "lake", "duckdb"))
    _print_events(_events(out_dir / "lake"))
    from sndslab.events import to_omop

    _print_omop(to_omop(out_dir / "lake", out_dir / "omop", overwrite=True), out_dir / "omop")


def _export_checks(lake: Path, out_dir: Path, overwrite: bool) -> None:
    _require_layer(lake, "events", f"sndslab events {lake}")
    check_output_dir(out_dir, overwrite=overwrite, inputs=[lake])


@export_app.command("omop")
def export_omop(
    lake: Annotated[Path, typer.Argument(help="Lake directory with events/ (`sndslab events`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory (created).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
    years: Annotated[
        str | None,
        typer.Option("--years", help="Extract years YYYY[-YYYY] (default: years of the events)."),
    ] = None,
) -> None:
    """Write the OMOP CDM 5.4 tables (one Parquet dataset directory per table), validated
    against the CDM 5.4 DDL. person_id is a random surrogate, never the SNDS identifier."""
    window = None
    if years is not None:
        import datetime as dt

        first, last = parse_years(years)
        window = (dt.date(first, 1, 1), dt.date(last, 12, 31))
    _export_checks(lake, out_dir, overwrite)
    from sndslab.events import to_omop

    _print_omop(to_omop(lake, out_dir, overwrite=overwrite, window=window), out_dir)


def _print_omop(result: Any, out_dir: Path) -> None:
    table = Table(title=f"OMOP CDM 5.4 in {out_dir}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in result.rows.items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    not_exported = sum(result.not_exported.values())
    _print_summary([("events", f"{result.events:,}"), ("not exported", f"{not_exported:,}")])


@export_app.command("meds")
def export_meds(
    lake: Annotated[Path, typer.Argument(help="Lake directory with events/ (`sndslab events`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory (created).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Write the MEDS 0.4 dataset (data/, metadata/) of the event table."""
    _export_checks(lake, out_dir, overwrite)
    from sndslab.events import to_meds

    written = to_meds(lake, out_dir, overwrite=overwrite)
    _print_summary([("MEDS dataset", str(written))])


@app.command("release-table")
def release_table(
    lake: Annotated[Path, typer.Argument(help="Lake directory (its release log is updated).")],
    table: Annotated[
        str, typer.Option("--table", help="A Parquet file or directory, or a lake table name.")
    ],
    spec: Annotated[Path, typer.Option("--spec", help="Table spec (YAML, docs/release.md).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Released folder (created).")],
    threshold: Annotated[
        int, typer.Option("--threshold", help="Smallest releasable count (>= 11).")
    ] = 11,
    zeros: Annotated[str, typer.Option("--zeros", help="publish or suppress.")] = "publish",
    decimal_comma: Annotated[
        bool, typer.Option("--decimal-comma", help="French decimal comma in the CSV.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Release one aggregate table through the gate: small cells and their complements
    suppressed, LP attack against every earlier release of the lake, audit and README."""
    from sndslab.release import TableSpec, release

    the_spec = TableSpec.from_yaml(spec)
    if Path(table).exists():
        import pyarrow.parquet as pq

        data = pq.read_table(table)
    else:
        with sndslab.open_lake(lake) as opened:
            data = opened.table(table).to_arrow()
    result = release(
        [(data, the_spec)],
        out_dir,
        lake=lake,
        threshold=threshold,
        zeros=zeros,  # type: ignore[arg-type]
        decimal_comma=decimal_comma,
        overwrite=overwrite,
        requested_by="sndslab release-table",
    )
    summary = result.audit["tables"][0]
    _print_summary(
        [
            ("release", result.release_id),
            ("cells", f"{summary['cells']:,}"),
            ("primary suppressions", f"{summary['primary']:,}"),
            ("secondary suppressions", f"{summary['secondary']:,}"),
            ("attack", "passed"),
            ("written", str(out_dir)),
        ]
    )


@lake_app.command("info")
def lake_info(
    lake: Annotated[Path, typer.Argument(help="Lake directory.")],
) -> None:
    """Layers (generation, date, engine) and tables (rows) of a lake."""
    from sndslab.lake import GENERATION_LAYERS, has_manifest, known_tables, read_manifest

    paths = _lake_paths(lake)
    paths.check_version()
    layers = Table(title=f"lake {lake}", title_justify="left")
    for col in ("layer", "generation", "created", "engine", "tables", "rows"):
        layers.add_column(col, justify="left" if col in ("layer", "created") else "right")
    stg = [t for t in known_tables(paths) if t.startswith("stg.")]
    layers.add_row("stg", "-", "-", "-", f"{len(stg):,}", "-")
    tables = Table(title="tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for layer in GENERATION_LAYERS:
        if not has_manifest(paths, layer):
            continue
        m = read_manifest(paths, layer)
        public = {n: e for n, e in sorted(m.tables.items()) if not e.internal}
        total = sum(e.rows for e in public.values())
        layers.add_row(
            layer, str(m.generation), m.created, m.engine, f"{len(public):,}", f"{total:,}"
        )
        for name, entry in public.items():
            tables.add_row(f"{layer}.{name}", f"{entry.rows:,}")
    out.print(layers)
    out.print(tables)


def _registry_tables() -> list[Any]:
    from sndslab.registry import get_table, list_tables

    return [get_table(name) for name in list_tables()]


@registry_app.command("list")
def registry_list() -> None:
    """List the tables of the registry (name, product, columns, grain)."""
    table = Table(show_lines=False)
    for col in ("table", "product", "columns", "grain"):
        table.add_column(col, justify="right" if col == "columns" else "left")
    for spec in _registry_tables():
        table.add_row(
            str(getattr(spec, "name", "?")),
            str(getattr(spec, "product", "") or ""),
            str(len(spec.column_names)),
            str(getattr(spec, "grain", "") or ""),
        )
    out.print(table)


@registry_app.command("show")
def registry_show(
    name: Annotated[str, typer.Argument(help="Table name, e.g. ER_PRS_F.")],
) -> None:
    """Show a table's columns (name, type, description)."""
    from sndslab.registry import get_table

    try:
        spec = get_table(name)
    except KeyError:
        raise InvalidArgumentError(f"unknown table {name!r}") from None
    title = f"{getattr(spec, 'name', name)}"
    if getattr(spec, "grain", None):
        title += f" — {spec.grain}"
    table = Table(title=title, title_justify="left")
    for col in ("column", "type", "description"):
        table.add_column(col)
    for c in spec.columns:
        table.add_row(c.name, c.type, str(getattr(c, "description", "") or ""))
    out.print(table)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and, as a script, exits with) the exit code."""
    command = typer.main.get_command(app)
    return int(command.main(argv, prog_name="sndslab", standalone_mode=False) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
