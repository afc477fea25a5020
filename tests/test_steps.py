"""Normalisation, language ID, PII masking and input reading, on real components."""

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from langmill.filters.lid import LanguageFilter, default_lid_model
from langmill.languages import canonical_lang
from langmill.filters.normalize import Normalizer, normalize_text
from langmill.filters.pii import EMAIL_PLACEHOLDER, IP_PLACEHOLDER, mask_pii
from langmill.filters.base import DropBadRows
from langmill.readers import InputError, InputReader, resolve_inputs
from tests.conftest import shared_data, write_jsonl


# --- normalisation ---------------------------------------------------------------------------------


def test_normalize_repairs_mojibake_and_composes():
    broken = "TÃ¤mÃ¤ on pÃ¤ivÃ¤n uutinen."  # UTF-8 bytes read as cp1252
    assert normalize_text(broken) == "Tämä on päivän uutinen."
    decomposed = "Ta\u0308ma\u0308"  # NFD ä
    assert normalize_text(decomposed) == "Tämä"
    assert normalize_text("“Hyvä”, hän sanoi – ＡＢＣ") == "“Hyvä”, hän sanoi – ＡＢＣ"  # typography is not an error


def test_normalize_repairs_other_mojibake_kinds():
    assert normalize_text("â€œLainausâ€\x9d ja cafÃ© au lait") == "“Lainaus” ja café au lait"
    assert normalize_text("ÐŸÑ€Ð¸Ð²ÐµÑ‚, Ð¼Ð¸Ñ€") == "Привет, мир"
    assert normalize_text("VoilÃ  tout") == "Voilà tout"


def test_mojibake_gate_changes_nothing_on_real_text():
    """Skipping ftfy where no mojibake byte pair occurs gives what ftfy itself gives."""
    import gzip

    from langmill.filters.normalize import repair_mojibake

    texts = []
    for lang in ("fi", "eu", "et", "en-US"):
        with gzip.open(shared_data("text", "libreoffice-help", f"lo-help-7.4.7.{lang}.jsonl.gz"), "rt") as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(3000), f)]
    texts += shared_data("text", "lingua-sentences", "ru.txt").read_text().splitlines()[:500]
    texts += shared_data("text", "lingua-sentences", "yo.txt").read_text().splitlines()[:500]
    for text in texts:
        assert normalize_text(text) == normalize_text(repair_mojibake(text)), text


def test_normalize_folds_whitespace_and_removes_controls():
    text = "  Ensimmäinen\t\trivi  \r\n\r\n\r\n\n toinen\u200b rivi\x07 \n"
    assert normalize_text(text) == "Ensimmäinen rivi\n\ntoinen rivi"


def test_normalize_replaces_lone_surrogates():
    assert normalize_text("abc\ud800def") == "abc\ufffddef"


def test_normalizer_excludes_documents_empty_after_normalisation():
    step = Normalizer()
    docs = [Document(text=" \u200b\n\t ", id="blank"), Document(text="Hyvää päivää!", id="ok")]
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["ok"]
    assert docs[0].metadata == {"reason": "empty", "detail": "no text left after normalisation"}


# --- language ID -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label, code",
    [("__label__fi", "fi"), ("__label__fin_Latn", "fi"), ("__label__ekk_Latn", "et"), ("__label__swh_Latn", "sw"),
     ("eus", "eu"), ("FI", "fi"), ("__label__yue_Hant", "yue")],
)
def test_canonical_lang_maps_lid_labels(label, code):
    assert canonical_lang(label) == code


def test_language_filter_on_real_sentences():
    step = LanguageFilter("fi", threshold=0.65)
    lines = {lang: shared_data("text", "lingua-sentences", f"{lang}.txt").read_text().splitlines()[:200] for lang in ("fi", "et", "sv")}
    fi_kept = sum(step.check(Document(text=t, id=str(i))) is None for i, t in enumerate(lines["fi"]))
    assert fi_kept / len(lines["fi"]) >= 0.95
    for lang in ("et", "sv"):
        wrongly_kept = sum(step.check(Document(text=t, id=str(i))) is None for i, t in enumerate(lines[lang]))
        assert wrongly_kept / len(lines[lang]) <= 0.03


