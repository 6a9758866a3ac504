"""Slack refuses a message whose blocks hold too much text in all (`msg_blocks_too_long`, a limit
it does not document: see bot.views.limits). The fake Web API refuses it the same way, and every
message builder fits it with worst-case inputs, keeping what matters: every label selectable,
the example's start, whole lines and a count of the rest."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import ids
from bot.scheduling import proposal_poster
from bot.slack_text import escape
from bot.views import labeling, labeling_message, parse_label_value
from bot.views.digest import digest_message
from bot.views.disputes import DisputeCard, dispute_message
from bot.views.labeling import guidelines_note
from bot.views.limits import (
    MESSAGE_TEXT_BUDGET,
    block_errors,
    text_length,
    text_objects,
    view_errors,
)
from bot.views.models import EarlierLabel, ExampleCard, LabelChoice, Suggestion
from bot.views.proposals import (
    ProposalCard,
    decided_message,
    proposal_message,
    proposals_list,
    superseded_message,
)
from bot.views.review import ReviewCard, parse_review_value, review_message
from bot.views.text import (
    COMPACT_PREVIEW_MAX,
    EXAMPLE_PREVIEW_MAX,
    OPTION_TEXT_MAX,
    OPTION_TEXT_MIN,
    fit_lines,
    fit_menu,
    fit_text,
    section,
)
from engine import exporting, projects, proposing, taxonomy
from engine.digest import CurvePoint, Digest
from engine.forecast import Forecast, StopAdvice
from engine.leaderboard import Standing
from storage.db import session_scope
from storage.repositories import projects as project_repo
from tests.bot.conftest import Bot
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import choices, elements
from tests.helpers import save_found_twice

U1 = "U0ALICE"
CHANNEL = "C0BUDGET"
# CLINC150-like: 150 intents, each with a 300-character guideline
NAMES = [f"intent_{i:03d}_{('transfer', 'balance', 'freeze', 'bill', 'alert')[i % 5]}" for i in range(150)]  # fmt: skip  # noqa: E501
GUIDELINE = "Use this when the customer asks to move money between their own accounts. " * 4
DESCRIBED = [LabelChoice(n, (f"{n}: " + GUIDELINE)[:300], i) for i, n in enumerate(NAMES)]
# the longest text an import takes (engine.importing), with characters that grow when escaped
TEXT = ("Dear bank, my card <4921> & the PIN stopped working. " * 1000)[:50_000]
START = escape(TEXT)[:1000]
# 200 characters, the most a label name holds, alike but for their ends
LONG = [("Customer complaint about a delayed delivery & refund " * 4)[:192] + f" #{i:06d}" for i in range(150)]  # fmt: skip  # noqa: E501


def _fits(payload: dict[str, Any]) -> str:
    """Assert the payload is a valid message within the budget; its blocks as JSON."""
    assert text_length(payload["blocks"]) <= MESSAGE_TEXT_BUDGET
    assert block_errors(payload["blocks"]) == []
    return json.dumps(payload["blocks"], ensure_ascii=False)


def _options(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    (menu,) = [el for _, el in elements(payload) if el.get("action_id") == action_id]
    return menu.get("options") or [o for g in menu["option_groups"] for o in g["options"]]


def _card(labels: list[LabelChoice], **kw: Any) -> ExampleCard:
    return ExampleCard(example_id=7, text=TEXT, project="clinc150", labels=labels, **kw)


# --- the checker and the fake Web API --------------------------------------------------------


def test_text_is_summed_over_every_text_string_of_the_blocks() -> None:
    select = {"type": "static_select", "action_id": "s", "option_groups": [{
        "label": {"type": "plain_text", "text": "ab"},
        "options": [{"text": {"type": "plain_text", "text": "abc"}, "value": "v" * 99,
                     "description": {"type": "plain_text", "text": "abcd"}}],
    }]}  # fmt: skip
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "a"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "ab"}], "accessory": select},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "abc"}]},
        {"type": "actions", "elements": [{
            "type": "button", "action_id": "b", "value": "x" * 50,
            "text": {"type": "plain_text", "text": "ab"},
            "confirm": {"title": {"type": "plain_text", "text": "a"},
                        "text": {"type": "plain_text", "text": "abc"}},
        }]},
        {"type": "rich_text", "elements": [{"type": "rich_text_section",
                                             "elements": [{"type": "text", "text": "abcde"}]}]},
    ]  # fmt: skip
    # header 1, field 2, group label 2, option 3 + 4, context 3, button 2, confirm 1 + 3, rich 5
    assert text_length(blocks) == 26  # values, action_ids and types are not text


def test_the_budget_holds_for_messages_only() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2000}}] * 6
    assert any("msg_blocks_too_long" in e for e in block_errors(blocks))
    assert block_errors(blocks[:5]) == []
    # modals show an example's whole text (bot.views.modals): no such limit is documented
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Example"}, "blocks": blocks}
    assert view_errors(modal) == [] and view_errors({**modal, "type": "home"}) == []


def test_the_fake_web_api_refuses_too_much_text_as_slack_does(
    slack_client: WebClient, slack_api: FakeSlackAPI
) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2000}}
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_postMessage(channel="C1", text="x", blocks=[section] * 6)
    assert refused.value.response.data == {"ok": False, "error": "msg_blocks_too_long"}
    posted = slack_client.chat_postMessage(channel="C1", text="x", blocks=[section] * 5)
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=[section] * 6)
    assert refused.value.response["error"] == "msg_blocks_too_long"
    assert slack_api.messages("C1")[0]["blocks"] == [section] * 5  # the update was refused


def test_the_last_resort_cuts_the_longest_texts_and_keeps_short_ones() -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "a" * 9000}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "b" * 6000}},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "k", "value": "1",
             "text": {"type": "plain_text", "text": "Keep"}},
        ]},
    ]  # fmt: skip
    fitted = fit_text(blocks)
    assert text_length(fitted) <= MESSAGE_TEXT_BUDGET
    texts = [fitted[0]["text"]["text"], fitted[1]["text"]["text"]]
    assert [len(t) for t in texts] == [5498, 5498] and all(t.endswith("…") for t in texts)
    assert fitted[2] == blocks[2] and len(blocks[0]["text"]["text"]) == 9000  # a copy
    within = blocks[1:]
    assert fit_text(within) is within  # what fits is left as it is


# --- the labeling DM -----------------------------------------------------------------------


def test_150_labels_with_long_guidelines_all_fit_one_labeling_dm() -> None:
    guess = Suggestion(NAMES[3], 0.41, runner_up=(NAMES[4], 0.38))
    payload = labeling_message(_card(DESCRIBED, suggestion=guess))
    blocks = _fits(payload)
    options = _options(payload, ids.LABEL_SELECT)
    # every label is offered, by its whole name, and a click names it by id
    assert sorted(o["text"]["text"] for o in options) == sorted(NAMES)
    assert sorted(parse_label_value(o["value"])[1] for o in options) == list(range(150))
    assert payload["blocks"][0]["text"]["text"].startswith(START)  # the example's start
    assert payload["blocks"][0]["accessory"]["action_id"] == ids.SHOW_FULL_TEXT
    # the guidelines share what is left: each cut alike, and a note says where they are whole
    shown = {len(o["description"]["text"]) for o in options}
    assert len(shown) == 1 and 20 <= shown.pop() < 75
    assert guidelines_note("clinc150") in blocks
    assert f"✓ {NAMES[3]}" in blocks and "Model's guess" in blocks


def test_guidelines_that_fit_are_shown_as_before() -> None:
    short = [LabelChoice(n, f"About {n}: " + "x" * 100, i) for i, n in enumerate(NAMES[:77])]
    payload = labeling_message(_card(short))
    blocks = _fits(payload)
    options = _options(payload, ids.LABEL_SELECT)
    assert [o["description"]["text"] for o in options] == [
        (f"About {n}: " + "x" * 100)[:74] + "…" for n in NAMES[:77]
    ]
    assert "Label guidelines are cut" not in blocks
    assert payload["blocks"][0]["text"]["text"] == escape(TEXT)[:2899] + "…"


def test_200_character_label_names_stay_apart_and_selectable() -> None:
    earlier = [EarlierLabel(LONG[0], [f"U{i}" for i in range(20)], LONG[:40])] * 3
    labels = [LabelChoice(n, "&" * 2000, i) for i, n in enumerate(LONG)]
    payload = labeling_message(_card(labels, earlier=earlier, suggestion=Suggestion(LONG[1], 0.3)))
    _fits(payload)
    options = _options(payload, ids.LABEL_SELECT)
    texts = [o["text"]["text"] for o in options]
    assert len(set(texts)) == 150  # cut in their middle: the telling ends stay
    assert {t[-7:] for t in texts} == {n[-7:] for n in LONG}
    assert sorted(parse_label_value(o["value"])[1] for o in options) == list(range(150))
    assert payload["blocks"][0]["text"]["text"].startswith(START)


def test_a_taxonomy_too_large_for_one_message_offers_what_fits_and_says_so() -> None:
    labels = [LabelChoice(f"label_{i:05d}", None, i) for i in range(10_000)]
    payload = labeling_message(_card(labels))
    blocks = _fits(payload)
    offered = len(_options(payload, ids.LABEL_SELECT))
    assert 300 < offered < 10_000
    assert f"The menu offers the first {offered} of 10000 labels" in blocks
    assert payload["blocks"][0]["text"]["text"].startswith(START)
    assert {b["action_id"] for _, b in elements(payload)} >= {ids.SKIP, ids.DISCUSS, ids.FLAG}


# --- the review and dispute DMs ------------------------------------------------------------


def test_review_menu_of_150_long_names_fits() -> None:
    card = ReviewCard(review_id=3, example_id=7, text=TEXT, project="clinc150", given=LONG[0],
                      given_by=U1, suggested=LONG[1], confidence=0.9,
                      labels=[LabelChoice(n, None, i) for i, n in enumerate(LONG)])  # fmt: skip
    payload = review_message(card)
    _fits(payload)
    options = _options(payload, ids.REVIEW_SELECT)
    assert sorted(parse_review_value(o["value"])[2] for o in options) == list(range(2, 150))
    assert len({o["text"]["text"] for o in options}) == 148
    assert payload["blocks"][1]["text"]["text"].startswith(START)


def test_dispute_menu_of_150_long_names_fits() -> None:
    names = [n[:120] + n[-10:] for n in LONG]  # bare names (no ids) travel by name: 150 at most
    card = DisputeCard(example_id=7, text=TEXT, project="clinc150",
                       votes=[(U1, names[0]), ("U0BOB", names[1])], model=(names[2], 0.5),
                       involved=[U1, "U0BOB"], labels=names)  # fmt: skip
    payload = dispute_message(card)
    _fits(payload)
    options = _options(payload, f"{ids.SETTLE}:other")
    assert sorted(o["value"].partition("|")[2] for o in options) == sorted(names[3:])
    assert payload["blocks"][1]["text"]["text"].startswith(START)


def test_settle_keep_and_change_buttons_of_long_names_alike_but_in_the_middle_read_apart() -> None:
    """Each button's name used to be cut on its own: two names that differ only in their middle
    kept the same start and end, and two "Settle: …" buttons read the same but settled
    different labels."""
    common = ("Customer complaint: the parcel was delivered {} and the refund for the shipping "
              "fee was never paid back to the card")  # fmt: skip
    late, damaged = common.format("late"), common.format("damaged")
    labels = [LabelChoice(late, None, 1), LabelChoice(damaged, None, 2)]
    dispute = dispute_message(DisputeCard(example_id=7, text=TEXT, project="p",
                                          votes=[(U1, late), ("U0BOB", damaged)],
                                          model=(late, 0.5), involved=[U1, "U0BOB"],
                                          labels=labels))  # fmt: skip
    _fits(dispute)
    buttons = [el for _, el in elements(dispute) if el["type"] == "button"]
    settle = {el["value"]: el["text"]["text"] for el in buttons if ids.SETTLE in el["action_id"]}
    assert set(settle) == {"7/1", "7/2"}
    assert "late" in settle["7/1"] and "damaged" in settle["7/2"]
    review = review_message(ReviewCard(review_id=3, example_id=7, text=TEXT, project="p",
                                       given=late, given_by=U1, suggested=damaged,
                                       confidence=0.9, labels=labels))  # fmt: skip
    _fits(review)
    texts = {el["action_id"]: el["text"]["text"] for _, el in elements(review) if "text" in el}
    assert "late" in texts[ids.REVIEW_KEEP] and "damaged" in texts[ids.REVIEW_CHANGE]


# --- taxonomy proposals --------------------------------------------------------------------


def _evidence() -> dict[str, Any]:
    clusters = [
        {"suggested_name": "&" * 200, "size": 10**6, "unlabeled": 10**6,
         "words": [{"word": "&" * 50}] * 10, "examples": [{"text": "&" * 50_000}] * 10}
        for _ in range(10)
    ]  # fmt: skip
    counts = {f"{'&' * 190}{i:02d}": 5 for i in range(50)}
    return {"clusters": clusters, "counts": counts, "nearest_label": "&" * 200,
            **{f"metric_{i}": 0.5 for i in range(30)}}  # fmt: skip


def _proposal(kind: str) -> ProposalCard:
    return ProposalCard(id=12, project="clinc150", kind=kind, labels=["&" * 200, "&" * 199 + "x"],
                        score=0.9, message="&" * 5000, evidence=_evidence(),
                        names=["&" * 200] * 10)  # fmt: skip


@pytest.mark.parametrize("kind", ["merge", "split", "add", "rare"])
def test_a_proposal_with_huge_evidence_fits_and_keeps_its_buttons(kind: str) -> None:
    card = _proposal(kind)
    posted = proposal_message(card)
    blocks = _fits(posted)
    assert {el["action_id"] for _, el in elements(posted)} == {
        ids.PROPOSAL_APPROVE, ids.PROPOSAL_EDIT, ids.PROPOSAL_REJECT
    }  # fmt: skip
    assert posted["blocks"][0]["text"]["text"].startswith(":")  # the head: what and why
    assert "of examples, left out to fit one Slack message" in blocks
    assert "`labelbot proposals clinc150 --json` has all the evidence" in blocks
    done = decided_message(card, user=U1, approved=True, summary="&" * 5000, undoable=True)
    assert "Approved by <@U0ALICE>" in _fits(done)
    assert "Superseded" in _fits(superseded_message(card))


def test_the_proposals_list_shows_whole_lines_and_counts_the_rest() -> None:
    cards = [
        ProposalCard(i, "clinc150", "merge", ["&" * 200, "&" * 199 + "x"], 0.5, "&" * 3000)
        for i in range(40)
    ]
    answer = proposals_list("clinc150", cards)
    blocks = _fits(answer)
    shown = blocks.count("· score 0.50 ·")
    assert 1 <= shown < 20
    assert f"… and {40 - shown} more: `labelbot proposals clinc150`." in blocks
    assert f"`#{shown - 1}` merge" in blocks and f"`#{shown}` merge" not in blocks


# --- the digest ----------------------------------------------------------------------------


def test_the_digest_of_a_150_label_project_fits_with_counted_lists() -> None:
    digest = Digest(
        project="clinc150", channel=CHANNEL, since=datetime(2025, 1, 1, tzinfo=UTC),
        labels_since=9000, by_annotator=[("&" * 199 + f"{i}", 100) for i in range(50)],
        total_labels=20_000, model_version=5,
        accuracy=CurvePoint(1000, 0.9, 0.8, 0.95, "audit"), accuracy_change=0.02,
        weakest=[(n, 0.1, 3) for n in LONG], per_class_f1={}, curve=[],
        forecast=Forecast(False, "not enough points to fit a curve yet", 5), target=0.95,
        stop=StopAdvice(False, "keep labeling"), open_flags=3, open_discussions=2,
        open_proposals=30, top_proposals=["&" * 3000] * 3,
    )  # fmt: skip
    leaders = [Standing("&" * 200, 50, 9)] * 50
    payload = digest_message(digest, leaderboard=leaders)
    _fits(payload)
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    weakest = next(s for s in sections if s.startswith("*Weakest classes"))
    assert weakest.count("• ") + int(weakest.rsplit("… and ", 1)[1].split(" ")[0]) == 150
    assert escape(LONG[0]) in weakest
    assert "… and" in next(s for s in sections if s.startswith("*This week's labelers*"))
    proposals = next(s for s in sections if s.startswith("*30 taxonomy proposals open*"))
    listed = proposals.count("\n• ")
    assert 1 <= listed < 3  # the top 3 do not all fit: the count covers every open one
    assert f"… and {30 - listed} more: `/label proposals clinc150`" in proposals
    assert "(top 3)" not in proposals
    assert payload["blocks"][0]["text"]["text"] == "clinc150: digest"  # weekdays by default


# --- the shared shrinking helpers ------------------------------------------------------------


def test_text_length_and_the_last_resort_walk_the_same_strings() -> None:
    nested = [{"a": [{"text": "ab", "b": {"text": {"type": "x", "text": "cde"}}}, ("fgh",)],
               "options": [{"text": {"text": "ij"}, "description": {"text": "k"}}],
               "text": {"text": "l", "text2": "not this", "more": [{"text": "mn"}]}}]  # fmt: skip
    found = [obj["text"] for obj, _ in text_objects(nested)]
    assert sorted(found) == ["ab", "cde", "ij", "k", "l", "mn"]
    assert text_length(nested) == sum(map(len, found)) == 11
    names = [obj["text"] for obj, keys in text_objects(nested) if keys == ("options", "text")]
    assert names == ["ij"]


def test_fit_text_cuts_every_text_to_one_character_when_there_are_more_texts_than_room() -> None:
    blocks = [section("x" * 20) for _ in range(30)]
    fitted = fit_text(blocks, budget=10)  # 30 texts, 10 characters: as documented, over
    assert [b["text"]["text"] for b in fitted] == ["…"] * 30


def _over(shown: int, *, fixed: int = 0) -> list[dict[str, Any]]:
    """Blocks whose text is ``fixed`` characters plus 100 per name shown."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "n" * n}}
            for n in [fixed] + [100] * shown]  # fmt: skip


