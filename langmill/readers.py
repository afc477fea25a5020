"""Reading raw inputs (JSONL, Parquet, plain text, WARC) into datatrove Documents.

`InputReader` (raw text for `corpus`) handles every format so that one call can mix them;
`RowReader` reads structured rows (SFT chats, preference pairs) for `translate` and `qc`. Rows that
cannot be read (malformed JSON, invalid UTF-8, a missing or non-string text field) are never lost:
both readers pass them on as documents whose metadata holds `bad_row` (the detail, naming the file
and line), and `langmill.filters.base.DropBadRows` sends them to `excluded/` with reason `bad_row`.
Every reader counts the rows it read in the stat `rows_in`.
"""

import bz2
import glob
import gzip
import io
import json
import lzma
import os
import time
from pathlib import Path

import click
from loguru import logger

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

COMPRESSIONS = ("", ".gz", ".zst", ".bz2", ".xz")
# .json holds either a JSON list of rows (alpaca_data.json) or JSON lines under another name.
JSONL_SUFFIXES = tuple(f"{ext}{c}" for ext in (".jsonl", ".ndjson", ".json") for c in COMPRESSIONS)
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = tuple(f".txt{c}" for c in COMPRESSIONS)
WARC_SUFFIXES = (".warc", ".warc.gz")
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES + WARC_SUFFIXES
SUPPORTED_NAMES = ".jsonl/.ndjson/.json, .parquet, .txt, .warc (text formats also .gz/.zst/.bz2/.xz; .warc.gz)"


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
            found = sorted(str(p) for p in Path(item).rglob("*") if p.is_file() and not p.name.startswith("."))
            candidates = [c for c in found if input_format(c)]
            skipped = [os.path.relpath(c, item) for c in found if not input_format(c)]
            if not candidates:
                raise InputError(f"{item}: the directory holds no file of a supported kind ({SUPPORTED_NAMES})")
            if skipped:  # said once, so that a .csv or .bz2 next to the data is not missed unnoticed
                shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
                click.echo(f"langmill: warning: {item}: skipping {len(skipped)} file(s) of unsupported types: {shown}", err=True)
        elif os.path.exists(item):
            candidates = [item]
        else:
            raise InputError(f"{item}: no such file or directory")
        for path in candidates:
            if os.path.isdir(path):
                continue
            if input_format(path) is None:
                raise InputError(f"{path}: unsupported file type (supported: {SUPPORTED_NAMES})")
            if not os.access(path, os.R_OK):
                raise InputError(f"{path}: permission denied")
            files.append(os.path.abspath(path))
    # The same file named twice would be read twice and dedup would hide it; read it once.
    return sorted(dict.fromkeys(files))


def resolve_row_inputs(inputs: list[str], command: str) -> list[str]:
    """`resolve_inputs` for commands that read structured rows (JSONL/JSON and Parquet only), each
    checked with `check_input_files`."""
    files = resolve_inputs(inputs)
    for path in files:
        if input_format(path) not in ("jsonl", "parquet"):
            raise InputError(f"{path}: langmill {command} reads rows from .jsonl/.ndjson/.json (also .gz/.zst/.bz2/.xz) and .parquet only")
    check_input_files(files)
    return files


class _ZstdStream(io.RawIOBase):
    """A .zst file as a raw stream, frame after frame. zstandard's own reader ends a truncated file
    silently; this one raises EOFError, as gzip, bz2 and lzma do."""

    def __init__(self, path: str):
        import zstandard

        self._file = open(path, "rb")
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._decoder, self._pending, self._fed = self._new(), b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._file.read(1 << 20)
            if not chunk:
                if self._fed and not self._decoder.eof:
                    raise EOFError("zstd stream ended before the end of its last frame (truncated file)")
                return 0
            while chunk:
                if self._decoder.eof:  # the next frame of a multi-frame file
                    self._decoder, self._fed = self._new(), False
                self._pending += self._decoder.decompress(chunk)
                self._fed = True
                chunk = self._decoder.unused_data if self._decoder.eof else b""
        n = min(len(buffer), len(self._pending))
        buffer[:n], self._pending = self._pending[:n], self._pending[n:]
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def open_binary(path: str):
    """A buffered binary stream of the file's bytes, decompressed by its suffix; iterating it gives
    lines. A truncated archive raises EOFError where its data ends."""
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdStream(path))
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


UTF8_BOM = b"\xef\xbb\xbf"