def test_language_filter_tags_and_explains():
    step = LanguageFilter("fin_Latn", threshold=0.65)
    fi = Document(text="Tänään satoi koko päivän, joten jäimme kotiin lukemaan kirjoja ja juomaan teetä.", id="fi")
    sv = Document(text="Idag regnade det hela dagen, så vi stannade hemma och läste böcker.", id="sv")
    assert step.check(fi) is None and fi.metadata["lang"] == "fi" and fi.metadata["lang_score"] > 0.9
    detail = step.check(sv)
    assert sv.metadata["lang"] == "sv" and detail.startswith("predicted sv")


def test_language_filter_accepts_another_model_path(tmp_path):
    copy = tmp_path / "my-lid.ftz"
    copy.write_bytes(open(default_lid_model(), "rb").read())
    step = LanguageFilter("eu", model_path=str(copy))
    assert step.predict("Gaur goizean euria egin du eta etxean geratu gara liburuak irakurtzen.")[0] == "eu"


def test_language_filter_pickles_without_model():
    import pickle

    step = LanguageFilter("fi")
    step.predict("Hyvää huomenta kaikille.")
    clone = pickle.loads(pickle.dumps(step))
    assert clone.backend._model is None and clone.predict("Hyvää huomenta kaikille.")[0] == "fi"


def _real_lines(path: str, start: int, n: int) -> list[str]:
    return shared_data("text", *path.split("/")).read_text(encoding="utf-8").splitlines()[start : start + n]


def _mixed_page() -> tuple[list[str], list[str]]:
    """A Finnish blog post (UD Finnish-TDT: H&M, The Garden Collection, showroom) with web lines
    around it and English and Swedish sentences (Leipzig) inside it: (lines, the foreign lines)."""
    fi = _real_lines("ud/fi_tdt-ud-dev.txt", 1, 4)
    en = _real_lines("lingua-sentences/en.txt", 0, 3)
    sv = _real_lines("lingua-sentences/sv.txt", 0, 1)
    foreign = [en[0], f"{en[1]} {en[2]}", sv[0]]
    lines = ["Etusivu", "Share on Facebook", fi[0], fi[1], foreign[0], fi[2], "12.5.2023",
             "https://www.example.com/products/english-language-page.html", foreign[1], foreign[2], fi[3]]
    return lines, foreign


def test_language_filter_drops_lines_in_other_languages():
    lines, foreign = _mixed_page()
    step = LanguageFilter("fi")  # lid.foreign_lines: drop is the default
    doc = Document(text="\n".join(lines), id="page")
    assert step.check(doc) is None
    # Finnish full of English names stays; lines under 20 letters (a date, a URL, "Share on
    # Facebook") are not classified and stay with the document.
    assert doc.text.split("\n") == [line for line in lines if line not in foreign]
    assert doc.metadata["foreign_line_count"] == 3 and doc.metadata["foreign_chars"] == sum(map(len, foreign))
    assert doc.metadata["foreign_share"] == round(sum(map(len, foreign)) / len("\n".join(lines)), 4)
    assert doc.metadata["lang"] == "fi" and doc.metadata["lang_score"] > 0.9
    assert step.stats["lines_dropped"].total == 3 and step.stats["chars_dropped"].total == sum(map(len, foreign))
    # Classifying short lines too drops the English navigation line, but not the date (no language).
    short_too = Document(text="\n".join(lines), id="page")
    assert LanguageFilter("fi", line_min_chars=0).check(short_too) is None
    assert "Share on Facebook" not in short_too.text and "12.5.2023" in short_too.text


