"""Logging for the long-running commands (`labelbot serve`, `labelbot worker`), and what the
others let through (:func:`cli_lines`).

APScheduler logs every job run at INFO ("Running job ...", "... executed successfully"): with
four jobs polled every 15 s that is about a thousand lines an hour around the few that matter
(a retrain, a digest). Its loggers are kept at WARNING unless the operator asks for debug
output, and its "skipped: maximum number of running instances" warning, which only says that a
training round is still under way when the next poll comes (max_instances=1 on purpose), is
logged at DEBUG.

Alembic says at INFO which plugins it set up and which dialect it migrates ("Context impl
SQLiteImpl.") each time a process brings the schema up to date: a dozen start-up lines that
bury the ones that matter; they show at DEBUG only. Bolt's "As you gave `client` as well,
`token` will be unused" warning is dropped: the bot hands Bolt its own client (with the token
and retry handlers) on purpose, and Bolt warns only because it reads SLACK_BOT_TOKEN from the
environment by itself as well.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SKIPPED = "maximum number of running instances"
_BOLT_TOKEN_UNUSED = "`token` will be unused"


# A scheduler job's run that has lasted this long is said (once per run) when its next run is
# skipped for it: a retrain or query stuck on a lock, a database that has slowed to a crawl.
LONG_RUN_S = 600.0


class _SkippedRunsAtDebug(logging.Filter):
    """Re-level APScheduler's "skipped: maximum number of running instances" to DEBUG: shown
    only where its logger is enabled for DEBUG; a normal overlap (a retrain outlasting the poll)
    says nothing. But once the run under way has lasted ``LONG_RUN_S``, the skip is one WARNING
    per run naming the job and how long it has run (on-call had nothing else to go by: /healthz
    answered ok and the log was silent while a retrain hung on a lock)."""

    def __init__(self) -> None:
        super().__init__()
        self._warned: dict[str, float] = {}  # job -> when the run said to be long started

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or _SKIPPED not in str(record.msg):
            return True
        if self._long_run(record):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    def _long_run(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` was rewritten as the warning about a long run (first skip past
        ``LONG_RUN_S`` of each run)."""
        job = getattr(record.args[0], "id", None) if isinstance(record.args, tuple) else None
        if not isinstance(job, str):
            return False
        from engine import jobs  # only when a run is skipped

        run = jobs.ACTIVITY.run_under_way(job)
        if run is None or run[1] < LONG_RUN_S or self._warned.get(job) == run[0]:
            return False  # none, not long yet, or said of this run already
        started, lasted = run
        self._warned[job] = started
        record.msg = (
            "the scheduler's %s job has been running for %d min, so its next runs are skipped "
            "until it ends: a training or query stuck on a lock, or a database that has slowed?"
        )
        record.args = (job, lasted // 60)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class _BoltTokenUnused(logging.Filter):
    """Drop Bolt's warning that the token is unused when a client is given too."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _BOLT_TOKEN_UNUSED not in str(record.msg)


class JsonLines(logging.Formatter):
    """One JSON object a record: ``time`` (UTC, ISO 8601 with milliseconds), ``level``,
    ``logger``, ``message``, and ``exception`` (the traceback) when there is one. uvicorn's
    access lines also carry ``client``, ``method``, ``path`` and ``status`` as fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and _access_args(record.args):
            client, method, path, _, status = record.args  # type: ignore[misc]
            entry.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_logging() -> bool:
    """Whether the log is JSON lines (``configure_logging(form="json")``)."""
    return any(isinstance(h.formatter, JsonLines) for h in logging.getLogger().handlers)


def _access_args(args: object) -> bool:
    """Whether ``args`` are uvicorn's access line's: client, method, path, HTTP version, status."""
    return isinstance(args, tuple) and len(args) == 5 and isinstance(args[4], int)


def configure_logging(level: str | int = logging.INFO, *, form: str = "text") -> None:
    """Log at ``level`` (a name like "info" or a number) to stderr, as text lines (``FORMAT``)
    or JSON lines (``form`` "json": :class:`JsonLines`); APScheduler's and Alembic's loggers
    at WARNING unless ``level`` is DEBUG, APScheduler's skipped-run warning at DEBUG either way,
    Bolt's unused-token warning never. uvicorn's loggers are left to pass their records up
    here (serve runs it with ``log_config=None``), so its lines share the format."""
    number = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(number, int):
        number = logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if form == "json" else logging.Formatter(FORMAT))
    logging.basicConfig(level=number, handlers=[handler])  # nothing if a handler is there
    debug = number <= logging.DEBUG
    for name in ("apscheduler", "alembic"):
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    _add_filter(logging.getLogger("apscheduler.scheduler"), _SkippedRunsAtDebug)
    _add_filter(logging.getLogger("slack_bolt.App"), _BoltTokenUnused)


