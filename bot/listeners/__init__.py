"""Bolt listeners, one module per kind, each with `register(app)`.

A listener acks, parses the payload, calls one `bot.flow` step (which calls the engine) and
lets errors travel to the app's one error handler (bot/app.py).
"""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, shortcuts, views


def register_all(app: App) -> None:
    for module in (commands, actions, events, shortcuts, views):
        module.register(app)
