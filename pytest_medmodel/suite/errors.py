"""Errors about a suite file: one line each, naming the file, the field, the problem and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SuiteError(Exception):
    """A suite that cannot be used, described in one line.

    Attributes:
        path: the suite file.
        field: the dotted key (or ``row N``/item id) that is wrong.
        problem: what is wrong.
        fix: what would be right.
    """

    def __init__(self, path: Path | str, field: str, problem: str, fix: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {field}: {problem}; {fix}")


class SuiteErrors(SuiteError):
    """Several problems in one suite, one line each (the first :data:`SHOWN_ERRORS`, then a count).

    Its ``path``/``field``/``problem``/``fix`` are the first error's, so code that
    reads one error keeps working; ``errors`` holds all of them.
    """

    def __init__(self, errors: Sequence[SuiteError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        Exception.__init__(self, _error_lines(self.errors))
        self.path, self.field, self.problem, self.fix = first.path, first.field, first.problem, first.fix

    @staticmethod
    def combine(errors: Sequence[SuiteError]) -> SuiteError:
        """One error as itself, several as :class:`SuiteErrors`."""
        flat = [e for error in errors for e in (error.errors if isinstance(error, SuiteErrors) else [error])]
        return flat[0] if len(flat) == 1 else SuiteErrors(flat)


SHOWN_ERRORS = 20
"""A suite with more problems than this lists the first ones and counts the rest."""


def _error_lines(errors: Sequence[SuiteError]) -> str:
    lines = [str(error) for error in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        lines.append(f"{errors[0].path}: ... and {len(errors) - SHOWN_ERRORS} more problem(s) like these")
    return "\n".join(lines)
