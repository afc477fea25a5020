"""`langmill corpus` end to end: real fastText, real datatrove executors, real Parquet, the Rust core."""

import json
import re

import numpy as np
import polars as pl
import pytest

import langmill
from tests.conftest import SAMPLE_DIR, kill_langmill_when, read_out, run_langmill, shared_data, write_jsonl



def ids_of(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("id").to_list() if frame.height else []


def assert_accounted(kept, excluded, stats, rows_in=None):
    assert stats["rows_in_equals_kept_plus_excluded"]
    assert stats["kept"] == kept.height and stats["excluded"] == excluded.height
    assert stats["rows_in"] == kept.height + excluded.height
    if rows_in is not None:
        assert stats["rows_in"] == rows_in
    all_ids = ids_of(kept) + ids_of(excluded)
    assert len(all_ids) == len(set(all_ids)), "a row appears twice"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "out"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def manifest() -> dict:
    return json.loads((SAMPLE_DIR / "manifest.json").read_text())


def test_sample_run_keeps_good_finnish_and_drops_the_rest(sample_run):
    out, result = sample_run
    MANIFEST = manifest()
    kept, excluded, stats = read_out(out)
    n_rows = sum(1 for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip())
    assert_accounted(kept, excluded, stats, rows_in=n_rows)
    assert set(kept.get_column("lang")) == {"fi"}
    assert kept.columns[:5] == ["id", "text", "lang", "lang_score", "source"]
    assert set(excluded.columns) >= {"id", "text", "reason", "detail"}

    kept_ids = set(ids_of(kept))
    good_fi = {i for i, m in MANIFEST.items() if m["lang"] == "fi" and m["kind"] in ("good", "pii")}
    assert len(good_fi & kept_ids) >= 0.95 * len(good_fi), sorted(good_fi - kept_ids)
    # Nothing that is not Finnish survives; every other-language row is dropped by language ID.
    for doc_id, meta in MANIFEST.items():
        if meta["lang"] != "fi":
            assert doc_id not in kept_ids, doc_id
    reasons = dict(zip(ids_of(excluded), excluded.get_column("reason")))
    details = dict(zip(ids_of(excluded), excluded.get_column("detail")))
    for doc_id, meta in MANIFEST.items():
        if meta["lang"] != "fi" and meta["kind"] in ("good", "other_lang"):
            assert reasons[doc_id] == "lid", doc_id
        if meta["kind"] == "junk" and meta["lang"] == "fi":
            assert reasons[doc_id] in {"empty", "lid", "gopher_repetition", "gopher_quality", "c4", "fineweb_quality"}, doc_id
        if meta["kind"] in ("exact_dup", "near_dup") and meta["lang"] == "fi":
            # A duplicate of a kept Finnish document is dropped and points at the kept one.
            assert reasons[doc_id] == meta["kind"], doc_id
            assert details[doc_id] == meta["of"], doc_id
    sizes = dict(zip(ids_of(kept), kept.get_column("minhash_cluster_size")))
    for doc_id, meta in MANIFEST.items():
        if meta["kind"] in ("exact_dup", "near_dup") and meta["lang"] == "fi":
            assert sizes[meta["of"]] >= 2


def test_sample_run_masks_pii(sample_run):
    out, _ = sample_run
    kept, _, stats = read_out(out)
    texts = dict(zip(ids_of(kept), kept.get_column("text")))
    pii_docs = {i: m for i, m in manifest().items() if m["kind"] == "pii"}
    assert pii_docs
    planted = 0
    for doc_id, meta in pii_docs.items():
        for secret in meta["pii"]:
            planted += 1
            assert secret not in texts[doc_id]
        assert "<EMAIL>" in texts[doc_id] or "<IP_ADDRESS>" in texts[doc_id]
    assert stats["pii_masked"]["email"] + stats["pii_masked"]["ip"] == planted


def test_sample_run_writes_report_stats_and_logs(sample_run):
    out, result = sample_run
    stats = json.loads((out / "stats.json").read_text())
    assert stats["funnel"][0]["in"] == stats["rows_in"] and stats["funnel"][-1]["out"] == stats["kept"]
    assert stats["languages_seen"]["fi"] >= 30 and {"eu", "et", "en"} <= set(stats["languages_seen"])
    assert sum(stats["length_histogram"]["kept"]) == stats["kept"]
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 3 and "lid" in html and "near_dup" in html
    assert (out / "logs" / "filter" / "completions" / "00000").exists()
    assert str(out / "report.html") in result.stdout
    # Row groups stay under 100k rows and the shards are zstd-compressed.
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(next((out / "data").glob("*.parquet"))).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_report_shows_the_drops_closest_to_each_threshold(sample_run):
    out, _ = sample_run
    stats = json.loads((out / "stats.json").read_text())
    near = stats["near_threshold"]
    # the SEO page and the 3-word page both fail fi's calibrated top 2-gram share (repetition runs first)
    assert len(near["gopher_repetition: top_2gram_char_frac"]) >= 2 and all(len(found) <= 3 for found in near.values())
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    for rule, found in near.items():
        reason, stat = rule.split(": ")
        distance = [abs(e["value"] - e["threshold"]) / abs(e["threshold"]) for e in found]
        assert distance == sorted(distance)  # nearest first
        # no other row this rule dropped is nearer to the threshold than the ones shown
        details = excluded.filter((pl.col("reason") == reason) & pl.col("detail").str.starts_with(f"{stat}="))["detail"].to_list()
        # each detail against its own threshold: a by_length bucket ("(<=40 words)") has its own
        pairs = [re.match(r"[\w.]+=([-\d.e+]+)[<>]=?([-\d.e+]+)", d).groups() for d in details]
        assert min(abs(float(v) - float(t)) / abs(float(t)) for v, t in pairs) == pytest.approx(distance[0])
        assert all(e["text"] for e in found)  # the row's start, to look at
    assert "Dropped closest to each rule&#x27;s threshold" in (out / "report.html").read_text() or \
        "Dropped closest to each rule's threshold" in (out / "report.html").read_text()


def test_rerun_of_finished_job_changes_nothing(sample_run):
    out, _ = sample_run
    before = read_out(out)
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    after = read_out(out)
    assert before[0].equals(after[0]) and sorted(ids_of(before[1])) == sorted(ids_of(after[1]))
    other = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "et", "--out", out)
    assert other.returncode == 2 and "holds a run with other inputs or settings" in other.stderr


