"""Who may do what (README, "Who may label", project admins, guest accounts, the REST API's
tokens), over real signed Bolt requests and the real API on SQLite and PostgreSQL: a form or
click by someone not allowed changes nothing and says why; a guest account learns nothing of a
project closed to them, from a form made up by hand either; every REST route refuses a request
without LABELBOT_API_TOKEN, the metrics-only token included, and no token reaches the log."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from starlette.routing import Route

from bot import ids
from bot.api import PUBLIC_PATHS, create_api
from engine import flags, messaging, project_settings, projects, proposing
from tests.bot.conftest import API_TOKEN, CHANNEL, PROJECT, Bot, slack_settings, taxonomy_form
from tests.bot.test_proposals_slack import _merge
from tests.fakes import payloads
from tests.fakes.server import ServerThread
from tests.fakes.signing import signed_interactivity

ADMIN, EXPERT, GUEST = "U0ADMIN", "U0EXPERT", "U0GUEST"
REFUSED = "not open to guest accounts"


def _submit(bot: Bot, body: dict[str, object]) -> dict[str, object]:
    response = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    assert response.status_code == 200
    return response.json() if response.content else {}


def _active(bot: Bot) -> list[str]:
    return sorted(lb.name for lb in projects.list_labels(bot.ws, project=PROJECT, active_only=True))


def _proposal_form(user: str, project: str, proposal: int) -> dict[str, object]:
    values = {
        ids.PROPOSAL_NAMES_BLOCK: {ids.TAXONOMY_INPUT: {"value": "merged_name"}},
        ids.PROPOSAL_REASON_BLOCK: {ids.TAXONOMY_INPUT: {"value": None}},
    }
    meta = json.dumps({"project": project, "proposal": proposal})
    return payloads.view_submission(user, ids.PROPOSAL_MODAL, values, private_metadata=meta)


def test_admins_forms_refuse_whoever_is_no_admin_now(bot: Bot, bank: dict[str, str]) -> None:
    """The proposal form made up by an expert, and the taxonomy form submitted by one who was
    an admin when it opened: refused in the form, nothing applied."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    pid, labels = _merge(bot), _active(bot)
    answer = _submit(bot, _proposal_form(EXPERT, PROJECT, pid))
    assert answer["response_action"] == "errors" and "Only project admins" in str(answer)
    assert proposing.get_proposal(bot.ws, pid).status == "open"

    projects.update_settings(bot.ws, project=PROJECT, admins=["U0OTHER"])  # ADMIN no longer one
    for form in (taxonomy_form(ADMIN, "add", names="new_one"), _proposal_form(ADMIN, PROJECT, pid)):
        answer = _submit(bot, form)
        assert answer["response_action"] == "errors" and "Only project admins" in str(answer)
    assert _active(bot) == labels and proposing.get_proposal(bot.ws, pid).status == "open"


def test_a_form_made_up_by_a_guest_names_no_project(bot: Bot, bank: dict[str, str]) -> None:
    """A form's project comes from its private_metadata, which a guest can write: naming a
    project that does not exist answered "no project named x (projects: bank)", naming the
    project closed to them; now both get `/label`'s refusal of a guest."""
    bot.api.add_user(GUEST, is_restricted=True)
    pid = _merge(bot)
    for forged in (
        lambda project: taxonomy_form(
            GUEST, "add", names="x", private_metadata=json.dumps({"project": project})
        ),
        lambda project: _proposal_form(GUEST, project, pid),
    ):
        said = [str(_submit(bot, forged(p))) for p in (PROJECT, "no_such_project")]
        for answer in said:
            assert REFUSED in answer and PROJECT not in answer and "no_such" not in answer
        assert said[0] == said[1]
    assert proposing.get_proposal(bot.ws, pid).status == "open" and "x" not in _active(bot)


