"""Line-level language ID: how much foreign text document-level LID keeps, what dropping lines costs.

Three sets of documents whose every line has a label (`fi`, `foreign` or `neutral`), built from
../shared/data (real text; only the neutral lines are made from templates):

  web     Finnish documents (UD Finnish-TDT in document order, Leipzig sentences, the UDHR) in
          paragraph lines, with web-like insertions: short English headings as navigation/footer
          lines (LibreOffice help headings), whole English and Swedish paragraphs (Leipzig
          sentences), short Finnish headings, Finnish lines full of English names and code
          (LibreOffice help paragraphs sharing words with their English original) and neutral
          lines (numbers, dates, prices, URLs, list markers).
  lohelp  LibreOffice help pages in Finnish (real mixed documents: untranslated paragraphs are
          still English). A paragraph equal to the English page's is `foreign` (`neutral` if it
          has fewer than 3 words of letters, e.g. "Ctrl+F"); any other paragraph is `fi` (unless
          it holds more English function words than Finnish-looking words).
  other   documents wholly in other languages (Estonian, Basque, Icelandic: UD; Estonian, Swedish,
          German, English: Leipzig sentences), 15 sentences each: nothing of them should be kept.

For document-level LID only, for `LanguageFilter(foreign_lines="drop")` at a few line thresholds
and minimum line lengths, and for the default without its rescue bar or its top-5 gate
(`RESCUE_THRESHOLD`, `TARGET_RANK` in langmill/filters/lid.py), it prints per set: documents kept,
the share of kept characters that are foreign, the share of Finnish characters lost, the share of
foreign and of neutral characters removed, and the speed of `LanguageFilter.check` in lines and
MB per CPU second (one core, best of two passes); then the share of each kind of web line removed.

    .venv/bin/python bench/line_lid.py [--docs 600]     # about 2 minutes
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdata import TEXT, require_shared_data  # noqa: E402

from datatrove.data import Document  # noqa: E402

from langmill.filters import lid  # noqa: E402
from langmill.filters.lid import LanguageFilter  # noqa: E402

LO = TEXT / "libreoffice-help" / "lo-help-7.4.7.{}.jsonl.gz"
_WORD = re.compile(r"[A-Za-z]{4,}")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
# Some "Finnish" help paragraphs differ from the English page only because the English was edited
# later: counting common function words tells them apart.
_FI_WORDS = set("ja on ei tai kun jos että se ne voi voit voidaan sekä myös kuin ovat olla tämä jotka joka mikä valitse valitaan napsauta".split())
_EN_WORDS = set("the and to of is you a in for with this that are be can or by as".split())


def _word_votes(text: str) -> tuple[int, int]:
    """(Finnish-looking words, English function words)."""
    words = [w.lower() for w in _LETTER_WORD.findall(text)]
    return sum(w in _FI_WORDS or any(c in w for c in "äöå") for w in words), sum(w in _EN_WORDS for w in words)


def _lo_rows(code: str) -> dict[tuple[str, str], dict]:
    with gzip.open(str(LO).format(code), "rt", encoding="utf-8") as f:
        return {(r["file"], r["par_id"]): r for r in map(json.loads, f)}


def _lines(path: Path) -> list[str]:
    return [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def lohelp_documents() -> list[list[tuple[str, str]]]:
    """Finnish LibreOffice help pages as [(line, label)]."""
    fi, en = _lo_rows("fi"), _lo_rows("en-US")
    pages: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, row in fi.items():
        text = row["text"]
        if text != en[key]["text"]:
            fi_votes, en_votes = _word_votes(text)
            label = "foreign" if en_votes >= 2 and en_votes > fi_votes else "fi"
        else:
            label = "foreign" if len(_LETTER_WORD.findall(text)) >= 3 else "neutral"
        pages[key[0]].append((text, label))
    return list(pages.values())


def _pools() -> dict[str, list[str]]:
    """Lines to insert, by kind (see `web_documents`)."""
    fi, en = _lo_rows("fi"), _lo_rows("en-US")
    heading = lambda t: 1 <= len(t.split()) <= 4 and any(c.isalpha() for c in t)  # noqa: E731
    pools: dict[str, list[str]] = defaultdict(list)
    for key, row in fi.items():
        f, e = row["text"], en[key]["text"]
        if row["tag"].startswith("h") and heading(e):
            pools["en_short"].append(e)
            if f != e and heading(f):
                pools["fi_short"].append(f)
        fi_votes, en_votes = _word_votes(f)
        shared = set(_WORD.findall(f)) & set(_WORD.findall(e)) - {"LibreOffice"}
        if f != e and len(f.split()) >= 5 and len(shared) >= 2 and fi_votes >= 2 and fi_votes > en_votes:
            pools["fi_loan"].append(f)  # Finnish with English UI names, code, product names
    sentences = TEXT / "lingua-sentences"
    pools["en"], pools["sv"] = _lines(sentences / "en.txt"), _lines(sentences / "sv.txt")
    return {k: sorted(set(v)) for k, v in pools.items()}


def _neutral(rng: random.Random) -> str:
    n = rng.randint
    return rng.choice([
        f"{n(1, 20)}.", "•", "|", "»", f"{n(1, 28)}.{n(1, 12)}.{n(2000, 2024)}", f"{n(2000, 2024)}-{n(1, 12):02d}-{n(1, 28):02d} {n(0, 23)}:{n(0, 59):02d}",
        f"{n(1, 99)},{n(0, 99):02d} €", f"+358 {n(40, 50)} {n(100, 999)} {n(1000, 9999)}", f"© {n(2000, 2024)}",
        f"https://www.{rng.choice(['yle.fi', 'example.com', 'kauppa.fi'])}/{rng.choice(['uutiset', 'tuotteet', 'blog'])}/{n(1000, 999999)}",
    ])


def _finnish_bases() -> list[list[str]]:
    """Finnish documents as paragraph lines (1-3 sentences each)."""
    rng = random.Random(7)
    docs = []
    for sentences, size in ((_lines(TEXT / "ud" / "fi_tdt-ud-dev.txt"), 12), (_lines(TEXT / "lingua-sentences" / "fi.txt"), 10)):
        for k in range(0, len(sentences) - size + 1, size):
            chunk, paras = sentences[k : k + size], []
            while chunk:
                step = rng.randint(1, 3)
                paras.append(" ".join(chunk[:step]))
                chunk = chunk[step:]
            docs.append(paras)
    docs.append(_lines(TEXT / "udhr" / "udhr_fin.txt"))
    return docs


def other_documents() -> list[list[tuple[str, str]]]:
    """Documents wholly in other languages, as [(line, "foreign")]: 15 sentences, one per line."""
    docs = []
    for path in ("ud/et_ewt-ud-dev.txt", "ud/eu_bdt-ud-dev.txt", "ud/is_modern-ud-dev.txt",
                 "lingua-sentences/et.txt", "lingua-sentences/sv.txt", "lingua-sentences/de.txt", "lingua-sentences/en.txt"):
        sentences = _lines(TEXT / path)[:900]
        docs += [[(s, "foreign") for s in sentences[k : k + 15]] for k in range(0, len(sentences) - 14, 15)]
    return docs


def web_documents(n_docs: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Finnish documents with web-like insertions, as [(line, kind)] (`KINDS` gives the label)."""
    rng = random.Random(seed)
    pools, bases = _pools(), _finnish_bases()
    docs = []
    for k in range(n_docs):
        lines = [(p, "fi") for p in bases[k % len(bases)]]
        pick = lambda pool, m: [rng.choice(pools[pool]) for _ in range(m)]  # noqa: E731

        def insert(items, label, where=None):
            for item in items:
                lines.insert(rng.randint(0, len(lines)) if where is None else where, (item, label))

        insert(pick("fi_short", rng.randint(0, 2)), "fi_short")
        if rng.random() < 0.5:
            insert(pick("fi_loan", rng.randint(1, 2)), "fi_loan")
        if rng.random() < 0.5:
            insert([" ".join(pick("en", rng.randint(1, 4)))], "en_para")
        if rng.random() < 0.25:
            insert([" ".join(pick("sv", rng.randint(1, 3)))], "sv_para")
        insert([_neutral(rng) for _ in range(rng.randint(0, 3))], "neutral")
        insert(pick("en_short", rng.randint(0, 3)), "en_short", where=0)  # navigation
        insert(pick("en_short", rng.randint(0, 2)), "en_short", where=len(lines))  # footer
        docs.append(lines)
    return docs


