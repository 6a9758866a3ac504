"""Fixtures for Slack tests: the local fake Web API and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from tests.fakes.slack_api import FakeSlackAPI

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    """A fresh fake Slack Web API per test, listening on 127.0.0.1 (port chosen by the OS)."""
    with FakeSlackAPI(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def slack_api_url(slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> str:
    """SLACK_API_URL set the way production settings will read it."""
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    return slack_api.api_url


@pytest.fixture
def slack_client(slack_api: FakeSlackAPI) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)


@pytest.fixture
def signing_secret() -> str:
    return SIGNING_SECRET
