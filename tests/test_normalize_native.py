"""The Rust whitespace pass and hints give exactly what the plain Python path gives."""

import gzip
import json
import random

import pytest

from langmill import native
from langmill.filters.normalize import fold_whitespace, normalize_batch, normalize_text
from langmill.filters.pii import mask_pii
from tests.conftest import SAMPLE_DIR, shared_data

ADVERSARIAL = [
    "", " ", "\n\n\n", "a", "  a\t\tb  \r\n\r\n\r\n\n c\u200b d\x07 \n", "x\ry\r\n\rz", "\ufeffBOM ja\u2060 liitos",
    "ruler\u2028line\u2029para\u3000ideo\u00a0nbsp\u202fnarrow\x85nel\x1cfs", "\t\t", "a \n b \n\n\n\n c", "e\u0301 combining",
    "\u200fمی\u200cخواهم\u200c \u202bکتاب\u200cها\u202c", "क्\u200dष क्\u200cष नमस्ते\u200d\r\u200cदुनिया", "\u200d\u200c\u200e\u2066\u2069",
    "👨\u200d👩\u200d👧 🏳\ufe0f\u200d🌈 👍\u200dok Hel\u200dlo\u200c", "\u200d\r\nक\u200d\r\u200dक",
    "TÃ¤mÃ¤ on mojibakea", "VoilÃ  tout", "â€œLainausâ€\x9d", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "naïve café über ångström",
    "漢字とかな。\n\nΕλληνικά; Русский текст. हिन्दी पाठ। عربي 😀👍🏽", "bad \ud800 surrogate", "x" * 100_000 + "\n\n\n" + " y " * 1000,
    "a@b.example 192.0.2.17 2001:db8::1 1.2.3 12:30 1234.5.6.7",
]


def real_texts() -> list[str]:
    texts = []
    for lang in ("fi", "eu", "et", "en-US"):
        with gzip.open(shared_data("text", "libreoffice-help", f"lo-help-7.4.7.{lang}.jsonl.gz"), "rt") as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(2000), f)]
    for name in ("fi_tdt-ud-dev.txt", "et_ewt-ud-dev.txt", "eu_bdt-ud-dev.txt"):
        lines = shared_data("text", "ud", name).read_text().splitlines()
        texts += ["\n".join(lines[k : k + 15]) for k in range(0, len(lines), 15)]
    return texts


def sample_texts() -> list[str]:
    return [json.loads(line)["text"] for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("source", ["adversarial", "sample", "real"])
def test_batch_normalisation_equals_the_python_reference(source):
    texts = {"adversarial": lambda: ADVERSARIAL, "sample": sample_texts, "real": real_texts}[source]()
    assert normalize_batch(texts) == [normalize_text(t) for t in texts]


def test_rust_fold_equals_python_fold_without_nfc_or_ftfy():
    texts = ADVERSARIAL[:-3] + sample_texts()
    folded, _ = native.normalize(texts, threads=2)
    assert folded.to_pylist() == [fold_whitespace(t) for t in texts]


def test_rust_fold_equals_python_fold_on_random_invisible_text():
    """Random strings over letters of joining and non-joining scripts, emoji, joiners, marks and spaces."""
    alphabet = list("aé Ж\t\n\r.1") + ["\u200c", "\u200d", "\u200e", "\u202e", "\u2067", "\u061c", "\ufe0f", "\u200b"]
    alphabet += list("می،۱क्ष।ශ්රකြ់ᠮ") + ["👨", "🏽", "❤", "🌈", "\u0301", "\u064e"]
    rng = random.Random(9)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    folded, _ = native.normalize(texts, threads=2)
    assert folded.to_pylist() == [fold_whitespace(t) for t in texts]


def test_hints_never_hide_an_address():
    texts = ADVERSARIAL + sample_texts()
    hints = native.hints(texts)
    for text, hint in zip(texts, hints):
        assert mask_pii(text, hint=int(hint)) == mask_pii(text)
    assert hints[-1 - len(sample_texts())] == native.HINT_AT | native.HINT_IPV4 | native.HINT_IPV6


def test_hints_on_real_text_keep_masking_identical():
    texts = real_texts()
    for text, hint in zip(texts, native.hints(texts)):
        assert mask_pii(text, hint=int(hint)) == mask_pii(text)