def test_an_admins_button_made_up_by_a_guest_names_no_project(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Promote and a proposal's buttons name their project in their value, which a click
    made up by hand writes: one naming no project answered "No project named 'x' (projects:
    bank)" to a guest; now a guest gets `/label`'s refusal, whichever project is named."""
    bot.api.add_user(GUEST, is_restricted=True)
    pid = _merge(bot)
    actions = (ids.PROPOSAL_APPROVE, ids.PROPOSAL_REJECT, ids.PROPOSAL_EDIT, ids.PROPOSAL_UNDO,
               ids.PROMOTE_MODEL)  # fmt: skip
    for action in actions:
        for project in (PROJECT, "no_such_project"):
            body = payloads.block_actions(
                GUEST, action, f"{project}:{pid}", CHANNEL, "1700000000.000100", [],
                response_url=bot.api.response_url(GUEST),
            )  # fmt: skip
            _submit(bot, body)
            said = bot.slack.ephemerals(GUEST)[-1]
            assert REFUSED in said and PROJECT not in said and "no_such" not in said, said
    assert proposing.get_proposal(bot.ws, pid).status == "open"
    assert not bot.api.calls("views.open") and not bot.api.calls("chat.update")


def test_a_guest_cannot_go_on_labeling_a_project_closed_since(
    bot: Bot, bank: dict[str, str]
) -> None:
    """An example sent to a guest while the project was open to guests: once it is closed, a
    label, Skip, Discuss or Flag on it is refused, nothing is stored and no next example
    comes (each label stored theirs and sent the next)."""
    bot.api.add_user(GUEST, is_restricted=True)
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "allow"})
    bot.slack.command(GUEST, PROJECT)
    bot.settle()
    (card,) = bot.slack.open_examples(GUEST)
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "deny"})
    messages = len(bot.slack.dm(GUEST))

    bot.slack.choose(GUEST, card, "card_arrival")
    bot.settle()
    for action in (ids.SKIP, ids.DISCUSS, ids.FLAG):
        bot.slack.click(GUEST, card, action)
        bot.settle()
    said = bot.slack.ephemerals(GUEST)
    assert len(said) == 4 and all(REFUSED in s and PROJECT not in s for s in said), said
    assert len(bot.slack.dm(GUEST)) == messages and bot.slack.open_examples(GUEST) == [card]
    example = int(str(card["blocks"][0]["block_id"]).rpartition(":")[2])
    assert not messaging.labeled_by(bot.ws, example_id=example, annotator=GUEST)
    assert not flags.list_flags(bot.ws, PROJECT) and not bot.api.calls("views.open")

    # opened again, the same click is theirs
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "allow"})
    bot.slack.choose(GUEST, card, "card_arrival")
    bot.settle()
    assert messaging.labeled_by(bot.ws, example_id=example, annotator=GUEST)


