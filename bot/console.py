"""The `labelbot` console script. Loading the CLI imports torch and transformers (a second or
two); Ctrl-C in that time ends quietly with exit 130, as Ctrl-C does once a command runs,
instead of a traceback through the imports."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from bot.cli import main as cli
    except KeyboardInterrupt:
        print("interrupted while starting; nothing was done", file=sys.stderr)
        raise SystemExit(130) from None
    cli()
