"""Errors that reach the user as one line: which file, which field, what is wrong."""

from __future__ import annotations


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