def test_fit_menu_offers_none_of_an_empty_menu_or_when_not_one_name_fits() -> None:
    built: list[tuple[int, int, int]] = []

    def build(preview_max: int, text_max: int, shown: int) -> list[dict[str, Any]]:
        built.append((preview_max, text_max, shown))
        return _over(shown, fixed=MESSAGE_TEXT_BUDGET + 1)  # over budget whatever it offers

    assert fit_menu(build, []).shown == 0
    assert fit_menu(build, ["a" * 50] * 5).shown == 0
    assert built[-1] == (built[-1][0], OPTION_TEXT_MIN, 0)  # what it returns was built for 0

    def one_fits(preview_max: int, text_max: int, shown: int) -> list[dict[str, Any]]:
        return _over(shown, fixed=MESSAGE_TEXT_BUDGET - 150)

    fit = fit_menu(one_fits, ["a" * 50] * 5)
    assert fit.shown == 1 and text_length(fit.blocks) <= MESSAGE_TEXT_BUDGET


def test_fit_menu_cuts_names_no_shorter_than_the_rest_of_the_message_needs() -> None:
    # as in the labeling DM, the rest of the message may shrink once the names are cut (its note
    # on guidelines goes when the guidelines then fit whole): the names keep the room that frees
    def text(n: int) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": "x" * n}}

    def build(preview_max: int, text_max: int, shown: int) -> list[dict[str, Any]]:
        note = [text(1000)] if text_max == OPTION_TEXT_MAX else []  # needed only when uncut
        names = [text(min(60, text_max)) for _ in range(shown)]
        return [text(2750), text(2750), *note, *names]  # 5,500 besides the names and the note

    fit = fit_menu(build, ["n" * 60] * 100)  # as built: 5,500 + 1,000 + 100 × 60 = budget + 1,500
    # 100 names of 55 characters fill the budget exactly once the note is gone (not 45 each,
    # which would make room for the note too)
    assert (fit.option_text_max, fit.shown) == (55, 100)
    assert text_length(fit.blocks) == MESSAGE_TEXT_BUDGET


