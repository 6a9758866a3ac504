"""Block Kit as pure functions: plain data in, Slack payload dicts out. No I/O, no Slack client."""

from bot.views.home import home_tab
from bot.views.labeling import (
    label_value,
    labeled_message,
    labeling_message,
    parse_label_value,
    skipped_message,
)
from bot.views.messages import discussion_root, info_message, prediction_answer
from bot.views.modals import flag_example_id, flag_modal, full_text_modal
from bot.views.models import (
    AskReason,
    ClassCount,
    EarlierLabel,
    ExampleCard,
    HomeStats,
    LabelChoice,
    ModelVersion,
    ProjectProgress,
    Suggestion,
)

__all__ = [
    "AskReason",
    "ClassCount",
    "EarlierLabel",
    "ExampleCard",
    "HomeStats",
    "LabelChoice",
    "ModelVersion",
    "ProjectProgress",
    "Suggestion",
    "discussion_root",
    "flag_example_id",
    "flag_modal",
    "full_text_modal",
    "home_tab",
    "info_message",
    "label_value",
    "labeled_message",
    "labeling_message",
    "parse_label_value",
    "prediction_answer",
    "skipped_message",
]
