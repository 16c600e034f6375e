"""Errors that reach the user as one line: which file, which field, what is wrong."""

from __future__ import annotations

from typing import Any


def shorten(value: Any, limit: int = 80, quoted: bool = True) -> str:
    """A value for an error message, cut to ``limit`` characters (a 100 kB value is not echoed
    whole)."""
    text = repr(value) if quoted else str(value)
    return text if len(text) <= limit else f"{text[:limit - 15]}... ({len(text)} chars)"


class RolloutError(Exception):
    """A user-facing error; the CLI prints ``str(err)`` on one line and exits with status 2."""


class ConfigError(RolloutError):
    """A problem in a configuration file, located by file and dotted field path."""

    def __init__(self, source: str, field: str | None, problem: str):
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")
