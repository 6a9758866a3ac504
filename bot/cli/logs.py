"""Logging for the long-running commands (`labelbot serve`, `labelbot worker`).

APScheduler logs every job run at INFO ("Running job ...", "... executed successfully"): with
four jobs polled every 15 s that is about a thousand lines an hour around the few that matter
(a retrain, a digest). Its loggers are kept at WARNING unless the operator asks for debug
output, and its "skipped: maximum number of running instances" warning, which only says that a
training round is still under way when the next poll comes (max_instances=1 on purpose), is
logged at DEBUG.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SKIPPED = "maximum number of running instances"


class _SkippedRunsAtDebug(logging.Filter):
    """Re-level APScheduler's "skipped: maximum number of running instances" to DEBUG: shown
    only where its logger is enabled for DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or _SKIPPED not in str(record.msg):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def configure_logging(level: str | int = logging.INFO) -> None:
    """Log at ``level`` (a name like "info" or a number); APScheduler's loggers at WARNING
    unless ``level`` is DEBUG, its skipped-run warning at DEBUG either way."""
    number = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(number, int):
        number = logging.INFO
    logging.basicConfig(level=number, format=FORMAT)
    debug = number <= logging.DEBUG
    logging.getLogger("apscheduler").setLevel(logging.NOTSET if debug else logging.WARNING)
    scheduler = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedRunsAtDebug) for f in scheduler.filters):
        scheduler.addFilter(_SkippedRunsAtDebug())