def test_killed_run_resumes_to_the_same_output(tmp_path):
    # Eight input files -> eight tasks run one after another; kill after the first task finished.
    lines = (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(8):
        rows = [json.loads(line) for line in lines if line.strip()]
        for row in rows:
            row["id"] = f"{k}-{row['id']}"
        write_jsonl(inputs / f"part{k}.jsonl", rows)
    args = ["corpus", inputs, "--lang", "fi", "--tasks", "8", "--workers", "1"]
    reference = run_langmill(*args, "--out", tmp_path / "ref")
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = tmp_path / "out"
    first_done = out / "logs" / "filter" / "completions" / "00000"
    kill_langmill_when(first_done, *args, "--out", out, timeout=120)
    assert first_done.exists() and not (out / "logs" / "filter" / "completions" / "00007").exists(), "the kill came too late to test resuming"

    resumed = run_langmill(*args, "--out", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming" in resumed.stderr
    kept, excluded, stats = read_out(out)
    ref_kept, ref_excluded, ref_stats = read_out(tmp_path / "ref")
    assert_accounted(kept, excluded, stats, rows_in=8 * len([l for l in lines if l.strip()]))
    assert kept.sort("id").equals(ref_kept.sort("id"))
    assert sorted(zip(ids_of(excluded), excluded.get_column("reason"))) == sorted(zip(ids_of(ref_excluded), ref_excluded.get_column("reason")))
    # Copies of the same document in other files are duplicates of the first file's copy.
    assert all(i.startswith("0-") for i in ids_of(kept))


def test_bad_input_never_crashes(tmp_path):
    good = ("Kirjaston uusi lukusali avattiin maanantaina, ja kävijöitä oli heti aamusta asti paljon. "
            "Moni tuli katsomaan uusia tuoleja ja isoja ikkunoita, joista näkyy suoraan järvelle. "
            "Kirjastonhoitajan mukaan tilaa on nyt kaksi kertaa enemmän kuin ennen remonttia. "
            "Illalla salissa pidettiin lukupiiri, johon osallistui yli kaksikymmentä ihmistä.")
    big_paragraph = " ".join(f"Kappale {i} kertoo kaupungin historiasta ja sen asukkaiden arjesta eri vuosikymmeninä." for i in range(120))
    huge = "\n\n".join(big_paragraph.replace("Kappale", f"Luku {j} kappale") for j in range(900))  # ~10 MB
    assert len(huge.encode()) > 10_000_000
    path = tmp_path / "bad.jsonl"
    with open(path, "wb") as f:
        f.write(json.dumps({"id": "ok", "text": good}, ensure_ascii=False).encode() + b"\n")
        f.write(b'{"id": "broken", "text": "no closing quote}\n')
        f.write(b'{"id": "latin1", "text": "p\xe4iv\xe4"}\n')
        f.write(b'{"id": "notext", "body": "x"}\n')
        f.write(json.dumps({"id": "blank", "text": " \n\t "}).encode() + b"\n")
        f.write(json.dumps({"id": "huge", "text": huge}, ensure_ascii=False).encode() + b"\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    out = tmp_path / "out"
    result = run_langmill("corpus", path, tmp_path / "empty.jsonl", "--lang", "fi", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    kept, excluded, stats = read_out(out)
    assert_accounted(kept, excluded, stats, rows_in=6)
    reasons = dict(zip(ids_of(excluded), excluded.get_column("reason")))
    assert reasons["bad.jsonl:2"] == reasons["bad.jsonl:3"] == reasons["bad.jsonl:4"] == "bad_row"
    assert reasons["blank"] == "empty"
    assert "ok" in ids_of(kept)


@pytest.mark.parametrize(
    "args, message",
    [
        (["/no/such/file.jsonl", "--lang", "fi", "--out", "OUT"], "/no/such/file.jsonl: no such file or directory"),
        (["IN", "--out", "OUT"], "--lang is required (e.g. --lang fi)"),
        (["IN", "--lang", "fi", "--out", "OUT", "--lid-model", "/no/model.bin"], "/no/model.bin: language-ID model not found"),
        (["IN", "--lang", "fi", "--out", "OUT", "--config", "/no/cfg.yaml"], "/no/cfg.yaml: no such config file"),
    ],
)
def test_unusable_arguments_give_one_line_errors(tmp_path, args, message):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "Hei maailma."}])
    args = [str(tmp_path / "in.jsonl") if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = run_langmill("corpus", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == f"langmill: error: {message}"


def test_parquet_without_text_column_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "x.parquet")
    result = run_langmill("corpus", tmp_path / "x.parquet", "--lang", "fi", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip() == f"langmill: error: {tmp_path / 'x.parquet'}: no column 'text' (columns: body); pass --text-key"


def test_help_and_print_config():
    top = run_langmill("--help")
    assert top.returncode == 0 and "corpus" in top.stdout
    help_text = run_langmill("corpus", "--help").stdout
    for option in ("--lang", "--lid-model", "--lid-threshold", "--config", "--print-config", "--workers", "--executor", "--split", "--text-key", "--id-key"):
        assert option in help_text
    cfg = run_langmill("corpus", "--lang", "fi", "--print-config", "--lid-threshold", "0.8")
    assert cfg.returncode == 0
    import yaml

    parsed = yaml.safe_load(cfg.stdout)
    assert parsed["lid"]["threshold"] == 0.8 and parsed["dedup"]["bands"] == 14
    assert "ja" in parsed["gopher_quality"]["stop_words"]


def test_config_file_overrides_and_unknown_language_warns(tmp_path):
    (tmp_path / "cfg.yaml").write_text("dedup:\n  bands: 10\ngopher_quality:\n  enabled: false\n")
    cfg = run_langmill("corpus", "--lang", "xx", "--print-config", "--config", tmp_path / "cfg.yaml")
    import yaml

    parsed = yaml.safe_load(cfg.stdout)
    assert parsed["dedup"]["bands"] == 10 and parsed["dedup"]["rows"] == 8 and parsed["gopher_quality"]["enabled"] is False
    write_jsonl(tmp_path / "in.jsonl", [{"text": "Hello world, this is a sentence in English that is long enough."}])
    # Breton: LID knows it, langmill has no settings file, FineWeb-2 has settings: those, and the run says so
    result = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "br", "--out", tmp_path / "out")
    assert result.returncode == 0
    assert "langmill: profile fineweb2 (bre_Latn): used because langmill has no settings file for this language" in result.stderr
    assert json.loads((tmp_path / "out" / "logs" / "job.json").read_text())["profile"] == "fineweb2 (bre_Latn)"
    # Hindi: FineWeb-2 has two scripts; the user is told to choose, the run goes on with neutral defaults
    hindi = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "hi", "--out", tmp_path / "out-hi")
    assert hindi.returncode == 0 and "hin_Deva, hin_Latn" in hindi.stderr and "no quality settings for 'hi'" in hindi.stderr
    # a settings file of one's own (langmill calibrate's) for such a language: the run names it
    own = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "hi", "--config", tmp_path / "cfg.yaml", "--out", tmp_path / "out-hi2")
    assert own.returncode == 0 and "using your --config over language-neutral defaults" in own.stderr
    refused = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "xx", "--out", tmp_path / "out2")
    assert refused.returncode == 2 and "--lang xx: the language-ID model lid.176.ftz does not know this language" in refused.stderr
    assert not (tmp_path / "out2").exists()


