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
from bot.cli.logs import cli_lines


def main() -> None:
    """Console-script entry point. A Ctrl-C while click parses the command line (before the
    command's own code runs) typer ends with exit 130 and nothing said: the line is said here,
    as for a Ctrl-C anywhere else. What the libraries log reaches stderr as the CLI's own
    "warning: …" lines, each once (:func:`bot.cli.logs.cli_lines`), not raw."""
    try:
        with cli_lines():
            app()
    except SystemExit as exc:
        said_if_silent(exc)
        raise


__all__ = ["app", "main"]
