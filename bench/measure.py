"""One measurement, run in its own process so that run_all.py can read its peak memory.

    .venv/bin/python bench/measure.py TASK --input docs.jsonl [--repeat 3] [--max-seconds 60]
        [--decisions FILE]

Loads the documents (not timed), warms the code up on the first documents (not timed), then
times full passes over all documents on one core and prints one JSON object:
{"task", "seconds" (best pass), "runs", "docs"}. Filter tasks also write each document's keep/drop
decision and rule to --decisions (JSON lines, in document order), for the agreement figures.

TASK is one of the keys of TASKS below.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

# Per-core numbers: no library may start extra threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata  # noqa: E402
import filter_configs  # noqa: E402

NUM_PERM, NGRAM, SEED = 112, 5, 1
WARMUP_DOCS = 200
_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------------------
# MinHash: each runner takes the texts and computes one signature per document.


def python_shingles(text: str) -> list[str]:
    """Lower-cased \\w+ words, joined in 5-word shingles (what a Python user writes)."""
    words = _WORD.findall(text.lower())
    return [" ".join(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]


def minhash_langmill():
    from langmill import native

    def run(texts, docs):
        native.minhash(texts, num_perm=NUM_PERM, ngram=NGRAM, seed=SEED, bands=0, rows=1, band_keys=False, threads=1)

    return run


def minhash_datasketch():
    from datasketch import MinHash

    def run(texts, docs):
        for text in texts:
            m = MinHash(num_perm=NUM_PERM, seed=SEED)
            m.update_batch([s.encode("utf-8") for s in python_shingles(text)])
            m.digest()

    return run


def minhash_rensa():
    from rensa import RMinHash

    def run(texts, docs):
        for text in texts:
            m = RMinHash(num_perm=NUM_PERM, seed=SEED)
            m.update(python_shingles(text))
            m.digest()

    return run


def import_datatrove_minhash():
    """datatrove.pipeline.dedup.minhash, without running the package's __init__, which imports the
    exact-substring steps and with them `tokenizers` (not installed here, not needed for MinHash)."""
    import importlib
    import types

    try:
        return importlib.import_module("datatrove.pipeline.dedup.minhash")
    except ModuleNotFoundError as err:
        if err.name != "tokenizers":
            raise
    import datatrove.pipeline

    package = types.ModuleType("datatrove.pipeline.dedup")
    package.__path__ = [str(Path(datatrove.pipeline.__file__).parent / "dedup")]
    sys.modules["datatrove.pipeline.dedup"] = package
    return importlib.import_module("datatrove.pipeline.dedup.minhash")


def str_safe(hash_func):
    """datatrove hashes shingles as str; xxhash >= 4 only takes bytes (TypeError), so encode first
    when needed. The hash (datatrove's default xxhash64) is unchanged."""
    try:
        hash_func("a b")
        return hash_func
    except TypeError:
        return lambda text: hash_func(text.encode("utf-8"))


def minhash_datatrove():
    dt_minhash = import_datatrove_minhash()
    MinhashConfig, MinhashDedupSignature = dt_minhash.MinhashConfig, dt_minhash.MinhashDedupSignature

    config = MinhashConfig(n_grams=NGRAM, num_buckets=14, hashes_per_bucket=NUM_PERM // 14)

    def run(texts, docs):
        with tempfile.TemporaryDirectory(prefix="bench-dt-minhash-") as tmp:
            step = MinhashDedupSignature(output_folder=tmp, config=config, language="fi")
            step._hash_func = str_safe(step._hash_func)
            result = step.run(iter(docs), rank=0, world_size=1)
            if result is not None:
                deque(result, maxlen=0)

    return run


def fasttext_predict():
    import fasttext

    from langmill.filters.lid import default_lid_model

    model = fasttext.load_model(default_lid_model())

    def run(texts, docs):
        for text in texts:
            model.predict(text.replace("\n", " "))

    return run


# ---------------------------------------------------------------------------
# Quality filters: the runner calls `filter_batch` on batches of the filter's own `batch_size`
# (datatrove's BaseFilter.run does the same: datatrove's filters use batches of 1, langmill's
# one Rust call per batch) on fresh copies of the documents, and records (kept, rule) per document.


def filter_runner(make_filter, rule_of):
    filt = make_filter()
    decisions: list = []

    def run(texts, docs):
        decisions.clear()
        size = max(1, getattr(filt, "batch_size", 1))
        for start in range(0, len(docs), size):
            batch = docs[start : start + size]
            for doc, result in zip(batch, filt.filter_batch(batch)):
                decisions.append(rule_of(result, doc))

    run.decisions = decisions
    return run


def langmill_rule(result, doc):
    if result is True:
        return (True, None)
    return (False, doc.metadata.get("detail", "?").split("=")[0].split(" ")[0])


def datatrove_rule(result, doc):
    if result is True:
        return (True, None)
    if isinstance(result, tuple):
        return (bool(result[0]), None if result[0] else str(result[1]))
    return (bool(result), None if result else "dropped")


def langmill_filter(name: str):
    from langmill.filters import quality

    cls = getattr(quality, filter_configs.LANGMILL_CLASSES[name])
    return filter_runner(lambda: cls(config=filter_configs.langmill_config_from_datatrove(name)), langmill_rule)


def datatrove_filter(name: str):
    return filter_runner(lambda: filter_configs.datatrove_filter(name), datatrove_rule)


def build_tasks() -> dict:
    tasks = {
        "minhash-langmill": minhash_langmill,
        "minhash-datasketch": minhash_datasketch,
        "minhash-rensa": minhash_rensa,
        "minhash-datatrove": minhash_datatrove,
        "fasttext-predict": fasttext_predict,
    }
    for name in filter_configs.FILTERS:
        tasks[f"filter-langmill-{name}"] = lambda name=name: langmill_filter(name)
        tasks[f"filter-datatrove-{name}"] = lambda name=name: datatrove_filter(name)
    return tasks


TASKS = build_tasks()


# ---------------------------------------------------------------------------


def fresh_documents(rows: list[dict]) -> list:
    from datatrove.data import Document

    return [Document(text=r["text"], id=r["id"], metadata={}) for r in rows]


def clear_datatrove_caches() -> None:
    from datatrove.utils.text import split_into_parts

    split_into_parts.cache_clear()


def time_passes(run, rows: list[dict], repeat: int, max_seconds: float) -> list[float]:
    """At least one pass; more (up to `repeat`) while the total stays under `max_seconds`."""
    texts = [r["text"] for r in rows]
    runs: list[float] = []
    while len(runs) < repeat and (not runs or sum(runs) + min(runs) <= max_seconds):
        docs = fresh_documents(rows)
        clear_datatrove_caches()
        start = time.perf_counter()
        run(texts, docs)
        runs.append(time.perf_counter() - start)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--decisions", type=Path)
    args = parser.parse_args()

    rows = benchdata.read_jsonl(args.input)
    run = TASKS[args.task]()
    warm = rows[:WARMUP_DOCS]
    run([r["text"] for r in warm], fresh_documents(warm))
    runs = time_passes(run, rows, args.repeat, args.max_seconds)
    if args.decisions and hasattr(run, "decisions"):
        with open(args.decisions, "w", encoding="utf-8") as f:
            for kept, rule in run.decisions:
                f.write(json.dumps([kept, rule]) + "\n")
    print(json.dumps({"task": args.task, "seconds": min(runs), "runs": runs, "docs": len(rows)}))


if __name__ == "__main__":
    main()