def test_fit_lines_counts_the_total_and_cuts_a_first_line_too_long_for_the_limit() -> None:
    def more(n: int) -> str:
        return f"… and {n} more"

    assert fit_lines(["a", "b"], 10, more) == ["a", "b"]
    assert fit_lines(["a" * 8] * 3, 22, more) == ["a" * 8, "… and 2 more"]
    cut = fit_lines(["x" * 100, "y"], 40, more)  # not even the first line fits whole
    assert cut == ["x" * 26 + "…", "… and 1 more"] and len("\n".join(cut)) == 40
    assert fit_lines(["x" * 100, "y"], 20, more) == ["x" * 19 + "…"]  # no room for the count
    assert fit_lines(["x" * 100], 0, more) == []
    assert fit_lines([], 10, more) == []


# --- the real bot, over HTTP ---------------------------------------------------------------


def test_a_clinc150_project_with_guidelines_gets_its_labeling_dm(bot: Bot, tmp_path: Path) -> None:
    projects.create_project(bot.ws, name="clinc150", labels=NAMES)
    for label in DESCRIBED:
        taxonomy.describe_label(bot.ws, project="clinc150", label=label.name,
                                description=label.description or "", actor="admin",
                                rescore=False)  # fmt: skip
    path = tmp_path / "clinc150.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], [TEXT]])
    projects.import_file(bot.ws, project="clinc150", path=path, embed=False)

    bot.slack.command(U1, "clinc150")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)  # Slack (the fake) took it
    assert text_length(message["blocks"]) <= MESSAGE_TEXT_BUDGET
    assert sorted(c.label for c in choices(message)) == sorted(NAMES)
    assert message["blocks"][0]["text"]["text"].startswith(START)
    bot.slack.choose(U1, message, NAMES[149])
    bot.settle()
    (record,) = exporting.export_records(bot.ws, "clinc150")
    assert record["label"] == NAMES[149]


