"""How the two tunable filters of `langmill magpie`/`langmill synth` behave on real Finnish text.

    .venv/bin/python bench/synth_filters.py

(1) Near-duplicate instructions (synth.yaml `dedup`): 2,000 Finnish Dolly instructions plus 500 copies
    of the first 500 with one word dropped, added or changed; per MinHash setting, how many copies are
    found and how many of the 2,000 originals match another one.
(2) Answer support (synth.yaml `support`): on the Finnish Dolly rows with a context of > 60 words, the
    share of human answers that reach `min_overlap` against their own context and against another
    row's, per `prefix_chars`.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np

from langmill import native
from langmill.config import load_synth_config
from langmill.filters.dedup import decide_duplicates
from langmill.generators.grounded import support_overlap

DOLLY_FI = Path(__file__).resolve().parents[2] / "shared" / "data" / "instructions" / "dolly-15k-fi.from-docx.jsonl.gz"
SETTINGS = [(5, 14, 8), (3, 14, 8), (3, 20, 5), (2, 14, 8), (2, 20, 5), (3, 28, 4)]


def one_word_edit(text: str, rng: random.Random) -> str:
    words = text.split()
    i = rng.randrange(len(words))
    op = rng.choice(["drop", "add", "change"])
    if op == "drop" and len(words) > 4:
        words.pop(i)
    elif op == "add":
        words.insert(i, "kiitos")
    else:
        words[i] = words[i].upper() + "!"
    return " ".join(words)


def dedup_table(rows: list[dict]) -> None:
    originals = [r["instruction"] for r in rows if r.get("instruction") and len(r["instruction"].split()) >= 3][:2000]
    rng = random.Random(0)
    texts = originals + [one_word_edit(t, rng) for t in originals[:500]]
    print("(1) dedup: shingle words, bands x rows | copies found /500 | originals matching another /2000")
    for ngram, bands, rows_ in SETTINGS:
        result = native.minhash(texts, ngram=ngram, bands=bands, rows=rows_, num_perm=112, signatures=False)
        root, _ = decide_duplicates(result.text_hash.view(np.int64), result.n_words.astype(np.int64), result.band_keys.view(np.int64), ngram)
        found = sum(root[2000 + i] != 2000 + i for i in range(500))
        matched = sum(root[i] != i for i in range(2000))
        print(f"    {ngram}, {bands} x {rows_:<2} | {found:>3} | {matched:>3}")


def support_table(rows: list[dict]) -> None:
    config = load_synth_config()
    qa = [r for r in rows if r.get("context") and len(r["context"].split()) > 60 and len((r.get("response") or "").split()) >= 8]
    threshold = config["support"]["min_overlap"]
    print(f"(2) support on {len(qa):,} rows, min_overlap {threshold}: prefix_chars | own context passes | another row's context passes")
    for prefix in (4, 5, 6):
        config["support"]["prefix_chars"] = prefix
        own = [support_overlap(r["response"], r["context"], config) for r in qa]
        other = [support_overlap(r["response"], qa[(i + 7) % len(qa)]["context"], config) for i, r in enumerate(qa)]
        share = lambda values: sum(v is not None and v >= threshold for v in values) / len(values)  # noqa: E731
        print(f"    {prefix} | {share(own):.1%} | {share(other):.1%}")


if __name__ == "__main__":
    if not DOLLY_FI.exists():
        raise SystemExit(f"{DOLLY_FI} is absent (../shared/data)")
    with gzip.open(DOLLY_FI, "rt", encoding="utf-8") as f:
        dolly = [json.loads(line) for line in f]
    dedup_table(dolly)
    support_table(dolly)