def parse_json_line(line: bytes, line_no: int):
    """One JSONL line -> the parsed value, or BadRow. Never raises: a 5000-digit number or a
    100,000-deep nesting is one bad row, and the rest of the file is still read."""
    if line_no == 1 and line.startswith(UTF8_BOM):  # written by Windows tools; not part of the row
        line = line[3:]
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        detail = f"invalid UTF-8 at byte {err.start} of line {line_no}"
    except json.JSONDecodeError as err:
        detail = f"malformed JSON on line {line_no}: {err.msg} (column {err.colno})"
    except ValueError as err:  # e.g. an integer longer than Python converts
        detail = f"unreadable JSON on line {line_no}: {str(err).split(';')[0]}"
    except RecursionError:
        detail = f"unreadable JSON on line {line_no}: nested too deeply"
    return BadRow(detail, line[:RAW_CHARS].decode("utf-8", "replace").rstrip("\n"))


def _head(path: str, size: int = 1 << 16) -> bytes:
    """The first `size` (decompressed) bytes of the file, without a byte-order mark or leading blanks.
    Raises only when not even the start of the file can be decompressed: a file that breaks later
    is read up to the break."""
    head = b""
    with open_binary(path) as f:
        try:
            while len(head) < size and (chunk := f.read1(4096)):
                head += chunk
        except Exception:  # noqa: BLE001 - any decoder error
            if not head:
                raise
    head = head.lstrip()
    return head[3:].lstrip() if head.startswith(UTF8_BOM) else head


def _is_json_list(path: str) -> bool:
    name = path.lower()
    return ".json" in name and ".jsonl" not in name and _head(path, 64).startswith(b"[")


def json_records(path: str, part: int = 0, parts: int = 1):
    """(line or element number n, value or BadRow) for the rows n % parts == part of a JSONL file, or
    of a .json file holding one list of rows (lines of other parts are skipped before parsing).
    Blank lines are not rows. A file that breaks part-way raises where it breaks."""
    if _is_json_list(path):
        with open_binary(path) as f:
            rows = parse_json_line(f.read(), 1)
        if isinstance(rows, BadRow):
            if part == 0:
                yield 1, BadRow(f"the JSON list of rows cannot be read: {rows}")
            return
        for n, row in enumerate(rows, 1):
            if n % parts == part:
                yield n, row
        return
    with open_binary(path) as f:
        for line_no, line in enumerate(f, 1):
            if line_no % parts == part and line.strip():
                yield line_no, parse_json_line(line, line_no)


FINGERPRINT_WHOLE = 4 << 20  # files up to this size are hashed whole; larger ones are sampled