def test_a_proposal_with_huge_evidence_is_posted_to_the_channel(bot: Bot) -> None:
    projects.create_project(bot.ws, name="clinc150", labels=NAMES[:3], channel_id=CHANNEL)
    evidence = _evidence()
    with session_scope(bot.ws.db) as session:
        found = project_repo.get_project(session=session, name="clinc150")
        assert found.id is not None
        save_found_twice(
            session=session, project_id=found.id, kind="split", labels=[NAMES[0]],
            key=proposing.key_text(["split", NAMES[0]]), score=0.8, evidence=evidence,
            evidence_strength=1.0, message="&" * 5000,
        )  # fmt: skip
    assert proposal_poster(bot.services)() == 1
    (posted,) = bot.api.messages(CHANNEL)
    assert text_length(posted["blocks"]) <= MESSAGE_TEXT_BUDGET
    assert ids.PROPOSAL_APPROVE in {el["action_id"] for _, el in elements(posted)}


def test_the_labeling_dm_fits_its_menu_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[int] = []

    def counted(build: Any, names: Any) -> Any:
        passes.append(len(names))
        return fit_menu(build, names)

    monkeypatch.setattr(labeling, "fit_menu", counted)
    payload = labeling_message(_card(DESCRIBED))  # guidelines cut: the note's room is needed
    assert guidelines_note("clinc150") in _fits(payload)
    assert passes == [150]


