"""Row accounting: every input row of a file ends staged or quarantined, and the sums add up.

``rows_in`` is counted independently of the CSV parser, by counting newline-terminated lines in
the (decompressed) byte stream (:class:`LineCounter`), so a parser that silently skipped rows
would break the invariant ``rows_in == staged + sum(quarantined.values())`` checked by
:meth:`FileAccount.check`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["staged", "skipped_duplicate", "refused", "empty"]
STATUSES: tuple[str, ...] = ("staged", "skipped_duplicate", "refused", "empty")

_BLANK = re.compile(rb"(?<=\n)\r?\n")


class AccountingError(AssertionError):
    """Internal error: a file's row accounting does not add up (a bug, never user input)."""


@dataclass
class FileAccount:
    """Where the rows of one raw file went.

    ``file`` is the path relative to the raw directory; ``quarantined`` maps a reason
    (``type_error``, ``malformed_line``, ``absurd_date``, …) to a row count.
    """

    file: str
    table: str | None
    year: int | None
    sha256: str
    bytes: int
    rows_in: int = 0
    staged: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    refused_rows: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    status: Status = "staged"
    message: str = ""
    duplicate_of: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def quarantined_total(self) -> int:
        """Rows quarantined, all reasons."""
        return sum(self.quarantined.values())

    def refuse(self, message: str, data_lines: int) -> FileAccount:
        """Mark the file refused: its ``data_lines`` (counted independently of any parser)
        are all accounted as refused rows, with the reason in ``message``."""
        self.status, self.message = "refused", message
        self.rows_in, self.staged, self.quarantined = data_lines, 0, {}
        self.refused_rows = data_lines
        return self

    def check(self) -> FileAccount:
        """Raise :class:`AccountingError` unless ``rows_in == staged + quarantined +
        refused_rows``."""
        if self.rows_in != self.staged + self.quarantined_total + self.refused_rows:
            raise AccountingError(
                f"internal error: row accounting of {self.file} does not add up: "
                f"rows_in={self.rows_in} staged={self.staged} "
                f"quarantined={self.quarantined_total} ({self.quarantined}) "
                f"refused={self.refused_rows}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileAccount:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


class LineCounter:
    """Counts lines of a byte stream fed in chunks, fast (``bytes.count``).

    A last line without a newline counts; empty lines do not count as rows,
    but their 1-based physical line numbers are kept in ``blank_lines`` (CSV readers skip them,
    and source line numbers must skip them too).

    >>> c = LineCounter()
    >>> for chunk in (b"H\\n1\\n", b"\\n2\\n3"):
    ...     c.feed(chunk)
    >>> c.lines, c.blank_lines
    (5, [3])
    """

    def __init__(self) -> None:
        self.newlines = 0
        self.blank_lines: list[int] = []
        self._tail = b"\n"  # as if the stream were preceded by a newline
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        edge = self._tail[-2:] + chunk[:2]
        if b"\n\n" in chunk or b"\n\r\n" in chunk or b"\n\n" in edge or b"\n\r\n" in edge:
            window = self._tail + chunk
            offset = len(self._tail)
            for m in _BLANK.finditer(window):
                if m.end() <= offset:
                    continue
                before = self.newlines + chunk.count(b"\n", 0, max(m.start() - offset, 0))
                self.blank_lines.append(before + 1)
        self.newlines += chunk.count(b"\n")
        self._tail = (self._tail + chunk[-2:])[-2:] if len(chunk) < 2 else chunk[-2:]
        self._last = chunk[-1:]

    @property
    def lines(self) -> int:
        """Physical lines, counting a last line without a newline."""
        return self.newlines + (1 if self._last not in (b"", b"\n") else 0)

    def data_lines(self, *, header: bool = True) -> int:
        """Non-blank lines after the header line."""
        n = self.lines - len([b for b in self.blank_lines if not header or b > 1])
        return max(n - (1 if header and self.lines else 0), 0)
