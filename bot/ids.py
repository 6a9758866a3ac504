"""Every Slack identifier labelbot owns: action_ids, block_ids, callback ids, and the registry
of commands, events, shortcuts and Web API scopes that `manifest.yml` must declare.

Views build blocks with these constants and listeners match on them, so a rename is one edit.
The registry at the bottom is what `tests/bot/test_manifest.py` checks the manifest against;
when the listener phase lands, `bot/listeners/*` must register exactly what is declared here
(a test will walk the Bolt app's listeners and assert each is in this registry, and back).
"""

from __future__ import annotations

import re

# --- Labeling message (DM) -------------------------------------------------------------------
# Slack requires action_ids to be unique within a block, so each label button gets
# f"{LABEL}:{i}" (and the suggested-label shortcut f"{LABEL}:suggested"); listeners match the
# whole family with LABEL_PATTERN. https://docs.slack.dev/reference/block-kit/block-elements/button-element
LABEL = "label_choose"
LABEL_PATTERN = re.compile(rf"^{LABEL}:\w+$")
# One static_select per message (option groups past 100 labels), so no suffix is needed.
LABEL_SELECT = "label_select"
SKIP = "label_skip"
DISCUSS = "label_discuss"
FLAG = "label_flag"
UNDO = "label_undo"
SHOW_FULL_TEXT = "show_full_text"

# block_ids carry the example id so a stale click can be recognised from the payload alone.
EXAMPLE_TEXT_BLOCK = "example_text"
LABEL_BUTTONS_BLOCK = "label_buttons"
LABEL_SELECT_BLOCK = "label_select"
CONTROLS_BLOCK = "label_controls"
RESULT_BLOCK = "label_result"

# --- Mislabel review (DM): someone else's label that the model doubts ---------------------------
# Values are f"{review id}|{label}" (bot/views/review.py); Discuss reuses DISCUSS (example id).
REVIEW_KEEP = "review_keep"
REVIEW_CHANGE = "review_change"
REVIEW_SELECT = "review_select"
REVIEW_BLOCK = "review"

# --- Disagreement threads (project channel): admins and the experts involved settle them ------
# Buttons carry f"{example id}/{label id}" (f"{example id}|{label}" on messages posted before
# ids were carried); each label button gets f"{SETTLE}:{i}".
SETTLE = "dispute_settle"
SETTLE_PATTERN = re.compile(rf"^{SETTLE}:\w+$")
DISPUTE_BLOCK = "dispute"

# --- Flag threads (project channel): admins and the experts who flagged resolve them ----------
# The button's value is the example id; the click resolves the flags open when it lands.
FLAG_RESOLVE = "flag_resolve"
FLAG_THREAD_BLOCK = "flagged"

# --- Batches and the busy expert's rhythm (DM) ----------------------------------------------
BATCH_MORE = "batch_more"  # value: project name
BATCH_DONE = "batch_done"
# The labeling message's Snooze menu: options "1h" and "tomorrow".
SNOOZE = "label_snooze"

# --- App Home --------------------------------------------------------------------------------
HOME_START_BATCH = "home_start_batch"

# --- Model versions (channel notice when a retrain was held back; admins only) -------------
# The button's value is f"{project}:{version}" (project names never contain ":").
PROMOTE_MODEL = "model_promote"

# --- Taxonomy proposals (channel message; admins only) -----------------------------------------
# The buttons' value is f"{project}:{proposal id}" (bot/views/proposals.py).
PROPOSAL_APPROVE = "proposal_approve"
PROPOSAL_REJECT = "proposal_reject"
# "Edit names & approve": opens PROPOSAL_MODAL with the names approval would use.
PROPOSAL_EDIT = "proposal_edit"
# "Undo" on an applied proposal's message: undoes its change while it is the latest.
PROPOSAL_UNDO = "proposal_undo"
PROPOSAL_BLOCK = "proposal"
PROPOSAL_ACTIONS_BLOCK = "proposal_actions"
PROPOSAL_RESULT_BLOCK = "proposal_result"

# --- Modals (callback ids) and their inputs -------------------------------------------------
FLAG_MODAL = "flag_modal"
FLAG_REASON_BLOCK = "flag_reason"
FLAG_REASON_INPUT = "flag_reason_input"
FULL_TEXT_MODAL = "full_text_modal"
# `/label taxonomy`: one change per submission (bot/views/taxonomy.py); block ids name the fields
# so `response_action: "errors"` can point at the one at fault.
TAXONOMY_MODAL = "taxonomy_modal"
TAXONOMY_OPERATION_BLOCK = "taxonomy_operation"
TAXONOMY_LABELS_BLOCK = "taxonomy_labels"
TAXONOMY_NAMES_BLOCK = "taxonomy_names"
TAXONOMY_DESCRIPTION_BLOCK = "taxonomy_description"
TAXONOMY_REASON_BLOCK = "taxonomy_reason"
TAXONOMY_INPUT = "value"  # each input block holds one element; the block id says which
# A proposal approved with the admin's own label names (bot/views/proposals.py); its inputs'
# action id is TAXONOMY_INPUT too.
PROPOSAL_MODAL = "proposal_modal"
PROPOSAL_NAMES_BLOCK = "proposal_names"
PROPOSAL_REASON_BLOCK = "proposal_reason"

