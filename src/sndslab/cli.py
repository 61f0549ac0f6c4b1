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
from sndslab._faults import failpoint
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
    """Run the click command in non-standalone mode and map every outcome to an exit code.

    Once a Ctrl-C was seen, whatever the command raised (an engine's "Query interrupted", an
    error wrapping it, a ``KeyboardInterrupt``) is reported as ``interrupted``, exit 130; a
    Ctrl-C landing while an outcome is being printed too."""
    _SAID_INTERRUPTED[0] = False
    try:
        with _interrupt_flag() as interrupted:
            try:
                return _outcome(call, interrupted)
            except BaseException:
                if interrupted[0]:
                    return _interrupted()
                raise
    except KeyboardInterrupt:
        return _interrupted()


_SAID_INTERRUPTED = [False]  # a second Ctrl-C while the first is reported: say it once


def _interrupted() -> int:
    if not _SAID_INTERRUPTED[0]:
        _SAID_INTERRUPTED[0] = True
        err.print("interrupted", markup=False)
    return 130


def _outcome(call: Callable[[], Any], interrupted: list[bool] | None = None) -> int:
    try:
        rv = call()
    except (_Interrupted, KeyboardInterrupt, typer.Abort):
        return _interrupted()
    except Exception as exc:
        if interrupted and interrupted[0]:  # an error caused by the interrupt (wrapped or not)
            return _interrupted()
        return _failure(exc)
    if interrupted and interrupted[0]:  # the command swallowed the interrupt: still 130
        return _interrupted()
    # non-standalone click returns the exit code of typer.Exit (e.g. --help, --version), or
    # the command's own return value (None)
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def _failure(error: Exception) -> int:
    """The exit code of an error the command raised (printed as one line), or re-raise it."""
    try:
        raise error
    except SndslabError as exc:
        _error(str(exc))
        return exc.exit_code
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
analyse_app = typer.Typer(
    help="Territorial analyses released through the gate (supply vs consumption, Open DAMIR).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(analyse_app, name="analyse")


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
def _progress() -> Iterator[Callable[..., None]]:
    """Rich progress bars on stderr: ``report(description, completed, total, step="")`` adds
    or updates the bar ``description``; ``step`` names what runs now (shown after the bar)."""
    bar = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}"),
        console=err,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def report(description: str, completed: int, total: int, step: str = "") -> None:
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total, step=step)
        bar.update(tasks[description], completed=completed, total=total, step=step)

    with bar:
        yield report


def _steps(report: Callable[..., None], description: str) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, step)`` callback (events, exports) drawing one bar."""

    def progress(done: int, total: int, step: str) -> None:
        report(description, done, total, step)

    return progress


#: The phases of ``ingest`` after staging (staging has its own bar, one step per file).
_INGEST_PHASES = ("staging", "rules", "identity", "intermediate", "report")


def _phases(report: Callable[..., None]) -> Callable[[str], None]:
    """A ``phase(name)`` callback (:func:`sndslab.ingest.ingest`) drawing the ``phases`` bar;
    ``phase("")`` marks the last one done."""

    def phase(name: str) -> None:
        done = _INGEST_PHASES.index(name) if name in _INGEST_PHASES else len(_INGEST_PHASES)
        report("phases", done, len(_INGEST_PHASES), name)

    return phase


# -- engine options (every command that runs an engine) --------------------------------------
_MemoryLimit = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="Memory the engine may use, e.g. 4GB. DuckDB: its memory_limit (beyond it, work "
        "spills to disk). Spark: the driver memory of the session it starts (spark.driver."
        "memory; executors of a --spark-master cluster keep their own).",
    ),
]
_Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Threads the engine may use (≥ 1). DuckDB: its threads; Spark: local[N] "
        "(ignored with --spark-master).",
    ),
]
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)\s*$", re.IGNORECASE)


def _check_memory_limit(value: str, engine: str) -> None:
    """A size DuckDB (``1.5GB``, ``512MiB``) or, with ``engine == "spark"``, the JVM
    (a whole number of KB/MB/GB/TB) accepts; else a usage error.

    >>> _check_memory_limit("4GB", "spark")
    >>> _check_memory_limit("1.5 GiB", "duckdb")
    """
    m = _MEMORY.match(value)
    spark_ok = m is not None and "." not in m.group(1) and "i" not in m.group(2).lower()
    if m is None or (engine == "spark" and not spark_ok):
        whole = " (a whole number of KB, MB, GB or TB with --engine spark)"
        raise InvalidArgumentError(
            f"--memory-limit must be a size such as 4GB or 512MB{whole if m else ''}, got {value!r}"
        )


def _engine(
    engine: str,
    spark_master: str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    *,
    lake: Path | None = None,
) -> Any:
    """The engine a command runs on: the name ``engine`` (``duckdb`` or ``spark``) when no
    option configures it, else a configured :class:`sndslab.engines.Engine` (``lake``: where
    DuckDB spills, ``lake/.tmp``). Options are checked before anything runs."""
    if engine not in ("duckdb", "spark"):
        raise InvalidArgumentError(f"--engine must be duckdb or spark, got {engine!r}")
    if spark_master is not None and engine != "spark":
        raise InvalidArgumentError("--spark-master is only valid with --engine spark")
    if memory_limit is not None:
        _check_memory_limit(memory_limit, engine)
    if threads is not None:
        _check_positive("--threads", threads, 1)
    if spark_master is None and memory_limit is None and threads is None:
        return engine
    from sndslab.engines import get_engine

    return get_engine(
        engine, lake=lake, memory_limit=memory_limit, threads=threads, master=spark_master
    )


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


def _print_summary(rows: list[tuple[str, str]], title: str = "summary") -> None:
    summary = Table(title=title, title_justify="left", show_header=False)
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


def _ingest(
    raw_dir: Path,
    lake: Path,
    engine: str,
    spark_master: str | None = None,
    mapping: dict[str, str] | None = None,
    keep_fictitious_persons: bool = False,
    truth: Path | None = None,
    extract: str | None = None,
    keep: int | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    allow_missing: list[str] | bool = False,
) -> Any:
    if not raw_dir.is_dir():
        raise InvalidArgumentError(f"raw directory {raw_dir} does not exist or is not a directory")
    check_disjoint(lake, [raw_dir], what="lake")
    eng = _engine(engine, spark_master, memory_limit, threads, lake=lake)
    from sndslab.ingest import ingest as run_ingest

    with _progress() as report:

        def files(done: int, total: int, name: str) -> None:
            report("files", done, total, name)

        phase = _phases(report)
        result = run_ingest(
            raw_dir,
            lake,
            engine=eng,
            progress=files,
            mapping=mapping,
            keep_fictitious_persons=keep_fictitious_persons,
            truth=truth,
            append_extract=extract == "append",
            replace_extract=extract == "replace",
            keep=keep,
            phase=phase,
            allow_missing=allow_missing,
        )
        phase("")
        return result


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
    persons = ident.get("persons")
    rows = [("persons", "-" if persons is None else f"{persons:,}")]
    score = result.report.get("identity_score")
    if score:  # scored against a generator truth
        rows += [
            ("identity precision", f"{score['pairwise_precision']:.4%}"),
            ("identity recall", f"{score['pairwise_recall']:.4%}"),
            ("split / merged persons", f"{score['split_persons']} / {score['merged_persons']}"),
            ("PMSI link precision", f"{score['pmsi']['precision']:.4%}"),
            ("PMSI link recall", f"{score['pmsi']['recall']:.4%}"),
        ]
    changes = (result.report.get("extract") or {}).get("changes") or {}
    moved = [f"{len(v)} {k}" for k, v in changes.items() if v and k != "unchanged"]
    if moved:
        rows.append(("raw files since last ingest", ", ".join(moved)))
    duration = (result.report.get("run") or {}).get("duration_seconds")
    if duration is not None:
        rows.append(("duration", f"{duration:,.1f} s"))
    rows += _source_rows(result.lake)
    rows.append(("report", _report_path(result.lake)))
    _print_summary(rows + _stale_rows(result.lake))


def _report_path(lake: Path | str) -> str:
    """The Markdown report of the lake's current commit."""
    from sndslab.lake import open_lake

    with open_lake(lake) as opened:
        return opened.report_path("ingest.md") or "-"


