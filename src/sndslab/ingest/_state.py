"""Incremental-ingestion state: ``lake/_state/files.json`` maps a file's SHA-256 to its account.

The state is written (atomically) only after a file's parts are in place, so a crash leaves
either the old state (the file is re-staged on the next run; its part names derive from its
SHA-256, so re-staging overwrites rather than duplicates) or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sndslab._atomic import atomic_write_text
from sndslab.errors import SndslabError
from sndslab.ingest._accounting import FileAccount

STATE_VERSION = 1


def state_path(lake: Path) -> Path:
    return Path(lake) / "_state" / "files.json"


class IngestState:
    """The accounts of the files already staged into a lake, keyed by SHA-256."""

    def __init__(self, lake: Path, files: dict[str, FileAccount] | None = None) -> None:
        self.lake = Path(lake)
        self.files: dict[str, FileAccount] = files or {}

    @classmethod
    def load(cls, lake: Path) -> IngestState:
        path = state_path(lake)
        if not path.exists():
            return cls(lake)
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            files = {sha: FileAccount.from_dict(acc) for sha, acc in data["files"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise SndslabError(f"ingest state {path} is unreadable ({exc}); remove it") from exc
        return cls(lake, files)

    def by_name(self, name: str) -> FileAccount | None:
        for acc in self.files.values():
            if acc.file == name:
                return acc
        return None

    def record(self, account: FileAccount) -> None:
        """Add ``account`` (replacing any entry of the same file name) and save atomically."""
        for sha in [s for s, a in self.files.items() if a.file == account.file]:
            del self.files[sha]
        self.files[account.sha256] = account
        self.save()

    def save(self) -> None:
        path = state_path(self.lake)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": STATE_VERSION,
            "files": {sha: self.files[sha].to_dict() for sha in sorted(self.files)},
        }
        atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")
