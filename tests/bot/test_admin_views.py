"""The admins' views and the App Home figures, as data."""

from __future__ import annotations

import json

from bot import ids
from bot.views import ClassCount, HomeStats, ModelVersion, ProjectProgress, home_tab
from bot.views.admin import (
    held_back_notice,
    parse_promote_value,
    settings_message,
    versions_message,
)


def test_held_back_notice_carries_a_promote_button() -> None:
    notice = held_back_notice(project="bank-2.x", version=4, reason="v3 is pinned", audit=0.81,
                              active=3)  # fmt: skip
    assert "v4 (audit accuracy 81.0%)" in notice["text"] and "v3 keeps answering" in notice["text"]
    (button,) = [el for b in notice["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert button["action_id"] == ids.PROMOTE_MODEL and button["text"]["text"] == "Promote v4"
    assert parse_promote_value(button["value"]) == ("bank-2.x", 4) and "confirm" in button


def test_versions_newest_first_with_marks() -> None:
    rows = [
        ModelVersion(1, "2025-01-01 09:00", 40, "linear", 0.7, 0.65, "ready"),
        ModelVersion(2, "2025-01-02 09:00", 80, "linear", 0.8, 0.75, "ready", active=True,
                     pinned=True),
        ModelVersion(3, "2025-01-03 09:00", 120, "blend", 0.82, 0.7, "ready",
                     held_back="worse on the audit set"),
    ]  # fmt: skip
    text = json.dumps(versions_message("bank", rows))
    assert text.index("`v3`") < text.index("`v2`") < text.index("`v1`")
    assert "*active*, pinned" in text and "held back: worse on the audit set" in text
    assert "audit 75.0%" in text
    assert "no models yet" in versions_message("bank", [])["text"]


def test_settings_message_marks_what_changed() -> None:
    msg = settings_message("bank", {"retrain_every": 30, "timezone": "UTC"}, ["retrain_every"])
    assert "Updated `retrain_every`" in msg["text"]
    assert "*`retrain_every` = 30*" in json.dumps(msg["blocks"])


def test_home_shows_audit_interval_forecast_and_rare_classes() -> None:
    project = ProjectProgress(
        name="bank", labeled=60, total=150,
        class_counts=[ClassCount("a", 30), ClassCount("b", 2)],
        accuracy=0.8, accuracy_low=0.7, accuracy_high=0.88, accuracy_source="audit",
        model_version=5, forecast="About 300 more labels to reach 90%.", rare_classes=["b"],
        agreement="agreement: Cohen's kappa 0.71 over 12 examples", open_reviews=3,
    )  # fmt: skip
    view = home_tab(HomeStats("U1", 1, 60, [project]))
    text = json.dumps(view)
    assert "v5: 80.0% (90% interval 70.0%\\u201388.0%) on the audit set" in text
    assert "About 300 more labels" in text and "*Rare classes* (fewer than 5 labels): b" in text
    assert "*Agreement*\\nagreement: Cohen's kappa 0.71" in text and "3 likely mislabels" in text
    assert len(view["blocks"]) == 2 + 4  # still 4 blocks per project (Home's 100-block cap)
