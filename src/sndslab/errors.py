"""User-facing errors.

Every error a user can cause or fix (bad argument, existing output, malformed input) is a
``SndslabError``; the command line prints it as one ``error: <message>`` line, without a
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["InvalidArgumentError", "MissingSourceError", "OutputExistsError", "SndslabError"]


class SndslabError(Exception):
    """Base class of the errors reported to the user as one line (CLI exit code 1)."""

    #: Exit code used by the command line.
    exit_code: int = 1


class InvalidArgumentError(SndslabError, ValueError):
    """An argument or configuration value is invalid (CLI exit code 2, like usage errors)."""

    exit_code = 2


class OutputExistsError(SndslabError, FileExistsError):
    """The output path exists and may not be replaced: not requested (``--overwrite``), or not
    an sndslab output (CLI exit code 2: a usage error)."""

    exit_code = 2


class MissingSourceError(SndslabError):
    """A table a step needs is absent although the extract holds the rows it would complete
    (an ``int`` table's link table, a quality rule's join table, an extractor's ``int``
    table): the message names the tables and what needs them, and the option that accepts the
    gap (``--allow-missing TABLE``, ``--allow-missing-tables``). CLI exit code 1."""
