"""bot/socket_mode.py overrides and reads parts of slack_sdk's built-in Socket Mode client that
are not its documented interface. A slack_sdk release that renamed one would leave labelbot's
override unused (say, the in-flight acknowledgements at shutdown) without an error: this test
names each one, so the upgrade that drops one fails here rather than in production."""

from __future__ import annotations

import inspect

from slack_sdk.socket_mode.builtin.client import SocketModeClient

from bot.socket_mode import _WatchedClient

# methods _WatchedClient overrides and calls through super()
OVERRIDDEN = (
    "connect",
    "issue_new_wss_url",
    "connect_to_new_endpoint",
    "_on_error",
    "_run_current_session",
    "run_message_listeners",
    "close",
    "disconnect",
)
# attributes it reads or sets, made in SocketModeClient.__init__
ATTRIBUTES = (
    "message_processor",
    "current_session_runner",
    "current_app_monitor",
    "current_session_state",
    "message_workers",
    "current_session",
    "auto_reconnect_enabled",
    "closed",
    "web_client",
    "app_token",
    "logger",
)


def test_the_slack_sdk_methods_labelbot_overrides_are_there() -> None:
    for name in OVERRIDDEN:
        assert callable(getattr(SocketModeClient, name, None)), name
        assert name in vars(_WatchedClient) or name == "disconnect", name
    # connect_to_new_endpoint(force) as _WatchedClient calls it
    assert "force" in inspect.signature(SocketModeClient.connect_to_new_endpoint).parameters


def test_the_slack_sdk_attributes_labelbot_reads_are_made() -> None:
    client = SocketModeClient(app_token="xapp-1-internals-test", auto_reconnect_enabled=False)
    try:
        for name in ATTRIBUTES:
            assert hasattr(client, name), name
        for runner in ("message_processor", "current_session_runner", "current_app_monitor"):
            assert hasattr(getattr(client, runner), "event"), runner  # IntervalRunner's
        assert hasattr(client.current_session_state, "terminated")
    finally:
        client.close()