def test_language_filter_marks_or_keeps_lines():
    lines, foreign = _mixed_page()
    keep, mark = LanguageFilter("fi", foreign_lines="keep"), LanguageFilter("fi", foreign_lines="mark")
    # As a whole the page is 48 % English and Swedish: language ID of the document alone drops it.
    assert keep.check(Document(text="\n".join(lines), id="whole")) == "fi score 0.55 < 0.65"
    text = "\n".join(line for line in lines if line != foreign[1])  # one English, one Swedish sentence left
    marked, kept = Document(text=text, id="m"), Document(text=text, id="k")
    assert mark.check(marked) is None and marked.text == text
    assert marked.metadata["foreign_line_count"] == 2
    assert marked.metadata["foreign_share"] == round((len(foreign[0]) + len(foreign[2])) / len(text), 4)
    assert mark.stats["lines_marked"].total == 2 and "lines_dropped" not in mark.stats.stats
    assert keep.check(kept) is None and kept.text == text and "foreign_share" not in kept.metadata
    with pytest.raises(ValueError, match="foreign_lines must be one of keep, drop, mark"):
        LanguageFilter("fi", foreign_lines="off")


def test_language_filter_decides_on_the_kept_lines():
    fi, en = _real_lines("ud/fi_tdt-ud-dev.txt", 1, 2), _real_lines("lingua-sentences/en.txt", 0, 3)
    step = LanguageFilter("fi")
    # Mostly English as a whole; its Finnish lines are kept.
    page = Document(text="\n".join(en + fi), id="en-page")
    assert step.predict(page.text)[0] == "en" and step.check(page) is None and page.text == "\n".join(fi)
    # Every line Estonian: excluded as such, with its text as it came.
    et = "\n".join(_real_lines("lingua-sentences/et.txt", 0, 3))
    all_et = Document(text=et, id="et")
    assert step.check(all_et) == "every line is in another language than fi (et 3)" and all_et.text == et
    assert all_et.metadata["lang"] == "et"
    # An Estonian forum post whose leftover lines look Finnish (0.72) is not kept for them.
    post = "\n".join(_real_lines("ud/et_ewt-ud-dev.txt", 165, 15))
    doc = Document(text=post, id="et-post")
    detail = step.check(doc)
    assert detail.startswith("predicted et (0.92); fi score 0.72 < 0.8 after dropping lines in other languages (et 11)"), detail
    assert doc.text == post and doc.metadata["lang"] == "et"


# --- PII -------------------------------------------------------------------------------------------


def test_mask_pii_emails_and_ips():
    text = ("Kirjoita osoitteeseen matti.virtanen@example.fi tai user+tag@mail.example.com. "
            "Palvelin 192.0.2.17 ja 2001:db8::1 vastaavat. Kello 12:30, versio 1.2.3.4.5, luku 3.14, 999.1.1.1.")
    masked, n_email, n_ip = mask_pii(text)
    assert (n_email, n_ip) == (2, 2)
    assert "example" not in masked and "192.0.2.17" not in masked and "2001:db8" not in masked
    assert masked.count(EMAIL_PLACEHOLDER) == 2 and masked.count(IP_PLACEHOLDER) == 2
    for untouched in ("12:30", "1.2.3.4.5", "3.14", "999.1.1.1"):
        assert untouched in masked


def test_mask_pii_can_be_switched_off():
    assert mask_pii("a@example.com 10.0.0.1", email=False, ip=False) == ("a@example.com 10.0.0.1", 0, 0)


# --- readers ---------------------------------------------------------------------------------------


def _read(files, **kwargs):
    excluded = []

    class Collect:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def write(self, doc, rank):
            excluded.append(doc)

    reader = InputReader([str(f) for f in files], **kwargs)
    return list(DropBadRows(exclusion_writer=Collect()).run(reader.run())), excluded


def test_reader_jsonl_bad_rows_are_excluded_with_reasons(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"id": "a", "text": "Hyv\xc3\xa4\xc3\xa4 p\xc3\xa4iv\xc3\xa4\xc3\xa4"}\n'
        b'{"id": "b", "text": "broken\n'
        b'{"id": "c", "text": "bad \xff\xfe bytes"}\n'
        b'{"id": "d", "body": "no text key"}\n'
        b'{"id": "e", "text": 42}\n'
        b'[1, 2]\n'
        b'\n'
        b'{"text": "no id here"}\n'
    )
    docs, excluded = _read([path])
    assert [d.id for d in docs] == ["a", "in.jsonl:8"]
    details = {d.id: d.metadata["detail"] for d in excluded}
    assert all(d.metadata["reason"] == "bad_row" for d in excluded)
    assert details["in.jsonl:2"].startswith("malformed JSON on line 2")
    assert details["in.jsonl:3"] == "invalid UTF-8 at byte 25 of line 3"
    assert details["in.jsonl:4"] == "missing text key 'text'"
    assert details["in.jsonl:5"] == "text key 'text' holds a int, not a string"
    assert details["in.jsonl:6"] == "row is a JSON list, not an object"


