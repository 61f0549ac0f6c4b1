"""Incremental-ingestion state: ``<lake>/_state/files.json`` maps a file's SHA-256 to its account.

The state is the manifest of the ``stg`` layer: ``stg.<TABLE>`` is the set of part directories
its accounts list (``acc.parts``, relative to the lake, e.g.
``stg/ER_PRS_F/year=2019/0123456789abcdef``; see :mod:`sndslab.lake`). It is written
(atomically, through the lake's storage) only after a file's parts are complete, so a crash
leaves either the old state (the file is re-staged on the next run; its part directories derive
from its SHA-256 and are rewritten, or deleted as unlisted) or the new one.

Version 2 goes with lake layout 2 (part directories); a version-1 state (part files) is refused
with a one-line message telling to rebuild the lake.
"""

from __future__ import annotations

import json
from typing import Any

from sndslab.errors import SndslabError
from sndslab.ingest._accounting import FileAccount
from sndslab.lake import LakePaths

__all__ = ["STATE_VERSION", "IngestState"]

STATE_VERSION = 2


class IngestState:
    """The accounts of the files already staged into a lake, keyed by SHA-256."""

    def __init__(self, paths: LakePaths, files: dict[str, FileAccount] | None = None) -> None:
        self.paths = paths
        self.files: dict[str, FileAccount] = files or {}

    @classmethod
    def load(cls, paths: LakePaths) -> IngestState:
        """The state of the lake at ``paths`` (empty when there is none yet)."""
        path = paths.state_file
        if not paths.storage.exists(path):
            return cls(paths)
        try:
            data: dict[str, Any] = json.loads(paths.storage.read_text(path))
            version = data.get("version")
            files = {sha: FileAccount.from_dict(acc) for sha, acc in data["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SndslabError(f"ingest state {path} is unreadable ({exc}); remove it") from exc
        if version != STATE_VERSION:
            raise SndslabError(
                f"ingest state {path} is of version {version} (this sndslab writes version "
                f"{STATE_VERSION}, lake layout 2): rebuild the lake with "
                "`sndslab ingest RAW --lake NEW_DIR` from its raw files"
            )
        return cls(paths, files)

    def by_name(self, name: str) -> FileAccount | None:
        """The account recorded for the raw file ``name`` (relative to the raw directory)."""
        for acc in self.files.values():
            if acc.file == name:
                return acc
        return None

    def listed_parts(self) -> set[str]:
        """Every part directory the state lists (relative to the lake, posix)."""
        return {part for acc in self.files.values() for part in acc.parts}

    def record(self, account: FileAccount) -> None:
        """Add ``account`` (replacing any entry of the same file name) and save atomically."""
        self._drop(account.file)
        self.files[account.sha256] = account
        self.save()

    def forget(self, name: str) -> None:
        """Drop the entry of the raw file ``name``, if any, and save."""
        if self._drop(name):
            self.save()

    def _drop(self, name: str) -> bool:
        shas = [s for s, a in self.files.items() if a.file == name]
        for sha in shas:
            del self.files[sha]
        return bool(shas)

    def save(self) -> None:
        """Write the state (atomic replace through the lake's storage)."""
        payload = {
            "version": STATE_VERSION,
            "files": {sha: self.files[sha].to_dict() for sha in sorted(self.files)},
        }
        self.paths.storage.write_text(
            self.paths.state_file, json.dumps(payload, indent=1, sort_keys=True) + "\n"
        )
