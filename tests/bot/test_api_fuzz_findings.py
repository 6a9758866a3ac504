"""What fuzzing the REST API against its own /openapi.json (schemathesis, every check) found: a
body json.loads fails on without a JSONDecodeError answered 400, which predict does not declare;
texts the schema let through (a NUL, blanks by Python's strip that ECMA-262's \\s is not) that
the API refuses; and an export parameter whose one refusal the spec did not say."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import ValidationError

from engine import projects
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_api_contract import API, AUTH, _check, openapi

PREDICT = ("post", "/api/projects/{name}/predict")
JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture
def project(bot: Bot) -> Bot:
    """The bank project without examples: a text the API takes answers 409 (no model yet)."""
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    return bot


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"texts": ["caf\xe9"]}', "not UTF-8"),  # Latin-1, sent as JSON
        (b'{"texts": ["x"], "k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"texts": [' + b"9" * 5_000 + b"]}", "too many digits"),  # Python's 4,300
    ],
    ids=["latin-1", "deep", "digits"],
)
def test_a_body_that_does_not_parse_is_the_declared_422(
    project: Bot, body: bytes, why: str
) -> None:
    """FastAPI answered these 400 "There was an error parsing the body" (only JSONDecodeError
    was its 422); predict declares 422 for a body that is not JSON, and no 400."""
    spec = openapi(project)
    answer = project.slack.http.post(f"{API}/predict", content=body, headers=JSON)
    _check(spec, (*PREDICT, "422"), answer)
    (problem,) = answer.json()["detail"]
    assert problem["type"] == "json_invalid" and why in problem["msg"]


# ECMA-262's \s, as a JavaScript validator reads the schema's patterns: Python's
# str.isspace but for \x1c-\x1f and \x85, and U+FEFF besides.
PYTHON_ONLY_SPACES = "\x1c\x1d\x1e\x1f\x85"
ECMA_SPACE = "".join(
    f"\\u{ord(c):04x}"
    for c in [*map(chr, range(0x3001)), "\ufeff"]
    if (c.isspace() and c not in PYTHON_ONLY_SPACES) or c == "\ufeff"
)


def _ecma(pattern: str) -> str:
    """``pattern`` with \\S and \\s meaning what they mean in ECMA-262 (\\s only ever inside a
    character class in this schema, \\S only outside one)."""
    return pattern.replace("\\S", f"[^{ECMA_SPACE}]").replace("\\s", ECMA_SPACE)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(_ecma(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r} (ECMA-262)")


EcmaValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _ecma_pattern}
)


@pytest.mark.parametrize(
    "text",
    [
        *("a\x00b", "\x00", "\x1c", "\x85 \x1f", " \t\n", "x\ud800"),
        *("\u200b", " \u200b\u200d ", "\ufeff", "\x01\x7f", "\u3164", "\u2800\u00ad", "\U000e0041"),
    ],
    ids=ascii,
)
def test_the_schema_refuses_every_text_the_api_refuses(project: Bot, text: str) -> None:
    """A client that checks its texts against the schema (in Python, or in JavaScript) sends
    none that predict refuses: the schema let a NUL through, and texts blank only by Python's
    strip (\\x1c-\\x1f, \\x85) through a JavaScript validator's \\S. Texts of only invisible
    characters (U+200B, U+FEFF, fillers) were taken by both. A lone surrogate and a tag (above
    the Basic Multilingual Plane) are in the description only: no pattern for them reads alike
    in every dialect."""
    spec = openapi(project)
    schema = {**spec["components"]["schemas"]["PredictIn"], "components": spec["components"]}
    body = {"texts": [text]}
    # json.dumps escapes what httpx would not encode (a lone surrogate)
    answer = project.slack.http.post(f"{API}/predict", content=json.dumps(body), headers=JSON)
    assert answer.status_code == 422, answer.text
    description = schema["properties"]["texts"]["items"]["description"]
    if text == "x\ud800":
        assert "lone surrogate" in description
    elif text == "\U000e0041":
        assert "only invisible characters" in answer.text and "tags" in description
    else:
        assert not jsonschema.Draft202012Validator(schema).is_valid(body)
        assert not EcmaValidator(schema).is_valid(body)


@pytest.mark.parametrize(
    "text", ["hello", " hello \n", "a\u200b", "a\x1cb", "😀", "\u0600", "\u00e9"], ids=ascii
)
def test_the_schema_takes_the_texts_the_api_takes(project: Bot, text: str) -> None:
    spec = openapi(project)
    schema = {**spec["components"]["schemas"]["PredictIn"], "components": spec["components"]}
    body = {"texts": [text]}
    assert jsonschema.Draft202012Validator(schema).is_valid(body)
    assert EcmaValidator(schema).is_valid(body)
    answer = project.slack.http.post(f"{API}/predict", json=body, headers=AUTH)
    assert answer.status_code == 409, answer.text  # taken: the project has no model yet


def test_the_export_says_spreadsheet_safe_is_for_csv_only(project: Bot) -> None:
    """The one refusal of a schema-valid export request (true with jsonl, the default format)
    is on the parameter it concerns: no OpenAPI keyword ties two parameters."""
    spec = openapi(project)
    parameters = spec["paths"]["/api/projects/{name}/export"]["get"]["parameters"]
    (safe,) = [p for p in parameters if p["name"] == "spreadsheet_safe"]
    assert "CSV only" in safe["description"] and "jsonl answers 422" in safe["description"]
    answer = project.slack.http.get(
        f"{API}/export", params={"spreadsheet_safe": "true"}, headers=AUTH
    )
    _check(spec, ("get", "/api/projects/{name}/export", "422"), answer)