def test_reader_compressed_parquet_and_text_formats(tmp_path):
    import zstandard

    rows = [{"doc": f"teksti {i}", "key": f"k{i}"} for i in range(3)]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    pq.write_table(pa.table({"doc": ["parquet 1", "parquet 2"], "key": ["p1", "p2"]}), tmp_path / "c.parquet")
    (tmp_path / "d.txt").write_text("Ensimmäinen kappale.\n\nToinen kappale.\n\n\n")
    docs, excluded = _read(resolve_inputs([str(tmp_path)]), text_key="doc", id_key="key", split="paragraphs")
    assert not excluded
    assert [d.id for d in docs] == ["k0", "k1", "k2", "k0", "k1", "k2", "p1", "p2", "d.txt#1", "d.txt#2"]
    assert {d.metadata["source"] for d in docs} == {"a.jsonl.gz", "b.jsonl.zst", "c.parquet", "d.txt"}
    docs, _ = _read([tmp_path / "d.txt"])
    assert [d.text for d in docs] == ["Ensimmäinen kappale.\n\nToinen kappale.\n\n\n"]


def test_reader_warc_extracts_main_text(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    page = ("<html><head><title>Uutiset</title></head><body><nav>Etusivu | Uutiset</nav><article><p>"
            + "Kunnan kirjasto avaa ovensa taas maanantaina, kun remontti on valmis. " * 3
            + "</p><p>Lainaajat voivat palauttaa kirjat myös automaattiin.</p></article></body></html>")
    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i, (ctype, body) in enumerate((("text/html; charset=utf-8", page), ("image/png", "PNG"))):
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.0")
            record = writer.create_warc_record(f"https://example.fi/{i}", "response", payload=io.BytesIO(body.encode()), http_headers=headers)
            writer.write_record(record)
    docs, excluded = _read([path])
    assert len(docs) == 1 and [d.metadata["detail"] for d in excluded] == ["not an HTML page (Content-Type: image/png): https://example.fi/1"]
    assert "Kunnan kirjasto avaa ovensa" in docs[0].text and "<p>" not in docs[0].text
    assert docs[0].metadata["url"] == "https://example.fi/0" and docs[0].id.startswith("urn:uuid:")


def test_resolve_inputs_errors_name_the_path(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: no such file or directory"):
        resolve_inputs([str(tmp_path / "nope.jsonl")])
    with pytest.raises(InputError, match=r"\*.parquet: the pattern matches no file"):
        resolve_inputs([str(tmp_path / "*.parquet")])
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="x.csv: unsupported file type"):
        resolve_inputs([str(tmp_path / "x.csv")])
    write_jsonl(tmp_path / "y.jsonl", [{"text": "a"}])
    assert resolve_inputs([str(tmp_path / "y.jsonl"), str(tmp_path / "*.jsonl")]) == [str(tmp_path / "y.jsonl")]


def test_every_spelling_of_a_language_finds_its_settings():
    """One language-code parser everywhere: the quality settings, the filters and the CLI agree."""
    from langmill.config import load_quality_config
    from langmill.filters.quality import GopherQualityFilter

    fi, own = load_quality_config("fi")
    assert own
    for spelling in ("FI", "fin", "fin_Latn", "fi-FI", "__label__fin_Latn"):
        assert load_quality_config(spelling) == (fi, True), spelling
        assert canonical_lang(spelling) == "fi"
    flt = GopherQualityFilter.for_language("fin_Latn", min_doc_words=30)
    assert flt.stop_words and flt.config["min_doc_words"] == 30
    assert not GopherQualityFilter().stop_words  # the bare constructor: language-neutral defaults
