"""Rebuild langmill/configs/fineweb2/fineweb2.json.gz from FineWeb-2's published filter settings.

Input: ../shared/data/fineweb2-filter-configs.json.gz, one object per language-script ("fin_Latn")
gathered from huggingface/fineweb-2 configs/*.yml (commit 6cd950c, Apache-2.0). Output: the fields
langmill uses (FINEWEB2_FIELDS), values unchanged and under FineWeb-2's own names, so every number
can be checked against the source; langmill/profiles.py turns them into langmill's settings when a
run asks for `--profile fineweb2`. The file is written byte-for-byte reproducibly (sorted keys, gzip
mtime 0), so rerunning this script on the same input changes nothing.

Run:  python scripts/convert_fineweb2.py [SOURCE] [OUT]
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "fineweb2-filter-configs.json.gz"
OUT = REPO / "langmill" / "configs" / "fineweb2" / "fineweb2.json.gz"

# Every field FineWeb-2's filtering pipeline reads from a language's config (fineweb-2-pipeline.py).
FINEWEB2_FIELDS = ("language_score", "dup_line_frac", "top_n_grams", "dup_n_grams", "line_punct_thr", "new_line_ratio",
                   "min_avg_word_length", "max_avg_word_length", "max_non_alpha_words_ratio", "stopwords")
PROVENANCE = {
    "source": "https://github.com/huggingface/fineweb-2 configs/*.yml",
    "commit": "6cd950c",
    "license": "Apache-2.0",
    "converted_by": "scripts/convert_fineweb2.py (fields kept, values unchanged)",
}


def convert(source: Path) -> dict:
    with gzip.open(source, "rt", encoding="utf-8") as f:
        configs = json.load(f)
    languages = {}
    for name in sorted(configs):
        missing = [k for k in FINEWEB2_FIELDS if k not in configs[name]]
        if missing:
            raise SystemExit(f"{source}: {name} lacks {', '.join(missing)}")
        languages[name] = {k: configs[name][k] for k in FINEWEB2_FIELDS}
    return {**PROVENANCE, "languages": languages}


def write(data: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(payload)


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    out = Path(argv[1]) if len(argv) > 1 else OUT
    data = convert(source)
    write(data, out)
    print(f"{out}: {len(data['languages'])} language-scripts, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