def test_guidelines_that_fit_beside_a_shorter_example_come_whole_without_the_note() -> None:
    # two guidelines of 50 characters, and an example as long as leaves 99 beside the menu: one
    # too few for both whole, and too few for the note. Shown shorter (its full text a click
    # away), the example makes room for both: nothing is cut, and no note says it is.
    labels = [LabelChoice(f"label_{i:03d}_" + "n" * 65, "g" * 50 if i < 2 else None, i)
              for i in range(110)]  # fmt: skip
    without_guidelines = [LabelChoice(lb.name, None, lb.id) for lb in labels]

    def length(example: int, card_labels: list[LabelChoice]) -> int:
        card = ExampleCard(example_id=7, text="t" * example, project="p", labels=card_labels)
        return text_length(labeling_message(card)["blocks"])

    leaving_99 = 2000 + (MESSAGE_TEXT_BUDGET - 99) - length(2000, without_guidelines)
    assert length(leaving_99, without_guidelines) == MESSAGE_TEXT_BUDGET - 99
    assert leaving_99 <= EXAMPLE_PREVIEW_MAX and len(guidelines_note("p")) > 99
    card = ExampleCard(example_id=7, text="t" * leaving_99, project="p", labels=labels)
    payload = labeling_message(card)
    blocks = _fits(payload)
    described = [o["description"]["text"] for o in _options(payload, ids.LABEL_SELECT)
                 if "description" in o]  # fmt: skip
    assert described == ["g" * 50, "g" * 50]
    assert "Label guidelines are cut" not in blocks
    assert payload["blocks"][0]["text"]["text"] == "t" * (COMPACT_PREVIEW_MAX - 1) + "…"
