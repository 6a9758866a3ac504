"""Project admins in Slack, over real HTTP: the held-back notice and its Promote button,
`/label models|rollback|settings|digest`, the digest cron job through the bot's sender, and App
Home showing the digest's figures -- on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot import ids
from bot.scheduling import digest_sender, training_notifier
from engine import digest, jobs, labeling, projects, training
from storage.db import session_scope
from storage.models import ModelRun
from storage.repositories import models as model_runs
from storage.repositories import projects as project_rows
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _label(bot: Bot, truth: dict[str, str], n: int, who: str = EXPERT) -> None:
    """``n`` correct labels straight through the engine (the loop itself is tested elsewhere)."""
    for _ in range(n):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator=who)
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=truth[task.text],
            annotator=who, source="slack", key=f"{who}:{task.example_id}",
        )  # fmt: skip


def _trained(bot: Bot, truth: dict[str, str], models: int, per_model: int = 15) -> list[ModelRun]:
    runs = []
    for _ in range(models):
        _label(bot, truth, per_model)
        runs.append(training.train_project(bot.ws, PROJECT))
    return runs


def _active(bot: Bot) -> int | None:
    return next((r.version for r in training.list_versions(bot.ws, PROJECT) if r.is_active), None)


def _answer(bot: Bot, user: str) -> str:
    return bot.slack.ephemerals(user)[-1]


def test_held_back_model_is_announced_and_only_admins_promote_it(
    bot: Bot, bank: dict[str, str]
) -> None:
    _trained(bot, bank, 1)
    training.pin_version(bot.ws, PROJECT, 1)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], retrain_every=5)
    _label(bot, bank, 10)
    (outcome,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    assert outcome.version == 2 and _active(bot) == 1

    (notice,) = bot.api.messages(CHANNEL)
    assert "v2" in notice["text"] and "held back" in notice["text"]
    assert "v1 is pinned" in notice["text"] and "v1 keeps answering" in notice["text"]
    # the Promote button names the run too, so that a namesake project's v2 is never promoted
    run = next(r for r in training.list_versions(bot.ws, PROJECT) if r.version == 2)
    buttons = [
        e
        for b in notice["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ids.PROMOTE_MODEL
    ]
    assert [e["value"] for e in buttons] == [f"{PROJECT}:2:{run.id}"]

    bot.slack.click(EXPERT, notice, ids.PROMOTE_MODEL, channel=CHANNEL)
    bot.settle()
    assert "Only project admins can promote a model" in _answer(bot, EXPERT)
    assert _active(bot) == 1 and "held back" in bot.api.messages(CHANNEL)[0]["text"]

    bot.slack.click(ADMIN, notice, ids.PROMOTE_MODEL, channel=CHANNEL)
    bot.settle()
    assert _active(bot) == 2
    (updated,) = bot.api.messages(CHANNEL)
    assert f"<@{ADMIN}> promoted" in updated["text"] and "v2" in updated["text"]
    assert not bot.api.warnings


def test_rollback_by_admin_and_not_by_others(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 2)
    assert _active(bot) == 2
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])

    bot.slack.command(EXPERT, f"rollback {PROJECT} 1")
    bot.settle()
    assert "Only project admins can roll back the model" in _answer(bot, EXPERT)
    assert _active(bot) == 2

    bot.slack.command(ADMIN, f"rollback {PROJECT} v1")
    bot.settle()
    assert "v1 is active" in _answer(bot, ADMIN) and _active(bot) == 1

    bot.slack.command(ADMIN, f"rollback {PROJECT} 9")
    bot.settle()
    assert "has no model v9" in _answer(bot, ADMIN) and _active(bot) == 1

    bot.slack.command(EXPERT, "models")  # anyone may look
    bot.settle()
    table = json.dumps(bot.api.calls("response_url")[-1].params["blocks"])
    assert "`v2`" in table and "`v1`" in table and "*active*" in table


def test_workspace_admins_when_the_project_names_none(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 2)
    bot.api.add_user("U0OWNER", is_owner=True)
    bot.slack.command(EXPERT, f"pin {PROJECT} 1")
    bot.settle()
    assert "Only project admins can pin a model" in _answer(bot, EXPERT)
    bot.slack.command("U0OWNER", f"pin {PROJECT} 1")
    bot.settle()
    assert "pinned" in _answer(bot, "U0OWNER")
    assert projects.get_project(bot.ws, PROJECT).settings["pinned_version"] == 1
    assert {c.params["user"] for c in bot.api.calls("users.info")} == {EXPERT, "U0OWNER"}


def test_settings_are_validated_like_the_cli(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    before = dict(projects.get_project(bot.ws, PROJECT).settings)
    for text, error in [
        ('digest_cron="99 * * * *"', "Invalid digest schedule"),
        ("timezone=Mars/Olympus", "Unknown timezone"),
        ("audit_share=0.9", "Setting audit_share must be between 0 and 0.5"),
        ("retrain_every=many", "Setting retrain_every must be a whole number"),
        ("colour=blue", "Unknown setting 'colour'"),
        ("retrain_every 30", "Write settings as key=value"),
        # a name typed where Slack did not turn it into a mention: it never matches a click
        ("admins=@walter", "'@walter' is not a Slack user id"),
    ]:
        bot.slack.command(ADMIN, f"settings {PROJECT} {text}")
        bot.settle()
        assert error in _answer(bot, ADMIN), text
    assert projects.get_project(bot.ws, PROJECT).settings == before

    bot.slack.command(EXPERT, f"settings {PROJECT} retrain_every=1")
    bot.settle()
    assert "Only project admins can change settings" in _answer(bot, EXPERT)

    bot.slack.command(
        ADMIN,
        f'settings {PROJECT} retrain_every=30 digest_cron="0 9 * * mon-fri" '
        "timezone=Europe/Berlin audit_share=0.1 target_accuracy=0.9 "
        f"admins=<@{ADMIN}|ann>,<@U0SECOND>",  # @-mentions, as Slack sends them (should_escape)
    )
    bot.settle()
    assert "Updated `retrain_every`" in _answer(bot, ADMIN)
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert settings["retrain_every"] == 30 and settings["digest_cron"] == "0 9 * * mon-fri"
    assert settings["timezone"] == "Europe/Berlin" and settings["audit_share"] == 0.1
    assert settings["target_accuracy"] == 0.9 and settings["admins"] == [ADMIN, "U0SECOND"]


def test_digest_command_posts_blocks_and_a_png(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 2)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(EXPERT, "digest")
    bot.settle()
    assert "Only project admins can post the digest" in _answer(bot, EXPERT)
    assert not bot.api.calls("files.completeUploadExternal")

    bot.slack.command(ADMIN, "digest", channel=CHANNEL)
    bot.settle()
    assert f"posted in <#{CHANNEL}>" in _answer(bot, ADMIN)
    (posted,) = bot.api.calls("chat.postMessage")
    assert posted.params["channel"] == CHANNEL and "30 new labels" in str(posted.params["blocks"])
    assert bot.api.calls("files.getUploadURLExternal")
    (done,) = bot.api.calls("files.completeUploadExternal")
    assert done.params["channel_id"] == CHANNEL
    (png,) = bot.api.uploads.values()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 20_000 < len(png) < 500_000
    assert "last_digest_at" in projects.get_project(bot.ws, PROJECT).settings


def test_cron_digest_fires_through_the_bots_sender(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 1)
    projects.update_settings(
        bot.ws, project=PROJECT, digest_cron="0 9 * * mon-fri", timezone="Europe/Berlin"
    )
    project = projects.get_project(bot.ws, PROJECT)
    fire = jobs.next_digest_time(project, after=project.created_at)
    assert fire is not None
    local = fire.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5
    send = digest_sender(bot.services)

    assert jobs.digest_cycle(bot.ws, send, now=fire - timedelta(minutes=1)) == []
    assert not bot.api.calls("chat.postMessage")
    assert jobs.digest_cycle(bot.ws, send, now=fire + timedelta(minutes=1)) == [PROJECT]
    (posted,) = bot.api.calls("chat.postMessage")
    assert posted.params["channel"] == CHANNEL and "digest" in posted.params["text"]
    assert len(bot.api.calls("files.completeUploadExternal")) == 1
    # sent: the same slot does not fire again
    assert jobs.digest_cycle(bot.ws, send, now=fire + timedelta(minutes=2)) == []
    assert len(bot.api.calls("chat.postMessage")) == 1


def test_cron_digest_without_a_channel_is_logged_not_retried(
    bot: Bot, bank: dict[str, str], caplog
) -> None:  # type: ignore[no-untyped-def]
    projects.set_channel(bot.ws, project=PROJECT, channel_id=None)
    project = projects.get_project(bot.ws, PROJECT)
    fire = jobs.next_digest_time(project, after=project.created_at)
    assert fire is not None
    sent = jobs.digest_cycle(bot.ws, digest_sender(bot.services), now=fire + timedelta(minutes=1))
    assert sent == [PROJECT] and not bot.api.calls("chat.postMessage")
    assert "has no channel" in caplog.text


def test_app_home_shows_the_audit_estimate_and_refreshes_after_a_model(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.5, retrain_every=5)
    _trained(bot, bank, 2, per_model=20)
    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.settle()
    (published,) = bot.api.calls("views.publish")
    home = json.dumps(published.params["view"])
    assert "Estimated accuracy" in home and "on the audit set" in home
    assert "90% interval" in home  # no Forecast yet: two models (the test below)

    _label(bot, bank, 5)
    (outcome,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    bot.settle()  # the Home refresh runs on a listener thread, after the retrain job's hook
    run = training.list_versions(bot.ws, PROJECT)[-1]
    assert outcome.version == 3
    if (run.metrics.get("promotion") or {}).get("promoted"):
        # a promoted model refreshes the Home of whoever opened it lately
        assert len(bot.api.calls("views.publish")) == 2
        assert "v3: " in json.dumps(bot.api.calls("views.publish")[-1].params["view"])
    else:  # held back by the audit gate: the channel hears about it instead
        assert "held back" in bot.api.messages(CHANNEL)[-1]["text"]


def test_slack_refusing_a_notice_or_digest_stops_nothing(
    bot: Bot, bank: dict[str, str], caplog
) -> None:  # type: ignore[no-untyped-def]
    promotion = {"promoted": False, "reason": "worse"}
    held = ModelRun(project_id=1, version=7, metrics={"promotion": promotion})
    bot.api.fail_next("chat.postMessage", status=200, error="channel_not_found")
    training_notifier(bot.services)(PROJECT, held)  # logged, not raised: other projects go on
    assert "Slack said channel_not_found" in caplog.text
    bot.api.fail_next("chat.postMessage", status=200, error="channel_not_found")
    digest_sender(bot.services)(PROJECT)
    assert "digest for bank not posted" in caplog.text


def test_settings_take_the_documented_knobs_and_show_every_setting(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, admins=[ADMIN], taxonomy_changed_at="2026-12-01T15:06:48"
    )
    bot.slack.command(ADMIN, f"settings {PROJECT} multi_label_audit=maybe")
    bot.settle()
    assert "Setting multi_label_audit must be true or false" in _answer(bot, ADMIN)

    bot.slack.command(
        ADMIN,
        f"settings {PROJECT} review_share=0.2 multi_label_share=0.5 multi_label_k=3 "
        "multi_label_audit=on rare_boost=off rare_minimum=3",
    )
    bot.settle()
    answer = _answer(bot, ADMIN)
    assert "Updated `review_share`" in answer, answer
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert (settings["review_share"], settings["multi_label_share"]) == (0.2, 0.5)
    assert (settings["multi_label_k"], settings["rare_minimum"]) == (3, 3)
    assert settings["multi_label_audit"] is True and settings["rare_boost"] is False

    bot.slack.command(ADMIN, f"settings {PROJECT}")
    bot.settle()
    assert f"Settings of *{PROJECT}*" in _answer(bot, ADMIN)
    (*_, shown) = [c for c in bot.api.calls("response_url") if c.params["_to"] == ADMIN]
    answer = json.dumps(shown.params["blocks"], ensure_ascii=False)
    assert f"`channel` = {CHANNEL}" in answer and "`rare_boost` = false" in answer
    assert "`retrain_every` = 20 (default)" in answer
    assert "`target_accuracy` = 0.9 (default)" in answer
    assert "taxonomy_changed_at" not in answer


def test_models_shows_no_kind_for_a_run_that_made_no_model(bot: Bot, bank: dict[str, str]) -> None:
    """`/label models` says what `labelbot models` says of a stopped run: no classifier (the
    column's stored default, "linear", named a model the run never produced)."""
    (ready,) = _trained(bot, bank, 1)
    with session_scope(bot.ws.db) as session:  # v2: a training whose process was killed
        found = project_rows.get_project(session=session, name=PROJECT)
        assert found.id is not None
        model_runs.start_model_run(session=session, project_id=found.id, n_labels=20,
                                   classes=sorted(set(bank.values())))  # fmt: skip
    bot.slack.command(EXPERT, "models")
    bot.settle()
    lines = [
        block["text"]["text"]
        for block in bot.api.calls("response_url")[-1].params["blocks"]
        if block.get("type") == "section"
    ]
    shown = "\n".join(lines)
    v1 = next(line for line in shown.splitlines() if line.startswith("`v1`"))
    v2 = next(line for line in shown.splitlines() if line.startswith("`v2`"))
    assert f"labels · {ready.kind} · " in v1, shown
    assert "labels · - · " in v2 and "linear" not in v2, shown


def test_app_home_shows_a_forecast_only_once_there_is_one(bot: Bot, bank: dict[str, str]) -> None:
    """Before enough models, the digest's "Too few points to forecast yet (1 model at 1 label
    count; need 4 …)" is a data scientist's note: Home leaves the Forecast out until the
    forecast reads something."""
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.5)
    _trained(bot, bank, 2, per_model=20)
    assert not digest.build_digest(bot.ws, PROJECT).forecast.ok

    def home() -> str:
        bot.slack.event(payloads.app_home_opened(EXPERT))
        bot.settle()
        return json.dumps(bot.api.calls("views.publish")[-1].params["view"])

    shown = home()
    assert "Estimated accuracy" in shown and "Forecast" not in shown
    assert "Too few points" not in shown
    _trained(bot, bank, 3, per_model=20)
    figures = digest.build_digest(bot.ws, PROJECT)
    assert figures.forecast.ok, figures.forecast.message
    assert "Forecast" in home()
