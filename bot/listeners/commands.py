"""`/label [project] | predict <text> | <n> | help | proposals [project]`,
`guidelines [project] [page]` (every label's whole guideline, for anyone), one's rhythm:
`nudge HH:MM|off`, `quiet HH:MM-HH:MM|off`, `leaderboard on|off`; and the admins'
verbs: `models [project]`, `promote|rollback|pin <project> <version>`, `unpin [project]`,
`settings [project] [key=value ...]`, `digest [project]`, `taxonomy [project]` (a modal)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import admin, flow, ids, rhythm_flow, taxonomy_flow
from bot import views as blocks
from bot.digests import refusal_cause
from bot.listeners.registrar import Registrar
from bot.services import Services
from bot.slack_text import Mrkdwn, escape, escape_mrkdwn, plain_from_slack, unescape
from bot.views import admin as admin_views
from bot.views import guidelines as guideline_views
from engine import projects, training
from storage.errors import InvalidInputError, NotFoundError

MAX_BATCH = 100  # `/label <n>`: more than a sitting's work, and a bound for the database

# mrkdwn, where a raw "<" is Slack markup (bot.slack_text): placeholders are written &lt;…&gt;.
USAGE = (
    "*/label* sends you, in a direct message, the example the model is least sure about: pick "
    "the label that fits. [project] may be left out: the channel's project, or the only one.\n"
    "*Labeling*\n"
    "• `/label`, `/label &lt;project&gt;` or `/label #channel`: one example\n"
    "• `/label 5` or `/label &lt;project&gt; 5`: a batch of 5 (up to 100)\n"
    "• `/label guidelines [project]`: every label's full guidelines\n"
    "• `/label predict [project] &lt;text&gt;`: ask the model\n"
    "• `/label proposals [project]`: the model's suggested label changes\n"
    "• `/label models [project]`: the model's versions\n"
    "*Your rhythm*\n"
    "• `/label nudge 09:30` or `/label nudge off`: a daily reminder when there is work\n"
    "• `/label quiet 20:00-08:00` or `/label quiet off`: no reminders in those hours "
    "(your time zone)\n"
    "• `/label leaderboard on|off`: your name on the digest's leaderboard\n"
    "*Project admins*\n"
    "• `/label taxonomy [project]`: add, rename, describe, merge, split or retire labels, or "
    "undo the last change\n"
    "• `/label promote|rollback|pin [project] &lt;version&gt;` · `/label unpin [project]`\n"
    "• `/label digest [project]`: post the digest now\n"
    '• `/label settings [project] retrain_every=30 digest_cron="0 9 * * mon-fri" '
    "timezone=Europe/Berlin audit_share=0.1 target_accuracy=0.9`\n"
    "• `/label help`: this list"
)


def register(app: Registrar) -> None:
    app.command(ids.LABEL_COMMAND)(label_command)


def label_command(
    ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext, client: WebClient
) -> None:
    ack()
    services: Services = context["services"]
    user, channel = command["user_id"], command["channel_id"]
    text = command.get("text") or ""
    # Slack sends a typed &, < and > as &amp;, &lt;, &gt;: names, versions and settings are read
    # as typed, decoded once here (predict reads its text from Slack's own, markup and all).
    verb, rest = _first_word(unescape(text))
    team = admin.installing_team(context)
    if verb.lower() == "help" or _asks_for_help(services, verb):
        respond(**blocks.info_message(USAGE), response_type="ephemeral")
    elif verb.lower() in ids.COMMAND_VERBS:
        try:
            _subcommand(services, verb.lower(), rest, command, respond, client, team)
        except flow.WhichProject as exc:  # its "try `/label bank`" would label, not do this
            raise _which_project(services, verb.lower(), rest, exc, channel=channel) from None
    else:
        words = f"{verb} {rest}".split()
        flow.refuse_unknown_word(
            services, next((w for w in words if not w.isdecimal()), ""), user=user
        )
        name, size = _label_args(verb, rest)
        try:
            project = flow.resolve_project(services, name, channel=channel, user=user)
        except flow.WhichProject as exc:  # its "try `/label bank`" would drop the batch size
            if not size:
                raise
            typed = f"{name or ''} {size}".strip()  # the channel named, if any: `/label #x 5`
            raise _which_project(services, "", typed, exc, channel=channel) from None
        except NotFoundError as exc:  # `/label xyzzy`: a word like nothing known
            if not name or not str(exc).startswith("no project named"):
                raise
            raise NotFoundError(f"{exc}; `/label help` lists the commands") from None
        if size:
            sent = flow.start_batch(services, user=user, project=project, size=size)
        else:
            services.batches.end(user, project)  # one without a size goes on: no summary cuts it
            sent = flow.send_next(services, user=user, project=project)
        if not sent:
            respond(**blocks.info_message(flow.queue_empty(project)), response_type="ephemeral")
        elif not flow.typed_in_own_dm(services, user=user, channel=channel):
            # typed in a channel, or a DM with someone else: the example is in labelbot's DM
            respond(**blocks.info_message(flow.sent_to_dm(project)), response_type="ephemeral")


def _subcommand(
    services: Services, verb: str, rest: str, command: dict[str, Any], respond: Respond,
    client: WebClient, team: str | None,
) -> None:  # fmt: skip
    """Every verb of ids.COMMAND_VERBS but help; ``rest`` decoded, as typed."""
    user, channel = command["user_id"], command["channel_id"]
    if verb in ids.MODEL_VERBS + ids.ADMIN_VERBS:
        _admin_command(services, verb, rest, user, channel, respond, team)
    elif verb in ids.TAXONOMY_VERBS:
        _taxonomy_command(services, verb, rest, command, respond, client, team)
    elif verb == "guidelines":
        _guidelines_command(services, rest, command, respond, client)
    elif verb in ids.RHYTHM_VERBS:
        known = projects.list_projects(services.ws)
        if known and not flow.open_to(services, user, known):  # a guest, and no project theirs
            raise flow.GuestRefused(flow.GUEST_REFUSAL)
        said = rhythm_flow.command(services, user=user, verb=verb, args=rest)
        respond(**blocks.info_message(said), response_type="ephemeral")
    else:  # predict
        raw = _first_word(command.get("text") or "")[1]
        project, asked = _predict_args(services, raw, channel, user)
        answer = flow.predict(services, text=asked, project=project)
        respond(**answer, response_type="ephemeral")


def _which_project(
    services: Services, verb: str, rest: str, asked: flow.WhichProject, *, channel: str
) -> flow.WhichProject:
    """flow.resolve_project's question, answered with ``verb`` and what followed it: `/label
    models bank`, `/label predict bank <text>` (the text is long, and the asker has it),
    `/label bank 5` (``verb`` "": a batch). A channel named in ``rest`` is the one asked about,
    wherever the command was typed."""
    first, more = _first_word(rest)
    if mention := flow.CHANNEL_MENTION.fullmatch(first):  # `/label models #shared`: the
        rest, channel = more, mention.group(1)  # project goes there
    tail = " &lt;text&gt;" if verb == "predict" else (f" {escape(rest)}" if rest else "")
    command = f"/label {verb} " if verb else "/label "
    choices = flow.some_of([f"`{command}{escape(n)}{tail}`" for n in asked.names])
    sharing = [p for p in projects.list_projects(services.ws) if p.channel_id == channel]
    where = f"<#{channel}> is the channel of {len(sharing)} projects: " if len(sharing) > 1 else ""
    names = asked.names[: flow.MAX_CHOICES]
    # "Try" opens a sentence after the question; after the channel's clause it goes on one
    said = f"which project? {where}try {choices}" if where else f"which project? Try {choices}"
    return flow.WhichProject(Mrkdwn(said), names=names)


