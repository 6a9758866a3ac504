"""The `labelbot` command line: every feature of the bot, usable from a terminal."""

from __future__ import annotations

from bot.cli import (  # noqa: F401  (each registers commands)
    data,
    database,
    experiments,
    flags,
    interactive,
    models,
    proposals,
    reports,
    reviews,
    serve,
    taxonomy,
)
from bot.cli.common import app, said_if_silent


def main() -> None:
    """Console-script entry point. A Ctrl-C while click parses the command line (before the
    command's own code runs) typer ends with exit 130 and nothing said: the line is said here,
    as for a Ctrl-C anywhere else."""
    try:
        app()
    except SystemExit as exc:
        said_if_silent(exc)
        raise


__all__ = ["app", "main"]
