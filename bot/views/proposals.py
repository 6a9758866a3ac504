"""Taxonomy proposals in the project channel: the evidence, Approve / Reject, and the verdict.

A message holds at most 50 blocks and a section 3,000 characters
(https://docs.slack.dev/reference/block-kit/blocks); a proposal message uses under 12 blocks,
and every example text is escaped and cut to ``SAMPLE_TEXT_MAX``. The text of a message's blocks
as a whole stays within bot.views.limits.MESSAGE_TEXT_BUDGET: groups of examples are left out
(last first) and the proposals list shows fewer lines, each saying how many more there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import ids
from bot.slack_text import escape, escape_mrkdwn, split_chunks, truncate, who
from bot.views.limits import MESSAGE_TEXT_BUDGET, text_length
from bot.views.text import (
    MODAL_TITLE_MAX,
    SECTION_TEXT_MAX,
    Block,
    actions,
    button,
    context,
    fitting_prefix,
    message,
    plain,
    section,
)
from engine.forecast import counted, times
from engine.proposals.words import confidently_look

CONFIRM_TEXT_MAX = 300  # a confirmation dialog's text
NAMES_MAX = 500
INPUT_MAX = 3000  # a plain_text_input's max_length
REASON_MAX = 500
SAMPLE_TEXT_MAX = 160  # one example quoted as evidence
SAMPLES_PER_GROUP = 2  # examples shown per label / cluster
GROUPS_SHOWN = 4
LISTED_MAX = 20  # `/label proposals`: the strongest ones
LISTED_REASON_MAX = 240
LISTED_TEXT_MAX = 8000  # the list's lines together: the rest of the answer fits in the budget
KIND_ICONS = {"merge": ":twisted_rightwards_arrows:", "split": ":scissors:",
              "add": ":heavy_plus_sign:", "rare": ":hourglass:"}  # fmt: skip


@dataclass(frozen=True)
class ProposalCard:
    """One proposal as the channel sees it (the engine's row, as plain data)."""

    id: int
    project: str
    kind: str
    labels: Sequence[str]
    score: float
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    status: str = "open"
    decided_by: str | None = None
    names: Sequence[str] = ()  # the label names approval uses (engine.proposing.default_names)


def proposal_value(project: str, proposal_id: int) -> str:
    return f"{project}:{proposal_id}"


def parse_proposal_value(value: str) -> tuple[str, int]:
    """Inverse of :func:`proposal_value` (project names never contain ":")."""
    project, _, proposal_id = value.rpartition(":")
    return project, int(proposal_id)


def _and(names: Sequence[str]) -> str:
    """E.g. "a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)


def approval_effect(card: ProposalCard, names: Sequence[str] | None = None) -> str:
    """What approving ``card`` does to the labels and the labels given, in one plain sentence
    (``names``: the admin's own names; default the card's)."""
    names = list(names or card.names)
    labels = list(card.labels)
    if card.kind == "rare" and names and card.evidence.get("nearest_label"):
        labels = [str(card.evidence["nearest_label"]), *labels]  # merged into its nearest label
    if card.kind in ("merge", "rare") and names:
        into = names[0]
        others = [lb for lb in labels if lb != into]
        target = into if into in labels else f"a new label {into}"
        return (f"Approving merges {_and(labels)} into {target}: every label given to "
                f"{_and(others)} counts as {into} from then on. Nothing is deleted.")  # fmt: skip
    if card.kind == "split" and names:
        sizes = [int(c.get("size") or 0) for c in card.evidence.get("clusters") or []]
        counted = f"its {sum(sizes):,} labeled examples" if sum(sizes) else "its labeled examples"
        return (f"Approving splits {labels[0]} into {_and(names)}: {counted} go back to the "
                f"queue to be labeled again; the old label stays in their history.")  # fmt: skip
    if card.kind == "add" and names:
        what, whose = ("the label", "its") if len(names) == 1 else ("the labels", "their")
        return (f"Approving adds {what} {_and(names)}; the queue then looks for {whose} first "
                "examples by name.")  # fmt: skip
    what = labels[0] if labels else "this label"
    return f"Approving changes no label: it records that {what} needs more examples."


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def evidence_numbers(evidence: Mapping[str, Any]) -> list[str]:
    """``name value`` for the evidence's top-level numbers, label counts and nearest label."""
    out = []
    for key, value in evidence.items():
        name = key.replace("_", " ")
        if isinstance(value, bool) or value is None or key == "min_examples":
            continue  # min_examples: the project's setting, not evidence
        if isinstance(value, int | float):
            out.append(f"{escape_mrkdwn(name)} {_number(value)}")
        elif isinstance(value, str) and key in ("nearest_label", "suggestion"):
            out.append(f"{escape_mrkdwn(name)} *{escape_mrkdwn(value)}*")
        elif key == "counts" and isinstance(value, Mapping):
            out += [
                f"*{escape_mrkdwn(str(k))}* {counted(int(v), 'example')}" for k, v in value.items()
            ]
    return out


def _texts(samples: Any) -> list[str]:
    rows = samples if isinstance(samples, list) else []
    return [str(s["text"]) for s in rows if isinstance(s, Mapping) and s.get("text")]


def sample_groups(evidence: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(title, example texts): the split's clusters, the merge's confusable examples of each
    label, or the add/rare proposal's examples."""
    for i, cluster in enumerate(evidence.get("clusters") or []):
        name = escape_mrkdwn(str(cluster.get("suggested_name") or f"cluster {i + 1}"))
        words = ", ".join(escape_mrkdwn(str(w["word"])) for w in (cluster.get("words") or [])[:5])
        size, unlabeled = cluster.get("size"), cluster.get("unlabeled")
        counted = _number(size or 0)
        if unlabeled:
            counted = f"{counted} labeled + {_number(unlabeled)} unlabeled"
        title = f"Cluster {i + 1}: *{name}*" + (
            f" ({counted} examples)" if size or unlabeled else ""
        )
        yield title + (f" · {words}" if words else ""), _texts(cluster.get("examples"))
    samples = evidence.get("examples")
    if isinstance(samples, Mapping):  # merge: each label's examples that look like the other
        for label, rows in samples.items():
            yield f"*{escape_mrkdwn(str(label))}* examples the model confuses", _texts(rows)
    elif samples:
        yield "Examples", _texts(samples)


def _quote(text: str) -> str:
    one_line = " ".join(text.split())
    return ">" + truncate(escape_mrkdwn(one_line), SAMPLE_TEXT_MAX)


def plain_reason(card: ProposalCard) -> str:
    """Why the change is proposed, in words an expert uses (mrkdwn, escaped); the statistics
    follow in the details."""
    ev = card.evidence
    labels = [f"*{escape_mrkdwn(lb)}*" for lb in card.labels]
    if card.kind == "merge" and len(labels) == 2:
        joint = ev.get("confident_joint") or {}
        looks = sum(int(v) for v in joint.values()) if isinstance(joint, Mapping) else 0
        told = ev.get("disagreements")
        return (
            f"The model mixes up {labels[0]} and {labels[1]}"
            + (f": {confidently_look(looks)} like the other label" if looks else "")
            + (f", and experts chose differently between them {times(told)}" if told else "")
            + ". If they mean the same thing to your team, merge them."
        )
    if card.kind == "split" and ev.get("clusters"):
        parts = []
        for c in ev["clusters"][:2]:
            n = int(c.get("size") or 0) + int(c.get("unlabeled") or 0)
            parts.append(
                f"*{escape_mrkdwn(str(c.get('suggested_name')))}* ({counted(n, 'example')})"
            )
        return (
            f"{labels[0]} may hold two different things, {_and(parts)}: its examples form two "
            "groups further apart than a label's usually are. If your team tells them apart, "
            "split it."
        )
    if card.kind == "add":
        size = ev.get("size")
        many = f"{_number(size)} examples" if size else "Examples"
        return (
            f"{many} that your experts skipped, flagged or discussed without labeling look "
            f"alike: a label such as {labels[0]} may be missing."
        )
    if card.kind == "rare":
        count, nearest = ev.get("count"), ev.get("nearest_label")
        poorly = bool(count) and _learned_poorly(card)
        advice = (
            f"merge it into *{escape_mrkdwn(str(nearest))}*, or label more of it"
            if ev.get("suggestion") == "merge" and nearest
            # the queue's help for rare labels picks only those under the project's minimum
            else "label more of it, or describe it so experts tell it apart"
            if poorly
            else "label more of it (the queue already looks for them)"
        )
        if not count:
            return f"{labels[0]} has no examples yet: {advice}."
        if poorly:
            f1 = ev.get("f1")
            score = f" (out-of-fold F1 {float(f1):.2f})" if isinstance(f1, int | float) else ""
            return (
                f"{labels[0]} is learned poorly from {counted(int(count), 'example')}{score}: "
                f"the model seldom tells it from other labels. {advice[0].upper()}{advice[1:]}."
            )
        return (
            f"{labels[0]} has only {counted(count, 'example')}, too few for the model to learn: "
            f"{advice}."
        )
    return escape_mrkdwn(card.message)


def _learned_poorly(card: ProposalCard) -> bool:
    """A rare proposal made for a poor out-of-fold F1 although the label has enough examples to
    count as learnable (engine.proposals.rare), not for too few examples."""
    count, minimum = card.evidence.get("count"), card.evidence.get("min_examples")
    if isinstance(count, int) and isinstance(minimum, int):
        return count >= minimum
    # proposals stored before their evidence carried the minimum: the detector's message says
    return " is hard to learn from " in card.message


def _summary_blocks(card: ProposalCard, groups_max: int = GROUPS_SHOWN) -> list[Block]:
    icon = KIND_ICONS.get(card.kind, ":bulb:")
    labels = ", ".join(f"*{escape_mrkdwn(lb)}*" for lb in card.labels)
    head = (
        f"{icon} *Taxonomy proposal #{card.id}* in *{escape_mrkdwn(card.project)}*: "
        f"{escape_mrkdwn(card.kind)} {labels}\n{plain_reason(card)}"
    )
    blocks = [section(head, block_id=f"{ids.PROPOSAL_BLOCK}:{card.id}")]
    numbers = evidence_numbers(card.evidence)
    details = f"Details (score {card.score:.2f}): {escape_mrkdwn(card.message)}"
    blocks.append(context(details, *(["Evidence: " + " · ".join(numbers)] if numbers else [])))
    groups = list(sample_groups(card.evidence))[:GROUPS_SHOWN]
    for title, texts in groups[:groups_max]:
        quoted = "\n".join(_quote(t) for t in texts[:SAMPLES_PER_GROUP])
        blocks.append(section(f"{title}\n{quoted}" if quoted else title))
    if len(groups) > groups_max:
        left_out = len(groups) - groups_max
        blocks.append(
            context(
                f"… and {left_out} more group{'s' if left_out > 1 else ''} of examples, left out "
                f"to fit one Slack message: `labelbot proposals {escape(card.project)} --json` "
                "has all the evidence."
            )
        )
    return blocks


def _within_budget(build: Callable[[int], list[Block]]) -> list[Block]:
    """``build(groups_max)``'s blocks with as many groups of examples as Slack's text budget
    for one message leaves room for (bot.views.limits), the last ones left out first."""
    blocks = build(GROUPS_SHOWN)
    for fewer in range(GROUPS_SHOWN - 1, -1, -1):
        if text_length(blocks) <= MESSAGE_TEXT_BUDGET:
            break
        blocks = build(fewer)
    return blocks


def proposal_message(card: ProposalCard) -> Block:
    """The channel message for an open proposal, with Approve and Reject (admins only)."""
    value = proposal_value(card.project, card.id)
    approve = button(
        "Approve",
        action_id=ids.PROPOSAL_APPROVE,
        value=value,
        style="primary",
        confirm={
            "title": plain("Apply this change?"),
            "text": plain(truncate(approval_effect(card), CONFIRM_TEXT_MAX)),
            "confirm": plain("Apply"),
            "deny": plain("Cancel"),
        },
    )
    buttons = [approve]
    if card.names:  # a change that names labels: the admin may choose other names
        buttons.append(button("Edit names & approve", action_id=ids.PROPOSAL_EDIT, value=value))
    buttons.append(button("Reject", action_id=ids.PROPOSAL_REJECT, value=value))
    footer = (
        "Only project admins can approve or reject. A rejected proposal comes back only "
        f"if its evidence grows. `/label proposals {escape(card.project)}` lists them all."
    )
    blocks = _within_budget(
        lambda groups_max: [
            *_summary_blocks(card, groups_max),
            context(escape_mrkdwn(approval_effect(card))),
            actions(buttons, block_id=f"{ids.PROPOSAL_ACTIONS_BLOCK}:{card.id}"),
            context(footer),
        ]
    )
    fallback = f"Taxonomy proposal for {escape_mrkdwn(card.project)}: {escape_mrkdwn(card.message)}"
    return message(fallback, blocks)


def decided_message(
    card: ProposalCard,
    *,
    user: str,
    approved: bool,
    summary: str,
    undoable: bool = False,
    undone: tuple[str, str] | None = None,
) -> Block:
    """The proposal message once decided: the buttons give way to who decided what; an applied
    change keeps an Undo button (``undoable``) until someone undoes it (``undone``: who, what)."""
    verdict = (
        f":white_check_mark: Approved by {who(user)}: {escape_mrkdwn(summary)}"
        if approved
        else f":no_entry_sign: Rejected by {who(user)}"
    )
    after = [section(verdict, block_id=f"{ids.PROPOSAL_RESULT_BLOCK}")]
    if undone is not None:
        undoer, what = undone
        verdict = f":leftwards_arrow_with_hook: Undone by {who(undoer)}: {escape_mrkdwn(what)}"
        after.append(section(verdict))
    elif undoable:
        undo = button(
            "Undo",
            action_id=ids.PROPOSAL_UNDO,
            value=proposal_value(card.project, card.id),
            style="danger",
            confirm={
                "title": plain("Undo this change?"),
                "text": plain(truncate(
                    "The labels return to how they were before it; labels given since are kept. "
                    "Admins only, and only while it is the latest change.", CONFIRM_TEXT_MAX)),
                "confirm": plain("Undo"),
                "deny": plain("Cancel"),
            },
        )  # fmt: skip
        after.append(actions([undo], block_id=f"{ids.PROPOSAL_ACTIONS_BLOCK}:{card.id}"))
    blocks = _within_budget(lambda groups_max: [*_summary_blocks(card, groups_max), *after])
    return message(verdict, blocks)


def superseded_message(card: ProposalCard, *, moot: str = "") -> Block:
    """A posted proposal that is not open any more: its evidence, no buttons, and why: the
    latest model no longer finds it, or a taxonomy change made it moot (``moot``: which, in
    plain words, e.g. "age_limit is no longer a label")."""
    if moot:
        note = (
            f":zzz: Superseded: {escape_mrkdwn(moot)} (a taxonomy change since), so there is "
            "nothing to decide. It is proposed again if the evidence calls for it."
        )
    else:
        note = (
            ":zzz: Superseded: the latest model no longer finds this, so there is nothing to "
            "decide. It is proposed again if the evidence returns."
        )
    blocks = _within_budget(lambda groups_max: [*_summary_blocks(card, groups_max), context(note)])
    return message(f"Superseded taxonomy proposal for {escape_mrkdwn(card.project)}", blocks)


def proposals_list(
    project: str,
    cards: Sequence[ProposalCard],
    *,
    unconfirmed: int = 0,
    channel: str | None = None,
) -> Block:
    """Answer to `/label proposals [project]` (ephemeral): the open proposals the channel gets,
    strongest first; ``unconfirmed``: how many more one look found so far (not posted until a
    second look finds them too); ``channel``: where their messages are (None: no channel)."""
    found_once = (
        f"{unconfirmed} more found by one look so far wait for a second look before they are "
        f"posted: `labelbot proposals {escape(project)}` lists them."
        if unconfirmed
        else ""
    )
    if not cards:
        text = f"*{escape_mrkdwn(project)}* has no open taxonomy proposals."
        return message(text, [section(text)] + ([context(found_once)] if found_once else []))
    lines = [
        f"`#{c.id}` {escape_mrkdwn(c.kind)} {', '.join(escape_mrkdwn(lb) for lb in c.labels)} "
        f"· score {c.score:.2f} · {truncate(plain_reason(c), LISTED_REASON_MAX)}"
        for c in cards[:LISTED_MAX]
    ]
    # long label names make long lines: fewer of them fit Slack's text budget for one message
    # (the count of the rest has its own block: it takes none of this room)
    lines = lines[: max(1, fitting_prefix(lines, LISTED_TEXT_MAX))]
    blocks = [section(f"*Open taxonomy proposals of {escape_mrkdwn(project)}*")]
    # 20 lines overflow one section's 3,000 characters: one section per chunk, none cut
    blocks += [section(chunk) for chunk in split_chunks("\n".join(lines), SECTION_TEXT_MAX)]
    if len(cards) > len(lines):
        more = f"… and {len(cards) - len(lines)} more: `labelbot proposals {escape(project)}`."
        blocks.append(context(more))
    if found_once:
        blocks.append(context(found_once))
    if channel:
        where = f"Admins approve or reject them on their messages in <#{channel}>."
    else:
        where = (
            "The project has no channel, so they are not posted: admins decide with "
            f"`labelbot proposals approve {escape(project)} ID` (or `reject`), or give it one "
            f"with `labelbot project set {escape(project)} --channel C…`."
        )
    blocks.append(context(where))
    return message(f"Open taxonomy proposals of {escape_mrkdwn(project)}", blocks)


def proposal_modal(card: ProposalCard) -> Block:
    """Edit names & approve: the proposal, what approving does, and its label names to edit.

    The proposal rides in private_metadata; the submission is checked by the engine and a bad
    one answered with ``response_action: "errors"`` on the names
    (https://docs.slack.dev/surfaces/modals#displaying_errors).
    """
    kind_names = {
        "split": ("New labels", "Two or more names, comma-separated: the labeled examples go "
                  "back to the queue to be labeled as one of them."),
        "add": ("Labels to add", "One or more names, comma-separated."),
    }  # fmt: skip
    label, hint = kind_names.get(
        card.kind, ("Name of the merged label", "One of the merged labels, or a new name.")
    )
    head = (
        f"{KIND_ICONS.get(card.kind, ':bulb:')} *{escape_mrkdwn(card.kind)}* "
        f"{', '.join(f'*{escape_mrkdwn(lb)}*' for lb in card.labels)}\n"
        f"{escape_mrkdwn(card.message)}"
    )
    given = ", ".join(card.names)
    names: Block = {
        "type": "plain_text_input",
        "action_id": ids.TAXONOMY_INPUT,
        # never cut: a cut name, submitted unchanged, would be approved as "name…"
        "max_length": max(NAMES_MAX, min(len(given), INPUT_MAX)),
    }
    if len(given) <= INPUT_MAX:
        names["initial_value"] = given
    reason = {
        "type": "plain_text_input",
        "action_id": ids.TAXONOMY_INPUT,
        "max_length": REASON_MAX,
        "placeholder": plain("Kept in the change history"),
    }
    return {
        "type": "modal",
        "callback_id": ids.PROPOSAL_MODAL,
        "private_metadata": json.dumps({"project": card.project, "proposal": card.id}),
        "title": plain(truncate(f"Proposal #{card.id}", MODAL_TITLE_MAX), MODAL_TITLE_MAX),
        "submit": plain("Approve", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": [
            section(head),
            context(escape_mrkdwn(approval_effect(card))),
            {
                "type": "input",
                "block_id": ids.PROPOSAL_NAMES_BLOCK,
                "label": plain(label),
                "element": names,
                "hint": plain(hint),
            },
            {
                "type": "input",
                "block_id": ids.PROPOSAL_REASON_BLOCK,
                "label": plain("Why"),
                "element": reason,
                "optional": True,
                "hint": plain("`labelbot labels history` shows who changed what, and why."),
            },
        ],  # fmt: skip
    }


def proposal_modal_target(private_metadata: str) -> tuple[str, int]:
    """(project, proposal id) that :func:`proposal_modal` stored."""
    found = json.loads(private_metadata or "{}")
    return str(found["project"]), int(found["proposal"])
