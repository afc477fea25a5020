"""Real documents for the benchmarks, built from ../shared/data (never copied into the repository).

Sources, all real text written by people:
  * LibreOffice help pages in fi, eu, et, en (one page = one document, paragraphs joined by "\\n");
  * Universal Dependencies dev files, as documents of 15 consecutive sentences;
  * the Universal Declaration of Human Rights (one document per language);
  * Leipzig sentences (lingua-sentences), used only as material for recombined documents.

`bench_documents(mb)` returns the original documents once (an evenly spread subset of them when
`mb` is below their ~16 MB), then *recombined* documents (an
original document with about half of its paragraphs swapped for random paragraphs of the same
language and source) until the text reaches `mb` megabytes. `random_documents(...)` streams
documents mixed from random sentences of one language, for the 1 GB scale run.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXT = SHARED / "text"

LO_LANGS = {"fi": "fi", "eu": "eu", "et": "et", "en-US": "en"}
UDHR_LANGS = {"fin": "fi", "eus": "eu", "est": "et", "eng": "en", "isl": "is", "cym": "cy", "yor": "yo"}
UD_DOC_SENTENCES = 15


def require_shared_data() -> None:
    if not TEXT.is_dir():
        raise SystemExit(f"the benchmarks need the real texts in {SHARED} (not found)")


def libreoffice_pages() -> list[dict]:
    """One document per help page (rows grouped by `file`), in file order."""
    docs = []
    for code, lang in LO_LANGS.items():
        pages: dict[str, list[str]] = defaultdict(list)
        with gzip.open(TEXT / "libreoffice-help" / f"lo-help-7.4.7.{code}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                pages[row["file"]].append(row["text"])
        docs += [{"id": f"lo-{lang}-{name}", "lang": lang, "source": "lo", "units": paras} for name, paras in pages.items()]
    return docs


def ud_documents() -> list[dict]:
    docs = []
    for path in sorted((TEXT / "ud").glob("*-ud-dev.txt")):
        lang = path.name.split("_")[0]
        sentences = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        for k in range(0, len(sentences), UD_DOC_SENTENCES):
            docs.append({"id": f"ud-{path.stem}-{k}", "lang": lang, "source": "ud", "units": sentences[k : k + UD_DOC_SENTENCES]})
    return docs


def udhr_documents() -> list[dict]:
    docs = []
    for path in sorted((TEXT / "udhr").glob("udhr_*.txt")):
        lang = UDHR_LANGS.get(path.stem.split("_")[1], path.stem)
        paras = [p for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
        docs.append({"id": f"udhr-{lang}", "lang": lang, "source": "udhr", "units": paras})
    return docs


def lingua_sentences() -> dict[str, list[str]]:
    out = {}
    for path in sorted((TEXT / "lingua-sentences").glob("*.txt")):
        out[path.stem] = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
    return out


def original_documents() -> list[dict]:
    """Every real document once: {"id", "lang", "source", "units"} (units = paragraphs or sentences)."""
    require_shared_data()
    return libreoffice_pages() + ud_documents() + udhr_documents()


def as_text(units: list[str]) -> str:
    return "\n".join(units)


def unit_pools(docs: list[dict]) -> dict[tuple[str, str], list[str]]:
    """All units of each (language, source)."""
    pools: dict[tuple[str, str], list[str]] = defaultdict(list)
    for d in docs:
        pools[(d["lang"], d["source"])].extend(d["units"])
    return pools


def recombine(doc: dict, pool: list[str], rng: random.Random) -> list[str]:
    """The document's shape with about half of its units replaced by random ones of its pool."""
    return [rng.choice(pool) if rng.random() < 0.5 else u for u in doc["units"]]


def bench_documents(mb: float, seed: int = 0) -> list[dict]:
    """{"id", "text"} documents: the originals, then recombined ones, up to `mb` MB of UTF-8 text."""
    originals = original_documents()
    pools = unit_pools(originals)
    rng = random.Random(seed)
    total = sum(len(as_text(d["units"]).encode("utf-8")) for d in originals)
    if total > mb * 1e6:  # a small run: an evenly spread subset, so every language and source stays in
        stride = total / (mb * 1e6)
        originals = [originals[int(k * stride)] for k in range(int(len(originals) / stride))]
    out, size = [], 0
    for d in originals:
        text = as_text(d["units"])
        out.append({"id": d["id"], "text": text})
        size += len(text.encode("utf-8"))
    copy = 0
    while size < mb * 1e6:
        copy += 1
        for d in originals:
            text = as_text(recombine(d, pools[(d["lang"], d["source"])], rng))
            out.append({"id": f"r{copy}-{d['id']}", "text": text})
            size += len(text.encode("utf-8"))
            if size >= mb * 1e6:
                break
    return out


def text_mb(docs: list[dict]) -> float:
    return sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6


def write_jsonl(docs, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sentence_pools() -> dict[str, list[str]]:
    """Every real sentence or paragraph of each language, from all sources."""
    pools: dict[str, list[str]] = defaultdict(list)
    for d in original_documents():
        pools[d["lang"]].extend(u for u in d["units"] if len(u.split()) >= 3)
    for lang, sentences in lingua_sentences().items():
        pools[lang].extend(sentences)
    return dict(pools)


def random_documents(pools: dict[str, list[str]], rng: random.Random, min_units: int = 8, max_units: int = 40) -> Iterator[tuple[str, str]]:
    """Endless (lang, text) pairs: random units of one language, in paragraphs of 1-4 lines."""
    langs = sorted(pools)
    weights = [len(pools[lang]) for lang in langs]
    while True:
        lang = rng.choices(langs, weights)[0]
        pool = pools[lang]
        units = [rng.choice(pool) for _ in range(rng.randint(min_units, max_units))]
        paras, k = [], 0
        while k < len(units):
            step = rng.randint(1, 4)
            paras.append("\n".join(units[k : k + step]))
            k += step
        yield lang, "\n\n".join(paras)
