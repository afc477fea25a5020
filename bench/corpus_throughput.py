"""Throughput of `langmill corpus` and of the MinHash step alone, on real multilingual documents.

Builds the input from ../shared/data (LibreOffice help pages in fi, eu, et, en: one page is one
document, plus every UD dev file as documents of 15 sentences), then times:
  * the Rust MinHash step (words, shingles, signatures, band keys) with 1 and 2 threads;
  * fastText `predict` over the same documents (the speed floor of any LID-based pipeline);
  * the whole `langmill corpus --lang fi` with 1 and 2 workers.

    .venv/bin/python bench/corpus_throughput.py [--repeat N]
"""

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def build_documents(repeat: int) -> list[dict]:
    docs = []
    for lang in ("fi", "eu", "et", "en-US"):
        pages = defaultdict(list)
        with gzip.open(SHARED / "text" / "libreoffice-help" / f"lo-help-7.4.7.{lang}.jsonl.gz", "rt") as f:
            for line in f:
                row = json.loads(line)
                pages[row["file"]].append(row["text"])
        docs += [{"id": f"lo-{lang}-{name}", "text": "\n".join(paras)} for name, paras in pages.items()]
    for path in sorted((SHARED / "text" / "ud").glob("*.txt")):
        lines = path.read_text().splitlines()
        docs += [{"id": f"{path.stem}-{k}", "text": "\n".join(lines[k : k + 15])} for k in range(0, len(lines), 15)]
    out = []
    for r in range(repeat):  # copies are exact duplicates: dedup has work to do
        out += [{"id": f"{r}-{d['id']}", "text": d["text"]} for d in docs]
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="copies of the document set")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"bench needs {SHARED}")

    from langmill import native
    from langmill.filters.lid import default_lid_model

    docs = build_documents(args.repeat)
    texts = [d["text"] for d in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(docs):,} documents, {mb:.1f} MB of text")

    rows = []
    native.minhash(texts[:500], signatures=False)  # warm-up: page in the library and the allocator
    for threads in (1, 2):
        seconds = timed(lambda: native.minhash(texts, threads=threads, signatures=False))
        rows.append((f"MinHash keys (Rust), {threads} thread(s)", seconds))
    import fasttext

    model = fasttext.load_model(default_lid_model())
    rows.append(("fastText predict (lid.176.ftz), 1 core", timed(lambda: [model.predict(t.replace("\n", " ")) for t in texts])))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.jsonl"
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
        for workers in (1, 2):
            out = Path(tmp) / f"out{workers}"
            cmd = [sys.executable, "-m", "langmill.cli", "corpus", str(path), "--lang", "fi", "--out", str(out), "--workers", str(workers)]
            seconds = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
            stats = json.loads((out / "stats.json").read_text())
            rows.append((f"langmill corpus, {workers} worker(s) (kept {stats['kept']:,} of {stats['rows_in']:,})", seconds))
            shutil.rmtree(out)

    print(f"{'step':<62} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in rows:
        print(f"{name:<62} {seconds:8.2f} {mb / seconds:8.2f}")


if __name__ == "__main__":
    main()