def _stale_rows(lake: Path | str) -> list[tuple[str, str]]:
    """Summary rows naming the layers built from an older generation than the published one."""
    from sndslab.lake import open_lake

    with open_lake(lake) as opened:
        return [(f"{layer}/ is stale", why) for layer, why in opened.stale_layers().items()]


def _source_rows(lake: Path | str) -> list[tuple[str, str]]:
    """Summary rows of the int layer's source gaps: tables not in the extract, missing
    source tables the user allowed."""
    from sndslab.lake import has_manifest, read_manifest

    if "://" in str(lake):  # a remote lake: its manifest is in the engine's storage
        return []
    paths = _lake_paths(lake)
    if not has_manifest(paths, "int"):
        return []
    sources = read_manifest(paths, "int").counts.get("sources") or {}
    rows = []
    absent = sorted(
        t for t, w in sources.get("absent", {}).items() if w["reason"] == "not_in_extract"
    )
    if absent:
        rows.append(("int tables not in the extract", ", ".join(absent)))
    for table, who in sources.get("allowed_missing", {}).items():
        rows.append((f"missing {table} (allowed)", ", ".join(who)))
    return rows


def _allow_missing(tables: list[str] | None, every: bool) -> list[str] | bool:
    return True if every else list(tables or [])


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
    append_extract: Annotated[
        bool,
        typer.Option(
            "--append-extract",
            help="Add RAW_DIR's files to the lake's extract (another raw directory than the "
            "one the lake was built from; file names must not clash).",
        ),
    ] = False,
    replace_extract: Annotated[
        bool,
        typer.Option(
            "--replace-extract",
            help="Make RAW_DIR the lake's only extract (another directory, or the same one "
            "with none of its files unchanged); the previous state stays for rollback.",
        ),
    ] = False,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            help="Commits kept for `sndslab lake rollback` (default: as the lake's last "
            "commit says; 5 for a new lake).",
        ),
    ] = None,
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
    allow_missing: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-missing",
            help="TABLE: build without this missing source table (e.g. T_MCOaaC, ER_ETE_F) "
            "that an int table or a rule needs; the gap is recorded. Repeatable.",
        ),
    ] = None,
    allow_missing_tables: Annotated[
        bool,
        typer.Option("--allow-missing-tables", help="Build without every missing source table."),
    ] = False,
) -> None:
    """Ingest raw SNDS files into a typed lake: stg/, quarantine/, int/ and _reports/.

    A file is staged into the table its name identifies (T_MCO19B, ER_PRS_F_2019, ...) or the
    one --map gives; any other file is refused, with the reason in the report.
    Incremental and idempotent: files already ingested (same content) are not read again;
    files removed from RAW_DIR are withdrawn from the lake. The whole run is published in one
    step at its end: interrupted, it leaves the lake as it was.
    """
    if append_extract and replace_extract:
        raise InvalidArgumentError("--append-extract and --replace-extract exclude each other")
    if _ingest_opendamir(raw_dir, lake, memory_limit, threads, allow_refused):
        return  # RAW_DIR held Open DAMIR files only
    result = _ingest(
        raw_dir,
        lake,
        engine,
        spark_master,
        _parse_maps(maps or []),
        keep_fictitious_persons,
        truth,
        "append" if append_extract else "replace" if replace_extract else None,
        keep,
        memory_limit,
        threads,
        _allow_missing(allow_missing, allow_missing_tables),
    )
    _print_ingest(result)
    if not allow_refused:
        _refuse_refused(result)


