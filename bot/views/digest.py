"""The project digest as a channel message (the chart is uploaded beside it as a file).

Its lists (who labeled, the weakest classes, open proposals, the leaderboard) show what fits
LIST_TEXT_MAX characters each, whole lines, then "… and N more": long names must not push the
message past Slack's text budget for one message (bot.views.limits.MESSAGE_TEXT_BUDGET).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack_text import escape, escape_mrkdwn, truncate, who
from bot.views.text import Block, context, fit_lines, header, message, section
from engine.digest import Digest
from engine.forecast import counted
from engine.leaderboard import Standing

LIST_TEXT_MAX = 2000  # each list's characters: the four of them and the rest stay in the budget
PROPOSAL_LINE_MAX = 700
# the chart key's characters (names no font on the server draws, at most the 25 bars): kept
# small, as it comes on top of the four lists within the message's budget
KEY_TEXT_MAX = 800


def _more(n: int) -> str:
    return f"… and {n} more"


def _accuracy_line(d: Digest) -> str:
    if d.accuracy is None and d.model_version is not None:
        return f"*Model v{d.model_version}:* accuracy not measurable yet (too few labels per class)"
    if d.accuracy is None:
        return "*Model:* none yet — it trains once a few classes have labels."
    detail = escape_mrkdwn(d.accuracy_detail())
    return f"*Model v{d.model_version}:* {d.accuracy.accuracy:.1%} accuracy {detail}"


def _leaderboard(standings: Sequence[Standing]) -> str:
    medals = [":first_place_medal:", ":second_place_medal:", ":third_place_medal:"]
    lines = []
    for i, s in enumerate(standings):
        place = medals[i] if i < len(medals) else f"{i + 1}."
        streak = f" · :fire: {s.streak}-day streak" if s.streak >= 2 else ""
        lines.append(f"{place} {who(s.annotator)} {s.labels:,}{streak}")
    return "*This week's labelers*\n" + "\n".join(fit_lines(lines, LIST_TEXT_MAX, _more))


def _labelers(d: Digest) -> str:
    """Who gave the new labels, the most first: the first ten by name, those off the
    leaderboard (``Digest.unnamed``) only counted, together."""
    named = d.named_labelers()
    hidden = d.unnamed_labels()
    parts = fit_lines([f"{who(u)} {n:,}" for u, n in named[:10]], LIST_TEXT_MAX, _more, joiner=", ")
    if hidden:
        parts.append(f"{hidden:,} by {'others' if parts else 'people'} off the leaderboard")
    return ", ".join(parts) or "nobody yet"


def digest_message(
    d: Digest,
    *,
    leaderboard: Sequence[Standing] = (),
    proposals: Sequence[str] | None = None,
) -> Block:
    """Labels since the last digest and by whom, accuracy, weakest classes, forecast, open items,
    the experts' agreement and the likely mislabels waiting, and the week's leaderboard with
    streaks (people who opted out are not in ``leaderboard``).
    ``proposals``: the strongest open proposals in plain words (mrkdwn), instead of their
    technical messages. Who turned the leaderboard off (``Digest.unnamed``) is counted without
    a name."""
    labelers = _labelers(d)
    since = f" since {d.since:%b %d}" if d.since else ""
    blocks = [
        header(f"{d.project}: digest"),  # not "weekly": the default schedule is every weekday
        # labels are votes (a second opinion is one); "labeled" is examples, as status and Home say
        section(
            f"*{counted(d.labels_since, 'new label')}*{since} ({d.total_labels:,} in all; "
            f"{counted(d.labeled_examples, 'example')} labeled) — {labelers}"
        ),
        section(_accuracy_line(d)),
    ]
    if d.weakest:
        weak = "\n".join(
            fit_lines(
                [
                    f"• {escape_mrkdwn(lb)}: F1 {d.f1_figure(f1)} ({counted(n, 'label')})"
                    for lb, f1, n in d.weakest
                ],
                LIST_TEXT_MAX,
                _more,
            )
        )
        blocks.append(section(f"*{escape_mrkdwn(d.weakest_title())}*\n{weak}"))
    blocks.append(section(f"*Forecast* {escape_mrkdwn(d.forecast_line())}"))
    blocks.append(section(("*Stop?* " if d.stop.stop else "") + escape_mrkdwn(d.stop.reason)))
    if d.open_proposals:
        lines = (
            list(proposals)
            if proposals is not None
            else [escape_mrkdwn(m) for m in d.top_proposals]
        )
        bullets = [f"• {truncate(line, PROPOSAL_LINE_MAX)}" for line in lines]
        listed = f"`/label proposals {escape(d.project)}`"
        # "… and N more" counts every open proposal not listed, not only the top ones cut
        shown = fit_lines(
            bullets,
            LIST_TEXT_MAX,
            lambda n: f"{_more(d.open_proposals - len(bullets) + n)}: {listed}",
        )
        whole = shown == bullets  # every top one listed: "(top N)" says which
        top = f" (top {len(bullets)})" if whole and d.open_proposals > len(bullets) else ""
        text = "\n".join(shown)
        opened = counted(d.open_proposals, "taxonomy proposal")
        blocks.append(section(f"*{opened} open*{top}\n{text}"))
    said = [line for line in (d.agreement_line(), d.reviews_line()) if line]
    if said:  # as `labelbot digest` says them
        blocks.append(section("\n".join(escape_mrkdwn(line) for line in said)))
    if leaderboard:
        blocks.append(section(_leaderboard(leaderboard)))
    chart = (
        " · chart: learning curve (audit points filled, cross-validated hollow) with forecast, "
        f"and {d.per_class_title()}"
        if d.charted  # no chart is posted before the first model
        else ""
    )
    blocks.append(
        context(
            f"{counted(d.open_flags, 'open flag')} · "
            f"{counted(d.open_discussions, 'open discussion')}{chart}"
        )
    )
    key = d.chart_key()
    if key:  # names no font on the server draws: the chart shows "#1", "#2" in their place
        pairs = fit_lines(
            [f"{ident} {escape_mrkdwn(name)}" for ident, name in key.items()], KEY_TEXT_MAX, _more,
            joiner=" · ",
        )  # fmt: skip
        blocks.append(context("Chart key: " + " · ".join(pairs)))
    # "accuracy 92%", else why there is none ("no model yet": not "accuracy no model yet")
    acc = f"accuracy {d.accuracy.accuracy:.0%}" if d.accuracy else d.no_accuracy()
    notice = f"{escape_mrkdwn(d.project)} digest: {counted(d.labels_since, 'new label')}, {acc}"
    return message(notice, blocks)