# What else people type for help: it answered "No project named '?' (projects: …)".
HELP_ALIASES = ("?", "-h", "--help", "-help")


def _asks_for_help(services: Services, word: str) -> bool:
    """``word`` is one of HELP_ALIASES, and no project's name (a project may be named "-h")."""
    if word.lower() not in HELP_ALIASES:
        return False
    return not any(p.name == word for p in projects.list_projects(services.ws))


def _first_word(text: str) -> tuple[str, str]:
    """(first word, the rest), split at any whitespace: Slack's text may hold a newline
    (Shift+Enter), a tab or a no-break space (pasted, or typed by some keyboards)."""
    words = text.split(None, 1)
    return (words[0], words[1].strip()) if len(words) == 2 else ((words or [""])[0], "")


def _label_args(verb: str, rest: str) -> tuple[str | None, int | None]:
    """`/label [project] [n]`, the two in either order: the project named (or None) and the
    batch size (None: one example). Any other word is refused rather than dropped unread."""
    name: str | None = None
    size: int | None = None
    for word in f"{verb} {rest}".split():
        number = _batch_size(word)
        if number is not None and size is None:
            size = number
        elif number is None and name is None:
            name = word
        else:
            raise InvalidInputError(
                f"`/label` takes a project and a batch size, not {word!r} as well: "
                f"`/label <project> 5` asks for a batch of 5 (up to {MAX_BATCH}), "
                "`/label <project>` for one example; `/label help` lists the rest"
            )
    return name, size