def test_a_guests_flag_form_submitted_once_the_project_closed_stores_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The Flag form opened while the project was open to guests, submitted after it closed:
    refused, no flag stored, no next example."""
    bot.api.add_user(GUEST, is_restricted=True)
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "allow"})
    bot.slack.command(GUEST, PROJECT)
    bot.settle()
    (card,) = bot.slack.open_examples(GUEST)
    bot.slack.click(GUEST, card, ids.FLAG)
    bot.settle()
    view = bot.api.calls("views.open")[-1].params["view"]
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "deny"})
    values = {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: {"value": "Two questions in one"}}}
    _submit(bot, payloads.view_submission(
        GUEST, ids.FLAG_MODAL, values, private_metadata=view["private_metadata"]
    ))  # fmt: skip
    assert not flags.list_flags(bot.ws, PROJECT)
    assert bot.slack.open_examples(GUEST) == [card]
    said = "\n".join(bot.slack.ephemerals(GUEST)) + str(bot.slack.dm(GUEST)[-1])
    assert REFUSED in said and "Flagged by" not in said, said


def test_every_rest_route_needs_the_api_token(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Every route the app serves (walked, so a route added later is covered), by every
    method: 401 without a token, with a wrong one, another scheme, or the metrics-only token
    (but for GET /metrics); nothing is changed, and no token is logged."""
    metrics_token = "metrics-only-" + "m" * 32
    settings = slack_settings(
        str(bot.ws.settings.database_url), bot.api.api_url, bot.ws.settings.data_dir,
        LABELBOT_METRICS_TOKEN=metrics_token,
    )  # fmt: skip
    app = create_api(settings, bot.services)
    served = {  # (method, path): the schema's (the REST router), and the app's own routes
        *((m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops),
        *((m, r.path) for r in app.routes if isinstance(r, Route) for m in r.methods or ()),
    }
    served = {(m, p) for m, p in served if p not in PUBLIC_PATHS}
    assert sum(p.startswith("/api/") for _, p in served) >= 4, served
    refused = {
        "none": {},
        "wrong": {"Authorization": f"Bearer {API_TOKEN}x"},
        "prefix": {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
        "basic": {"Authorization": f"Basic {API_TOKEN}"},
        "bare": {"Authorization": API_TOKEN},
        "metrics": {"Authorization": f"Bearer {metrics_token}"},
    }
    before = (_active(bot), len(projects.list_projects(bot.ws)))
    with (
        caplog.at_level(logging.DEBUG),
        ServerThread(app) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        for method, template in sorted(served):
            path = re.sub(r"\{[^}]+\}", "1", template.replace("{name}", PROJECT))
            for why, headers in refused.items():
                if why == "metrics" and template == "/metrics" and method in ("GET", "HEAD"):
                    continue
                answer = http.request(method, path, headers=headers, json={"texts": ["x"]})
                assert answer.status_code == 401, (method, path, why, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
        assert http.get("/metrics", headers=refused["metrics"]).status_code == 200
    assert (_active(bot), len(projects.list_projects(bot.ws))) == before
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert API_TOKEN[:-1] not in logged and metrics_token not in logged


def test_a_guest_who_voted_cannot_settle_once_the_project_closed(
    bot: Bot, bank: dict[str, str]
) -> None:
    """A guest took part in a disagreement while the project was open to guests; closed since,
    their Settle on its thread is refused and settles nothing (involved experts may settle)."""
    from engine import consensus
    from tests.bot.conftest import LABELS
    from tests.bot.test_dispute_redraw import _root, _vote
    from tests.fakes.slack_client import example_id

    bot.api.add_user(GUEST, is_restricted=True)
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "allow"})
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = example_id(_vote(bot, GUEST, LABELS[0]))
    _vote(bot, EXPERT, LABELS[2], example)
    root = _root(bot)
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "deny"})

    bot.slack.click(GUEST, root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert REFUSED in bot.slack.ephemerals(GUEST)[-1]
    (found,) = consensus.disagreements(bot.ws, PROJECT, include_settled=True)
    assert found.adjudicated is None or found.adjudicated.source != "adjudication"
    assert _root(bot) == root  # the thread as it was


def test_an_answer_is_taken_when_slack_cannot_say_who_is_a_guest(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The project is closed to guests (the default), and users.info fails as a member answers
    an example sent to them: the label is stored and the next one follows (the example was
    theirs when it was sent; failing closed would lose every expert's labels to a users.info
    hiccup). New work (`/label`) still fails closed."""
    from tests.bot.test_admin_answer_memory import Clock

    clock = Clock()
    bot.services.workspace_admins.clock = clock
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    (card,) = bot.slack.open_examples(EXPERT)
    example = int(str(card["blocks"][0]["block_id"]).rpartition(":")[2])
    clock.now += 3600  # the answer users.info gave is forgotten
    bot.api.fail_next("users.info", status=500)
    with caplog.at_level(logging.WARNING):
        bot.slack.choose(EXPERT, card, "card_arrival")
        bot.settle()
    assert messaging.labeled_by(bot.ws, example_id=example, annotator=EXPERT)
    assert len(bot.slack.open_examples(EXPERT)) == 1  # the next one
    assert "their answer on example" in caplog.text

    clock.now += 3600
    bot.api.fail_next("users.info", status=500)
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    assert "Could not check" in bot.slack.ephemerals(EXPERT)[-1]
