"""Bolt listeners, one module per kind, each with `register(app)`; before them all, the
middleware that answers only members of the installing organisation (bot/listeners/members.py).

A listener acks, parses the payload, calls one `bot.flow` step (which calls the engine) and
lets errors travel to the app's one error handler (bot/app.py); errors after the ack reach it
without passing through Bolt (bot/listeners/registrar.py says why).
"""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, members, shortcuts, views
from bot.listeners.registrar import ErrorHandler, Registrar


def register_all(app: App, *, on_error: ErrorHandler) -> None:
    registrar = Registrar(app, on_error)
    registrar.middleware(members.members_only(on_error))
    for module in (commands, actions, events, shortcuts, views):
        module.register(registrar)