def _batch_size(word: str) -> int | None:
    """`/label 5`: the batch size a number asks for, or None when ``word`` is no number.
    Decimal digits only (isdigit() also takes "²", which int() refuses), 1 to MAX_BATCH."""
    if not word.isdecimal():
        return None
    size = int(word) if len(word) <= len(str(MAX_BATCH)) else MAX_BATCH + 1
    if not 1 <= size <= MAX_BATCH:
        raise InvalidInputError(
            f"a batch is 1 to {MAX_BATCH} examples: `/label 5`, or `/label <project>`"
        )
    return size


def _predict_args(services: Services, rest: str, channel: str, user: str) -> tuple[str, str]:
    """`predict <text>` or `predict <project> <text>`, when the first word names a project
    (or is a channel mention, `#channel`, of a project's channel): the project and the text as
    the person wrote it. ``rest`` is as Slack sent it: the text's links and mentions read as
    they show in Slack (plain_from_slack)."""
    first, more = _first_word(rest)
    named = flow.project_named(services, unescape(first), user=user) if more else None
    if named is not None:
        return named, plain_from_slack(more)
    if not rest:
        raise InvalidInputError("give a text to classify: `/label predict <text>`")
    project = flow.resolve_project(services, None, channel=channel, user=user)
    return project, plain_from_slack(rest)


def _admin_command(
    services: Services, verb: str, rest: str, user: str, channel: str, respond: Respond,
    team: str | None,
) -> None:  # fmt: skip
    """`models`, `promote|rollback|pin|unpin`, `settings`, `digest`: admins only, but `models`."""
    first, more = _first_word(rest)
    named = (
        first
        and "=" not in first
        and not (verb in admin.MODEL_ACTIONS and training.looks_like_version(first))
    )
    # `models` is anyone's: a guest account sees only projects open to guests; the rest are
    # admins' (checked below), and users.info is asked of them only before naming projects.
    project = flow.resolve_project(services, first if named else None, channel=channel,
                                   user=user, lists_only=verb != "models")  # fmt: skip
    args = more if named else rest
    if verb in ("models", "digest", "unpin") and args:  # words left over: refused, not dropped
        raise InvalidInputError(
            f"`/label {verb}` takes a project and nothing else, not {args!r}: "
            f"`/label {verb} [project]`"
        )
    if verb == "models":
        respond(**admin.versions(services, project=project), response_type="ephemeral")
        return
    doing = (
        admin.MODEL_ACTIONS.get(verb)
        or {
            "settings": "change settings",
            "digest": "post the digest",
        }[verb]
    )
    if not admin.is_admin(services, user=user, project=project, team=team):
        _not_admin(services, respond, user=user, project=project, doing=doing)
        return
    if verb == "settings":
        answer = admin.change_settings(services, project=project, text=args, user=user,
                                       team=team)  # fmt: skip
        respond(**answer, response_type="ephemeral")
    elif verb == "digest":
        posted = admin.post_digest_now(services, project=project)
        cause = refusal_cause(
            posted.refused or "not_in_channel", project=project, channel=posted.channel
        )
        text = (
            f"Digest of *{escape_mrkdwn(project)}* posted in <#{posted.channel}>."
            if not posted.notified_admins
            else f"Not posted: {escape_mrkdwn(cause)} (admins were told)."
        )
        respond(**blocks.info_message(text), response_type="ephemeral")
    else:
        if (
            len(args.split()) > 1
        ):  # `/label pin bank 3 extra`: refused, not "'3 extra' is no version"
            raise InvalidInputError(
                f"`/label {verb}` takes a project and a version, not {args!r}: "
                f"`/label {verb} [project] <version>`"
            )
        version = training.parse_version(args) if args else None
        text = admin.change_model(services, verb=verb, project=project, version=version)
        respond(**blocks.info_message(text), response_type="ephemeral")


