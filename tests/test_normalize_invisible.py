"""Invisible characters: bidi marks always go, ZWNJ/ZWJ stay only where they are spelling.

The rule is `joiner_is_spelling` in langmill/filters/normalize.py; the Rust kernel and the Python
reference must both follow it, so every case runs through both.
"""

import pytest

from langmill import native
from langmill.filters.normalize import fold_whitespace
from tests.conftest import read_out, run_langmill, shared_data, write_jsonl

ZWNJ, ZWJ = "\u200c", "\u200d"
BIDI = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
INVISIBLE = BIDI + ZWNJ + ZWJ + "\u200b\u2060\ufeff"


def rust_fold(text: str) -> str:
    return native.normalize([text])[0][0].as_py()


@pytest.fixture(params=[fold_whitespace, rust_fold], ids=["python", "rust"])
def fold(request):
    return request.param


CASES = [
    # Persian: ZWNJ between the prefix/suffix and the stem is spelling ("I want", "books").
    ("من می\u200cخواهم کتاب\u200cها را بخوانم", "من می\u200cخواهم کتاب\u200cها را بخوانم"),
    ("\u200fمی\u200cخواهم\u200f", "می\u200cخواهم"),  # RLM around the word goes, ZWNJ stays
    ("\u200cمی\u200cخواهم\u200c.", "می\u200cخواهم."),  # at the word edges it is noise
    # Hindi: ZWJ after a virama asks for the half form, ZWNJ for the visible virama.
    ("क्\u200dष और क्\u200cष", "क्\u200dष और क्\u200cष"),
    ("नमस्ते\u200d दुनिया\u200c।", "नमस्ते दुनिया।"),  # before a space or the danda: removed
    ("\u0915\u094d\u200d\u0937 123\u200c456", "\u0915\u094d\u200d\u0937 123456"),  # ASCII digits do not join
    # Emoji ZWJ sequences: family, rainbow flag (VS16 before ZWJ), skin tone before ZWJ, heart on fire.
    ("👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👩🏽\u200d💻 ❤\ufe0f\u200d🔥", "👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👩🏽\u200d💻 ❤\ufe0f\u200d🔥"),
    ("👍\u200dok 👨\u200c👩 ok\u200d👍", "👍ok 👨👩 ok👍"),  # ZWJ to a letter, ZWNJ between emoji
    # Latin, Greek and Cyrillic never spell with joiners.
    ("Hel\u200dlo Hyvää\u200c päivää", "Hello Hyvää päivää"),
    ("При\u200cвет Καλη\u200dμέρα", "Привет Καλημέρα"),
    # Bidi embeddings, overrides and isolates around right-to-left words in left-to-right text.
    ("Sana \u202bعربي\u202c ja \u2067שלום\u2069 sekä \u202e\u202dx\u2066\u2068y\u2069", "Sana عربي ja שלום sekä xy"),
    (f"{INVISIBLE} \n\t{INVISIBLE}\n", ""),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_invisible_characters_rule(fold, text, expected):
    assert fold(text) == expected


def finnish_documents(n: int) -> list[str]:
    lines = shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text().splitlines()
    return ["\n".join(lines[k : k + 15]) for k in range(0, 15 * n, 15)]


def salt(text: str, seed: int) -> str:
    """Puts one invisible character after every 7th character: inside words, at edges, by spaces."""
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        if i % 7 == 0:
            out.append(INVISIBLE[(i + seed) % len(INVISIBLE)])
    return "".join(out)


def test_corpus_removes_invisible_characters_and_drops_invisible_only_rows_as_empty(tmp_path):
    docs = finnish_documents(12)
    rows = [{"id": f"fi-{i}", "text": salt(text, i)} for i, text in enumerate(docs)]
    rows.append({"id": "invisible-only", "text": f"{BIDI}{ZWNJ}{ZWJ} \n \u2067{ZWJ}\u2069\n{ZWNJ}"})
    write_jsonl(tmp_path / "salted.jsonl", rows)

    out = tmp_path / "out"
    result = run_langmill("corpus", tmp_path / "salted.jsonl", "--lang", "fi", "--out", out, "--workers", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    kept, excluded, stats = read_out(out)
    assert stats["rows_in"] == len(rows) == kept.height + excluded.height

    kept_text = dict(zip(kept["id"].to_list(), kept["text"].to_list()))
    assert len(kept_text) >= 10, f"salted Finnish was dropped: {excluded.select('id', 'reason', 'detail').rows()}"
    for i, text in kept_text.items():
        assert not set(text) & set(INVISIBLE), (i, text[:200])
        # Every kept line is a line of the clean document (the quality step may drop whole lines).
        clean_lines = set(fold_whitespace(docs[int(i.split("-")[1])]).split("\n"))
        assert set(text.split("\n")) <= clean_lines, i

    reasons = {r["id"]: (r["reason"], r["detail"]) for r in excluded.iter_rows(named=True)}
    assert reasons["invisible-only"] == ("empty", "no text left after normalisation")
