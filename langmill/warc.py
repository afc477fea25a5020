"""WARC input of `langmill corpus`: web pages as (id, main text, {"url"}) rows.

What counts. Every `response` and `resource` record is one row of the file (both hold a fetched
body: `resource` is what wget and warcit write for content they stored without an HTTP exchange):
- an HTML body (Content-Type `text/html`, `application/xhtml+xml`, ...; or no Content-Type and a
  body that starts like an HTML page) becomes a document: its bytes decoded with the right
  charset (below), its main text extracted by trafilatura. An empty extraction stays an empty
  document (the Normalizer drops it as `empty`);
- any other body (PDF, images, JSON, ...) becomes a bad row: "not an HTML page (Content-Type: ...)".
`request`, `warcinfo`, `metadata`, `revisit` and `conversion` records hold no page of their own:
they are read past and not counted.

Charset, first that decodes the whole body: a byte-order mark, the HTTP Content-Type charset,
the page's `<meta charset>` / `http-equiv`, UTF-8, charset_normalizer's best guess, cp1252. As in
browsers, a declared ISO-8859-1 or ASCII page is read as cp1252 (a superset), so a correctly
declared page never gets replacement characters.

Damage. A gzip-compressed file is read with Python's gzip module (whole-file gzip works too, not
only one member per record). A file that breaks part-way (cut inside a record or its headers,
corrupt gzip data, garbage after the last record) keeps every complete record read before the
break and ends with ONE bad row naming the file, the record it broke after and the cause: warcio
itself ends quietly on most of these, so `warc_rows` checks each record's length and the file's
tail. A file that is not a WARC at all is refused before any work starts (`check_warc_file`).
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from typing import Iterator

GZIP_MAGIC = b"\x1f\x8b"
DOCUMENT_RECORDS = ("response", "resource")
# Content-Types that say nothing, for which the body is sniffed (the WHATWG "unknown" types).
UNKNOWN_TYPES = ("", "unknown/unknown", "application/unknown", "*/*")
# How a body that starts like an HTML page starts (the WHATWG sniffing table, shortened).
SNIFF_BYTES = 1024
HTML_START = re.compile(rb"\s*<(?:!doctype\s+html|html|head|body|title|meta|script|style|div|p|table|h1|a|b|br|font|iframe|!--)[\s>]", re.I)
CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
META_WINDOW = 4096  # bytes of the page searched for a <meta> charset
# The legacy encodings web pages use (WHATWG); unrestricted, charset_normalizer takes Finnish
# cp1252 for mac_iceland.
LEGACY_WEB_CHARSETS = ["cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
                       "iso8859_2", "iso8859_4", "iso8859_5", "iso8859_7", "iso8859_13", "iso8859_15", "koi8_r", "koi8_u",
                       "gb18030", "big5", "euc_jp", "shift_jis", "euc_kr", "iso2022_jp"]
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# What the gzip module raises on a truncated or corrupt stream.
GZIP_DAMAGE = (EOFError, OSError, zlib.error)


# --- opening and checking ------------------------------------------------------------------------------


class _Stream:
    """The bytes warcio reads: gunzipped when the file is gzip (by its magic bytes, not its name),
    counted, the last few remembered; a decoder error becomes a plain end of data, noted in `cut`
    (warcio would otherwise take it for the end of the file, or stop with a multi-line message)."""

    TAIL = 64

    def __init__(self, path: str):
        self.file = open(path, "rb")
        self.compressed = self.file.read(2) == GZIP_MAGIC
        self.file.seek(0)
        self.raw = gzip.GzipFile(fileobj=self.file, mode="rb") if self.compressed else self.file
        self.pos = 0
        self.tail = b""
        self.cut: str | None = None

    def read(self, size: int = -1) -> bytes:
        if self.cut:
            return b""
        try:
            # read1: what decompressed before a break is returned (read() would drop it with the error).
            data = self.raw.read1(size) if self.compressed else self.raw.read(size)
        except GZIP_DAMAGE as err:
            self.cut = _cause(err, self.compressed)
            return b""
        self.pos += len(data)
        self.tail = (self.tail + data)[-self.TAIL:]
        return data

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        self.raw.close()
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _cause(err: Exception, compressed: bool) -> str:
    if isinstance(err, EOFError) and compressed:
        return "the gzip stream ends early"
    message = " ".join(str(err).split())[:200]
    return f"{err.__class__.__name__}: {message}" if message else err.__class__.__name__


def check_warc_file(path: str) -> None:
    """Raise InputError (one line naming the file) unless the file starts like a WARC archive:
    gzip or not, its first line must be a `WARC/1.x` version line."""
    from langmill.readers import InputError

    with _Stream(path) as stream:
        head = stream.read(256)
        kind = "gzip-compressed " if stream.compressed else ""
        if stream.cut and not head:
            raise InputError(f"{path}: not a readable WARC file ({stream.cut})")
        first = head.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
        if not first:
            raise InputError(f"{path}: empty {kind}file, not a WARC archive")
        if not re.match(rb"WARC/\d", first):
            raise InputError(f"{path}: not a WARC file (the {kind}data starts with {first[:40]!r}, not a WARC/1.x record)")


# --- records ---------------------------------------------------------------------------------------------


def _complete_records(stream: _Stream, status: dict) -> Iterator[tuple[object, bytes | None]]:
    """(record, HTML body or None) for every complete record (a body is read only for document
    records that hold an HTML page); when the file breaks, stops and sets status["broken"] to
    where and why."""
    from warcio.archiveiterator import ArchiveIterator

    records = ArchiveIterator(stream)
    end = 0  # where the last complete record ended, in the uncompressed stream
    status["read"] = 0
    try:
        for record in records:
            # warcio reads a missing or cut-off length as "to the end" or 0: a cut in the headers.
            if not (record.rec_headers.get_header("Content-Length") or "").strip().isdigit():
                status["broken"] = f"record {status['read'] + 1} has no valid Content-Length (its headers are cut off or damaged)"
                return
            body = _html_body(record) if record.rec_type in DOCUMENT_RECORDS else None
            while record.raw_stream.read(1 << 16):  # the rest of the block, as the length says
                pass
            if record.raw_stream.limit > 0:
                status["broken"] = f"record {status['read'] + 1} is cut off" + (f": {stream.cut}" if stream.cut else "")
                return
            end = records.get_record_offset() + records.get_record_length()
            status["read"] += 1
            yield record, body
    except Exception as err:  # noqa: BLE001 - any parse failure is where the file broke
        # A decoder error ends the data first; warcio then fails on the half record it got.
        status["broken"] = stream.cut or f"record {status['read'] + 1} cannot be parsed ({_cause(err, stream.compressed)})"
        return
    # warcio stops quietly when the last record's headers or the gzip stream are cut: check the
    # end. Only the blank lines that close the last record may follow it.
    if stream.cut:
        status["broken"] = stream.cut
    elif stream.pos - end > stream.TAIL or stream.tail[len(stream.tail) - (stream.pos - end):].strip():
        status["broken"] = f"{stream.pos - end:,} bytes after the last record are not a complete record"


def _media_type(record) -> tuple[str, str]:
    """(media type, charset parameter) of a record's body: the HTTP Content-Type for responses,
    the WARC one for resource records (and responses without HTTP headers, e.g. dns:)."""
    headers = record.http_headers if record.http_headers is not None else record.rec_headers
    value = headers.get_header("Content-Type") or ""
    charset = CHARSET_PARAM.search(value)
    return value.split(";", 1)[0].strip().lower(), charset.group(1) if charset else ""


def is_html(media_type: str, head: bytes) -> bool:
    """Whether a body of this media type that starts with `head` is an HTML page."""
    if media_type in UNKNOWN_TYPES:
        return bool(HTML_START.match(head.removeprefix(codecs.BOM_UTF8)))
    return "html" in media_type


def _html_body(record) -> bytes | None:
    """The record's decoded body (Content-Encoding and chunking undone) when it is an HTML page;
    None, without reading it, when it is not (a video is not read into memory)."""
    content = record.content_stream()
    head = content.read(SNIFF_BYTES)
    return head + content.read() if is_html(_media_type(record)[0], head) else None


def _codec(label: str) -> str | None:
    """Python's codec for a charset label, read as browsers read it; None when unknown."""
    try:
        name = codecs.lookup(label.strip().strip("'\"")).name
    except LookupError:
        return None
    if name in ("ascii", "iso8859-1", "latin-1"):
        return "cp1252"
    if name.startswith("utf-16"):  # a <meta> or ASCII header was readable: the page is not UTF-16
        return "utf-8"
    return name


