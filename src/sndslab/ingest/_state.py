"""The staging cache: ``<lake>/_state/files.json`` lists the raw files whose parts are complete.

An entry is the account of one raw file (its name and content hash, its part directories under
``stg/`` and ``quarantine/``, its counts), recorded (atomically, through the lake's storage)
only after the file's parts are written. It is a cache, not what readers see: ``stg.<TABLE>``
is what the lake's current commit publishes (:mod:`sndslab.lake._commit`). The cache lets the
next run reuse a file staged by an interrupted run, or a file that comes back (modified, then
restored) while its parts are still kept by a commit. Entries whose parts are gone (deleted
after no kept commit referred to them) are dropped when the cache is loaded.

Version 3 goes with lake layout 3 (entries keyed by file name and content); another version is
refused with a one-line message telling to rebuild the lake.
"""

from __future__ import annotations

import json
from typing import Any

from sndslab.errors import SndslabError
from sndslab.ingest._accounting import FileAccount
from sndslab.lake import LakePaths

__all__ = ["STATE_VERSION", "IngestState"]

STATE_VERSION = 3


def _key(name: str, sha256: str) -> str:
    return f"{sha256}:{name}"


class IngestState:
    """The accounts of the files already staged into a lake, keyed by content and name."""

    def __init__(self, paths: LakePaths, files: dict[str, FileAccount] | None = None) -> None:
        self.paths = paths
        self.files: dict[str, FileAccount] = files or {}

    @classmethod
    def load(cls, paths: LakePaths) -> IngestState:
        """The cache of the lake at ``paths`` (empty when there is none yet), without the
        entries whose part directories no longer exist."""
        path = paths.state_file
        if not paths.storage.exists(path):
            return cls(paths)
        try:
            data: dict[str, Any] = json.loads(paths.storage.read_text(path))
            version = data.get("version")
            files = {key: FileAccount.from_dict(acc) for key, acc in data["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SndslabError(f"ingest state {path} is unreadable ({exc}); remove it") from exc
        if version != STATE_VERSION:
            raise SndslabError(
                f"ingest state {path} is of version {version} (this sndslab writes version "
                f"{STATE_VERSION}, lake layout 3): rebuild the lake with "
                "`sndslab ingest RAW --lake NEW_DIR` from its raw files"
            )
        exists = paths.storage.exists
        alive = {
            k: a
            for k, a in files.items()
            if all(exists(paths.join(*p.split("/"))) for p in a.parts)
        }
        return cls(paths, alive)

    def get(self, name: str, sha256: str) -> FileAccount | None:
        """The account of raw file ``name`` with content ``sha256``, if staged."""
        return self.files.get(_key(name, sha256))

    def listed_parts(self) -> set[str]:
        """Every part directory the cache lists (relative to the lake, posix)."""
        return {part for acc in self.files.values() for part in acc.parts}

    def record(self, account: FileAccount) -> None:
        """Add ``account`` and save atomically."""
        self.files[_key(account.file, account.sha256)] = account
        self.save()

    def keep_only(self, parts: set[str]) -> None:
        """Drop the entries whose parts are not all in ``parts`` (no kept commit refers to
        them: they are about to be deleted) and save."""
        before = len(self.files)
        self.files = {k: a for k, a in self.files.items() if set(a.parts) <= parts}
        if len(self.files) != before:
            self.save()

    def save(self) -> None:
        """Write the cache (atomic replace through the lake's storage)."""
        payload = {
            "version": STATE_VERSION,
            "files": {key: self.files[key].to_dict() for key in sorted(self.files)},
        }
        self.paths.storage.write_text(
            self.paths.state_file, json.dumps(payload, indent=1, sort_keys=True) + "\n"
        )
