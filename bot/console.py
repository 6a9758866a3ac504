"""The `labelbot` console script. Loading the CLI imports torch and transformers (a second or
two); Ctrl-C in that time ends quietly with exit 130, as Ctrl-C does once a command runs,
instead of a traceback through the imports.

SIGTERM (a `timeout`, a cancelled cron or CI job, `docker stop`, `kill`) stops a command as
Ctrl-C does -- the same line on what was done and what is left, a half-written output file
removed, the transaction rolled back, leases released -- and exits 143 (128 + 15), where its
default action killed the process on the spot. ``serve`` and ``worker`` set their own handler
while they run, and give this one back.

Python raises a signal's KeyboardInterrupt in whatever code runs when it arrives. Where that is
a garbage-collection callback or a ``__del__`` (SQLAlchemy's and the import system's weakref
callbacks run many times a second), Python prints the exception as "ignored" and carries on:
the command ran to its end after a traceback, exit 0. Such a KeyboardInterrupt is delivered
again (:func:`_redeliver`), to be raised in the command's own code; so is the
:class:`Terminated` that ``serve``'s SIGTERM handler raises (a SystemExit lost there was printed
as "ignored" and the server ran on).

A Ctrl-C inside a database read closes the connection under SQLAlchemy, which then logs the
cursor it could not close ("Error closing cursor" and two tracebacks) before the command's one
line; the CLI configures no logging, so Python's last-resort handler printed it. Such records,
whose exception came of the KeyboardInterrupt, are left out (:func:`_not_of_an_interrupt`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

TERMINATED = 128 + signal.SIGTERM


class _Sigterm:
    received = False

    def __call__(self, signum: int, _frame: Any) -> None:
        self.received = True
        raise KeyboardInterrupt


class Terminated(SystemExit):
    """The SystemExit a signal handler raises to stop the process (``serve``'s on SIGTERM),
    with the shell's code for it (128 + the signal): one lost in a garbage-collection callback
    or a ``__del__`` is sent again, as a lost KeyboardInterrupt is (:func:`_redeliver`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


# How soon a signal lost in a callback is sent again: long enough that the callback and the
# unraisable hook have returned, too short for a person to notice.
REDELIVER_AFTER_S = 0.05


def _redeliver(sigterm: _Sigterm) -> Any:
    """An unraisable hook that sends a lost KeyboardInterrupt's or :class:`Terminated`'s
    signal again, from another thread once the hook has returned (sent from the hook itself,
    its handler would run in the hook, where the exception is lost again); any other
    unraisable exception is printed as before."""
    printed = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        lost = unraisable.exc_value
        if isinstance(lost, Terminated):
            signum = lost.signum
        elif isinstance(lost, KeyboardInterrupt):
            signum = signal.SIGTERM if sigterm.received else signal.SIGINT
        else:
            printed(unraisable)
            return
        timer = threading.Timer(REDELIVER_AFTER_S, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()

    return hook


def _not_of_an_interrupt(record: logging.LogRecord) -> bool:
    """False for a log record whose exception came of a KeyboardInterrupt (its cause or the
    exception it was raised while handling): cleanup the interruption itself made fail."""
    exc = record.exc_info[1] if record.exc_info else None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return False
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return True


def main() -> None:
    sigterm = _Sigterm()
    previous = signal.signal(signal.SIGTERM, sigterm)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver(sigterm)
    # serve and worker log through handlers of their own; every other command has none
    last_resort = logging.lastResort
    if last_resort is not None:
        last_resort.addFilter(_not_of_an_interrupt)
    try:
        _run()
    except SystemExit as exc:
        # stopped by SIGTERM, whatever the command made of the interruption (130 said, click's
        # 1, or 0 where Ctrl-C is the way to leave, as at `labelbot label`'s prompt): a
        # `timeout` or a cancelled job must not read success; another code is its own failure
        if sigterm.received and exc.code in (None, 0, 1, 130):
            raise SystemExit(TERMINATED) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook
        if last_resort is not None:
            last_resort.removeFilter(_not_of_an_interrupt)
    if sigterm.received:
        raise SystemExit(TERMINATED)


def _run() -> None:
    try:
        from bot.cli import main as cli
    except KeyboardInterrupt:
        print("interrupted while starting; nothing was done", file=sys.stderr)
        raise SystemExit(130) from None
    try:
        cli()
    except KeyboardInterrupt:  # typer building the commands: the command has not begun
        print("interrupted while starting; nothing was done", file=sys.stderr)
        raise SystemExit(130) from None
