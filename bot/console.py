"""The `labelbot` console script. Loading the CLI imports torch and transformers (a second or
two); Ctrl-C in that time ends quietly with exit 130, as Ctrl-C does once a command runs,
instead of a traceback through the imports.

SIGTERM (a `timeout`, a cancelled cron or CI job, `docker stop`, `kill`) stops a command as
Ctrl-C does -- the same line on what was done and what is left, a half-written output file
removed, the transaction rolled back, leases released -- and exits 143 (128 + 15), where its
default action killed the process on the spot. ``serve`` and ``worker`` set their own handler
while they run, and give this one back.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

TERMINATED = 128 + signal.SIGTERM


class _Sigterm:
    received = False

    def __call__(self, signum: int, _frame: Any) -> None:
        self.received = True
        raise KeyboardInterrupt


def main() -> None:
    sigterm = _Sigterm()
    previous = signal.signal(signal.SIGTERM, sigterm)
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
    if sigterm.received:
        raise SystemExit(TERMINATED)


def _run() -> None:
    try:
        from bot.cli import main as cli
    except KeyboardInterrupt:
        print("interrupted while starting; nothing was done", file=sys.stderr)
        raise SystemExit(130) from None
    cli()