def _not_admin(
    services: Services, respond: Respond, *, user: str, project: str, doing: str
) -> None:
    """Refuse one who is none of ``project``'s admins, naming it; but to a guest account it is
    closed to, named or not (the only one, the channel's, a `#channel` mention), they get the
    refusal of one naming a project not theirs (flow.GuestRefused), which tells them nothing of
    whether it exists. users.info is asked only here, of those refused."""
    flow.check_open(services, user=user, project=project)
    respond(**blocks.info_message(admin_views.not_admin(doing, project)), response_type="ephemeral")


def _taxonomy_command(
    services: Services,
    verb: str,
    name: str,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    team: str | None,
) -> None:
    """`proposals [project]` (anyone, ephemeral) and `taxonomy [project]` (admins: a modal)."""
    user, channel = command["user_id"], command["channel_id"]
    first, more = _first_word(name)
    if more:  # `/label taxonomy bank extra` said "No project named 'bank extra'"
        raise InvalidInputError(
            f"`/label {verb}` takes a project and nothing else, not {more!r}: "
            f"`/label {verb} [project]`"
        )
    project = flow.resolve_project(services, first or None, channel=channel, user=user,
                                   lists_only=verb != "proposals")  # fmt: skip
    if verb == "proposals":
        listed = taxonomy_flow.proposals_list(services, project=project)
        respond(**listed, response_type="ephemeral")
    elif not admin.is_admin(services, user=user, project=project, team=team):
        _not_admin(services, respond, user=user, project=project, doing="change the labels")
    else:
        # https://docs.slack.dev/reference/methods/views.open: the trigger_id lasts 3 seconds.
        client.views_open(trigger_id=command["trigger_id"], view=taxonomy_flow.editor(
            services, project=project))  # fmt: skip


def _guidelines_command(
    services: Services, rest: str, command: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    """`guidelines [project] [page]` (anyone, read-only): every active label with its whole
    guideline, in an ephemeral message when they fit one, else in a modal of 100 blocks; a
    page number shows the next page of a modal that outgrew one (it says so)."""
    words = rest.split()
    page = int(words.pop()) if words and words[-1].isdecimal() else None
    if len(words) > 1:
        raise InvalidInputError(
            "`/label guidelines` takes a project and a page: `/label guidelines <project>`"
        )
    name = words[0] if words else None
    project = flow.resolve_project(
        services, name, channel=command["channel_id"], user=command["user_id"]
    )
    labels = [
        blocks.LabelChoice(lb.name, lb.description or None, lb.id)
        for lb in projects.list_labels(services.ws, project=project, active_only=True)
    ]
    pages = guideline_views.page_count(labels)
    if page is not None and not 1 <= page <= pages:
        raise InvalidInputError(
            f"the guidelines of {project} take {pages} page{'s' if pages > 1 else ''}: "
            f"`/label guidelines {project}` shows the first"
        )
    answer = guideline_views.guidelines_message(project, labels) if page is None else None
    if answer is not None:
        respond(**answer, response_type="ephemeral")
    else:
        # https://docs.slack.dev/reference/methods/views.open: the trigger_id lasts 3 seconds.
        view = guideline_views.guidelines_modal(project, labels, page=page or 1)
        client.views_open(trigger_id=command["trigger_id"], view=view)