def test_real_finnish_mixed_with_other_languages_duplicates_and_junk(tmp_path):
    """The acceptance check on real text: Finnish kept, everything else and every duplicate dropped."""
    # Documents of 15 consecutive sentences, one per line, in document order (UD TDT: news, blogs,
    # Wikipedia); FTB is left out because it is a list of grammar examples, not prose.
    rows, good_fi = [], []
    lines = shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text().splitlines()
    for k in range(0, len(lines) - 15, 15):
        good_fi.append(f"fi-{k}")
        rows.append({"id": f"fi-{k}", "text": "\n".join(lines[k : k + 15])})
    udhr = shared_data("text", "udhr", "udhr_fin.txt").read_text().splitlines()
    for k in range(0, len(udhr) - 10, 10):
        good_fi.append(f"fi-udhr-{k}")
        rows.append({"id": f"fi-udhr-{k}", "text": "\n".join(udhr[k : k + 10])})
    for name, lang in (("et_ewt-ud-dev.txt", "et"), ("eu_bdt-ud-dev.txt", "eu"), ("is_modern-ud-dev.txt", "is")):
        lines = shared_data("text", "ud", name).read_text().splitlines()
        rows += [{"id": f"{lang}-{k}", "text": "\n".join(lines[k : k + 15])} for k in range(0, 600, 15)]
    for lang in ("sv", "de", "en"):
        lines = shared_data("text", "lingua-sentences", f"{lang}.txt").read_text().splitlines()
        rows += [{"id": f"{lang}-{k}", "text": " ".join(lines[k : k + 8])} for k in range(0, 200, 8)]
    rng = np.random.default_rng(0)
    originals = [r for r in rows if r["id"] in set(good_fi)]
    for n, k in enumerate(rng.choice(len(originals), 40, replace=False)):
        text = originals[k]["text"]
        if n % 2:
            rows.append({"id": f"exact-{n}", "text": text.upper()})
        else:  # one word replaced, line structure kept
            words = text.split(" ")
            j = int(rng.integers(len(words)))
            words[j] = "muutettu" + ("\n" if "\n" in words[j] else "")
            rows.append({"id": f"near-{n}", "text": " ".join(words)})
    junk = ["Etusivu\nUutiset\nYhteystiedot\nKirjaudu", "osta halpa osta halpa " * 40, "#tarjous #ale #halpa €€€ !!! " * 20, "lorem ipsum dolor sit amet " * 10]
    rows += [{"id": f"junk-{i}", "text": t} for i, t in enumerate(junk)]
    write_jsonl(tmp_path / "mixed.jsonl", rows)

    out = tmp_path / "out"
    result = run_langmill("corpus", tmp_path / "mixed.jsonl", "--lang", "fi", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    kept, excluded, stats = read_out(out)
    assert_accounted(kept, excluded, stats, rows_in=len(rows))
    kept_ids = set(ids_of(kept))
    assert all(i.startswith("fi-") for i in kept_ids), sorted(i for i in kept_ids if not i.startswith("fi-"))[:10]
    keep_rate = len(kept_ids & set(good_fi)) / len(good_fi)
    assert keep_rate >= 0.9, f"kept only {keep_rate:.1%} of well-formed Finnish documents"
    sigs = langmill.minhash_signatures(kept.get_column("text").to_list())
    valid = sigs[:, 0] != np.iinfo(np.uint32).max
    sigs = sigs[valid]
    for a in range(len(sigs) - 1):
        similar = (sigs[a + 1 :] == sigs[a]).mean(axis=1)
        assert similar.max() < 0.8, "two kept documents have estimated Jaccard >= 0.8"



def test_ray_executor_gives_the_same_output_as_local(sample_run, tmp_path):
    out = tmp_path / "ray"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out, "--workers", "2", "--executor", "ray")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.stderr.splitlines()) <= 5, result.stderr  # Ray's and datatrove's logs stay in their files
    local_kept, local_excluded, _ = read_out(sample_run[0])
    kept, excluded, stats = read_out(out)
    assert_accounted(kept, excluded, stats)
    assert kept.sort("id").equals(local_kept.sort("id"))
    assert sorted(zip(ids_of(excluded), excluded.get_column("reason"))) == sorted(zip(ids_of(local_excluded), local_excluded.get_column("reason")))


