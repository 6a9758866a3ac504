"""`/label` subcommands the README documents and no other test drove through the real Bolt app:
`promote` typed (not the notice's button), `unpin` refused to others, `quiet off` and the
rhythm verbs asked with no argument, `leaderboard on`, `settings digest_cron=off`, and
`/label help` naming every subcommand the code answers and nothing else."""

from __future__ import annotations

import re

from bot import ids
from engine import consensus, projects, rhythm, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_classify_shortcut import _train as label_and_train
from tests.fakes import payloads

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _said(bot: Bot, user: str, text: str) -> str:
    """`/label <text>` typed by ``user`` in their DM: the ephemeral answer."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _train(bot: Bot, truth: dict[str, str], models: int) -> None:
    """``models`` model versions, each after 15 more labels by EXPERT."""
    for _ in range(models):
        label_and_train(bot, truth, 15)


def _active(bot: Bot) -> int | None:
    return next((r.version for r in training.list_versions(bot.ws, PROJECT) if r.is_active), None)


def _settings(bot: Bot) -> dict[str, object]:
    return dict(projects.get_project(bot.ws, PROJECT).settings)


def test_promote_and_unpin_typed_are_admins_only(bot: Bot, bank: dict[str, str]) -> None:
    _train(bot, bank, 2)
    assert _active(bot) == 2
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])

    assert "Only project admins can promote a model" in _said(bot, EXPERT, f"promote {PROJECT} 1")
    assert _active(bot) == 2
    assert "Which version?" in _said(bot, ADMIN, f"promote {PROJECT}")
    said = _said(bot, ADMIN, f"promote {PROJECT} v1")
    assert f"*{PROJECT}*: v1 is active and answers from now on." in said, said
    assert _active(bot) == 1

    # pinned by an admin, the pin stays until an admin lifts it
    assert "v2 is active and pinned" in _said(bot, ADMIN, f"pin {PROJECT} 2")
    assert "Only project admins can unpin the model" in _said(bot, EXPERT, f"unpin {PROJECT}")
    assert _settings(bot).get("pinned_version") == 2
    said = _said(bot, ADMIN, "unpin")  # the only project: named or not
    assert f"*{PROJECT}* is unpinned" in said, said
    assert _settings(bot).get("pinned_version") is None and _active(bot) == 2


def test_the_rhythm_verbs_show_switch_off_and_back_on(bot: Bot) -> None:
    said = _said(bot, EXPERT, "quiet")
    assert said.startswith("Your quiet hours: 20:00–08:00 your time"), said  # the default
    assert _said(bot, EXPERT, "quiet off").startswith("No quiet hours")
    assert rhythm.rhythm_of(bot.ws, user=EXPERT).quiet == (0, 0)

    assert "Your daily nudge is off" in _said(bot, EXPERT, "nudge")
    _said(bot, EXPERT, "nudge 09:30")
    assert "Your daily nudge is at 09:30" in _said(bot, EXPERT, "nudge")

    assert "off the weekly leaderboard" in _said(bot, EXPERT, "leaderboard off")
    assert rhythm.rhythm_of(bot.ws, user=EXPERT).leaderboard is False
    assert _said(bot, EXPERT, "leaderboard on") == "You are on the weekly leaderboard."
    assert rhythm.rhythm_of(bot.ws, user=EXPERT).leaderboard is True


def test_digest_cron_off_stops_digests(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    for typed in ("off", "NONE", '""'):
        projects.update_settings(bot.ws, project=PROJECT, digest_cron="0 9 * * *")
        said = _said(bot, ADMIN, f"settings {PROJECT} digest_cron={typed}")
        assert "Updated `digest_cron`" in said, (typed, said)
        assert _settings(bot)["digest_cron"] == "off", typed


def test_help_names_every_subcommand_and_none_the_code_lacks(bot: Bot) -> None:
    said = _said(bot, EXPERT, "help")
    named = set(re.findall(r"`/label ([a-z|]+)", said))
    verbs = {v for group in named for v in group.split("|")}
    assert verbs == set(ids.COMMAND_VERBS), verbs ^ set(ids.COMMAND_VERBS)
    for shape in ("`/label`", "`/label #channel`", "`/label 5`", "`/label &lt;project&gt;`"):
        assert shape in said, shape


def test_which_project_suggests_the_subcommand_asked_for(bot: Bot, bank: dict[str, str]) -> None:
    """With several projects and none named, a subcommand's "Which project?" offered
    `/label bank`, which labels: it names the subcommand with each project instead."""
    projects.create_project(bot.ws, name="legal", labels=["nda", "lease"])
    bot.api.add_user(ADMIN, is_admin=True)  # a workspace admin: neither project names admins
    for typed, shown in (
        ("models", ["`/label models bank`", "`/label models legal`"]),
        ("digest", ["`/label digest bank`"]),
        ("settings retrain_every=30", ["`/label settings bank retrain_every=30`"]),
        ("pin 2", ["`/label pin bank 2`", "`/label pin legal 2`"]),
        ("predict my card was declined", ["`/label predict bank &lt;text&gt;`"]),
        ("guidelines", ["`/label guidelines legal`"]),
        ("proposals", ["`/label proposals bank`"]),
    ):
        said = _said(bot, ADMIN, typed)
        assert said.startswith(":warning: Which project? Try `/label "), (typed, said)
        for choice in shown:
            assert choice in said, (typed, said)
        assert "`/label bank`" not in said, (typed, said)
    assert _settings(bot).get("retrain_every") is None and not bot.api.messages(CHANNEL)
    # in a channel two projects share, it says so; plain `/label` offers the projects
    projects.set_channel(bot.ws, project="legal", channel_id=CHANNEL)
    bot.slack.command(ADMIN, "models", channel=CHANNEL)
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert f"<#{CHANNEL}> is the channel of 2 projects: try `/label models bank` or " in said
    said = _said(bot, ADMIN, f"pin <#{CHANNEL}|labeling> 2")  # named by its channel, elsewhere
    assert (  # the channel named is the shared one, whichever channel it was typed in
        f"Which project? <#{CHANNEL}> is the channel of 2 projects: "
        "try `/label pin bank 2` or `/label pin legal 2`"
    ) in said, said
    assert "Try `/label bank` or `/label legal`" in _said(bot, ADMIN, "")


def test_app_home_shows_agreement_and_open_reviews(bot: Bot, bank: dict[str, str]) -> None:
    """README: "App Home shows agreement, open reviews and rare classes beside the model's
    figures" -- the first two drawn by the app, not only by the view function."""
    from tests.bot.test_reviews_slack import _doubt, _label

    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    for _ in range(6):  # each example asked blind of both: a second opinion comes first
        example = _label(bot, "U0ANA", "card_arrival")
        assert _label(bot, "U0BOB", "card_arrival" if example % 3 else "atm_support") == example
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    _doubt(bot, _label(bot, "U0ANA", "card_arrival"), "atm_support")

    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.settle()
    view = bot.api.calls("views.publish")[-1].params["view"]
    fields = [f["text"] for b in view["blocks"] for f in b.get("fields", [])]
    agreement = consensus.agreement_report(bot.ws, PROJECT).describe()
    assert f"*Agreement*\n{agreement}" in fields, fields
    assert "*Reviews*\n1 likely mislabel waits" in fields, fields


def test_no_project_yet_is_said_by_every_subcommand_that_needs_one(bot: Bot) -> None:
    bot.api.add_user(ADMIN, is_admin=True)
    for typed in ("", "models", "settings", "digest", "guidelines", "proposals", "predict hi"):
        said = _said(bot, ADMIN, typed)
        assert "There are no projects yet: an admin creates one with `labelbot project create`" in (
            said
        ), (typed, said)
    assert not bot.api.calls("chat.postMessage")