def file_fingerprint(path: str) -> str:
    """Size and a hash of the file's content (whole up to 4 MiB; else its first and last MiB and
    16 blocks between), so that resume notices an input rewritten in place. The mtime is left out
    on purpose: a copied or touched but unchanged file still resumes."""
    import hashlib

    size = os.path.getsize(path)
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if size <= FINGERPRINT_WHOLE:
            digest.update(f.read())
        else:
            block = 1 << 16
            starts = [0, size - (1 << 20)] + [size * k // 17 for k in range(1, 17)]
            for start in starts:
                f.seek(start)
                digest.update(f.read(1 << 20 if start in starts[:2] else block))
    return f"{size}:{digest.hexdigest()}"


def input_fingerprints(files: list[str]) -> list[list[str]]:
    """[path, fingerprint] of every input, for the run's job.json."""
    return [[path, file_fingerprint(path)] for path in files]


def check_input_files(files: list[str], text_key: str | None = None) -> None:
    """Every input that cannot be used at all is one InputError naming it, before any work starts:
    an archive that is not one, a .json that holds neither rows nor JSON lines, a Parquet file that
    cannot be read or (with `text_key`) has no such column, a file that is not a WARC."""
    import pyarrow.parquet as pq

    for path in files:
        fmt = input_format(path)
        if fmt == "parquet":
            try:
                names = pq.read_schema(path).names
            except Exception as err:  # noqa: BLE001 - any read failure is reported the same way
                raise InputError(f"{path}: not a readable Parquet file ({err.__class__.__name__})") from None
            if text_key and text_key not in names:
                raise InputError(f"{path}: no column {text_key!r} (columns: {', '.join(names)}); pass --text-key")
        elif fmt == "warc":
            from langmill.warc import check_warc_file

            check_warc_file(path)
        elif fmt in ("jsonl", "text"):
            try:
                head = _head(path)
            except Exception as err:  # noqa: BLE001 - gzip, bz2, lzma and zstandard raise different errors
                raise InputError(f"{path}: cannot be decompressed ({err.__class__.__name__}: {err})") from None
            if fmt == "jsonl" and head and head[:1] not in b"{[" and not _any_json_line(head):
                raise InputError(f"{path}: not JSON rows (no line of its first {len(head):,} bytes is JSON)")


def _any_json_line(head: bytes) -> bool:
    lines = head.split(b"\n")
    complete = lines[:-1] or lines  # the last piece may be cut; alone, it is the whole file
    return any(line.strip() and not isinstance(parse_json_line(line, 2), BadRow) for line in complete)


class BadRow(Exception):
    """A row that cannot be used; the message is the `detail` of its excluded row (one class for
    every stage: unreadable input, an unknown row format, a row of the wrong kind). `raw` is the
    row as it stood in the file, when it could not be parsed."""

    def __init__(self, detail: str, raw: str | None = None):
        super().__init__(detail)
        self.raw = raw


RAW_CHARS = 10_000  # of an unparsable line kept in its excluded row


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
        for line_no, record in json_records(path, part, parts):
            where = f"{source}:{line_no}"
            yield line_no, where, record if isinstance(record, BadRow) else self._record_to_row(record, where)

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
        data, broken = bytearray(), None
        with open_binary(path) as raw:
            try:
                while chunk := raw.read(1 << 20):
                    data += chunk
            except Exception as err:  # noqa: BLE001 - a truncated archive: keep whole paragraphs, then say so
                if self.split != "paragraphs":
                    raise
                broken, data = err, data[: data.rfind(b"\n\n") + 1]
        where = self.source_name(path)
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            if part == 0:
                yield 0, where, BadRow(f"invalid UTF-8 at byte {err.start}")
            return
        if self.split == "paragraphs":
            blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
            for n, block in enumerate(blocks, 1):
                if n % parts == part:
                    yield n, f"{where}#{n}", (f"{where}#{n}", block, {})
            if broken is not None:
                raise broken
        else:
            yield 0, where, (where, text, {})

    def _rows_warc(self, path: str, part: int, parts: int):
        from langmill.warc import warc_rows  # imports readers itself

        yield from warc_rows(path, self.source_name(path), part, parts)

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
            detail = broken_file_detail(source, last, err)
            logger.warning(detail)
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
                if isinstance(row, BadRow):  # its raw line, if any, is the text of its excluded row
                    yield Document(text=row.raw or "", id=where, metadata={"source": source, "bad_row": str(row)})
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


def broken_file_detail(source: str, last: int, err: Exception) -> str:
    """The detail of the one bad row that stands for the unreadable rest of a file."""
    message = str(err).split("\n")[0][:200]
    return f"{source}: unreadable after row {last} ({err.__class__.__name__}: {message}); the rest of the file was not read"


def read_rows(path: str, name: str | None = None):
    """(NAME:LINE, row dict or None, bad-row detail or None, raw text for bad rows) for every row of a
    JSONL/JSON or Parquet file of structured rows (blank lines skipped; for Parquet and JSON lists,
    LINE is the row number). NAME defaults to the file's base name. A file that breaks part-way
    ends with one bad row NAME:unreadable that says where and why."""
    import pyarrow.parquet as pq

    name = name or os.path.basename(path)
    last = 0
    try:
        if input_format(path) == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    last += 1
                    yield f"{name}:{last}", row, None, None
            return
        for last, row in json_records(path):
            where = f"{name}:{last}"
            if isinstance(row, BadRow):
                yield where, None, f"{where}: {row}", row.raw
            elif not isinstance(row, dict):
                yield where, None, f"{where}: a JSON {type(row).__name__}, not an object", json.dumps(row, ensure_ascii=False)[:10_000]
            else:
                yield where, row, None, None
    except Exception as err:  # noqa: BLE001 - a truncated or corrupt file: keep what was read
        yield f"{name}:unreadable", None, broken_file_detail(name, last, err), None


def source_names(files: list[str]) -> dict[str, str]:
    """File -> the name used in ids and `source` (path relative to the inputs' common folder)."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if files else ""
    return {f: os.path.relpath(os.path.abspath(f), root) for f in files}


class RowReader(PipelineStep):
    """Reads JSONL/Parquet rows of structured data; task r takes rows k % world_size == r (of the
    first `limit`). Each row becomes an empty-text document whose metadata holds `row` (the row as
    read), `source` (FILE:LINE), `index` (k) and, when `formats` names it for the file, `format`; a row that
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
                    yield Document(text="", id=where, metadata={"source": where, "index": k, "bad_row": bad, "raw": raw})
                else:
                    yield Document(text="", id=where, metadata={"source": where, "index": k, "row": row, **fmt})


def row_adapter(reader, data: dict, path: str, id_in_file) -> dict:
    """An `adapter` for datatrove's own readers (`JsonlReader(path, adapter=row_adapter)`) that
    gives what `RowReader` gives: the whole row in `metadata["row"]` and FILE:LINE in `source`.
    The text is that place too: datatrove skips documents without text."""
    where = f"{os.path.basename(path)}:{id_in_file + 1 if isinstance(id_in_file, int) else id_in_file}"
    return {"text": where, "id": where, "metadata": {"row": data, "source": where}}