def _add_filter(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


class _FromThread(logging.Filter):
    """Drop the records one thread logs (those ``only`` picks, when given)."""

    def __init__(
        self, thread: int, only: Callable[[logging.LogRecord], bool] | None = None
    ) -> None:
        super().__init__()
        self.thread = thread
        self.only = only

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        return self.only is not None and not self.only(record)


@contextmanager
def muted(
    logger: logging.Logger, *, only: Callable[[logging.LogRecord], bool] | None = None
) -> Iterator[None]:
    """What this thread logs to ``logger`` dropped while the block runs (other threads' records
    kept; with ``only``, just the records it picks): for a call whose failure labelbot says
    itself, in one line of its own. serve's start-up Slack check: slack_sdk logs "ERROR
    slack_sdk.web.base_client: Failed to send a request to Slack API server: ..." before
    labelbot's warning says the same."""
    drop = _FromThread(threading.get_ident(), only)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class _CliLine(logging.Formatter):
    """A record as the CLI's own lines read: "warning: …" (or "error: …"), one line, an
    exception as its type and first line, not a traceback; control characters made visible, as
    everything the CLI prints (bot.cli.common.printable)."""

    def format(self, record: logging.LogRecord) -> str:
        from bot.cli.common import printable  # common imports this module

        text = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text += f": {type(exc).__name__}: {str(exc).strip()}".split("\n")[0]
        kind = "error" if record.levelno >= logging.ERROR else "warning"
        return f"{kind}: " + printable(" ".join(text.split("\n")))


class _Once(logging.Filter):
    """Let each line through once: a warning said again (a retry, a loop) is said once. A line
    is what :class:`_CliLine` prints, so the same message with another exception (its type or
    its first line) is said too. A record whose message cannot be made (a log call whose
    arguments do not fit its message) is let through, for the handler's own error handling
    (logging's "--- Logging error ---" report), never raised out of the log call. Threads may
    log at once: one lock guards what was said."""

    def __init__(self) -> None:
        super().__init__()
        self._line = _CliLine()
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            said = self._line.format(record)
        except Exception:  # the handler's emit meets it again, and reports it as logging does
            return True
        with self._lock:
            if said in self._seen:
                return False
            self._seen.add(said)
        return True


@contextmanager
def cli_lines() -> Iterator[None]:
    """While a command other than serve and worker (which set up their own log) runs: the
    warnings and errors the libraries log, which Python's last-resort handler printed raw to
    stderr (its message alone, repeated for each retry), are printed as the CLI's own lines,
    each once (:class:`_CliLine`). The last-resort handler is kept, so its filters stay
    (bot.console leaves out what a Ctrl-C made fail); a handler set on the root logger (serve's
    and worker's :func:`configure_logging`, pytest's) takes the records instead, as before."""
    handler = logging.lastResort
    if handler is None:
        yield
        return
    was = handler.formatter
    once = _Once()
    handler.setFormatter(_CliLine())
    handler.addFilter(once)
    try:
        yield
    finally:
        handler.removeFilter(once)
        handler.formatter = was