def test_slurm_executor_takes_its_options_from_the_config(tmp_path):
    from langmill.config import load_config
    from langmill.pipelines.corpus import STAGES, CorpusJob, build_executors

    (tmp_path / "slurm.yaml").write_text("executor:\n  slurm:\n    partition: cpu\n    time: '02:00:00'\n    mem_per_cpu_gb: 4\n")
    settings, _ = load_config("fi", str(tmp_path / "slurm.yaml"))
    job = CorpusJob(files=[str(SAMPLE_DIR / "corpus.jsonl")], lang="fi", out=str(tmp_path / "out"), settings=settings, tasks=4, workers=2, executor="slurm")
    executors = build_executors(job)
    assert [e.job_name for e in executors] == [f"langmill-{s}" for s in STAGES]
    assert [e.world_size for e in executors] == [4, 1, 1, 4, 1]  # filter, buckets (K=1 for a small input), clusters, apply, report
    assert all(e.partition == "cpu" and e.time == "02:00:00" and e.mem_per_cpu_gb == 4 for e in executors)
    assert all(later.depends is earlier for earlier, later in zip(executors, executors[1:]))
    script = executors[0].get_launch_file_contents(executors[0].get_sbatch_args(4), "launch_pickled_pipeline executor.pik")
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --array=0-3" in script
    write_jsonl(tmp_path / "in.jsonl", [{"text": "Hei."}])
    result = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "fi", "--out", tmp_path / "o", "--executor", "slurm")
    assert result.returncode == 2 and result.stderr.strip() == "langmill: error: --executor slurm needs executor.slurm.partition in a --config file"


