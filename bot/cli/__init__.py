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
from bot.cli.common import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
