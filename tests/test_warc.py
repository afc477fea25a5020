"""WARC input of `langmill corpus` (langmill/warc.py), end to end through the real CLI.

The archives are written with warcio, as crawlers write them: a warcinfo record, a request before
every response, real Finnish text (../shared/data) in HTML pages served as UTF-8, as ISO-8859-1
(declared in the HTTP header or only in a <meta> tag) and without a Content-Type, plus a PDF.
"""

import gzip
import io

import polars as pl
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.conftest import read_out, run_langmill, shared_data

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def finnish_paragraphs() -> list[str]:
    """Real Finnish running text: blog and news sentences (UD Finnish-TDT), five to a paragraph."""
    sentences = [s for s in shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text(encoding="utf-8").splitlines() if s.endswith(".")]
    return [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences) - 4, 5)]


def udhr_preamble() -> list[str]:
    """The Finnish UDHR's first paragraphs: full of ä and ö, and all of it in ISO-8859-1."""
    return shared_data("text", "udhr", "udhr_fin.txt").read_text(encoding="utf-8").splitlines()[:4]


def html_page(title: str, paragraphs: list[str], head: str = "") -> str:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (f"<!DOCTYPE html>\n<html lang=\"fi\"><head>{head}<title>{title}</title></head>\n<body><nav><a href=\"/\">Etusivu</a> | "
            f"<a href=\"/uutiset\">Uutiset</a></nav>\n<article><h1>{title}</h1>\n{body}</article>\n<footer>© 2024</footer></body></html>\n")


def write_warc(path, pages: list[tuple[str, list[tuple[str, str]], bytes]]) -> None:
    """pages: (url, HTTP headers, body); each response follows its request, as crawlers write them."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=str(path).endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test crawler", "format": "WARC File Format 1.1"}))
        for url, headers, body in pages:
            request = StatusAndHeaders(f"GET /{url.split('/', 3)[-1]} HTTP/1.1", [("Host", "example.fi"), ("User-Agent", "test")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
            response = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=response))


def utf8_pages(paragraphs: list[str], n: int, site: str) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    return [(f"https://{site}/sivu/{i}", [("Content-Type", "text/html; charset=utf-8")],
             html_page(f"Sivu {i}", paragraphs[6 * i : 6 * i + 6]).encode("utf-8")) for i in range(n)]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """One run over a complete crawl and a truncated one (4 tasks: each file is read in 2 parts)."""
    tmp = tmp_path_factory.mktemp("warc")
    paragraphs = finnish_paragraphs()
    latin = html_page("Ihmisoikeuksien julistus", udhr_preamble())
    in_latin1 = [p for p in paragraphs[60:] if p == p.encode("latin-1", "ignore").decode("latin-1")][:6]
    meta_only = html_page("Sivu ilman otsaketta", in_latin1, head='<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">')
    pages = utf8_pages(paragraphs, 2, "example.fi") + [
        ("https://example.fi/julistus", [("Content-Type", "text/html; charset=ISO-8859-1")], latin.encode("latin-1")),
        ("https://example.fi/meta", [("Content-Type", "text/html")], meta_only.encode("latin-1")),
        ("https://example.fi/ilman-tyyppia", [("Server", "nginx")], html_page("Ilman tyyppiä", paragraphs[70:76]).encode("utf-8")),
        ("https://example.fi/esite.pdf", [("Content-Type", "application/pdf")], PDF),
    ]
    write_warc(tmp / "crawl.warc.gz", pages)
    # The tester's case: five pages, the file cut inside the last one.
    write_warc(tmp / "whole.warc.gz", utf8_pages(paragraphs[100:], 5, "uutiset.fi"))
    blob = (tmp / "whole.warc.gz").read_bytes()
    with open(tmp / "whole.warc.gz", "rb") as f:
        records = ArchiveIterator(f)
        last_page = [records.get_record_offset() for _ in records][-1]  # where the last response's gzip member starts
    (tmp / "cut.warc.gz").write_bytes(blob[: last_page + (len(blob) - last_page) // 2])
    out = tmp / "out"
    result = run_langmill("corpus", tmp / "crawl.warc.gz", tmp / "cut.warc.gz", "--lang", "fi", "--out", out, "--workers", "2", "--tasks", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    return (*read_out(out), result, {"latin": udhr_preamble(), "meta": in_latin1})


def test_every_page_is_counted_and_kept_with_its_url(crawl):
    kept, excluded, stats, _, _ = crawl
    assert stats["rows_in"] == kept.height + excluded.height == 6 + 5  # requests and warcinfo are not rows
    from_crawl = kept.filter(pl.col("source") == "crawl.warc.gz")
    assert sorted(from_crawl.get_column("url")) == sorted(
        ["https://example.fi/sivu/0", "https://example.fi/sivu/1", "https://example.fi/julistus", "https://example.fi/meta", "https://example.fi/ilman-tyyppia"]
    )
    assert from_crawl.get_column("id").str.starts_with("urn:uuid:").all()
    pdf = excluded.filter(pl.col("source") == "crawl.warc.gz")
    assert pdf.select("reason", "detail").rows() == [("bad_row", "not an HTML page (Content-Type: application/pdf): https://example.fi/esite.pdf")]


def test_pages_in_iso_8859_1_keep_their_letters(crawl):
    kept, _, _, _, texts = crawl
    by_url = dict(kept.select("url", "text").iter_rows())
    for url, paragraphs in (("https://example.fi/julistus", texts["latin"]), ("https://example.fi/meta", texts["meta"])):
        assert "\ufffd" not in by_url[url] and "Ã" not in by_url[url]
        assert paragraphs[0][:80] in by_url[url]
    assert "Kööpenhaminassa sijaitsevasta pohjoismaisesta" in by_url["https://example.fi/julistus"]


def test_a_truncated_warc_keeps_its_pages_and_reports_the_break_once(crawl):
    kept, excluded, _, result, _ = crawl
    assert sorted(kept.filter(pl.col("source") == "cut.warc.gz").get_column("url")) == [f"https://uutiset.fi/sivu/{i}" for i in range(4)]
    broken = excluded.filter(pl.col("source") == "cut.warc.gz")
    assert broken.get_column("reason").to_list() == ["bad_row"]  # one row, though two tasks read the file
    assert broken.get_column("detail")[0] == (
        "cut.warc.gz: unreadable after WARC record 10 (record 11 is cut off: the gzip stream ends early); the rest of the file was not read"
    )
    assert "cut.warc.gz: unreadable after WARC record 10" in result.stderr and "Traceback" not in result.stderr


def test_a_file_that_is_not_a_warc_is_refused_before_any_work(tmp_path):
    (tmp_path / "notes.warc").write_text("Tämä on tavallinen tekstitiedosto.\n", encoding="utf-8")
    (tmp_path / "page.warc.gz").write_bytes(gzip.compress(b"<html><body>Ei arkisto</body></html>"))
    for name, why in (("notes.warc", "the data starts with b'T\\xc3\\xa4m\\xc3\\xa4 on"), ("page.warc.gz", "the gzip-compressed data starts with b'<html>")):
        result = run_langmill("corpus", tmp_path / name, "--lang", "fi", "--out", tmp_path / "out")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith(f"langmill: error: {tmp_path / name}: not a WARC file ({why}"), line
        assert not (tmp_path / "out" / "data").exists()
