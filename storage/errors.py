"""The labelbot exception tree.

Every error labelbot raises on purpose derives from one base class, so the edges (CLI exit codes,
the Slack ``@app.error`` handler, FastAPI exception handlers) can turn it into a clear message::

    LabelbotError
    ├── NotFoundError        a project, label, example or model that does not exist
    ├── InvalidInputError    a malformed file, an unknown label, a bad argument
    ├── ConflictError        a unique name taken, a concurrent change that lost, work another
    │                        process holds (a training's lease, the database's write lock)
    ├── StaleActionError     an example already labeled, a retired label, an expired undo
    ├── ConfigurationError   a missing or invalid setting (names the environment variable)
    └── DatabaseUnavailable  the database cannot be reached just now (down, restarting, full of
                             connections, refusing this database): retry later

The tree lives in storage/ because it is the bottom layer; engine/ and bot/ import it from here.
"""

from __future__ import annotations

import errno


class LabelbotError(Exception):
    """Base class of every error labelbot raises on purpose."""

    exit_code = 1


class NotFoundError(LabelbotError):
    """A project, label, example or model run that does not exist."""

    exit_code = 3


class InvalidInputError(LabelbotError):
    """Input that cannot be accepted: a malformed file, an unknown label, a bad argument."""

    exit_code = 2


class ConflictError(LabelbotError):
    """A unique name already taken, a concurrent change that lost, or work another process
    holds: a project's training, the database itself (busy past its timeout: storage.db)."""

    exit_code = 4


class StaleActionError(LabelbotError):
    """An action on state that has moved on: an example already labeled, a retired label."""

    exit_code = 5


class LabeledByOther(StaleActionError):
    """Another expert's label counts for the example already (and it wants no second opinion):
    ``label`` and ``annotator`` say whose, for a surface that shows people its own way."""

    def __init__(self, message: str, *, label: str, annotator: str) -> None:
        super().__init__(message)
        self.label = label
        self.annotator = annotator


class SkippedBefore(StaleActionError):
    """A label for an example the expert skipped (a Skip and a label click at once on one
    message, or a copy of it): the Skip stands, the label is not stored."""


class LabelGone(StaleActionError):
    """A label picked by id (from a button, a menu, a terminal's list) that no longer exists:
    an undo removed it."""


class ConfigurationError(LabelbotError):
    """A missing or invalid setting; the message names the environment variable."""

    exit_code = 6


class DatabaseUnavailable(LabelbotError):
    """The database cannot be reached just now: the server is down or restarting, refuses
    connections (to this database, or past its connection limit), or dropped the connection.
    Nothing labelbot can fix, and nothing a user did wrong: the same request works once it is
    back (storage.db classifies the driver's errors). ``reason``: the driver's words, for a
    log line that says it without the advice to users (the message itself when none)."""

    exit_code = 7

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


# What the machine refuses, not a path as typed: a full disk, a read-only or forbidden place. A
# file labelbot cannot write for one of these is a ConfigurationError (exit 6).
DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)
