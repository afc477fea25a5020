"""The Rust quality-filter statistics (src/textstats/ via langmill.native) against the plain
Python reference (tests/reference_quality.py): every column, on real text and adversarial text,
and the Rust-backed filters' decisions against the reference filters'.

Lowercasing: Rust's `to_lowercase` follows Rust's Unicode version, Python's `str.lower` Python's
(14.0 on 3.11). They agree on every code point that is a word character in Unicode 14 (checked
below); newer characters are never word characters here, so they can only matter inside
`line.lower()` for C4's substring rules, which no test text exercises.
"""

from __future__ import annotations

import gzip
import json
import random
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datatrove.data import Document

from langmill import native
from langmill.filters.quality import C4Filter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from langmill.config import load_quality_config
import reference_text
from reference_quality import (
    ReferenceC4Filter,
    ReferenceFineWebQualityFilter,
    ReferenceGopherQualityFilter,
    ReferenceGopherRepetitionFilter,
    c4_stats,
    fineweb_quality_stats,
    gopher_quality_stats,
    gopher_repetition_stats,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXT = DATA / "text"
LANGS = ("fi", "xx")  # Finnish settings (stop words, extra policy substrings) and the defaults


# --------------------------------------------------------------------------- helpers


def _native_c4(texts, c, threads=0):
    return native.c4_stats(
        texts,
        terminal_punctuation=tuple(c["terminal_punctuation"]),
        javascript_substrings=[s.lower() for s in c["javascript_substrings"] or []],
        policy_substrings=[s.lower() for s in list(c["policy_substrings"] or []) + list(c["extra_policy_substrings"] or [])],
        max_word_length=c["max_word_length"],
        remove_no_terminal_punct_lines=c["remove_no_terminal_punct_lines"],
        remove_ellipsis_lines=c["remove_ellipsis_lines"],
        min_words_per_line=c["min_words_per_line"],
        drop_lorem_ipsum=c["drop_lorem_ipsum"],
        drop_curly_bracket=c["drop_curly_bracket"],
        threads=threads,
    )


def native_stats(texts, cfg, threads=0):
    gq, gr, c4, fw = (cfg[k] for k in ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality"))
    stop = sorted({w.lower() for w in gq["stop_words"]})
    top = sorted(int(k) for k in gr["max_top_ngram_char_frac"])
    dup = sorted(int(k) for k in gr["max_dup_ngram_char_frac"])
    c4_rows, kept = _native_c4(texts, c4, threads)
    return {
        "gopher_quality": native.gopher_quality_stats(
            texts, stop_words=stop, separator_chars="".join(gq["separator_chars"]), threads=threads
        ).tolist(),
        "gopher_repetition": native.gopher_repetition_stats(texts, top_ns=top, dup_ns=dup, threads=threads).tolist(),
        "c4": [[row, k] for row, k in zip(c4_rows.tolist(), kept)],
        "fineweb_quality": native.fineweb_quality_stats(
            texts, terminal_punctuation=fw["terminal_punctuation"], short_line_length=fw["short_line_length"], threads=threads
        ).tolist(),
    }


def reference_stats(texts, cfg):
    gq, gr, c4, fw = (cfg[k] for k in ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality"))
    stop = frozenset(w.lower() for w in gq["stop_words"])
    top = sorted(int(k) for k in gr["max_top_ngram_char_frac"])
    dup = sorted(int(k) for k in gr["max_dup_ngram_char_frac"])
    return {
        "gopher_quality": [gopher_quality_stats(t, stop, gq["separator_chars"]) for t in texts],
        "gopher_repetition": [gopher_repetition_stats(t, top, dup) for t in texts],
        "c4": [list(c4_stats(t, c4)) for t in texts],
        "fineweb_quality": [fineweb_quality_stats(t, fw["terminal_punctuation"], fw["short_line_length"]) for t in texts],
    }


def assert_same_stats(texts, lang, labels=None):
    cfg, _ = load_quality_config(lang)
    got = native_stats(texts, cfg)
    want = reference_stats(texts, cfg)
    for kind in want:
        for i, (g, w) in enumerate(zip(got[kind], want[kind])):
            label = labels[i] if labels else repr(texts[i][:80])
            assert g == w, f"{kind} differs on {label} ({lang}):\n rust {g!r:.600}\n  ref {w!r:.600}"


FILTERS = [
    (GopherRepetitionFilter, ReferenceGopherRepetitionFilter),
    (GopherQualityFilter, ReferenceGopherQualityFilter),
    (C4Filter, ReferenceC4Filter),
    (FineWebQualityFilter, ReferenceFineWebQualityFilter),
]


def assert_same_decisions(texts, lang):
    """Each Rust-backed filter (batched) against its reference, doc by doc: keep/drop, detail,
    edited text and c4_lines_removed."""
    cfg, _ = load_quality_config(lang)
    for cls, ref_cls in FILTERS:
        flt, ref = cls(config=cfg[cls.reason]), ref_cls(config=cfg[cls.reason])
        docs = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]
        ref_docs = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]
        got = flt.filter_batch(docs)
        want = [ref.filter(d) for d in ref_docs]
        for d, r, g, w in zip(docs, ref_docs, got, want):
            assert (g, d.metadata, d.text) == (w, r.metadata, r.text), f"{cls.__name__} differs on doc {d.id}: {d.text[:200]!r}"


# --------------------------------------------------------------------------- real text


def _real_texts() -> tuple[list[str], list[str]]:
    """Documents from every shared text source: (texts, labels). About 1.5 MB in all."""
    if not TEXT.is_dir():
        pytest.skip(f"real text data not found at {TEXT} (needs ../shared/data next to the repository)")
    texts, labels = [], []

    def add(label, items):
        for i, t in enumerate(items):
            texts.append(t)
            labels.append(f"{label}#{i}")

    for path in sorted((TEXT / "ud").glob("*.txt")):
        lines = [ln for ln in path.read_text(encoding="utf-8").split("\n")][:1200]
        add(path.name + ":lines", ["\n".join(lines[k : k + 20]) for k in range(0, len(lines), 20)])
        add(path.name + ":paras", ["\n\n".join(" ".join(lines[j : j + 4]) for j in range(k, k + 20, 4)) for k in range(0, len(lines), 20)])
    for path in sorted((TEXT / "udhr").glob("*.txt")):
        paras = path.read_text(encoding="utf-8").split("\n")
        add(path.name, ["\n".join(paras[k : k + 15]) for k in range(0, len(paras), 15)])
        add(path.name + ":blank", ["\n\n".join(paras[k : k + 15]) for k in range(0, len(paras), 15)])
    for path in sorted((TEXT / "libreoffice-help").glob("*.jsonl.gz")):
        pages: dict[str, list[str]] = {}
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                pages.setdefault(row["file"], []).append(row["text"])
        add(path.name, ["\n".join(p) for p in list(pages.values())[:150]])
    for path in sorted((TEXT / "lingua-sentences").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").split("\n")[:600]
        add(path.name, ["\n".join(lines[k : k + 30]) for k in range(0, len(lines), 30)])
        # the same sentences twice in a row: repetition statistics with real repeats
        add(path.name + ":rep", ["\n".join(lines[k : k + 10] * 2) for k in range(0, len(lines), 60)])
    return texts, labels


@pytest.mark.parametrize("lang", LANGS)
def test_real_text_stats_match_reference(lang):
    texts, labels = _real_texts()
    assert_same_stats(texts, lang, labels)


def test_real_text_decisions_match_reference():
    texts, _ = _real_texts()
    assert_same_decisions(texts, "fi")


# --------------------------------------------------------------------------- adversarial text

SCRIPTS = (
    "Hyvää päivää! Tämä on EU:ssa tehty päätös, ks. www.yle.fi ja rock'n'roll-ilta klo 4.5.\n"
    "Привет, мир. Это тест — проверка слов… «Ёлка» и ЁЖ!\n"
    "ΟΔΟΣ ΣΟΦΟΚΛΕΟΥΣ. Η Ελλάδα είναι όμορφη; Σίσυφος ΣΣ.\n"
    "日本語の文章です。句読点もあります！中文句子？\n"
    "नमस्ते दुनिया। यह एक परीक्षण है॥ क्षत्रिय\n"
    "مرحبا بالعالم؟ هذه جملة عربية۔ ١٢٣\n"
    "e\u0301te\u0301 cafe\u0301 n\u0303 a\u0308\u0308 \u0301lone-mark\n"
    "emoji 😀 👍🏽 family 👨‍👩‍👧 flags 🇫🇮 keycap 1️⃣ done.\n"
    "İstanbul KELVIN \u212a Å ǅungla ß ẞ ﬁ ŉ \u0130I\u0307.\n"
)
ADVERSARIAL = [
    "",
    "word",
    " ",
    "\n",
    "\n\n\n",
    "...",
    "!?.…‼",
    ".,;:!?-—()[]{}\"'«»“”‘’…·•*#@%&/\\|",
    "#tag #another ##double # lone",
    "a" * 1001 + " word.",
    "..... ...... . .. ... …… …",
    "Lorem Ipsum dolor sit amet. LOREM IPSUM again.",
    "lorem\u00a0ipsum and LOREM İPSUM are not the phrase.",
    "Some {template} text. Another sentence here. Third one.",
    SCRIPTS,
    SCRIPTS * 3,
    "line one.\r\nline two.\r\n\r\nline three\rstill three.\r",
    "\r\r\r",
    "a\u2028b\u2029c\x85d\x1ce\x1ff\u3000g\u00a0h",
    "  • bullet one\n\t- bullet two\n* three\n➤ four\nnot a bullet\n",
    "Hän sanoi: ”Tule.” Minä tulin.\nHe sanoivat: »Ei.«\nKysymys? (Vastaus.)\nLopuksi ””\n",
    "Privacy Policy here is long enough to count.\nUses Cookies and more words here.\nJavaScript is needed for this page to work.\nTIETOSUOJASELOSTE on tässä ja se on pitkä.\n",
    "x\n" * 500,
    "\n" * 1000 + "One real line here with words.\n" + "\n" * 1000,
    ("Sama rivi toistuu tässä tekstissä.\n" * 30) + "\n\n" + ("Sama kappale.\nToinen rivi.\n\n" * 10),
    " ".join(["halvat lennot"] * 200),
    " ".join(str(i % 7) for i in range(3000)),
    "A " * 5000 + "\n" + "b " * 5000,
    ("Pitkä rivi ilman rivinvaihtoa, " * 20000) + "loppu.",
    "a'b a''b a'-b 'a' -a- a- -a a:b:c a.b.c a..b ’quoted’ ‐x‐ a‐b 1.2.3.",
    "ΣΑΣ σας ΌΡΟΙ ΧΡΉΣΗΣ. ΟΔΟΣ. Σ. ΑΣ'Σ",
    "\x00\x01\x02 control \x7f chars\x00.",
    "\ufeffBOM at start. And a zero\u200bwidth\u200d joiner.",
    "bad \ud800 surrogate \udfff here.\n\ud83d alone?\nline ends with surrogate \udc00",
    "\udc80\udcff",
    "Sentence one. Sentence two! Three? 4.5. oli hyvä. esim. näin\n" * 3,
    # separators: between items, at a line's edges (not counted), in runs, a Markdown table, quotes
    "Etusivu | Uutiset | Urheilu\nKoti › Palvelut » Hinnasto > Tarjous\n© 2024 Yritys · Ehdot • Tietosuoja\nLue lisää »",
    "| Planeetta | Halkaisija |\n|---------|---------|\n| Maa | 6,371 |\n> lainattu rivi > toinen\n• kohta\n  |  \n|",
    "a || b |¦| c >> d »» e\n\n| x |\n»Ei», hän sanoi. x > 3 ja y >= 2 -> z => w",
    # garbled words: OCR confusions, and the clean words with digits or joiners they must not be mistaken for
    "l1ke ko~ira sa^na 5ana a_b wo|rd tal0 COVID-19 2020:ssa EU:n F-16 www.yle.fi 4.5 mp3 H2O ½kg 3D ³x x²",
]


@pytest.mark.parametrize("lang", LANGS)
def test_adversarial_stats_match_reference(lang):
    assert_same_stats(ADVERSARIAL, lang)


def test_adversarial_decisions_match_reference():
    for lang in LANGS:
        assert_same_decisions(ADVERSARIAL, lang)


def test_random_mixtures_match_reference():
    """Random strings over an alphabet of every kind of character the statistics treat specially."""
    alphabet = list("aZ5 \t\n\n\r.'’-‐:#…!?”»)*•{") + ["...", "ÄÖ", "Σ", "σ", "ß", "İ", "\u0301", "é", "日", "।", "😀", "\u00a0", "\ud800", "lorem ipsum", "Cookie Policy"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(300)]
    words_ = ["kissa", "koira", "talo", "Talo", "TALO", "auto", "ja", "on", "se"]
    texts += [" ".join(rng.choice(words_) for _ in range(rng.randint(0, 300))) + rng.choice([".", "", "\n"]) for _ in range(100)]
    texts += ["\n".join(rng.choice(["Rivi yksi on tässä.", "Rivi kaksi", "", " ", "Rivi yksi on tässä."]) for _ in range(rng.randint(0, 60))) for _ in range(100)]
    for lang in LANGS:
        assert_same_stats(texts, lang)
    assert_same_decisions(texts, "fi")


def test_ten_megabyte_document():
    unit = SCRIPTS + "Toistuva kappale, jossa on useita sanoja ja pisteitä... lopussa.\n\n"
    k = 10_000_000 // len(unit.encode()) + 1
    big = unit * k
    cfg, _ = load_quality_config("fi")
    got = native_stats([big, unit], cfg)
    gq_big, gq_unit = got["gopher_quality"]
    for col in ("n_words", "word_chars", "n_tokens", "n_hash", "n_ellipsis", "n_lines", "n_bullet_lines", "n_ellipsis_lines", "n_alpha_words"):
        i = native.GOPHER_QUALITY_COLUMNS.index(col)
        assert gq_big[i] == k * gq_unit[i], col
    i = native.GOPHER_QUALITY_COLUMNS.index("n_stop_words")
    assert gq_big[i] == gq_unit[i] > 0  # distinct stop words
    fw_big, fw_unit = got["fineweb_quality"]
    assert fw_big[0] == k * fw_unit[0] and fw_big[5] == k * fw_unit[5] and fw_big[4] == k * fw_unit[4]
    gr_big, gr_unit = got["gopher_repetition"]
    line_chars = sum(len(ln) for ln in reference_text.non_blank_lines(unit))
    assert fw_big[3] == fw_unit[3] + (k - 1) * line_chars  # every line of a later copy is a duplicate
    assert gr_unit[0] == 1 and gr_big[:2] == [k, k - 1]  # one paragraph per copy
    assert gr_big[4] == gr_big[3] - gr_unit[3] + gr_unit[4]
    assert gr_big[6] == len(big) and gr_unit[6] == len(unit)
    (c4_row, kept), _ = got["c4"]
    assert c4_row[8] > 0 and (kept is None or len(kept) < len(big))


# --------------------------------------------------------------------------- API details


def test_arrow_inputs_threads_and_nulls():
    texts = ADVERSARIAL[:25] + [None, "Toinen lause. Ja kolmas!"]
    clean = [t if isinstance(t, str) else "" for t in texts]
    cfg, _ = load_quality_config("fi")
    want = native_stats(clean, cfg, threads=1)
    for inp in (texts, pa.array(texts, type=pa.string()), pa.chunked_array([pa.array(texts[:10]), pa.array(texts[10:])])):
        for threads in (1, 2, 0):
            assert native_stats(inp, cfg, threads=threads) == want
    arr = pa.array(["pad"] + texts, type=pa.large_string()).slice(1)
    assert native_stats(arr, cfg) == want


def test_many_documents_threads_agree():
    texts = ADVERSARIAL * 40
    a = native.gopher_repetition_stats(texts, threads=1)
    b = native.gopher_repetition_stats(texts, threads=4)
    assert np.array_equal(a, b)


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        native.gopher_repetition_stats(["x"], top_ns=[-1])
    with pytest.raises(TypeError):
        native.gopher_quality_stats("not a list")


def _ui_menus(lang: str, n: int = 200) -> list[str]:
    """Navigation pages from real LibreOffice UI strings: menus, breadcrumbs, footers (seeded)."""
    path = DATA / "parallel-strings" / f"lo-ui-7.4.7.en-{lang}.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"real UI strings not found at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        items = sorted({r[lang].replace("~", "").strip() for r in map(json.loads, f)} - {""})
    rng, pages = random.Random(14), []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(1, 12)):
            sep = rng.choice([" | ", " > ", " » ", " › ", " · ", " • ", " / ", " – ", "|", " ¦ "])
            line = sep.join(rng.sample(items, rng.randint(1, 6)))
            lines.append(rng.choice(["", "© 2024 ", "• ", "| ", "> "]) + line + rng.choice(["", " |", " »", "  "]))
        pages.append("\n".join(lines) + rng.choice(["", "\n", "\n\n"]))
    return pages


@pytest.mark.parametrize("chars", [None, "", "|>", "/\\–-", "»·•©x"], ids=["default", "none", "ascii", "slashes-dashes", "with-a-letter"])
def test_separators_match_reference_on_menus_and_real_text(chars):
    """n_separators, kernel against reference, bit for bit, for several separator sets (a set
    holding a letter counts a one-letter token "x" as a separator too), on navigation pages built
    from real UI strings and on real text."""
    from langmill.native.textstats import SEPARATOR_CHARS

    texts, _ = _real_texts()
    texts = _ui_menus("fi") + texts[::7] + ADVERSARIAL
    want_chars = SEPARATOR_CHARS if chars is None else chars
    got = native.gopher_quality_stats(texts, separator_chars=chars).tolist()
    want = [gopher_quality_stats(t, separator_chars=want_chars) for t in texts]
    for t, g, w in zip(texts, got, want):
        assert g == w, f"differs on {t[:200]!r}: rust {g} ref {w}"
    col = native.GOPHER_QUALITY_COLUMNS.index("n_separators")
    if chars is None:  # menus are separator-dense, real text is not
        share = np.array([row[col] / max(row[2], 1) for row in got])
        menus, real = share[:200], share[200 : len(texts) - len(ADVERSARIAL)]
        assert np.median(menus) > 0.05 > np.quantile(real, 0.99), (np.median(menus), np.quantile(real, 0.99))


def test_separator_chars_default_is_the_kernels():
    cfg, _ = load_quality_config("")
    from langmill.native.textstats import SEPARATOR_CHARS

    assert set(cfg["gopher_quality"]["separator_chars"]) == SEPARATOR_CHARS
    # between two tokens of its line: counted; "/" is not a separator; a line's first or last token is not one
    texts = ["a | b", "a |\n| b", "a / b", "| a |", "> lainaus", "Lue lisää »", "a | | b"]
    col = native.GOPHER_QUALITY_COLUMNS.index("n_separators")
    assert native.gopher_quality_stats(texts)[:, col].tolist() == [1, 0, 0, 0, 0, 0, 2]


def test_garbled_words():
    """n_garbled_words: ASCII digits between two letters, or | ! ; ` ~ or a private-use character
    inside a word token; on real text rare, on OCR-noised real text common."""
    col = native.GOPHER_QUALITY_COLUMNS.index("n_garbled_words")
    one = lambda w: int(native.gopher_quality_stats([w])[0, col])  # noqa: E731
    assert [one(w) for w in ("l1ke", "koi55ra", "ko~ira", "sa|na", "se;n", "o`n", "H2O", "o\uf023ló")] == [1] * 8
    clean = ("COVID-19", "2020:ssa", "EU:n", "F-16", "www.yle.fi", "4.5", "rock'n'roll", "(sana).", "12345", "2007an", "1st",
             "B4", "CO2", "mp3", "x^2", "a_b", "4°C", "Ctrl+A", "AT&T", "\\frac", "sana!", "tal0")
    assert [one(w) for w in clean] == [0] * len(clean)
    texts, labels = _real_texts()
    # Yoruba's Leipzig sentences hold private-use characters (a legacy font encoding): garbled, rightly
    texts = [t for t, label in zip(texts, labels) if not label.startswith("yo.")]
    real = native.gopher_quality_stats(texts)
    share = real[:, col] / np.maximum(real[:, 0], 1)
    rng = random.Random(3)
    confusions = "il1|!IrnmcoeO0Q5S8B6bgq9.,;:'`~^-_/\\()[]"
    noised = ["".join(rng.choice(confusions) if not c.isspace() and rng.random() < 0.25 else c for c in t) for t in texts[::10]]
    ocr = native.gopher_quality_stats(noised)
    ocr_share = ocr[:, col] / np.maximum(ocr[:, 0], 1)
    assert np.quantile(share, 0.99) < 0.02 and np.quantile(ocr_share[ocr[:, 0] >= 20], 0.05) > 0.06, (np.quantile(share, 0.99), np.quantile(ocr_share, 0.05))
    want = [gopher_quality_stats(t)[col] for t in noised]
    assert ocr[:, col].tolist() == want


def test_distinct_words():
    """n_distinct_words: distinct lowercased word tokens (Python's str.lower, so "Talo" = "TALO" and "Σ" = "σ")."""
    col = native.GOPHER_QUALITY_COLUMNS.index("n_distinct_words")
    texts = ["Talo talo TALO, talot.", "ΣΑΣ σας Σας", "a b c a b c", "", "İstanbul istanbul"]
    assert native.gopher_quality_stats(texts)[:, col].tolist() == [2, 1, 3, 0, 2] == [gopher_quality_stats(t)[col] for t in texts]


def test_repetition_word_count_is_gopher_qualitys():
    """Gopher repetition's n_words (what its by_length buckets go by) counts the same word tokens as Gopher quality's."""
    texts, _ = _real_texts()
    texts = texts[::5] + ADVERSARIAL
    rep = native.gopher_repetition_stats(texts)[:, native.GOPHER_REPETITION_COLUMNS.index("n_words")]
    assert rep.tolist() == native.gopher_quality_stats(texts)[:, 0].tolist()


def test_word_chars_lowercase_like_python():
    """Rust's lowercasing agrees with Python's str.lower() on every word character of Unicode 14
    (each character alone as a document; its Python lowercase is a stop word)."""
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and unicodedata.category(chr(cp))[0] in "LMN"]
    stats = native.gopher_quality_stats(chars, stop_words=sorted({c.lower() for c in chars}))
    n_words = stats[:, native.GOPHER_QUALITY_COLUMNS.index("n_words")]
    n_stop = stats[:, native.GOPHER_QUALITY_COLUMNS.index("n_stop_words")]
    assert (n_words == 1).all()
    bad = [f"U+{ord(c):04X}" for c, s in zip(chars, n_stop) if s != 1]
    assert not bad, f"lowercase differs from Python for {bad[:20]}"


def test_lorem_ipsum_shortcut_is_exact():
    """c4's 'lorem ipsum' search is ASCII case-insensitive: exact because no other code point
    lowercases to something containing an ASCII letter, except U+0130 (-> 'i' + U+0307) and
    U+212A (-> 'k'), neither of which can complete the phrase."""
    odd = [cp for cp in range(128, 0x110000) if any("a" <= ch <= "z" for ch in chr(cp).lower())]
    assert odd == [0x130, 0x212A]