def _ingest_opendamir(
    raw_dir: Path, lake: Path, memory_limit: str | None, threads: int | None, allow_refused: bool
) -> bool:
    """Open DAMIR files of RAW_DIR (name and header) → the lake's opendamir/ layer (own
    commit, before the CNAM extract's); True when no other file of RAW_DIR names an SNDS
    table (then the CNAM ingest is not run: a folder of Open DAMIR files and their
    documentation needs no SNDS extract)."""
    from sndslab.ingest._discover import names_a_table
    from sndslab.opendamir import find_opendamir_files, ingest_opendamir

    found = find_opendamir_files(raw_dir) if raw_dir.is_dir() else []
    if not found:
        return False
    others = [
        p
        for p in raw_dir.rglob("*")
        if p.is_file()
        and p not in found
        and names_a_table(p.name)
        and not any(s.startswith(".") for s in p.relative_to(raw_dir).parts)
    ]
    check_disjoint(lake, [raw_dir], what="lake")
    with _progress() as report:
        result = ingest_opendamir(
            raw_dir,
            lake,
            memory_limit=memory_limit,
            threads=threads,
            progress=lambda d, t, n: report("Open DAMIR files", d, t, n),
        )
    _print_summary(
        [
            ("Open DAMIR files", f"{len(result.files)} → {lake}/opendamir"),
            ("lines", f"{result.rows_in:,}"),
            ("kept (opendamir.prestations)", f"{result.kept:,}"),
            *((f"quarantined: {k}", f"{v:,}") for k, v in result.quarantined.items()),
            *((f"handled: {k}", f"{v:,}") for k, v in result.quirks.items() if v),
            ("published", "yes" if result.published else "no (same files as the last run)"),
        ],
        title="Open DAMIR",
    )
    refused = [f for f in result.files if f.status == "refused"]
    if refused and not allow_refused:
        raise SndslabError(
            f"{len(refused)} Open DAMIR file(s) refused ({refused[0].file}: {refused[0].message})"
            "; --allow-refused accepts this"
        )
    return not others


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
        f"{_report_path(result.lake)}; --allow-refused accepts this"
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


def _events(
    lake: Path,
    engine: str = "duckdb",
    spark_master: str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    allow_missing: list[str] | bool = False,
) -> Any:
    eng = _engine(engine, spark_master, memory_limit, threads, lake=lake)
    _require_layer(lake, "int", "sndslab ingest")
    from sndslab.events import extract_events

    with _progress() as report:
        return extract_events(
            lake, engine=eng, progress=_steps(report, "events"), allow_missing=allow_missing
        )


def _print_events(result: Any) -> None:
    table = Table(title=f"events in {result.events_dir}", title_justify="left")
    table.add_column("category")
    table.add_column("events", justify="right")
    for category, n in result.by_category().items():
        table.add_row(category, f"{n:,}")
    out.print(table)
    rows = [
        ("events", f"{result.events:,}"),
        ("patients", f"{result.patients:,}"),
        ("codes", f"{result.codes:,}"),
    ]
    skipped = result.skipped()
    absent = sorted(n for n, why in skipped.items() if why.startswith("not in the extract"))
    if absent:
        rows.append(("extractors not in the extract", ", ".join(absent)))
    for table, gap in result.missing.items():
        rows.append((f"missing {table} (allowed)", "skipped " + ", ".join(gap["extractors"])))
    _print_summary(rows)


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
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
    allow_missing: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-missing",
            help="TABLE: extract without this missing int table (int.mco_stays, or the "
            "staged table it lacks); its extractors are skipped and recorded. Repeatable.",
        ),
    ] = None,
    allow_missing_tables: Annotated[
        bool,
        typer.Option("--allow-missing-tables", help="Extract without every missing table."),
    ] = False,
) -> None:
    """Extract the long event table, patients and codes: the events layer of LAKE (declarative
    extractors: src/sndslab/events/extractors/*.yaml). Same tables on both engines."""
    allowed = _allow_missing(allow_missing, allow_missing_tables)
    _print_events(_events(lake, engine, spark_master, memory_limit, threads, allowed))


