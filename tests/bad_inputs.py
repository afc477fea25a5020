"""Damaged and unusual inputs for `corpus`, `translate` and `qc`, generated from real rows.

tests/test_bad_inputs.py runs every case against every command it applies to. The rule each case
checks, for all three commands:
- a file that cannot be used at all is ONE stderr line naming it, before any work starts (exit 2,
  no traceback, --out not created);
- a row that cannot be used is an excluded/ row with reason `bad_row` and a detail;
- a file that breaks part-way keeps what was read and ends with one `bad_row` naming the file and
  where it broke;
- rows in = kept + excluded, and data/ and excluded/ load as one dataset each.

Good rows are real: Finnish documents of the embedded sample corpus (corpus), English Dolly rows as
chats (translate), and the Finnish Dolly translation beside its English source (qc).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import zstandard

from conftest import SAMPLE_DIR, shared_data

COMMANDS = ("corpus", "translate", "qc")
# Sample-corpus documents that the default corpus settings keep (see test_corpus.py's sample run).
KEPT_SAMPLE_IDS = ("fi-005", "fi-006", "fi-008", "fi-009", "fi-012", "fi-013", "fi-019", "fi-021", "fi-022", "fi-023", "fi-029")


def _gz_rows(path: Path, n: int) -> list[dict]:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) == n:
                break
    return rows


def good_rows(command: str, n: int) -> list[dict]:
    """`n` real rows of the kind `command` reads (at most 11 for corpus)."""
    if command == "corpus":
        by_id = {r["id"]: r for r in map(json.loads, (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines())}
        return [{"id": i, "text": by_id[i]["text"]} for i in KEPT_SAMPLE_IDS[:n]]
    en = _gz_rows(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"), 60)
    fi = _gz_rows(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), 60)
    pairs = [(e, f) for e, f in zip(en, fi) if e.get("response") and f.get("response")][:n]

    def chat(row: dict) -> list[dict]:
        return [{"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": row["response"]}]

    if command == "translate":
        return [{"id": f"dolly-{e['doc_index']}", "messages": chat(e)} for e, _ in pairs]
    return [{"id": f"dolly-{e['doc_index']}", "messages": chat(f), "source_messages": chat(e)} for e, f in pairs]


def jsonl(rows: list) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def zstd_frames(data: bytes, lines_per_frame: int = 1) -> bytes:
    """A .zst of one frame per `lines_per_frame` lines, as streaming writers flush them."""
    lines = data.splitlines(keepends=True)
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(b"".join(lines[i:i + lines_per_frame])) for i in range(0, len(lines), lines_per_frame))


def cut(data: bytes, share: float) -> bytes:
    """The file as a crashed download or a full disk leaves it."""
    return data[: int(len(data) * share)]


@dataclass
class Case:
    """One damaged input. `make(folder, command)` writes it and returns the INPUT arguments.

    error:       a substring of the expected one-line error (the run must not start), or None;
    rows_in:     expected rows in (None: not fixed, e.g. how much of a truncated archive decodes);
    bad_details: substrings of the details of the expected bad_row rows, one each, in any order;
    warning:     a substring of an expected `langmill: warning:` line;
    out_under_file: --out is a path under a regular file.
    """

    name: str
    make: Callable[[Path, str], list[Path]]
    commands: tuple[str, ...] = COMMANDS
    error: str | None = None
    rows_in: int | None = None
    bad_details: tuple[str, ...] = ()
    warning: str | None = None
    args: tuple[str, ...] = ()
    lang: str = "fi"
    out_under_file: bool = False
    checks: list[Callable] = field(default_factory=list)


def _write(folder: Path, name: str, data: bytes) -> list[Path]:
    path = folder / name
    path.write_bytes(data)
    return [path]


def _zst_valid(folder, command):
    return _write(folder, "rows.jsonl.zst", zstd_frames(jsonl(good_rows(command, 4)), 2))


def _gz_truncated(folder, command):
    return _write(folder, "rows.jsonl.gz", cut(gzip.compress(jsonl(good_rows(command, 10))), 0.6))


def _zst_truncated(folder, command):
    return _write(folder, "rows.jsonl.zst", cut(zstd_frames(jsonl(good_rows(command, 10))), 0.6))


def _zst_corrupt(folder, command):
    return _write(folder, "rows.jsonl.zst", b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 8)


def _gz_not_gzip(folder, command):
    return _write(folder, "rows.jsonl.gz", jsonl(good_rows(command, 2)))


def _odd_json(folder, command):
    rows = good_rows(command, 4)
    lines = [json.dumps(rows[0], ensure_ascii=False).encode(),
             b'{"id": "huge", "text": ' + b"9" * 5000 + b"}",
             b"[" * 100_000,
             json.dumps(rows[1], ensure_ascii=False).encode(),
             b'{"id": "latin1", "text": "P\xe4iv\xe4\xe4"}',
             b'["a", "list"]',
             b'"a string"',
             json.dumps(rows[2], ensure_ascii=False).encode(),
             json.dumps(rows[3], ensure_ascii=False).encode()]
    return _write(folder, "odd.jsonl", b"\n".join(lines) + b"\n")


def _bom(folder, command):
    return _write(folder, "bom.jsonl", b"\xef\xbb\xbf" + jsonl(good_rows(command, 3)))


def _json_list(folder, command):
    return _write(folder, "rows.json", json.dumps(good_rows(command, 3), ensure_ascii=False, indent=1).encode())


def _bz2_xz(folder, command):
    rows = good_rows(command, 4)
    return _write(folder, "a.jsonl.bz2", bz2.compress(jsonl(rows[:2]))) + _write(folder, "b.jsonl.xz", lzma.compress(jsonl(rows[2:])))


def _csv_named_jsonl(folder, command):
    return _write(folder, "table.jsonl", b"id,text\n1,Hei maailma\n2,Toinen rivi\n")


def _directory_with_unsupported(folder, command):
    inputs = folder / "inputs"
    inputs.mkdir()
    (inputs / "rows.jsonl").write_bytes(jsonl(good_rows(command, 2)))
    (inputs / "table.csv").write_text("id,text\n1,Hei\n")
    (inputs / "rows.jsonl.rar").write_bytes(b"Rar!\x1a\x07\x00")
    (inputs / ".hidden").write_text("editor state")
    return [inputs]


def _all_rows_bad(folder, command):
    return _write(folder, "broken.jsonl", b'{"id": 1, "text": \n{"also": broken}\n')


def _duplicate_ids(folder, command):
    rows = good_rows(command, 3)
    for row in rows:
        row["id"] = "same-id"
    return _write(folder, "dups.jsonl", jsonl(rows))


def _plain(folder, command):
    return _write(folder, "rows.jsonl", jsonl(good_rows(command, 2)))


def _empty_file(folder, command):
    return _write(folder, "empty.jsonl", b"") + _write(folder, "rows.jsonl", jsonl(good_rows(command, 1)))


def _odd_rows(folder, command):
    """Rows a chat file should not hold: each is a bad row, and the shards keep one schema."""
    good = good_rows(command, 2)
    pair = lambda value: {"messages": value, "source_messages": value} if command == "qc" else {"messages": value}  # noqa: E731
    odd = [
        {"id": "plain-string", **pair("Kerro jotain.")},
        {"id": "a-preference-row", "prompt": "Hi", "chosen": "Hello!", "rejected": "Go away.",
         **({"source_prompt": "Hi", "source_chosen": "Hello!", "source_rejected": "Go away."} if command == "qc" else {})},
        {"id": "all-empty", **pair([{"role": "user", "content": ""}, {"role": "assistant", "content": "  "}])},
        {"id": "tool-call", **pair([{"role": "user", "content": "Sää?"}, {"role": "tool", "content": '{"temp": 3}'}])},
    ]
    return _write(folder, "chats.jsonl", jsonl([good[0], *odd, good[1]]))


CASES = [
    Case("odd_rows_in_a_chat_file", _odd_rows, commands=("translate", "qc"), rows_in=6,
         bad_details=("plain-string", "a-preference-row", "all-empty", "tool-call")),
    Case("zst_valid", _zst_valid, rows_in=4),
    Case("gz_truncated", _gz_truncated, bad_details=("rows.jsonl.gz: unreadable after row",)),
    Case("zst_truncated", _zst_truncated, bad_details=("rows.jsonl.zst: unreadable after row",)),
    Case("zst_corrupt", _zst_corrupt, error="rows.jsonl.zst: cannot be decompressed"),
    Case("gz_not_gzip", _gz_not_gzip, error="rows.jsonl.gz: cannot be decompressed"),
    Case("odd_json_lines", _odd_json, rows_in=9,
         bad_details=("line 2: Exceeds the limit (4300 digits)", "line 3: nested too deeply", "invalid UTF-8", "odd.jsonl:6", "odd.jsonl:7")),
    Case("utf8_bom", _bom, rows_in=3),
    Case("json_list_file", _json_list, rows_in=3),
    Case("bz2_and_xz", _bz2_xz, rows_in=4),
    Case("csv_named_jsonl", _csv_named_jsonl, error="table.jsonl: not JSON rows"),
    Case("directory_with_unsupported_files", _directory_with_unsupported, rows_in=2,
         warning="skipping 2 file(s) of unsupported types: rows.jsonl.rar, table.csv"),
    Case("all_rows_bad", _all_rows_bad, rows_in=2, bad_details=("malformed JSON on line 1", "malformed JSON on line 2")),
    Case("duplicate_ids", _duplicate_ids, rows_in=3),
    Case("empty_file_beside_rows", _empty_file, rows_in=1),
    Case("unknown_language", _plain, error="finnish: the language-ID model lid.176.ftz does not know this language", lang="finnish"),
    Case("out_under_a_file", _plain, error="cannot be used as the output folder (Not a directory)", out_under_file=True),
]
