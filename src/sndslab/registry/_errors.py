"""Errors raised by the registry."""

from __future__ import annotations

from sndslab.errors import SndslabError


class RegistryError(SndslabError):
    """A registry lookup or spec is invalid."""


class UnknownTableError(RegistryError, KeyError):
    """No table spec matches the given name or file stem."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownColumnError(RegistryError, KeyError):
    """No table of the registry has a column of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
