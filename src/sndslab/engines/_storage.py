"""Small-file storage of the lake: the local disk, or any Hadoop file system through Spark.

Datasets (directories of Parquet parts) are written by the engines' own writers; the lake also
keeps small text files (manifests, ingest state, reports) that the driver writes and reads.
:class:`LocalStorage` does it with :mod:`pathlib` (atomic writes: temporary file then
``os.replace``); :class:`HadoopStorage` with the Hadoop ``FileSystem`` API of a running Spark
session, so the same code works on ``hdfs://``, ``s3a://`` or ``abfss://`` lakes: a file is
written under a temporary name and renamed where the file system renames atomically (local,
HDFS), and written in place on object stores, where a single PUT is atomic.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from sndslab._atomic import atomic_write_text

__all__ = ["HadoopStorage", "LocalStorage", "is_local_path", "is_uri"]

#: URI schemes of object stores (no atomic rename: files are written in place).
OBJECT_STORES = ("s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss")


def is_uri(path: str | Path) -> bool:
    """Whether ``path`` carries a scheme (``s3a://bucket/lake``), i.e. is not a local path.

    >>> is_uri("s3a://bucket/lake"), is_uri("/data/lake"), is_uri("file:///data/lake")
    (True, False, True)
    """
    return "://" in str(path)


def is_local_path(path: str | Path) -> bool:
    """Whether ``path`` is on the local disk: no scheme, or ``file://``.

    >>> is_local_path("/data/lake"), is_local_path("file:///data"), is_local_path("s3a://b/l")
    (True, True, False)
    """
    return not is_uri(path) or str(path).startswith("file://")


class LocalStorage:
    """The local file system (paths without a scheme, or ``file://`` URIs)."""

    @staticmethod
    def _p(path: str) -> Path:
        return Path(path.removeprefix("file://"))

    def join(self, base: str, *parts: str) -> str:
        return str(Path(base, *parts))

    def exists(self, path: str) -> bool:
        return self._p(path).exists()

    def is_dir(self, path: str) -> bool:
        return self._p(path).is_dir()

    def list_dir(self, path: str) -> list[str]:
        p = self._p(path)
        return sorted(c.name for c in p.iterdir()) if p.is_dir() else []

    def read_text(self, path: str) -> str:
        return self._p(path).read_text(encoding="utf-8")

    def write_text(self, path: str, text: str) -> None:
        """Write ``text`` atomically (temporary sibling, fsync, ``os.replace``)."""
        p = self._p(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, text)

    def mkdirs(self, path: str) -> None:
        self._p(path).mkdir(parents=True, exist_ok=True)

    def delete(self, path: str) -> None:
        p = self._p(path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


class HadoopStorage:  # pragma: no cover - exercised by the Spark tests on remote schemes
    """The Hadoop ``FileSystem`` of a Spark session (any scheme Spark is configured for).

    Local paths and ``file://`` URIs are handled by :class:`LocalStorage` (atomic replace).
    Elsewhere a new file is written under a temporary name and renamed (atomic on HDFS), or put
    in one request on object stores; replacing an existing file deletes it first (the lake's
    manifests are never replaced: each generation writes a new file).
    """

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._local = LocalStorage()

    @staticmethod
    def _local_path(path: str) -> bool:
        return is_local_path(path)

    def _path(self, path: str) -> Any:
        uri = path if is_uri(path) else "file://" + str(Path(path).absolute())
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, hpath: Any) -> Any:
        return hpath.getFileSystem(self._conf)

    def join(self, base: str, *parts: str) -> str:
        if not is_uri(base):
            return str(Path(base, *parts))
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])

    def exists(self, path: str) -> bool:
        if self._local_path(path):
            return self._local.exists(path)
        h = self._path(path)
        return bool(self._fs(h).exists(h))

    def is_dir(self, path: str) -> bool:
        if self._local_path(path):
            return self._local.is_dir(path)
        h = self._path(path)
        fs = self._fs(h)
        return bool(fs.exists(h) and fs.getFileStatus(h).isDirectory())

    def list_dir(self, path: str) -> list[str]:
        if self._local_path(path):
            return self._local.list_dir(path)
        h = self._path(path)
        fs = self._fs(h)
        if not fs.exists(h):
            return []
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(h))

    def read_text(self, path: str) -> str:
        if self._local_path(path):
            return self._local.read_text(path)
        h = self._path(path)
        stream = self._fs(h).open(h)
        try:
            data = self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
        finally:
            stream.close()
        return bytes(data).decode("utf-8")

    def write_text(self, path: str, text: str) -> None:
        if self._local_path(path):
            return self._local.write_text(path, text)
        h = self._path(path)
        fs = self._fs(h)
        scheme = str(h.toUri().getScheme() or "file")
        data = bytearray(text.encode("utf-8"))
        if scheme in OBJECT_STORES:  # one PUT: atomic on object stores
            out = fs.create(h, True)
            try:
                out.write(data)
            finally:
                out.close()
            return
        tmp = self._jvm.org.apache.hadoop.fs.Path(
            h.getParent(), f".{h.getName()}.tmp-{uuid.uuid4().hex[:12]}"
        )
        out = fs.create(tmp, True)
        try:
            out.write(data)
            out.hsync()
        finally:
            out.close()
        if fs.exists(h):
            fs.delete(h, False)
        if not fs.rename(tmp, h):
            fs.delete(tmp, False)
            raise OSError(f"cannot rename {tmp} to {h}")

    def mkdirs(self, path: str) -> None:
        if self._local_path(path):
            return self._local.mkdirs(path)
        h = self._path(path)
        self._fs(h).mkdirs(h)

    def delete(self, path: str) -> None:
        if self._local_path(path):
            return self._local.delete(path)
        h = self._path(path)
        fs = self._fs(h)
        if fs.exists(h):
            fs.delete(h, True)