# -- indicators ---------------------------------------------------------------------------------
def _indicators(
    lake: Path,
    only: list[str] | None = None,
    years: str | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Any:
    eng = _engine(engine, spark_master, memory_limit, threads, lake=lake)
    _require_layer(lake, "events", f"sndslab events {lake}")
    from sndslab.indicators import compute_indicators, load_indicators

    specs = load_indicators(names=only or None)  # an unknown name is one line, before any work
    span = None if years is None else range(parse_years(years)[0], parse_years(years)[1] + 1)
    return compute_indicators(lake, specs=specs, years=span, engine=eng)


def _print_indicators(result: Any) -> None:
    table = Table(title=f"marts.indicators (generation {result.generation})", title_justify="left")
    for col, justify in (("indicator", "left"), ("periods", "left"), ("rows", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    table.add_column("skipped", justify="left")
    for r in result.runs:
        periods = f"{r.periods[0]}…{r.periods[-1]}" if len(r.periods) > 1 else ",".join(r.periods)
        table.add_row(
            r.name, periods or "-", f"{r.rows:,}", str(len(r.skipped)) if r.skipped else ""
        )
    out.print(table)
    _print_summary(
        [
            ("rows", f"{result.rows:,}"),
            ("data years", f"{result.data_years[0]}-{result.data_years[1]}"),
            ("population", f"{result.population.get('events.patients', 0):,} persons"),
        ]
    )


@app.command()
def indicators(
    lake: Annotated[Path, typer.Argument(help="Lake directory with an events layer.")],
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Compute only this indicator (repeat).")
    ] = None,
    years: Annotated[
        str | None, typer.Option("--years", help="YYYY or YYYY-YYYY (default: the data years).")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark.")] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master", help="Spark master URL (spark://host:port); --engine spark."
        ),
    ] = None,
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
) -> None:
    """Compute the indicator catalogue (src/sndslab/indicators/specs/*.yaml) into
    LAKE/marts/indicators: counts, populations and crude rates by period, territory, age band
    and sex (full detail, internal: release it through the gate)."""
    _print_indicators(_indicators(lake, only, years, engine, spark_master, memory_limit, threads))


# -- pathways -----------------------------------------------------------------------------------
def _pathways(
    lake: Path,
    only: list[str] | None = None,
    spec: list[Path] | None = None,
    years: str | None = None,
    min_branch: int = 11,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Any:
    eng = _engine("duckdb", None, memory_limit, threads, lake=lake)
    _require_layer(lake, "events", f"sndslab events {lake}")
    from sndslab.pathways import compute_pathways, load_pathways

    specs = load_pathways(only or None, paths=spec)  # a bad name or file is one line
    span = None if years is None else range(parse_years(years)[0], parse_years(years)[1] + 1)
    return compute_pathways(lake, specs=specs, years=span, min_persons=min_branch, engine=eng)


def _print_pathways(result: Any) -> None:
    table = Table(title=f"marts.pathways (generation {result.generation})", title_justify="left")
    table.add_column("pathway", justify="left", no_wrap=True)
    for col in ("years", "index events", "excluded", "cohort", "merged branches"):
        table.add_column(col, justify="left" if col == "years" else "right")
    for r in result.runs:
        years = f"{r.years[0]}-{r.years[-1]}" if r.years else "-"
        table.add_row(r.name, years, f"{r.index_events:,}", f"{sum(r.excluded.values()):,}",
                      f"{r.cohort:,}", f"{r.merged_branches:,}")  # fmt: skip
    out.print(table)
    _print_summary([("rows", f"{result.rows:,}"), ("merge threshold", str(result.min_persons))])


@app.command()
def pathways(
    lake: Annotated[Path, typer.Argument(help="Lake directory with an events layer.")],
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Compute only this pathway (repeat).")
    ] = None,
    spec: Annotated[
        list[Path] | None,
        typer.Option("--spec", help="A pathway spec file (YAML) instead of the shipped ones."),
    ] = None,
    years: Annotated[
        str | None,
        typer.Option(
            "--years",
            help="YYYY or YYYY-YYYY of the index events (default: all "
            "whose follow-up is in the data).",
        ),
    ] = None,
    min_branch: Annotated[
        int,
        typer.Option(
            "--min-branch",
            help="Branches of fewer persons in France are merged into 'other' before the gate.",
        ),
    ] = 11,
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
) -> None:
    """Compute the care pathways (src/sndslab/pathways/specs/*.yaml) into LAKE/marts/pathways:
    the pathway tree of every index cohort by year and territory, small branches merged into
    'other' (counted). `sndslab release` then releases them with the indicators."""
    _check_positive("--min-branch", min_branch, 1)
    _print_pathways(_pathways(lake, only, spec, years, min_branch, memory_limit, threads))


def _print_screen(result: Any) -> None:
    s = result.screening
    flagged = sum(d["flagged"] for d in s.drugs_.to_pylist())
    rows = [
        ("study", s.study.name),
        ("cases", f"{s.n_cases_:,}"),
        ("drugs screened", f"{s.n_drugs_:,}"),
        ("flagged", f"{flagged:,} (FDR {s.study.screening.fdr})"),
        ("marts.signals rows", f"{result.rows:,}"),
        ("duration", f"{result.seconds:.1f} s"),
    ]
    if result.released is not None:
        rows += [("plots", f"{len(result.released.plots)}")]
        rows += [("written", str(result.released.out_dir))]
    if result.scores is not None:
        sc = result.scores
        rows += [("truth recall", f"{sc['recall']:.2f}")]
        rows += [("false positives", f"{len(sc['false_positives'])}")]
    _print_summary(rows)


@app.command()
def screen(
    study: Annotated[Path, typer.Argument(help="Study file (YAML), e.g. the shipped falls study.")],
    lake: Annotated[Path, typer.Argument(help="Lake directory with an events layer.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Released folder (created): signals + plots.")
    ] = None,
    threshold: Annotated[
        int, typer.Option("--threshold", help="Smallest releasable count (>= 11).")
    ] = 11,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Generator truth directory to score against.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Screen every drug of a study with a ConvSCCS (lag-resolved relative incidence, FDR):
    LAKE/marts/signals, and with --out the signal table and lag-curve plots through the
    release gate. The falls study ships as src/sndslab/signals/studies/falls.yaml."""
    from sndslab.signals import screen as run_screen

    result = run_screen(study, lake, out_dir, threshold=threshold, overwrite=overwrite, truth=truth)
    _print_screen(result)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("demo_out"),
    patients: Annotated[int, typer.Option("--patients", help="Number of persons.")] = 2000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Indicator to compute and release (repeat; 'all': every one)."),
    ] = None,
) -> None:
    """Run the whole pipeline end to end on a small synthetic population.

    Generates --patients persons over 2019-2021 (seed 42) into --out/synth (raw files and
    truth), ingests them into --out/lake (typed stg/, quarantine/, int/, report), extracts
    the event table (--out/lake/events), exports it to OMOP CDM 5.4 (--out/omop, validated
    against the CDM DDL), computes the indicators (--out/lake/marts/indicators) and the care
    pathways (--out/lake/marts/pathways) and releases them through the gate into
    --out/released. By default only six headline indicators
    (diabetes, hospitalisation_rate, mortality, influenza_vaccination_65, density_gp,
    gp_visits_monthly: one per family) are computed and released, to keep the demo short;
    --only NAME (repeat) picks others, --only all the whole catalogue.
    """
    _check_positive("--patients", patients, 1)
    _engine("duckdb", None, memory_limit, threads)  # options checked before any work
    from sndslab.indicators import DEMO_INDICATORS, load_indicators

    chosen = None if only and "all" in only else list(only or DEMO_INDICATORS)
    load_indicators(names=chosen)  # an unknown --only is one line, before any work
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
    lake = out_dir / "lake"
    _print_ingest(
        _ingest(
            out_dir / "synth" / "raw",
            lake,
            "duckdb",
            memory_limit=memory_limit,
            threads=threads,
        )
    )
    _print_events(_events(lake, memory_limit=memory_limit, threads=threads))
    _print_omop(
        _omop(lake, out_dir / "omop", True, None, _engine("duckdb", None, memory_limit, threads)),
        out_dir / "omop",
    )
    _print_indicators(_indicators(lake, chosen, memory_limit=memory_limit, threads=threads))
    _print_pathways(_pathways(lake, memory_limit=memory_limit, threads=threads))
    _print_release(
        _release_indicators(lake, out_dir / "released", only=chosen, requested_by="sndslab demo")
    )
    _print_dashboard_hint(out_dir / "released")


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
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
) -> None:
    """Write the OMOP CDM 5.4 tables (one Parquet dataset directory per table), validated
    against the CDM 5.4 DDL. person_id is a random surrogate, never the SNDS identifier."""
    window = None
    if years is not None:
        import datetime as dt

        first, last = parse_years(years)
        window = (dt.date(first, 1, 1), dt.date(last, 12, 31))
    eng = _engine("duckdb", None, memory_limit, threads)
    _export_checks(lake, out_dir, overwrite)
    _print_omop(_omop(lake, out_dir, overwrite, window, eng), out_dir)


def _omop(lake: Path, out_dir: Path, overwrite: bool, window: Any, engine: Any) -> Any:
    from sndslab.events import to_omop

    with _progress() as report:
        return to_omop(
            lake,
            out_dir,
            overwrite=overwrite,
            window=window,
            engine=engine,
            progress=_steps(report, "omop"),
        )


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
    memory_limit: _MemoryLimit = None,
    threads: _Threads = None,
) -> None:
    """Write the MEDS 0.4 dataset (data/, metadata/) of the event table."""
    eng = _engine("duckdb", None, memory_limit, threads)
    _export_checks(lake, out_dir, overwrite)
    from sndslab.events import to_meds

    with _progress() as report:
        written = to_meds(
            lake, out_dir, overwrite=overwrite, engine=eng, progress=_steps(report, "meds")
        )
    _print_summary([("MEDS dataset", str(written))])


@export_app.command("opendamir")
def export_opendamir_cmd(
    lake: Annotated[Path, typer.Argument(help="Lake directory with int/ (`sndslab ingest`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory (created).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
    axes: Annotated[
        list[str] | None,
        typer.Option(
            "--axis",
            help="Public axis to detail (repeatable; default all the export derives; the flow "
            "month and BEN_RES_REG always are), e.g. --axis AGE_BEN_SNDS --axis PRS_NAT.",
        ),
    ] = None,
    months: Annotated[
        list[int] | None, typer.Option("--month", help="Flow month YYYYMM (repeatable).")
    ] = None,
    threshold: Annotated[int, typer.Option("--threshold", help="Gate threshold (≥ 11).")] = 11,
    partition: Annotated[
        str,
        typer.Option(
            "--partition",
            help="Gate tables: month (France > région > cell) or month_region (région > cell).",
        ),
    ] = "month",
) -> None:
    """Write the Open DAMIR files A{YYYYMM}.csv.gz (public layout) of the lake's DCIR claims,
    through the release gate, with the suppression audit and the re-identification check."""
    _require_layer(lake, "int", f"sndslab ingest RAW_DIR --lake {lake}")
    check_output_dir(out_dir, overwrite=overwrite, inputs=[lake])
    from sndslab.opendamir import export_opendamir

    result = export_opendamir(
        lake,
        out_dir,
        axes=axes,
        months=months,
        threshold=threshold,
        overwrite=overwrite,
        partition=partition,
    )
    supp = result.audit["suppressed"]
    _print_summary(
        [
            ("files", f"{len(result.files)} in {out_dir}"),
            ("cells", f"{supp['cells']:,}, suppressed {supp['cells_suppressed']:,}"),
            ("claims suppressed", f"{100 * supp['claims_suppressed_share']:.1f} %"),
            ("PRS_PAI_MNT suppressed", f"{100 * supp['PRS_PAI_MNT_suppressed_share']:.1f} %"),
            ("re-identification check", "passed" if result.passed else "FAILED"),
            ("audit", str(out_dir / "opendamir_audit.json")),
        ],
        title="Open DAMIR export",
    )
    if not result.passed:
        raise SndslabError(f"the re-identification check failed: see {out_dir / 'risk.json'}")


def _lake_info(lake: Path) -> dict[str, Any]:
    """What ``sndslab lake info`` prints, read through the public lake API only
    (:func:`sndslab.open_lake`: ``tables()``, ``manifest(layer)``, ``report``): layers with
    their generation, creation time and engine; tables with their rows (from the layer's
    manifest, else counted); the last ingest run (the report's ``run`` section)."""
    if not lake.is_dir():
        raise InvalidArgumentError(f"lake {lake} does not exist or is not a directory")
    from sndslab.engines import get_engine
    from sndslab.lake import open_lake

    # an engine without a spill directory: reading a lake writes nothing into it
    with open_lake(lake, get_engine("duckdb")) as lk:
        names = lk.tables()
        layers: dict[str, dict[str, Any]] = {}
        tables: list[dict[str, Any]] = []
        for name in names:
            layer = name.split(".", 1)[0]
            if layer not in layers:
                try:
                    manifest: Any = lk.manifest(layer)
                except SndslabError:  # a layer without generations (stg/)
                    manifest = None
                layers[layer] = {
                    "layer": layer,
                    "generation": manifest.generation if manifest else None,
                    "created": manifest.created if manifest else None,
                    "engine": manifest.engine if manifest else None,
                    "tables": 0,
                    "rows": 0,
                    "_manifest": manifest,
                }
            info = layers[layer]
            short = name.split(".", 1)[1]
            manifest = info["_manifest"]
            if manifest is not None and short in manifest.tables:
                rows = int(manifest.tables[short].rows)
            else:
                rows = int(lk.table(name).count())
            info["tables"] += 1
            info["rows"] += rows
            tables.append({"table": name, "rows": rows})
        try:
            report: dict[str, Any] | None = lk.report
        except SndslabError:
            report = None
        commit = lk.commit
        stale = lk.stale_layers()
        kept = [c.number for c in lk.history()]
    for info in layers.values():
        del info["_manifest"]
    last_run = None
    if report is not None:
        run = dict(report.get("run") or {})
        run["totals"] = (report.get("totals") or {}).get("tables")
        run["refused_rows"] = (report.get("refused") or {}).get("rows")
        last_run = run
    return {
        "lake": str(lake),
        "commit": None if commit is None else commit.number,
        "kept_commits": kept,
        "stale": stale,
        "layers": list(layers.values()),
        "tables": tables,
        "last_run": last_run,
    }


def _last_run_rows(run: dict[str, Any] | None) -> list[tuple[str, str]]:
    if run is None:
        return [("last run", "no ingest report: run `sndslab ingest`")]
    version = f"{run.get('sndslab_version') or '-'}"
    if run.get("git_revision"):
        version += f" (git {run['git_revision'][:12]})"
    duration = run.get("duration_seconds")
    inp = run.get("input") or {}
    rows = [
        ("date (UTC)", (run.get("date") or "unknown (report without a run section)")),
        ("engine", run.get("engine") or "-"),
        ("sndslab", version),
        ("duration", f"{duration:,.1f} s" if duration is not None else "-"),
        ("input", run.get("raw_dir") or "-"),
    ]
    if inp.get("sha256"):
        rows.append(("input files", f"{inp.get('files', 0):,}, sha256 {inp['sha256'][:16]}"))
    totals = run.get("totals")
    if totals:
        rows.append(
            (
                "rows in / kept",
                f"{totals['rows_in']:,} / {totals['kept']:,} (filtered {totals['filtered']:,},"
                f" quarantined {totals['quarantined']:,})",
            )
        )
    if run.get("refused_rows"):
        rows.append(("refused rows", f"{run['refused_rows']:,}"))
    return rows


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


# -- release: the indicator catalogue through the gate --------------------------------------------
def _release_indicators(
    lake: Path,
    out_dir: Path,
    *,
    only: list[str] | None = None,
    years: str | None = None,
    standard: str = "esp2013",
    threshold: int = 11,
    decimal_comma: bool = False,
    overwrite: bool = False,
    requested_by: str = "sndslab release",
) -> Any:
    from sndslab.indicators import release_indicators

    span = None if years is None else parse_years(years)
    return release_indicators(
        lake,
        out_dir,
        only=only or None,
        years=span,
        standard=standard,  # type: ignore[arg-type]
        threshold=threshold,
        decimal_comma=decimal_comma,
        overwrite=overwrite,
        requested_by=requested_by,
        extra=_pathway_tables(lake, span),
    )


def _pathway_tables(lake: Path, years: tuple[int, int] | None) -> list[Any]:
    """The care-pathway tables to release with the indicators, when computed."""
    from sndslab.pathways import lake_has_pathways, pathway_tables

    return pathway_tables(lake, years=years, required=False) if lake_has_pathways(lake) else []


def _print_release(result: Any) -> None:
    _print_summary(
        [
            ("release", result.release_id),
            ("indicators", f"{len(result.indicators)}"),
            ("pathways", "released" if "pathways__transitions" in result.tables else "-"),
            ("tables", f"{len(result.tables)}"),
            ("cells", f"{result.cells():,}"),
            ("suppressed", f"{result.suppressed():,}"),
            ("attack", "passed"),
            ("duration", f"{result.seconds:.1f} s"),
            ("written", str(result.out_dir)),
        ]
    )


@app.command("release")
def release_cmd(
    lake: Annotated[Path, typer.Argument(help="Lake with marts.indicators (sndslab indicators).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Released folder (created).")],
    threshold: Annotated[
        int, typer.Option("--threshold", help="Smallest releasable count (>= 11).")
    ] = 11,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Release only this indicator (repeat).")
    ] = None,
    years: Annotated[
        str | None, typer.Option("--years", help="YYYY or YYYY-YYYY (default: every period).")
    ] = None,
    standard: Annotated[
        str, typer.Option("--standard", help="esp2013 (default) or france (census 2018).")
    ] = "esp2013",
    decimal_comma: Annotated[
        bool, typer.Option("--decimal-comma", help="French decimal comma in the CSV.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Release the indicator catalogue (LAKE/marts/indicators) through the gate: per
    indicator, period x territory x sex (crude and age-standardised rates) and period x région
    x broad age band x sex; small cells and their complements suppressed, LP attack against
    every earlier release of the lake, Parquet + CSV + data dictionary + README + audit.
    The care pathways (LAKE/marts/pathways, `sndslab pathways`), when computed, are released
    in the same folder (pathways__transitions, pathways__sequences)."""
    _print_release(
        _release_indicators(
            lake,
            out_dir,
            only=only,
            years=years,
            standard=standard,
            threshold=threshold,
            decimal_comma=decimal_comma,
            overwrite=overwrite,
        )
    )


@app.command("dashboard")
def dashboard_cmd(
    released: Annotated[
        Path, typer.Argument(help="Released folder (sndslab release LAKE --out DIR).")
    ],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default 127.0.0.1: this machine).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8050,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SNDSLAB_DASHBOARD_TOKEN",
            help="Require this token (?token=... once, then a cookie; or Authorization: Bearer).",
        ),
    ] = None,
) -> None:
    """Serve the interactive dashboard of a RELEASED folder (maps, time series, age-sex
    pyramid, funnel plot, ranking, care pathways) on http://127.0.0.1:PORT. Reads the
    released aggregates only (never a lake) and refuses a folder without audit.json. See
    docs/dashboard.md (shared deployment: reverse proxy with single sign-on, or --token)."""
    _check_positive("--port", port, 0)
    from sndslab.dashboard import serve

    serve(released, host=host, port=port, token=token)


def _print_dashboard_hint(released: Path) -> None:
    out.print(
        f"\nto explore the released indicators: sndslab dashboard {released}  "
        "(then open http://127.0.0.1:8050/)",
        markup=False,
        highlight=False,
    )


@app.command("risk")
def risk(
    source: Annotated[
        Path, typer.Argument(help="A MEDS or OMOP export directory, or a lake (detected).")
    ],
    k: Annotated[int, typer.Option("--k", help="Target k (and rare-code threshold).")] = 11,
    max_suppressed: Annotated[
        float, typer.Option("--max-suppressed", help="Share of persons that may be suppressed.")
    ] = 0.0,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report: .json, or Markdown for any other suffix."),
    ] = None,
    population: Annotated[
        Path | None,
        typer.Option("--population", help="Lake or export the source is a sample of (journalist)."),
    ] = None,
) -> None:
    """Re-identification risk of a row-level export: unique persons, k-anonymity and the
    least-loss coarsening reaching k, per combination of quasi-identifiers. Aggregate counts
    only; the report must stay inside the secure space."""
    from sndslab.release import SECURE_SPACE_NOTICE, risk_report

    if not source.exists():
        raise InvalidArgumentError(f"{source} does not exist")
    if out_file is not None:
        if out_file.resolve().is_relative_to(source.resolve()):
            raise InvalidArgumentError(f"--out {out_file} is inside the source {source}")
        if out_file.is_dir():
            raise InvalidArgumentError(f"--out {out_file} is a directory: give a file name")
    if population is not None and not population.exists():
        raise InvalidArgumentError(f"{population} does not exist")
    report = risk_report(source, k=k, max_suppressed=max_suppressed, population=population)
    rows = [("source", f"{report.source} ({report.kind})"), ("persons", f"{report.persons:,}")]
    for c in report.combinations:
        found = "none" if c.chosen is None else f"k={c.chosen.metrics.k:,}"
        rows.append(
            (c.name, f"unique {100 * c.finest.unique_share:.1f} %, k={c.finest.k}; target {found}")
        )
    if out_file is not None:
        report.write(out_file)
        rows.append(("written", str(out_file)))
    _print_summary(rows)
    out.print(SECURE_SPACE_NOTICE)


@lake_app.command("info")
def lake_info(
    lake: Annotated[Path, typer.Argument(help="Lake directory.")],
) -> None:
    """Layers (generation, creation time, engine), tables (rows) and the last ingest run of a
    lake (date, engine, version, duration, input)."""
    failpoint("lake.info")
    info = _lake_info(lake)
    layers = Table(title=f"lake {lake}", title_justify="left")
    for col in ("layer", "generation", "created", "engine", "tables", "rows"):
        layers.add_column(col, justify="left" if col in ("layer", "created") else "right")
    for layer in info["layers"]:
        generation = layer["generation"]
        layers.add_row(
            layer["layer"],
            "-" if generation is None else str(generation),
            layer["created"] or "-",
            layer["engine"] or "-",
            f"{layer['tables']:,}",
            f"{layer['rows']:,}",
        )
    tables = Table(title="tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for t in info["tables"]:
        tables.add_row(t["table"], f"{t['rows']:,}")
    out.print(layers)
    out.print(tables)
    commits = ", ".join(str(n) for n in info["kept_commits"]) or "-"
    rows = [("commit", str(info["commit"] or "-")), ("kept commits (rollback)", commits)]
    rows += [(f"{layer} is stale", why) for layer, why in info["stale"].items()]
    _print_summary(rows)
    _print_summary(_last_run_rows(info["last_run"]), title="last run")


@lake_app.command("history")
def lake_history(
    lake: Annotated[Path, typer.Argument(help="Lake directory.")],
) -> None:
    """The kept commits of a lake (what `sndslab lake rollback` can return to)."""
    from sndslab.lake import open_lake

    with open_lake(lake) as opened:
        commits = opened.history()
    table = Table(title=f"commits of {lake}", title_justify="left")
    for col in ("commit", "created", "command", "int", "events", "marts", "raw files", "notes"):
        table.add_column(col, justify="right" if col in ("commit", "raw files") else "left")
    for c in commits:
        table.add_row(
            str(c.number),
            c.created,
            c.command,
            *(str(c.layers.get(layer, "-")) for layer in ("int", "events", "marts")),
            f"{len(c.stg):,}",
            "; ".join(c.notes),
        )
    out.print(table)


@lake_app.command("rollback")
def lake_rollback(
    lake: Annotated[Path, typer.Argument(help="Lake directory.")],
    to: Annotated[
        int | None,
        typer.Option("--to", help="Commit to return to (default: the one before the last)."),
    ] = None,
) -> None:
    """Publish again an earlier kept commit of the lake (itself a new commit)."""
    from sndslab.lake import LakePaths, rollback, writer_lock

    paths = LakePaths(str(lake))
    paths.check_version()
    with writer_lock(paths):
        commit = rollback(paths, to)
    _print_summary(
        [
            ("commit", str(commit.number)),
            ("layers", ", ".join(f"{k} g{v}" for k, v in sorted(commit.layers.items()))),
            ("raw files", f"{len(commit.stg):,}"),
            ("notes", "; ".join(commit.notes)),
        ]
    )


# -- cohorts ------------------------------------------------------------------------------------
cohort_app = typer.Typer(
    help="Declarative cohorts (docs/cohorts.md).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(cohort_app, name="cohort")


def _print_cohort(outcome: Any) -> None:
    table = Table(title="attrition (distinct persons)", title_justify="left")
    for col, justify in (
        ("cohort", "left"),
        ("step", "right"),
        ("criterion", "left"),
        ("before", "right"),
        ("excluded", "right"),
        ("after", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in outcome.attrition.to_pylist():
        table.add_row(
            r["cohort"],
            str(r["step"]),
            r["criterion"],
            f"{r['persons_before']:,}",
            f"{r['excluded']:,}",
            f"{r['persons_after']:,}",
        )
    out.print(table)
    if outcome.table_one is not None:
        out.print(outcome.table_one.to_markdown(), markup=False)
    rows = [(name, f"{persons:,} persons, {n:,} rows") for name, persons, n in outcome.cohorts]
    rows.append(("marts generation", str(outcome.generation)))
    rows += [("note", n) for n in outcome.notes]
    if outcome.release is not None:
        rows += [("release", outcome.release.release_id), ("written", str(outcome.release.out_dir))]
    _print_summary(rows)


@cohort_app.command("build")
def cohort_build(
    spec: Annotated[str, typer.Argument(help="Cohort spec (YAML file or built-in name).")],
    lake: Annotated[Path, typer.Argument(help="Lake directory with an events layer.")],
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark.")] = "duckdb",
    release_dir: Annotated[
        Path | None,
        typer.Option("--release", help="Release the attrition (and Table 1) into this folder."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --release.")] = False,
) -> None:
    """Build a cohort (or a set operation, or a comparison's groups and Table 1) into
    LAKE/marts/cohorts with its attrition; --release puts the attrition, its flowchart and Table
    1 through the release gate."""
    _require_layer(lake, "events", f"sndslab events {lake}")
    from sndslab.cohorts import run_build

    eng = _engine(engine, None, None, None, lake=lake)
    _print_cohort(run_build(spec, lake, engine=eng, release_dir=release_dir, overwrite=overwrite))


@cohort_app.command("describe")
def cohort_describe(
    spec: Annotated[str, typer.Argument(help="Cohort spec (YAML file or built-in name).")],
) -> None:
    """Print a cohort, set operation or comparison spec as Markdown (no data read)."""
    from sndslab.cohorts import describe, load_any

    out.print(describe(load_any(spec)), markup=False)


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


# -- analyse: supply vs consumption, Open DAMIR indicators (body in sndslab.supply) ------------
@analyse_app.command("supply-demand")
def analyse_supply_demand(
    lake: Annotated[Path, typer.Argument(help="Lake directory (its release log is updated).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Released folder (created).")],
    source: Annotated[
        str, typer.Option("--source", help="lake (départements), opendamir (régions) or table.")
    ] = "lake",
    table: Annotated[
        str | None,
        typer.Option("--table", help="Territory CSV (source table) or Open DAMIR Parquet folder."),
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="Care year.")] = None,
    population: Annotated[
        str | None, typer.Option("--population", help="Population file by région, or 'lake'.")
    ] = None,
    practitioners: Annotated[
        str, typer.Option("--practitioners", help="'lake' (DA_PRA_R) or a CSV by territory.")
    ] = "lake",
    control: Annotated[
        list[str] | None, typer.Option("--control", help="A control column (repeatable).")
    ] = None,
    controls_file: Annotated[
        Path | None, typer.Option("--controls-file", help="CSV of controls by territory.")
    ] = None,
    threshold: Annotated[int, typer.Option("--threshold", help="Gate threshold (>= 11).")] = 11,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """GP consultations per affiliate against GP density by territory (OLS, with and without
    age-structure and further controls; CIs), released through the gate with a scatter plot and
    a map drawn from the released table. See docs/supply-demand.md."""
    from sndslab.supply._commands import run_supply_demand

    _print_summary(
        run_supply_demand(
            lake, out_dir, source=source, table=table, year=year, population=population,
            practitioners=practitioners, controls=control, control_file=controls_file,
            threshold=threshold, overwrite=overwrite,
        )
    )  # fmt: skip


@analyse_app.command("opendamir-indicators")
def analyse_opendamir_indicators(
    lake: Annotated[Path, typer.Argument(help="Lake with opendamir/ (its release log too).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Released folder (created).")],
    population: Annotated[
        str, typer.Option("--population", help="Population file by région, or 'lake'.")
    ] = "lake",
    table: Annotated[
        str | None, typer.Option("--table", help="Open DAMIR Parquet folder (default: lake).")
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="An indicator.")] = None,
    years: Annotated[str | None, typer.Option("--years", help="Care years YYYY[-YYYY].")] = None,
    threshold: Annotated[int, typer.Option("--threshold", help="Gate threshold (>= 11).")] = 11,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Open DAMIR consumption per capita by région and period (crude and age-standardised,
    population protégée as denominator), monthly series and ITS, through the gate."""
    from sndslab.supply._commands import run_opendamir_indicators

    chosen = None
    if years is not None:
        first, last = parse_years(years)
        chosen = list(range(first, last + 1))
    _print_summary(
        run_opendamir_indicators(
            lake, out_dir, population=population, table=table, only=only, years=chosen,
            threshold=threshold, overwrite=overwrite,
        )
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and, as a script, exits with) the exit code."""
    command = typer.main.get_command(app)
    return int(command.main(argv, prog_name="sndslab", standalone_mode=False) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
