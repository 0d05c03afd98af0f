"""Errors a user can cause, and how the CLI reports them.

Anything raised as :class:`ApiflagError` (or a subclass) is a user's mistake or a refused
action: the CLI prints its one-line message on stderr and exits with its ``exit_code``
(1 by default, 2 for usage errors). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class ApiflagError(Exception):
    """A user's mistake or a refused action, reported as one line."""

    exit_code = 1


class UsageError(ApiflagError):
    """Bad arguments: exit status 2."""

    exit_code = 2


class ParseError(ApiflagError):
    """A message that cannot be parsed.

    Args:
        code: stable error code (``E_UNB_MISSING``, ``E_SEGMENT_COUNT`` ...).
        message: what is wrong, for a person.
        segment: 1-based number of the segment where it went wrong (0 for the envelope).
        file: the file it came from, when known.
    """

    def __init__(self, code: str, message: str, segment: int = 0, file: str | None = None):
        self.code = code
        self.message = message
        self.segment = segment
        self.file = file
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.file or '<input>'}: segment {self.segment}: {self.code}: {self.message}"

    def with_file(self, file: str) -> ParseError:
        """Return the same error attributed to ``file``."""
        return ParseError(self.code, self.message, self.segment, file)