def test_mixed_formats_directories_and_globs(tmp_path):
    """Parquet with other keys, zstd JSONL, text split into paragraphs and a WARC, in one run."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rows = [json.loads(line) for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip()]
    fi_good = [r for r in rows if manifest()[r["id"]]["kind"] == "good" and manifest()[r["id"]]["lang"] == "fi"]
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"body": [r["text"] for r in fi_good[:5]], "key": [r["id"] for r in fi_good[:5]]}), tmp_path / "in" / "a.parquet")
    zst = "".join(json.dumps({"body": r["text"], "key": r["id"]}, ensure_ascii=False) + "\n" for r in fi_good[5:10])
    (tmp_path / "in" / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(zst.encode()))
    html = "<html><body><article>" + "".join(f"<p>{p}</p>" for p in fi_good[10]["text"].split("\n\n")) + "</article></body></html>"
    with open(tmp_path / "crawl.warc.gz", "wb") as f:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.0")
        WARCWriter(f, gzip=True).write_record(
            WARCWriter(f, gzip=True).create_warc_record("https://example.fi/a", "response", payload=io.BytesIO(html.encode()), http_headers=headers)
        )
    out = tmp_path / "out"
    result = run_langmill("corpus", tmp_path / "in", tmp_path / "*.warc.gz", SAMPLE_DIR / "txt" / "fi_paragraphs.txt",
                          "--split", "paragraphs", "--text-key", "body", "--id-key", "key", "--lang", "fi", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    kept, excluded, stats = read_out(out)
    assert_accounted(kept, excluded, stats, rows_in=5 + 5 + 1 + 5)
    kept_ids = set(ids_of(kept))
    assert {r["id"] for r in fi_good[:10]} <= kept_ids  # ids kept from the key column
    # Generated ids are the path relative to the inputs' common folder, plus the paragraph number.
    paragraph_ids = sorted(i for i in kept_ids | set(ids_of(excluded)) if "fi_paragraphs.txt#" in i)
    assert [i.rsplit("#", 1)[1] for i in paragraph_ids] == ["1", "2", "3", "4", "5"]
    assert all(i.endswith(f"langmill/sample_data/txt/fi_paragraphs.txt#{n}") for n, i in enumerate(paragraph_ids, 1))
    warc_rows = kept.filter(pl.col("source").str.ends_with("crawl.warc.gz"))
    assert warc_rows.height == 1 and fi_good[10]["text"].split("\n\n")[0][:60] in warc_rows.get_column("text")[0]


def test_truncated_archive_keeps_its_rows_and_reports_the_break(tmp_path):
    import gzip

    rows = [json.loads(line) for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip()]
    blob = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(blob[: len(blob) * 2 // 3])
    result = run_langmill("corpus", tmp_path / "cut.jsonl.gz", "--lang", "fi", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "cut.jsonl.gz: unreadable after row" in result.stderr
    kept, excluded, stats = read_out(tmp_path / "out")
    assert_accounted(kept, excluded, stats)
    broken = excluded.filter(pl.col("id") == "cut.jsonl.gz:unreadable-0")
    assert broken.get_column("reason").to_list() == ["bad_row"]
    assert "EOFError" in broken.get_column("detail")[0]
    assert stats["rows_in"] > 20  # the rows before the break were read


def test_slurm_tasks_run_the_pickled_pipeline_like_local(sample_run, tmp_path, monkeypatch):
    """What each Slurm array task does (load the dill-pickled executor, run its rank), without sbatch."""
    import dill

    from langmill.config import load_config
    from langmill.pipelines.corpus import CorpusJob, build_executors

    settings, _ = load_config("fi")
    settings.executor.slurm["partition"] = "cpu"
    job = CorpusJob(files=[str(SAMPLE_DIR / "corpus.jsonl")], lang="fi", out=str(tmp_path / "out"), settings=settings, tasks=2, workers=2, executor="slurm")
    # Set by Slurm in every job; `scontrol` (which expands it) exists only on a cluster.
    monkeypatch.setenv("SLURM_NODELIST", "localhost")
    monkeypatch.setattr("datatrove.executor.slurm.expand_slurm_nodelist", lambda nodelist: [nodelist])
    for executor in build_executors(job):
        executor.depends = None  # Slurm enforces the order; here the loop does
        with executor.logging_dir.open("ranks_to_run.json", "w") as f:
            json.dump(list(range(executor.world_size)), f)
        pickled = dill.dumps(executor)
        for task in range(executor.world_size):
            monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
            dill.loads(pickled).run()
    kept, excluded, stats = read_out(tmp_path / "out")
    local_kept, local_excluded, _ = read_out(sample_run[0])
    assert_accounted(kept, excluded, stats)
    assert kept.sort("id").equals(local_kept.sort("id"))
    assert sorted(ids_of(excluded)) == sorted(ids_of(local_excluded))


def test_lines_in_other_languages_are_dropped_or_marked(tmp_path):
    """lid.foreign_lines on real text: a Finnish blog post (UD Finnish-TDT) with English and Swedish
    sentences (Leipzig) between its lines, and an Estonian forum post whose leftovers look Finnish."""
    fi = shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text(encoding="utf-8").splitlines()[1:13]
    en = shared_data("text", "lingua-sentences", "en.txt").read_text(encoding="utf-8").splitlines()[:3]
    sv = shared_data("text", "lingua-sentences", "sv.txt").read_text(encoding="utf-8").splitlines()[:1]
    et = shared_data("text", "ud", "et_ewt-ud-dev.txt").read_text(encoding="utf-8").splitlines()[165:180]
    foreign = [en[0], f"{en[1]} {en[2]}", sv[0]]
    page = fi[:3] + [foreign[0]] + fi[3:7] + foreign[1:] + fi[7:]
    write_jsonl(tmp_path / "in.jsonl", [{"id": "blog", "text": "\n".join(page)}, {"id": "et-post", "text": "\n".join(et)}])
    (tmp_path / "mark.yaml").write_text("lid:\n  foreign_lines: mark\n")
    printed = run_langmill("corpus", "--lang", "fi", "--print-config", "--config", tmp_path / "mark.yaml").stdout
    assert "  foreign_lines: mark\n  line_threshold: 0.65\n  line_min_chars: 20\n" in printed

    runs = {}
    for mode, extra in (("drop", []), ("mark", ["--config", tmp_path / "mark.yaml"])):
        result = run_langmill("corpus", tmp_path / "in.jsonl", "--lang", "fi", "--out", tmp_path / mode, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[mode] = read_out(tmp_path / mode)
    share = round(sum(map(len, foreign)) / len("\n".join(page)), 4)
    for mode, (kept, excluded, stats) in runs.items():
        assert_accounted(kept, excluded, stats, rows_in=2)
        assert ids_of(kept) == ["blog"] and kept.get_column("foreign_share")[0] == pytest.approx(share, abs=1e-4)
        assert excluded.get_column("text")[0] == "\n".join(et)
    assert runs["drop"][1].get_column("detail")[0].startswith("predicted et (0.92); fi score 0.72 < 0.8 after dropping")
    assert runs["mark"][1].get_column("detail")[0] == "predicted et (0.92), not fi"
    kept, _, stats = runs["drop"]  # the default
    assert kept.get_column("text")[0] == "\n".join(fi)
    assert stats["lid_foreign_lines"] == {"lines_dropped": 3, "chars_dropped": sum(map(len, foreign)), "lines_marked": 0, "chars_marked": 0}
    kept, _, stats = runs["mark"]
    assert kept.get_column("text")[0] == "\n".join(page)
    assert stats["lid_foreign_lines"]["lines_marked"] == 3 and stats["lid_foreign_lines"]["lines_dropped"] == 0
