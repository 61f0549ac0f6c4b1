"""Atomic outputs: a result appears complete at its final path, or not at all.

``atomic_output_dir`` hands out a hidden sibling temporary directory and renames it to the final
path only when the ``with`` block completes; ``atomic_write_bytes``/``atomic_write_text`` do the
same for one file (temporary file, then ``os.replace``). Temporary names start with a dot and
carry a random suffix, so a crashed run never leaves something that looks like a finished one.

Every directory made by ``atomic_output_dir`` carries a marker file (``OUTPUT_MARKER``) saying
which command wrote it; ``--overwrite`` only ever replaces a directory with that marker, and an
output may never be, contain or lie inside one of the command's inputs (``check_output_dir``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sndslab.errors import InvalidArgumentError, OutputExistsError

__all__ = [
    "OUTPUT_MARKER",
    "atomic_output_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_disjoint",
    "check_output_dir",
    "is_sndslab_output",
    "mark_output",
    "remove_stale_siblings",
]

#: File written into every output directory sndslab creates (the licence to overwrite it).
OUTPUT_MARKER = ".sndslab-output.json"
#: File of an sndslab lake (``sndslab.lake``): a lake is never an overwritable output.
_LAKE_MARKER = "_lake.json"


def mark_output(directory: Path, kind: str) -> None:
    """Write the marker saying that sndslab created ``directory`` (``kind``: the command)."""
    body = {
        "format": "sndslab-output",
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    (Path(directory) / OUTPUT_MARKER).write_text(json.dumps(body) + "\n", "utf-8")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_siblings(final: Path) -> list[str]:
    """Delete the hidden siblings ``.<name>.tmp-*`` / ``.<name>.old-*`` of output ``final`` left
    by a run that was killed (their marker names a process of this host that no longer
    exists); returns their names. A sibling of a live run, of another host or without a
    readable marker is left alone."""
    final = Path(final)
    parent = final.absolute().parent
    removed: list[str] = []
    if not parent.is_dir():
        return removed
    for sibling in parent.glob(f".{final.name}.*-*"):
        if not sibling.name.startswith((f".{final.name}.tmp-", f".{final.name}.old-")):
            continue
        try:
            body = json.loads((sibling / OUTPUT_MARKER).read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if body.get("host") == socket.gethostname() and not _alive(int(body.get("pid", 0))):
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling.name)
    return removed


def is_sndslab_output(path: Path) -> bool:
    """Whether ``path`` is a directory that sndslab marked as its own output."""
    return (Path(path) / OUTPUT_MARKER).is_file()


def _resolved(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def check_disjoint(
    output: Path | str, inputs: Iterable[Path | str], *, what: str = "output"
) -> None:
    """Refuse an ``output`` that is, contains or lies inside one of ``inputs`` (one line).

    >>> check_disjoint("/data/lake/omop", ["/data/lake"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sndslab.errors.InvalidArgumentError: output /data/lake/omop is inside the input /data/lake...
    """
    out = _resolved(output)
    for raw in inputs:
        inp = _resolved(raw)
        if out == inp:
            raise InvalidArgumentError(f"{what} {output} is the input {raw}: choose another {what}")
        if out.is_relative_to(inp):
            raise InvalidArgumentError(
                f"{what} {output} is inside the input {raw}: choose an {what} outside it"
            )
        if inp.is_relative_to(out):
            raise InvalidArgumentError(
                f"{what} {output} contains the input {raw}: choose an {what} outside it"
            )


def _is_non_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return any(True for _ in it)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor or ".")  # pragma: no cover - the root always exists


def check_output_dir(final: Path, *, overwrite: bool, inputs: Iterable[Path | str] = ()) -> None:
    """Raise a one-line ``SndslabError`` if ``final`` cannot be (re)created as a directory.

    Refuses an existing file, an existing non-empty directory unless ``overwrite`` and the
    directory carries sndslab's output marker (never a lake, never a directory sndslab did not
    create), an output that is, contains or lies inside one of ``inputs``, and a path whose
    nearest existing ancestor is not a writable directory. Creates nothing.
    """
    final = Path(final)
    check_disjoint(final, inputs)
    if final.is_symlink() or final.exists():
        if not final.is_dir():
            raise OutputExistsError(f"output path {final} exists and is not a directory")
        if _is_non_empty_dir(final):
            if not overwrite:
                raise OutputExistsError(
                    f"output directory {final} already exists and is not empty "
                    "(use --overwrite to replace it)"
                )
            if (final / _LAKE_MARKER).exists():
                raise OutputExistsError(
                    f"output directory {final} is an sndslab lake: --overwrite never replaces "
                    "a lake; choose another output"
                )
            if not is_sndslab_output(final):
                raise OutputExistsError(
                    f"output directory {final} was not created by sndslab (no {OUTPUT_MARKER}): "
                    "--overwrite only replaces sndslab outputs; remove it yourself or choose "
                    "another output"
                )
    parent = final.absolute().parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise InvalidArgumentError(
            f"cannot create output {final}: {base} exists and is not a directory"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"cannot create output {final}: {base} is not writable")


def _fsync_dir(path: Path) -> None:
    """Best-effort durability of a rename (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform dependent
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - platform dependent
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output_dir(
    final: Path, *, overwrite: bool, kind: str = "output", inputs: Iterable[Path | str] = ()
) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` when the block completes.

    The directory carries sndslab's output marker (``kind`` names the command), so a later
    ``--overwrite`` may replace it; see :func:`check_output_dir` for what is refused.

    On success the temporary directory is renamed to ``final`` (an existing ``final`` is moved
    aside, replaced, then deleted). On any exception, including ``KeyboardInterrupt``, the
    temporary directory is deleted, ``final`` is left as it was, and the exception propagates.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_output_dir(root / "out", overwrite=False) as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> sorted(p.name for p in root.iterdir()), (root / "out" / "a.txt").read_text()
    (['out'], 'hello')
    """
    final = Path(final)
    inputs = list(inputs)
    check_output_dir(final, overwrite=overwrite, inputs=inputs)
    remove_stale_siblings(final)
    parent = final.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot create output {final}: {exc.strerror}") from exc
    tag = uuid.uuid4().hex[:12]
    tmp = parent / f".{final.name}.tmp-{tag}"
    try:
        tmp.mkdir()
        mark_output(tmp, kind)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidArgumentError(f"cannot create output {final}: {exc.strerror}") from exc
    try:
        yield tmp
        _commit(tmp, final, overwrite=overwrite, tag=tag, inputs=inputs)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _commit(tmp: Path, final: Path, *, overwrite: bool, tag: str, inputs: list[Path | str]) -> None:
    # Re-check: something may have appeared at ``final`` while the block ran.
    check_output_dir(final, overwrite=overwrite, inputs=inputs)
    parent = tmp.parent
    if final.is_dir() and not final.is_symlink():
        old = parent / f".{final.name}.old-{tag}"
        final.rename(old)
        try:
            tmp.rename(final)
        except BaseException:
            old.rename(final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if final.is_symlink():  # a dangling or directory symlink: replace the link itself
            final.unlink()
        tmp.rename(final)
    _fsync_dir(parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode(encoding))
