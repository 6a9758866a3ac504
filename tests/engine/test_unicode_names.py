"""Label names in any script, and none that reads as another: a name may hold any letter,
mark or emoji (ZWJ sequences, Persian's ZWNJ, the flag of England's tags), but no invisible
character -- a zero-width space, a bidi override, a control character -- that would make two
labels look alike ("N\u200bDA" beside "NDA") or flip a button's text. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from engine import projects, taxonomy
from storage.errors import InvalidInputError

WELCOME = [
    "請求書",  # Japanese
    "فاتورة",  # Arabic (RTL)
    "חשבונית",  # Hebrew (RTL)
    "Счёт",  # Cyrillic
    "चालान क्षेत्र",  # Hindi, with a conjunct
    "می\u200cخواهم",  # Persian: ZWNJ is part of the word
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # a ZWJ emoji sequence
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f England",  # tags
    "\U0001f1ef\U0001f1f5 Japan",  # a flag
]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("N\u200bDA", "U+200B ZERO WIDTH SPACE"),
        ("\u202eevil\u202c", "U+202E RIGHT-TO-LEFT OVERRIDE, U+202C POP DIRECTIONAL FORMATTING"),
        ("\ufeffNDA", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("bill\u00ading", "U+00AD SOFT HYPHEN"),
        ("NDA\u200e", "U+200E LEFT-TO-RIGHT MARK"),
        ("a\x07b", "U+0007 control character"),
    ],
)
def test_every_operation_that_names_a_label_refuses_an_invisible_character(
    ws, name: str, shown: str
) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="p", labels=["a", "b", "c"])
    common = {"ws": ws, "project": "p", "actor": "me", "rescore": False}
    attempts = [
        lambda: projects.create_project(ws, name="q", labels=["ok", name]),
        lambda: taxonomy.add_labels(names=["ok", name], **common),
        lambda: taxonomy.rename_label(label="a", new_name=name, **common),
        lambda: taxonomy.merge_labels(labels=["a", "b"], into=name, **common),
        lambda: taxonomy.split_label(label="c", into=[name, "z"], **common),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInputError) as caught:
            attempt()
        assert str(caught.value) == (
            f"a label name cannot contain invisible characters: {name!r} has {shown} "
            "(it would look like another name)"
        )
    assert [p.name for p in projects.list_projects(ws)] == ["p"]
    assert [lb.name for lb in projects.list_labels(ws, project="p")] == ["a", "b", "c"]
    assert taxonomy.label_history(ws, project="p") == []


def test_names_in_any_script_with_joiners_and_emoji_are_labels(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="intl", labels=WELCOME[:4])
    taxonomy.add_labels(ws, project="intl", names=WELCOME[4:], actor="me", rescore=False)
    assert [lb.name for lb in projects.list_labels(ws, project="intl")] == WELCOME
    # the typed name of a ZWNJ word still finds it
    taxonomy.rename_label(
        ws, project="intl", label="می\u200cخواهم", new_name="خواستن", actor="me", rescore=False
    )
    assert "خواستن" in [lb.name for lb in projects.list_labels(ws, project="intl")]


def test_a_chart_draws_a_character_its_first_font_lacks_from_a_font_matplotlib_ships(
    tmp_path, recwarn
) -> None:  # type: ignore[no-untyped-def]
    """ "⭐" is not in DejaVu Sans but is in STIX (both ship with matplotlib): the chart uses
    it instead of a box, and matplotlib has no "Glyph … missing" to warn about."""
    import warnings

    from engine.charts import learning_curve_png, missing_glyphs

    warnings.simplefilter("always")
    out = learning_curve_png(
        {"\u2b50 VIP": [(10, 0.5), (20, 0.6)], "Счёт": [(10, 0.4), (20, 0.7)]},
        tmp_path / "curve.png",
        title="\u2b50 VIP: فاتورة",
    )
    assert out.stat().st_size > 0
    assert [str(w.message) for w in recwarn if "Glyph" in str(w.message)] == []
    assert missing_glyphs("\u2b50 VIP فاتورة Счёт café") == ""


def test_names_no_font_here_draws_get_ids_and_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with no CJK or Devanagari font (none is downloaded): such names become "#1",
    "#2" on a chart, with a key for the message that carries it. The fonts are narrowed to
    those matplotlib ships, so the test means the same on a machine with Noto CJK installed."""
    from engine import charts
    from engine.charts import chart_names, missing_glyphs

    bundled = tuple(font for font in charts._charmaps() if "mpl-data" in font[1])
    assert bundled  # DejaVu and STIX, in matplotlib's own folder
    monkeypatch.setattr(charts, "_charmaps", lambda: bundled)
    covered = frozenset().union(*(codes for _, _, codes in bundled))
    monkeypatch.setattr(charts, "_covered", lambda: covered)

    assert missing_glyphs("請求書") == "請求書"
    assert chart_names(["請求書", "café", "चालान", "Счёт"]) == (
        ["#1", "café", "#2", "Счёт"],
        {"#1": "請求書", "#2": "चालान"},
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_as_excel_saves_unicode_text_imports(tmp_path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """Excel's "Unicode Text" (*.txt) is UTF-16 with a byte order mark, tab-separated: it was
    refused as "not valid UTF-8 (byte 0xff)", or read as one column named "text\\tlabel"."""
    from engine.importing import read_file

    rows = "text\tlabel\r\n請求書はどこですか\t請求書\r\nمتى تصل الفاتورة\tفاتورة\r\n"
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    (tmp_path / "excel.txt").write_bytes(bom + rows.encode(encoding))
    (tmp_path / "excel.csv").write_bytes(bom + rows.replace("\t", ",").encode(encoding))
    for name in ("excel.txt", "excel.csv"):
        read = read_file(tmp_path / name)
        assert [(r.text, r.label) for r in read.records] == [
            ("請求書はどこですか", "請求書"),
            ("متى تصل الفاتورة", "فاتورة"),
        ]
        assert read.columns == {"text", "label"}


def test_a_broken_utf16_file_is_one_line_and_a_comma_txt_stays_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.importing import read_file

    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xff\xfe" + "text\n".encode("utf-16-le") + b"\x00\xd8a\x00")
    with pytest.raises(InvalidInputError) as caught:
        read_file(broken)
    assert str(caught.value) == (
        f"{broken}: not valid UTF-16 (a broken character at byte 12); save the file as UTF-8"
    )
    # a .txt with commas in its header is comma-separated, as before (a tab in a text is kept)
    plain = tmp_path / "plain.txt"
    plain.write_text('text,label\n"a\tb",x\n', encoding="utf-8")
    assert [(r.text, r.label) for r in read_file(plain).records] == [("a\tb", "x")]