# The label of each kind of line.
KINDS = {"fi": "fi", "fi_short": "fi", "fi_loan": "fi", "en_short": "foreign", "en_para": "foreign", "sv_para": "foreign",
         "foreign": "foreign", "neutral": "neutral"}


def _share(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def evaluate(docs: list[list[tuple[str, str]]], filt: LanguageFilter, repeat: int = 2) -> tuple[dict, dict]:
    """The table's row, and the share of each kind's characters removed. A line counts as kept if
    it is in the kept text; the speed is the best of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        total, kept = defaultdict(int), defaultdict(int)
        kept_docs, seconds = 0, 0.0
        for k, lines in enumerate(docs):
            doc = Document(text="\n".join(t for t, _ in lines), id=str(k))
            start = time.process_time()
            detail = filt.check(doc)
            seconds += time.process_time() - start
            survivors = defaultdict(int)
            for line in doc.text.split("\n"):
                survivors[line] += 1
            for text, kind in lines:
                total[kind] += len(text)
                if detail is None and survivors[text] > 0:
                    survivors[text] -= 1
                    kept[kind] += len(text)
            kept_docs += detail is None
        best = min(best, seconds)
    by_label = {side: defaultdict(int) for side in ("total", "kept")}
    for side, counts in (("total", total), ("kept", kept)):
        for kind, n in counts.items():
            by_label[side][KINDS[kind]] += n
    t, kk = by_label["total"], by_label["kept"]
    row = {
        "docs kept": f"{kept_docs}/{len(docs)}",
        "foreign % of kept chars": _share(kk["foreign"], sum(kk.values())),
        "fi chars lost %": _share(t["fi"] - kk["fi"], t["fi"]),
        "foreign removed %": _share(t["foreign"] - kk["foreign"], t["foreign"]),
        "neutral removed %": _share(t["neutral"] - kk["neutral"], t["neutral"]),
        "lines/s": sum(map(len, docs)) / best,
        "MB/s": sum(len(t.encode()) + 1 for lines in docs for t, _ in lines) / 1e6 / best,
    }
    return row, {kind: _share(total[kind] - kept[kind], total[kind]) for kind in total}


# (label, LanguageFilter settings, module constants of langmill.filters.lid to change for the row)
SETTINGS = [
    ("document only", {"foreign_lines": "keep"}, {}),
    *(
        (f"drop, threshold {t}, min chars {m}", {"foreign_lines": "drop", "line_threshold": t, "line_min_chars": m}, {})
        for t in (0.5, 0.65, 0.8)
        for m in (0, 10, 20)
    ),
    ("drop (default), no 0.8 bar for rescued documents", {"foreign_lines": "drop"}, {"RESCUE_THRESHOLD": 0.0}),
    ("drop (default), every document split into lines", {"foreign_lines": "drop"}, {"TARGET_RANK": 1000}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=600, help="web-like documents to build")
    args = parser.parse_args()
    require_shared_data()
    sets = {"web": web_documents(args.docs), "lohelp": lohelp_documents(), "other": other_documents()}
    for name, docs in sets.items():
        chars = defaultdict(int)
        for lines in docs:
            for text, kind in lines:
                chars[kind] += len(text)
        print(f"\n## {name}: {len(docs)} documents, {sum(map(len, docs)):,} lines; characters: " + ", ".join(f"{k} {v:,}" for k, v in sorted(chars.items())))
        rows = []
        for label, settings, constants in SETTINGS:
            saved = {name: getattr(lid, name) for name in constants}
            vars(lid).update(constants)
            filt = LanguageFilter("fi", **settings)
            filt.model  # load before timing
            rows.append((label, *evaluate(docs, filt)))
            vars(lid).update(saved)
        _table(["setting", *rows[0][1]], [[label, *row.values()] for label, row, _ in rows])
        if len(chars) > 3:
            print(f"\n{name}: % of each kind of line's characters removed")
            _table(["setting", *sorted(chars)], [[label, *(kinds[k] for k in sorted(chars))] for label, _, kinds in rows])


def _table(header: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for row in rows:
        print("| " + " | ".join(v if isinstance(v, str) else f"{v:,.0f}" if v >= 1000 else f"{v:.2f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
