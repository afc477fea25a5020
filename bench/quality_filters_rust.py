"""Speed of the Rust-backed quality filters vs the pure-Python reference (and datatrove's own).

Documents as bench/corpus_throughput.py builds them (LibreOffice help pages + UD dev files),
repeated to about --mb MB. Each filter runs `filter_batch` over batches of 256 documents with
the Finnish settings; the Python reference filters (tests/reference_quality.py, the previous
implementation) and datatrove's filters run on a prefix of about --python-mb MB.

    .venv/bin/python bench/quality_filters_rust.py [--mb 16] [--python-mb 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]


def docs_of(texts):
    from datatrove.data import Document

    return [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]


def time_batches(flt, texts, batch=256) -> float:
    docs = docs_of(texts)
    start = time.perf_counter()
    for i in range(0, len(docs), batch):
        flt.filter_batch(docs[i : i + batch])
    return time.perf_counter() - start


def time_single(flt, texts) -> float:
    docs = docs_of(texts)
    start = time.perf_counter()
    for d in docs:
        flt.filter(d)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=16.0)
    ap.add_argument("--python-mb", type=float, default=2.0)
    ap.add_argument("--no-datatrove", action="store_true")
    args = ap.parse_args()

    from corpus_throughput import build_documents

    from langmill.filters import quality as Q
    from langmill.config import load_quality_config
    import reference_quality as R

    base = [d["text"] for d in build_documents(1)]
    base_mb = sum(len(t.encode()) for t in base) / 1e6
    texts = base * max(1, round(args.mb / base_mb))
    # a prefix for the slow implementations, interleaving the sources (every 7th document)
    small, size = [], 0
    for t in texts[::7]:
        small.append(t)
        size += len(t.encode())
        if size >= args.python_mb * 1e6:
            break
    mb = sum(len(t.encode()) for t in texts) / 1e6
    small_mb = size / 1e6
    print(f"{len(texts):,} documents, {mb:.1f} MB (Python/datatrove on {len(small):,} docs, {small_mb:.1f} MB)")

    cfg, _ = load_quality_config("fi")
    pairs = [
        ("gopher_quality", Q.GopherQualityFilter, R.ReferenceGopherQualityFilter),
        ("gopher_repetition", Q.GopherRepetitionFilter, R.ReferenceGopherRepetitionFilter),
        ("c4", Q.C4Filter, R.ReferenceC4Filter),
        ("fineweb_quality", Q.FineWebQualityFilter, R.ReferenceFineWebQualityFilter),
    ]
    dt = {}
    if not args.no_datatrove:
        try:
            from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

            dt = {
                "gopher_quality": GopherQualityFilter(),
                "gopher_repetition": GopherRepetitionFilter(),
                "c4": C4QualityFilter(),
                "fineweb_quality": FineWebQualityFilter(),
            }
        except Exception as exc:  # noqa: BLE001 - optional comparison
            print(f"(datatrove filters unavailable: {exc})")
    print(f"{'filter':<20} {'rust 1t MB/s':>13} {'rust 2t MB/s':>13} {'python MB/s':>12} {'datatrove MB/s':>15} {'x python':>9} {'x datatrove':>12}")
    for name, cls, ref_cls in pairs:
        Q_ = cls(config=cfg[name], threads=1)
        time_batches(Q_, texts[:300])  # warm-up
        r1 = mb / time_batches(Q_, texts)
        r2 = mb / time_batches(cls(config=cfg[name], threads=2), texts)
        py = small_mb / time_single(ref_cls(config=cfg[name]), small)
        d = float("nan")
        if name in dt:
            try:
                d = small_mb / time_single(dt[name], small)
            except Exception as exc:  # noqa: BLE001
                print(f"(datatrove {name} failed: {exc})")
        print(f"{name:<20} {r1:13.1f} {r2:13.1f} {py:12.2f} {d:15.2f} {r1 / py:9.0f} {r1 / d:12.0f}")


if __name__ == "__main__":
    main()
