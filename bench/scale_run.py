"""Scale run: `langmill corpus --workers 2` on ~1 GB of mostly unique real sentences, and how the
dedup index grows with the number of documents.

    .venv/bin/python bench/scale_run.py --gb 1.0          # the full run (tens of minutes)
    .venv/bin/python bench/scale_run.py --gb 0.05         # smoke mode, a minute or two

1. Writes `--gb` GB of JSONL, streaming (never more than one document and a small reservoir in
   memory): each document mixes 8-40 random sentences/paragraphs of one language from
   ../shared/data (UD, UDHR, LibreOffice help, Leipzig sentences), `--target-share` of them in the
   target language; `--exact-dups` of the documents are exact copies of an earlier one and
   `--near-dups` are near copies (about 1 word in 100 replaced).
2. Runs `langmill corpus INPUT --lang fi --workers 2` and measures wall time, the largest single
   process (ru_maxrss) and the peak sum of resident memory over the whole process tree (parent and
   worker processes, sampled from /proc).
3. Dedup index growth: the dedup task holds, per document, 14 uint64 band keys + text hash + order +
   id (+ word count). It is re-run alone, in a fresh process, on the first 25 %, 50 % and 100 % of
   every staged shard; for each it reports the in-memory size of those columns and the dedup
   process's peak RSS above its after-import baseline, then both per million documents.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchdata  # noqa: E402
from procmem import run_measured  # noqa: E402

KEY_COLUMNS = ["id", "order", "n_words", "text_hash", "band_keys"]
FRACTIONS = (0.25, 0.5, 1.0)
RESERVOIR = 5000


# ---------------------------------------------------------------------------
# 1. input


def near_copy(text: str, rng: random.Random) -> str:
    """About one word in a hundred replaced by another word of the same document (at least one)."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // 100)):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def language_mix(pools: dict[str, list[str]], lang: str, share: float) -> dict[str, list[str]]:
    """Pools repeated so that `lang` makes up about `share` of the documents drawn (by pool size)."""
    others = sum(len(p) for k, p in pools.items() if k != lang)
    reps = max(1, round(share / (1 - share) * others / max(len(pools[lang]), 1)))
    return {k: (p * reps if k == lang else p) for k, p in pools.items()}


def write_input(path: Path, gb: float, lang: str, share: float, exact: float, near: float, seed: int) -> dict:
    rng = random.Random(seed)
    pools = language_mix(benchdata.sentence_pools(), lang, share)
    fresh = benchdata.random_documents(pools, rng)
    recent: collections.deque[str] = collections.deque(maxlen=RESERVOIR)
    counts = collections.Counter()
    size, target = 0, gb * 1e9
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            roll = rng.random()
            if recent and roll < exact:
                text, kind = rng.choice(recent), "exact_dup"
            elif recent and roll < exact + near:
                text, kind = near_copy(rng.choice(recent), rng), "near_dup"
            else:
                doc_lang, text = next(fresh)
                kind = f"unique_{doc_lang}"
                if rng.random() < 0.1:  # plant copies of a sample of documents, from any time
                    recent.append(text)
            counts[kind] += 1
            line = json.dumps({"id": f"s{sum(counts.values())}", "text": text}, ensure_ascii=False) + "\n"
            f.write(line)
            size += len(text.encode("utf-8"))
    return {"docs": sum(counts.values()), "text_mb": size / 1e6, "file_mb": path.stat().st_size / 1e6, **dict(sorted(counts.items()))}


# ---------------------------------------------------------------------------
# 2. the corpus run


def run_corpus(input_path: Path, out: Path, lang: str, workers: int) -> dict:
    cmd = [sys.executable, "-m", "langmill.cli", "corpus", str(input_path), "--lang", lang, "--out", str(out), "--workers", str(workers)]
    m = run_measured(cmd, interval=0.5)
    if m.returncode != 0:
        sys.exit(f"langmill corpus failed (exit {m.returncode}):\n{m.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    return {
        "seconds": m.seconds,
        "max_rss_mb": m.max_rss_mb,
        "tree_peak_mb": m.peak_tree_mb,
        "rows_in": stats["rows_in"],
        "kept": stats["kept"],
        "excluded_by_reason": stats["excluded_by_reason"],
    }


# ---------------------------------------------------------------------------
# 3. dedup index growth


def staged_prefix(stage_dir: Path, fraction: float, target: Path) -> tuple[int, int]:
    """The first `fraction` of each staged shard's key columns, written to `target`.
    Returns (documents, in-memory bytes of the key columns)."""
    import pyarrow.parquet as pq

    target.mkdir(parents=True, exist_ok=True)
    docs = nbytes = 0
    for shard in sorted(stage_dir.glob("*.parquet")):
        table = pq.read_table(shard, columns=KEY_COLUMNS)
        part = table.slice(0, int(len(table) * fraction))
        pq.write_table(part, target / shard.name)
        docs += len(part)
        nbytes += part.nbytes
    return docs, nbytes


def proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def dedup_only(stage_dir: str) -> None:
    """(Subprocess) run the dedup task alone; print its baseline and peak RSS in MB as JSON."""
    from langmill.filters.dedup import DedupClusters

    baseline = proc_status_kb("VmRSS")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        for _ in DedupClusters(stage_dir, out).run() or ():
            pass
        seconds = time.perf_counter() - start
    print(json.dumps({"baseline_mb": baseline / 1024, "peak_mb": proc_status_kb("VmHWM") / 1024, "seconds": seconds}))


def dedup_growth(stage_dir: Path, work: Path) -> list[dict]:
    rows = []
    for fraction in FRACTIONS:
        sub = work / f"staged-{fraction}"
        docs, nbytes = staged_prefix(stage_dir, fraction, sub)
        proc = subprocess.run([sys.executable, __file__, "--dedup-only", str(sub)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"dedup-only run failed:\n{proc.stderr[-3000:]}")
        mem = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append({"fraction": fraction, "docs": docs, "columns_mb": nbytes / 1e6, "rss_above_baseline_mb": mem["peak_mb"] - mem["baseline_mb"], "dedup_seconds": mem["seconds"]})
        shutil.rmtree(sub)
    return rows


def per_million(rows: list[dict], key: str) -> float:
    """Slope of `key` against documents (least squares through the measured points), per 1M docs."""
    xs, ys = [r["docs"] for r in rows], [r[key] for r in rows]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return ys[-1] / xs[-1] * 1e6 if xs[-1] else 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 1e6


# ---------------------------------------------------------------------------


def report(inp: dict, run: dict, growth: list[dict]) -> str:
    lines = [
        f"input: {inp['docs']:,} documents, {inp['text_mb']:,.1f} MB of text ({inp['file_mb']:,.1f} MB JSONL); planted: "
        f"{inp.get('exact_dup', 0):,} exact and {inp.get('near_dup', 0):,} near duplicates",
        f"langmill corpus: {run['seconds']:.1f} s, {inp['text_mb'] / run['seconds']:.2f} MB/s; largest process {run['max_rss_mb']:,.0f} MB, "
        f"process tree peak {run['tree_peak_mb']:,.0f} MB",
        f"rows in {run['rows_in']:,}, kept {run['kept']:,}, excluded: " + ", ".join(f"{k} {v:,}" for k, v in run["excluded_by_reason"].items()),
        "",
        "| staged share | docs in dedup | key columns MB | dedup RSS above baseline MB | dedup s |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['fraction']:.0%} | {r['docs']:,} | {r['columns_mb']:,.1f} | {r['rss_above_baseline_mb']:,.1f} | {r['dedup_seconds']:.2f} |" for r in growth]
    lines += [
        "",
        f"dedup index growth per million documents: key columns {per_million(growth, 'columns_mb'):,.0f} MB, "
        f"dedup process RSS {per_million(growth, 'rss_above_baseline_mb'):,.0f} MB",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--dedup-only":
        dedup_only(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.0, help="GB of text to generate (0.05 = smoke mode)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lang", default="fi")
    parser.add_argument("--target-share", type=float, default=0.7, help="share of documents in --lang")
    parser.add_argument("--exact-dups", type=float, default=0.02, help="share of planted exact duplicates")
    parser.add_argument("--near-dups", type=float, default=0.02, help="share of planted near duplicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the input and output (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=HERE / "scale_results.md", help="Markdown copy of the report")
    args = parser.parse_args()

    benchdata.require_shared_data()
    work = args.work or Path(tempfile.mkdtemp(prefix="langmill-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        input_path, out = work / "input.jsonl", work / "out"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        inp = write_input(input_path, args.gb, args.lang, args.target_share, args.exact_dups, args.near_dups, args.seed)
        print(f"wrote {input_path} in {time.perf_counter() - started:.0f} s: {json.dumps(inp)}", flush=True)
        run = run_corpus(input_path, out, args.lang, args.workers)
        print(f"corpus run: {json.dumps(run)}", flush=True)
        growth = dedup_growth(out / "work" / "staged", work)
        text = report(inp, run, growth)
        print("\n" + text)
        args.out.write_text(f"# langmill scale run ({args.gb:g} GB, {args.workers} workers)\n\n{text}\n", encoding="utf-8")
        print(f"\nMarkdown: {args.out}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
