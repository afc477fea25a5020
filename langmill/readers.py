"""Reading raw inputs (JSONL, Parquet, plain text, WARC) into datatrove Documents.

`InputReader` (raw text for `corpus`) handles every format so that one call can mix them;
`RowReader` reads structured rows (SFT chats, preference pairs) for `translate` and `qc`. Rows that
cannot be read (malformed JSON, invalid UTF-8, a missing or non-string text field) are never lost:
both readers pass them on as documents whose metadata holds `bad_row` (the detail, naming the file
and line), and `langmill.filters.base.DropBadRows` sends them to `excluded/` with reason `bad_row`.
Every reader counts the rows it read in the stat `rows_in`.
"""

import glob
import gzip
import io
import json
import os
import time
from pathlib import Path

import click
from loguru import logger

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.zst")
WARC_SUFFIXES = (".warc", ".warc.gz")
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES + WARC_SUFFIXES


class InputError(Exception):
    """An input path that cannot be used; the message is one line that names it."""


def input_format(path: str) -> str | None:
    name = path.lower()
    for fmt, suffixes in (
        ("jsonl", JSONL_SUFFIXES),
        ("parquet", PARQUET_SUFFIXES),
        ("text", TEXT_SUFFIXES),
        ("warc", WARC_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return fmt
    return None


def resolve_inputs(inputs: list[str]) -> list[str]:
    """Expand files, directories (recursively) and globs into a sorted list of readable files."""
    files: list[str] = []
    for item in inputs:
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise InputError(f"{item}: the pattern matches no file")
            candidates = matches
        elif os.path.isdir(item):
            candidates = sorted(str(p) for p in Path(item).rglob("*") if p.is_file())
            candidates = [c for c in candidates if input_format(c)]
            if not candidates:
                raise InputError(f"{item}: the directory holds no file of a supported kind ({', '.join(SUPPORTED_SUFFIXES)})")
        elif os.path.exists(item):
            candidates = [item]
        else:
            raise InputError(f"{item}: no such file or directory")
        for path in candidates:
            if os.path.isdir(path):
                continue
            if input_format(path) is None:
                raise InputError(f"{path}: unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})")
            if not os.access(path, os.R_OK):
                raise InputError(f"{path}: permission denied")
            files.append(os.path.abspath(path))
    # The same file named twice would be read twice and dedup would hide it; read it once.
    return sorted(dict.fromkeys(files))


def resolve_row_inputs(inputs: list[str], command: str) -> list[str]:
    """`resolve_inputs` for commands that read structured rows: JSONL and Parquet only."""
    files = resolve_inputs(inputs)
    for path in files:
        if input_format(path) not in ("jsonl", "parquet"):
            raise InputError(f"{path}: langmill {command} reads .jsonl(.gz/.zst) and .parquet rows only")
    return files


def check_parquet_columns(files: list[str], text_key: str) -> None:
    """Fail early, naming the file, when a Parquet input has no text column."""
    import pyarrow.parquet as pq

    for path in files:
        if input_format(path) != "parquet":
            continue
        try:
            names = pq.read_schema(path).names
        except Exception as err:  # noqa: BLE001 - any read failure is reported the same way
            raise InputError(f"{path}: not a readable Parquet file ({err.__class__.__name__})") from None
        if text_key not in names:
            raise InputError(f"{path}: no column {text_key!r} (columns: {', '.join(names)}); pass --text-key")


def _open_binary(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
    return open(path, "rb")


class BadRow(Exception):
    """A row that cannot be used; the message is the `detail` of its excluded row (one class for
    every stage: unreadable input, an unknown row format, a row of the wrong kind)."""


class InputReader(PipelineStep):
    """Reads the files assigned to this task (file i goes to task i % world_size).

    Args:
        files: resolved input files (see `resolve_inputs`).
        text_key, id_key: fields of JSONL/Parquet rows; ids are generated (`<file>:<line>`) when absent.
        split: "document" (one .txt file is one document) or "paragraphs" (blank-line separated blocks).
        root: path prefix stripped from file names in `source` and generated ids.
    """

    name = "📖 Input reader"
    type = "📖 - READER"

    def __init__(
        self,
        files: list[str],
        text_key: str = "text",
        id_key: str = "id",
        split: str = "document",
        root: str | None = None,
        progress_every: float = 10.0,
    ):
        super().__init__()
        self.files = list(files)
        self.text_key = text_key
        self.id_key = id_key
        self.split = split
        self.root = root or os.path.commonpath([os.path.dirname(f) for f in files]) if files else ""
        self.progress_every = progress_every

    def source_name(self, path: str) -> str:
        return os.path.relpath(path, self.root) if self.root else os.path.basename(path)

    # --- one generator per format of (row number, where, (id, text, metadata) or BadRow) ------------
    # A file may be split into `parts` read by different tasks: part p takes rows n % parts == p
    # (row groups for Parquet), and skips the others before parsing them.

    def _rows_jsonl(self, path: str, part: int, parts: int):
        source = self.source_name(path)
        with _open_binary(path) as raw:
            for line_no, line in enumerate(io.BufferedReader(raw) if path.endswith(".zst") else raw, 1):
                if line_no % parts != part or not line.strip():
                    continue
                where = f"{source}:{line_no}"
                try:
                    record = json.loads(line.decode("utf-8"))
                except UnicodeDecodeError as err:
                    yield line_no, where, BadRow(f"invalid UTF-8 at byte {err.start} of line {line_no}")
                    continue
                except json.JSONDecodeError as err:
                    yield line_no, where, BadRow(f"malformed JSON on line {line_no}: {err.msg} (column {err.colno})")
                    continue
                yield line_no, where, self._record_to_row(record, where)

    def _rows_parquet(self, path: str, part: int, parts: int):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        source = self.source_name(path)
        row_no = 0
        for group in range(parquet.num_row_groups):
            n_rows = parquet.metadata.row_group(group).num_rows
            if group % parts != part:
                row_no += n_rows
                continue
            for record in parquet.read_row_group(group).to_pylist():
                row_no += 1
                where = f"{source}:{row_no}"
                yield row_no, where, self._record_to_row(record, where)

    def _rows_text(self, path: str, part: int, parts: int):
        if self.split != "paragraphs" and part != 0:
            return
        with _open_binary(path) as raw:
            data = raw.read()
        where = self.source_name(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            if part == 0:
                yield 0, where, BadRow(f"invalid UTF-8 at byte {err.start}")
            return
        if self.split == "paragraphs":
            blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
            for n, block in enumerate(blocks, 1):
                if n % parts == part:
                    yield n, f"{where}#{n}", (f"{where}#{n}", block, {})
        else:
            yield 0, where, (where, text, {})

    def _rows_warc(self, path: str, part: int, parts: int):
        from warcio.archiveiterator import ArchiveIterator
        import trafilatura

        with open(path, "rb") as stream:
            n = 0
            for record in ArchiveIterator(stream):
                if record.rec_type != "response":
                    continue
                content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
                if "html" not in content_type.lower():
                    continue
                n += 1
                if n % parts != part:
                    continue
                record_id = record.rec_headers.get_header("WARC-Record-ID", "").strip("<>")
                url = record.rec_headers.get_header("WARC-Target-URI", "")
                where = f"{self.source_name(path)}:{record_id or url}"
                html = record.content_stream().read()
                try:
                    text = trafilatura.extract(html.decode("utf-8", errors="replace"), favor_precision=True) or ""
                except Exception as err:  # noqa: BLE001 - a broken page is a bad row, not a crash
                    yield n, where, BadRow(f"main-text extraction failed: {err.__class__.__name__}")
                    continue
                yield n, where, (record_id or where, text, {"url": url})

    def _record_to_row(self, record, where: str):
        if not isinstance(record, dict):
            return BadRow(f"row is a JSON {type(record).__name__}, not an object")
        if self.text_key not in record or record[self.text_key] is None:
            return BadRow(f"missing text key {self.text_key!r}")
        text = record[self.text_key]
        if not isinstance(text, str):
            return BadRow(f"text key {self.text_key!r} holds a {type(text).__name__}, not a string")
        doc_id = record.get(self.id_key)
        doc_id = where if doc_id is None else str(doc_id)
        return doc_id, text, {}

    # --- the step -----------------------------------------------------------------------------------

    def _rows_or_failure(self, rows, source: str, part: int):
        """A file that breaks part-way (truncated archive, corrupt block) ends with one bad row."""
        last = 0
        try:
            for row_no, where, row in rows:
                last = row_no
                yield row_no, where, row
        except Exception as err:  # noqa: BLE001 - whatever the decoder raised, the job goes on
            detail = f"file unreadable after row {last}: {err.__class__.__name__}: {err}"
            logger.warning(f"{source}: {detail}")
            yield last + 1, f"{source}:unreadable-{part}", BadRow(detail)

    def work_units(self, rank: int, world_size: int) -> list[tuple[int, str, int, int]]:
        """(file index, path, part, parts) read by task `rank`.

        With at least as many files as tasks, task r reads files r, r + world_size, ...; with fewer,
        each file is split into parts so that every task has work.
        """
        n = len(self.files)
        parts = 1 if n >= world_size else -(-world_size // max(n, 1))
        units = [(i, path, p, parts) for i, path in enumerate(self.files) for p in range(parts)]
        return units[rank::world_size]

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        readers = {"jsonl": self._rows_jsonl, "parquet": self._rows_parquet, "text": self._rows_text, "warc": self._rows_warc}
        started = last_report = time.monotonic()
        n_rows = n_chars = 0
        for file_index, path, part, parts in self.work_units(rank, world_size):
            source = self.source_name(path)
            for row_no, where, row in self._rows_or_failure(readers[input_format(path)](path, part, parts), source, part):
                n_rows += 1
                self.stat_update("rows_in")
                if isinstance(row, BadRow):
                    yield Document(text="", id=where, metadata={"source": source, "bad_row": str(row)})
                    continue
                doc_id, text, extra = row
                n_chars += len(text)
                # Input order across all tasks: dedup keeps the first copy of a document.
                doc = Document(text=text, id=doc_id, metadata={"source": source, "order": (file_index << 40) | row_no, **extra})
                self.update_doc_stats(doc)
                yield doc
                now = time.monotonic()
                if now - last_report >= self.progress_every:
                    last_report = now
                    # Straight to the terminal: datatrove's own INFO logs only go to the task log file.
                    click.echo(f"  read: task {rank + 1}/{world_size}: {n_rows:,} rows, {n_chars / 1e6:,.1f} M characters ({n_chars / 1e6 / (now - started):.2f} M/s)", err=True)


def read_rows(path: str, name: str | None = None):
    """(NAME:LINE, row dict or None, bad-row detail or None, raw text for bad rows) for every row of a
    JSONL or Parquet file of structured rows (blank lines skipped; for Parquet, LINE is the row number). NAME defaults to the file's base name."""
    import pyarrow.parquet as pq

    name = name or os.path.basename(path)
    if input_format(path) == "parquet":
        try:
            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001 - an unreadable file is one bad row
            yield f"{name}:0", None, f"{name}: not a readable Parquet file ({err.__class__.__name__})", ""
            return
        for i, row in enumerate(table.to_pylist()):
            yield f"{name}:{i + 1}", row, None, None
        return
    with _open_binary(path) as f:
        for i, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{name}:{i}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield where, None, f"{where}: invalid UTF-8", raw.decode("utf-8", "replace").rstrip("\n")
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                yield where, None, f"{where}: malformed JSON ({err.msg})", text.rstrip("\n")
                continue
            if not isinstance(row, dict):
                yield where, None, f"{where}: not a JSON object", text.rstrip("\n")
                continue
            yield where, row, None, None


def source_names(files: list[str]) -> dict[str, str]:
    """File -> the name used in ids and `source` (path relative to the inputs' common folder)."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if files else ""
    return {f: os.path.relpath(os.path.abspath(f), root) for f in files}


class RowReader(PipelineStep):
    """Reads JSONL/Parquet rows of structured data; task r takes rows k % world_size == r (of the
    first `limit`). Each row becomes an empty-text document whose metadata holds `row` (the row as
    read), `source` (FILE:LINE) and, when `formats` names it for the file, `format`; a row that
    cannot be read holds `bad_row` and `raw` (its line) instead, so it is still accounted for."""

    name = "📖 Row reader"
    type = "📖 - READER"

    def __init__(self, files: list[str], limit: int | None = None, formats: dict[str, str] | None = None):
        super().__init__()
        self.files = list(files)
        self.limit = limit
        self.formats = dict(formats or {})

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        names = source_names(self.files)
        k = -1
        for path in self.files:
            fmt = {"format": self.formats[path]} if path in self.formats else {}
            for where, row, bad, raw in read_rows(path, names[path]):
                k += 1
                if self.limit is not None and k >= self.limit:
                    return
                if k % world_size != rank:
                    continue
                self.stat_update("rows_in")
                if row is None:
                    yield Document(text="", id=where, metadata={"source": where, "bad_row": bad, "raw": raw})
                else:
                    yield Document(text="", id=where, metadata={"source": where, "row": row, **fmt})


def row_adapter(reader, data: dict, path: str, id_in_file) -> dict:
    """An `adapter` for datatrove's own readers (`JsonlReader(path, adapter=row_adapter)`) that
    gives what `RowReader` gives: the whole row in `metadata["row"]` and FILE:LINE in `source`.
    The text is that place too: datatrove skips documents without text."""
    where = f"{os.path.basename(path)}:{id_in_file + 1 if isinstance(id_in_file, int) else id_in_file}"
    return {"text": where, "id": where, "metadata": {"row": data, "source": where}}