# --- Shortcuts and commands ------------------------------------------------------------------
CLASSIFY_SHORTCUT = "classify_with_labelbot"
LABEL_COMMAND = "/label"

# `/label <verb> ...`: one command, dispatched on its first word (bot/listeners/commands.py).
# Anything else is `/label [project]` or `/label <n> [project]` (the labeling loop).
LABEL_VERBS: tuple[str, ...] = ("help", "predict", "guidelines")
# Verbs that change models or settings, or post to the channel: project admins only
# (`models` only reads, so everyone may use it).
ADMIN_VERBS: tuple[str, ...] = ("promote", "rollback", "pin", "unpin", "settings", "digest")
MODEL_VERBS: tuple[str, ...] = ("models",)
# `taxonomy` opens the admins' modal (checked there); `proposals` lists them for anyone.
TAXONOMY_VERBS: tuple[str, ...] = ("taxonomy", "proposals")
# The busy expert's rhythm, for oneself: `nudge 09:30|off`, `quiet 22:00-08:00|off`,
# `leaderboard on|off` (bot/rhythm_flow.py).
RHYTHM_VERBS: tuple[str, ...] = ("nudge", "quiet", "leaderboard")
COMMAND_VERBS: tuple[str, ...] = (
    LABEL_VERBS + MODEL_VERBS + ADMIN_VERBS + TAXONOMY_VERBS + RHYTHM_VERBS
)

# --- Registry: what the code handles and needs (source of truth for manifest.yml) -----------
COMMANDS: tuple[str, ...] = (LABEL_COMMAND,)
SHORTCUTS: tuple[str, ...] = (CLASSIFY_SHORTCUT,)
# Events API subscriptions (manifest names: `message.im` etc., not the payload's event.type).
EVENTS: tuple[str, ...] = (
    "app_home_opened",
    "message.im",
    "message.channels",
    "message.groups",
    "app_uninstalled",  # the bot token stopped working: logged, and shown in /healthz
    "tokens_revoked",
)
ACTIONS: tuple[str | re.Pattern[str], ...] = (
    LABEL_PATTERN,
    LABEL_SELECT,
    SKIP,
    DISCUSS,
    FLAG,
    UNDO,
    SHOW_FULL_TEXT,
    HOME_START_BATCH,
    PROMOTE_MODEL,
    PROPOSAL_APPROVE,
    PROPOSAL_REJECT,
    PROPOSAL_EDIT,
    PROPOSAL_UNDO,
    REVIEW_KEEP,
    REVIEW_CHANGE,
    REVIEW_SELECT,
    SETTLE_PATTERN,
    FLAG_RESOLVE,
    BATCH_MORE,
    BATCH_DONE,
    SNOOZE,
)
VIEW_SUBMISSIONS: tuple[str, ...] = (FLAG_MODAL, TAXONOMY_MODAL, PROPOSAL_MODAL)

# Bot scopes each Web API method needs (https://docs.slack.dev/reference/methods/<method>).
# Methods that need no scope (auth.test, chat.getPermalink, views.*) map to an empty tuple.
SCOPES_NEEDED: dict[str, tuple[str, ...]] = {
    "auth.test": (),  # Bolt, on the first request
    # DMs go to the expert's user id as the channel: the app's DM with them, opened as needed
    "chat.postMessage": ("chat:write", "im:write"),
    "chat.update": ("chat:write",),
    "chat.getPermalink": (),
    "users.info": ("users:read",),
    "views.open": (),
    "views.publish": (),
    # bot.delivery.find_post: an earlier try of a post whose answer was lost, looked for by its
    # delivery key in the DM (im:*) or project channel (channels:history, groups:history)
    "conversations.history": ("im:history", "channels:history", "groups:history"),
    "conversations.replies": ("im:history", "channels:history", "groups:history"),
    "conversations.open": ("im:write",),
    # files_upload_v2 (digest charts)
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
# Called by the SDK or Bolt on our behalf, not named in bot/ (see SCOPES_NEEDED's comments).
CALLED_FOR_US = ("auth.test", "files.getUploadURLExternal", "files.completeUploadExternal")
# Scopes the Events API requires before it delivers each subscription.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "message.im": ("im:history",),
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "app_uninstalled": (),
    "tokens_revoked": (),
}
# Slash commands and shortcuts both need the `commands` scope.
INTERACTION_SCOPES: tuple[str, ...] = ("commands",)
