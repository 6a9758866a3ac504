"""An import of texts mostly in a script other than Latin says the bundled English encoder
will read them poorly, and what to set instead (a model trained on them stayed poor without a
word: Chinese came out as [UNK] tokens)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine import projects
from engine.importing import SCRIPT_SAMPLE, ScriptCount, main_script, script_note
from engine.workspace import Workspace

CHINESE = ["我的银行卡被锁了，怎么办？", "我想查询我的账户余额", "转账为什么还没有到账"]
ARABIC = ["لقد فقدت بطاقتي المصرفية", "كيف أغير رقم التعريف الشخصي"]
ENGLISH = ["My card was blocked, what do I do?", "Why hasn't my transfer arrived yet?"]


def _import(ws: Workspace, tmp_path: Path, texts: list[str], name: str = "p") -> list[str]:
    projects.create_project(ws, name=name, labels=["a", "b"])
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text",), *((t,) for t in texts)])
    return list(projects.import_file(ws, project=name, path=path, embed=False).notes)


def test_texts_in_another_script_get_a_note_naming_the_scripts(
    ws: Workspace, tmp_path: Path
) -> None:
    texts = [f"{t} {i}" for i in range(20) for t in CHINESE + ARABIC] + ENGLISH * 5
    (note,) = _import(ws, tmp_path, texts)
    assert note.startswith("100 of the 110 texts looked at are mostly in a script other than")
    assert "(Chinese/Japanese (CJK) 60, Arabic 40)" in note
    assert "all-MiniLM-L6-v2 learned English" in note and "LABELBOT_ENCODER" in note


def test_latin_script_texts_and_a_few_others_say_nothing(ws: Workspace, tmp_path: Path) -> None:
    texts = [f"{t} {i}" for i in range(10) for t in ENGLISH] + CHINESE[:1]  # 1 in 21
    assert _import(ws, tmp_path, texts) == []
    german = ["Meine Karte wurde gesperrt, was soll ich tun?", "Überweisung noch nicht da"]
    assert _import(ws, tmp_path, german, name="de") == []  # Latin script: not told apart


def test_another_encoder_is_taken_to_read_them(ws: Workspace, tmp_path: Path) -> None:
    ws.settings = ws.settings.model_copy(update={"encoder": "/models/multilingual-minilm"})
    assert _import(ws, tmp_path, CHINESE * 3) == []


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Hello there", "LATIN"),
        ("Café crème brûlée", "LATIN"),
        ("12345 !!! 😀", None),  # no letters
        ("Привет, как дела?", "CYRILLIC"),
        ("카드를 잃어버렸어요", "HANGUL"),
        ("मेरा कार्ड खो गया है", "DEVANAGARI"),
        ("order #123: 我的卡 ok", "LATIN"),  # 7 Latin letters to 3 Han ones
        ("ok: 我的银行卡被锁了", "CJK"),  # 2 Latin letters to 7 Han ones
    ],
)
def test_a_texts_main_script(text: str, script: str | None) -> None:
    assert main_script(text) == script


def test_only_the_first_rows_are_looked_at() -> None:
    seen = ScriptCount()
    seen.add(["Hello"] * SCRIPT_SAMPLE)
    assert seen.full
    seen.add(CHINESE * 1000)  # past the sample: not looked at
    assert seen.sampled == SCRIPT_SAMPLE and not seen.other
    assert script_note(seen, encoder="all-MiniLM-L6-v2") is None