def _decode_as(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; the page said Latin-1, which defines them all.
        return body.decode("latin-1") if codec == "cp1252" else None


def decode_html(body: bytes, http_charset: str = "") -> str:
    """The page's text, decoded as the module docstring says (strict at every step but the last)."""
    for bom, codec in BOMS:
        if body.startswith(bom):
            text = _decode_as(body, codec)
            if text is not None:
                return text
    meta = META_CHARSET.search(body[:META_WINDOW])
    for label in (http_charset, meta.group(1).decode("ascii") if meta else "", "utf-8"):
        text = _decode_as(body, _codec(label)) if label else None
        if text is not None:
            return text
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return _decode_as(body, "cp1252")
    guess = from_bytes(body, cp_isolation=LEGACY_WEB_CHARSETS).best()
    return str(guess) if guess is not None else _decode_as(body, "cp1252")


def _extract(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, favor_precision=True) or ""


def _page(record, body: bytes | None, url: str):
    """(text, None) for an HTML page, (None, bad-row detail) for anything else."""
    media_type, charset = _media_type(record)
    if body is None:
        return None, f"not an HTML page (Content-Type: {media_type or 'none'}): {url}"
    try:
        return _extract(decode_html(body, charset)), None
    except Exception as err:  # noqa: BLE001 - a page trafilatura cannot parse is a bad row, not a crash
        return None, f"main-text extraction failed: {err.__class__.__name__}: {url}"


def warc_rows(path: str, source: str, part: int = 0, parts: int = 1):
    """(record number, where, row) for records n % parts == part of a WARC file; row is
    (id, text, {"url": url}) or a BadRow. The file's break, if any, is reported by part 0 only."""
    from langmill.readers import BadRow

    status: dict = {}
    n = 0
    with _Stream(path) as stream:
        for record, body in _complete_records(stream, status):
            if record.rec_type not in DOCUMENT_RECORDS:
                continue
            n += 1
            if n % parts != part:
                continue
            record_id = record.rec_headers.get_header("WARC-Record-ID", "").strip("<>")
            url = record.rec_headers.get_header("WARC-Target-URI", "")
            where = f"{source}:{record_id or url or n}"
            text, bad = _page(record, body, url)
            yield n, where, BadRow(bad) if bad else (record_id or where, text, {"url": url})
    if status.get("broken") and part == 0:
        from loguru import logger

        detail = f"{source}: unreadable after WARC record {status['read']} ({status['broken']}); the rest of the file was not read"
        logger.warning(detail)
        yield n + 1, f"{source}:broken", BadRow(detail)
