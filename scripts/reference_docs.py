"""Well-formed reference documents per source, from the public text in ../shared/data (one definition,
used by scripts/calibrate_languages.py to calibrate and by bench/quality.py to measure).

Each source's documents are built once, deterministically, in a fixed order; the documents with an
even index (0::2) are the calibration half, those with an odd index the held-out half, so the bench's
evaluation documents are ones the shipped settings were never calibrated on.

    ud            UD dev treebank sentences, 5-15 consecutive ones per document (length drawn with
                  random.Random(0) per treebank), joined by spaces (text/ud/<lang>_*-ud-dev.txt)
    udhr          UDHR paragraphs, 4 consecutive non-empty lines per document, joined by blank lines
                  (text/udhr/udhr_<iso3>.txt)
    libreoffice   LibreOffice 7.4.7 help, one page (`file`) per document, its paragraphs one per line;
                  paragraphs whose text also occurs in the en-US help (untranslated) left out; pages
                  of 3 paragraphs or more (text/libreoffice-help/lo-help-7.4.7.<lang>.jsonl.gz)
    leipzig       Leipzig news/web sentences, 8 consecutive ones per document, joined by spaces
                  (text/lingua-sentences/<lang>.txt)
    chat-dolly    fi only: Finnish Dolly-15k `response`, one answer per document
    chat-oasst1   fi only: oasst1-fi validation, `assistant` messages, one per document
    chat-mtbench  fi only: MT-Bench Finnish answers, each turn one document, of the chat models (the
                  base models left out: they continue text; the coding category left out: its
                  answers are mostly source code, which bench/quality.py counts as junk)

Every source keeps only documents: at least MIN_WORDS words (whitespace-separated) and at least one
sentence end (". ! ? …" before a space or the end). Anything else is a fragment, such as a LibreOffice help page left with its
bare "Syntaksi: / Parametrit: / Esimerkki:" headings or a list of UI labels (no sentence), and
calibrating on those would keep 3-word pages and navigation menus of any corpus. So that the held-out half is strictly held out, a document of the odd
half whose text is also in the even half is left out of the odd half (LibreOffice help has identical
pages, e.g. the "Syntaksi: / Parametrit: / Esimerkki:" skeleton of Basic reference pages: 32 fi and
17 et odd-half pages go); the even half stays as it was calibrated on.

The chat sources have more rules, applied to the whole source before the halves are taken, so both
halves get them the same way: an answer must be Finnish (more Finnish than English function words,
fixed lists below: not a language-ID model, which is what is being calibrated); a repeated answer is
kept once; and each chat source
keeps at most CHAT_CAP answers, a sample seeded by the source's name and kept in source order (Dolly
has about 10,000), which keeps calibration and the bench quick. No cap elsewhere: calibrate weighs
each input the same whatever its size, and every source is an input of its own.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LANGMILL_SHARED_DATA", ROOT.parent / "shared" / "data"))
TEXT = SHARED / "text"
ISO3 = {"fi": "fin", "eu": "eus", "et": "est", "cy": "cym", "is": "isl", "en": "eng", "yo": "yor"}
MIN_WORDS = 5  # a shorter text is not a document (a chat "Kiitos!", a help page's bare "Syntaksi: Parametrit: Esimerkki:")
CHAT_CAP = 1200  # chat only: answers per source at most (a seeded sample, source order kept)
# A page left with one or two translated paragraphs is its title and a line: a fragment, not a page.
MIN_PAGE_PARAGRAPHS = 3
FI_FUNCTION = {"ja", "on", "ei", "että", "se", "ovat", "oli", "tai", "kun", "myös", "voi", "sen", "jos", "kuin", "mutta", "tämä"}
EN_FUNCTION = {"the", "and", "is", "of", "to", "in", "that", "it", "for", "are", "with", "this", "you", "be", "on"}


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def ud_documents(lang: str) -> list[str]:
    """Consecutive sentences grouped into documents of 5-15, treebank by treebank."""
    docs = []
    for path in sorted((TEXT / "ud").glob(f"{lang}_*-ud-dev.txt")):
        sentences, rnd, i = _lines(path), random.Random(0), 0
        while i < len(sentences):
            k = rnd.randint(5, 15)
            docs.append(" ".join(sentences[i : i + k]))
            i += k
    return docs


def _grouped(path: Path, per_doc: int, joiner: str) -> list[str]:
    """Consecutive lines of `path` joined into documents of `per_doc` (none when the file is absent)."""
    if not path.is_file():
        return []
    lines = _lines(path)
    return [joiner.join(lines[i : i + per_doc]) for i in range(0, len(lines), per_doc)]


def udhr_documents(lang: str, per_doc: int = 4) -> list[str]:
    return _grouped(TEXT / "udhr" / f"udhr_{ISO3.get(lang, lang)}.txt", per_doc, "\n\n")


def libreoffice_documents(lang: str) -> list[str]:
    """Help pages of translated paragraphs (those still in English left out), in file order, of at
    least MIN_PAGE_PARAGRAPHS paragraphs."""
    folder = TEXT / "libreoffice-help"
    path = folder / f"lo-help-7.4.7.{lang}.jsonl.gz"
    if not path.is_file():
        return []
    english = {row["text"] for row in _jsonl_gz(folder / "lo-help-7.4.7.en-US.jsonl.gz")}
    pages: dict[str, list[str]] = {}
    for row in _jsonl_gz(path):
        if row["text"] not in english:
            pages.setdefault(row["file"], []).append(row["text"])
    return ["\n".join(p) for _, p in sorted(pages.items()) if len(p) >= MIN_PAGE_PARAGRAPHS]


def leipzig_documents(lang: str, per_doc: int = 8) -> list[str]:
    return _grouped(TEXT / "lingua-sentences" / f"{lang}.txt", per_doc, " ")


# --- Finnish chat answers ---------------------------------------------------------------------------


def is_finnish_answer(text: str) -> bool:
    tokens = re.findall(r"\w+", text.lower())
    return sum(t in FI_FUNCTION for t in tokens) > sum(t in EN_FUNCTION for t in tokens)


def _chat(name: str, answers: list[str]) -> list[str]:
    """Finnish answers of >= MIN_WORDS words; at most CHAT_CAP, a seeded sample kept in source order."""
    docs = list(dict.fromkeys(t.strip() for t in answers if is_finnish_answer(t) and len(t.split()) >= MIN_WORDS))
    if len(docs) <= CHAT_CAP:
        return docs
    return [docs[i] for i in sorted(random.Random(name).sample(range(len(docs)), CHAT_CAP))]


def dolly_documents(lang: str) -> list[str]:
    if lang != "fi":
        return []
    rows = _jsonl_gz(SHARED / "instructions" / "dolly-15k-fi.from-docx.jsonl.gz")
    return _chat("chat-dolly", [r.get("response") or "" for r in rows])


def oasst1_documents(lang: str) -> list[str]:
    if lang != "fi":
        return []
    rows = _jsonl_gz(SHARED / "instructions" / "oasst1-fi-validation.rebuilt.jsonl.gz")
    return _chat("chat-oasst1", [r["text"] for r in rows if r["role"] == "assistant"])


def mtbench_documents(lang: str) -> list[str]:
    if lang != "fi":
        return []
    folder = SHARED / "instructions" / "mt-bench"
    with open(folder / "question.jsonl", encoding="utf-8") as f:
        categories = {q["question_id"]: q["category"] for q in map(json.loads, f)}
    answers = []
    for path in sorted((folder / "model_answer_fi").glob("*.jsonl")):
        if "base" in path.name:  # base models continue text, they are not chat models
            continue
        with open(path, encoding="utf-8") as f:
            for row in map(json.loads, f):
                if categories.get(row["question_id"]) == "coding":
                    continue
                answers += [t for c in row["choices"] for t in c["turns"] if isinstance(t, str) and "$ERROR$" not in t]
    return _chat("chat-mtbench", answers)


SOURCES = {
    "ud": ud_documents, "udhr": udhr_documents, "libreoffice": libreoffice_documents, "leipzig": leipzig_documents,
    "chat-dolly": dolly_documents, "chat-oasst1": oasst1_documents, "chat-mtbench": mtbench_documents,
}

# What each source is, for reports (bench/quality.md) and the shipped files' headers.
RECIPES = {
    "ud": "UD dev treebanks (every `<lang>_*-ud-dev.txt`, in name order: fi FTB then TDT; eu BDT; et EWT), sentences "
          "in file order cut into documents of 5-15 consecutive sentences (length drawn with a fixed seed per treebank), "
          "joined by spaces",
    "udhr": "UDHR, 4 consecutive non-empty lines (title, headings and paragraphs alike) per document, joined by blank lines",
    "libreoffice": "LibreOffice 7.4.7 help, one page (`file`) = one document, its paragraphs one per line in order; "
                   "paragraphs whose text also occurs in the en-US help (untranslated) left out; pages of 3+ paragraphs and 5+ words",
    "leipzig": "Leipzig sentences (lingua-sentences; news/web), 8 consecutive sentences per document, joined by spaces",
    "chat-dolly": "Finnish Dolly-15k `response`, one answer per document",
    "chat-oasst1": "oasst1-fi validation, `assistant` messages, one per document",
    "chat-mtbench": "MT-Bench Finnish answers (each turn one document) of the chat models (the base models left out; "
                    "the coding category left out: its answers are mostly source code, which the junk set counts as junk)",
}


def describe(name: str, lang: str) -> str:
    """One line: where a source's documents come from and how they are cut."""
    return {
        "ud": f"text/ud/{lang}_*-ud-dev.txt, 5-15 consecutive sentences",
        "udhr": f"text/udhr/udhr_{ISO3.get(lang, lang)}.txt, 4 consecutive paragraphs",
        "libreoffice": f"text/libreoffice-help/lo-help-7.4.7.{lang}.jsonl.gz, pages of 3+ translated paragraphs, 5+ words",
        "leipzig": f"text/lingua-sentences/{lang}.txt, 8 consecutive sentences",
        "chat-dolly": f"instructions/dolly-15k-fi.from-docx.jsonl.gz responses, Finnish, {MIN_WORDS}+ words, at most {CHAT_CAP}",
        "chat-oasst1": f"instructions/oasst1-fi-validation.rebuilt.jsonl.gz assistant messages, Finnish, {MIN_WORDS}+ words",
        "chat-mtbench": f"instructions/mt-bench/model_answer_fi chat models' turns, no coding, Finnish, {MIN_WORDS}+ words, "
                        f"at most {CHAT_CAP}",
    }[name]


def is_document(text: str) -> bool:
    """At least MIN_WORDS words and one sentence end (". ! ? …" before a space, a closing quote or the end)."""
    return len(text.split()) >= MIN_WORDS and re.search(r"[.!?…][\"'”’»)]*(\s|$)", text) is not None


@functools.lru_cache(maxsize=None)
def documents(name: str, lang: str) -> tuple[str, ...]:
    """All documents of one source that are documents (`is_document`), built once per process."""
    return tuple(d for d in SOURCES[name](lang) if is_document(d))


def sources(lang: str, half: str = "even") -> dict[str, list[str]]:
    """{source: documents} of one half: even (calibration) or odd (held out); sources without text left out."""
    if half not in ("even", "odd"):
        raise ValueError(f"half must be 'even' or 'odd', not {half!r}")
    out = {}
    for name in SOURCES:
        if docs := documents(name, lang):
            even = docs[0::2]
            seen = set(even)
            out[name] = list(even) if half == "even" else [d for d in docs[1::2] if d not in seen]
    return out
