"""`langmill calibrate` on real Finnish text (../shared/data): UD dev treebanks (consecutive sentences
grouped into documents of 5-15), UDHR paragraphs and translated LibreOffice help pages. Calibrated on
one half, the written settings run through the real `langmill corpus` on the other half, whose
false drop must stay within the budget's interval. Real fastText, real Rust kernels, the real CLI."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
import yaml

from conftest import read_out, run_langmill, shared_data, write_jsonl
from langmill.calibrate import calibrate, drops, simulate
from langmill.evalstats import wilson_interval

BUDGET = 0.03


def ud_documents(path, seed: int = 0) -> list[str]:
    """Consecutive sentences (document order) grouped into documents of 5-15 sentences."""
    sentences = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rnd, docs, i = random.Random(seed), [], 0
    while i < len(sentences):
        k = rnd.randint(5, 15)
        docs.append(" ".join(sentences[i : i + k]))
        i += k
    return docs


def udhr_documents(path, per_doc: int = 4) -> list[str]:
    paragraphs = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ["\n\n".join(paragraphs[i : i + per_doc]) for i in range(0, len(paragraphs), per_doc)]


def libreoffice_documents(lang: str, limit: int = 1500) -> list[str]:
    """Help pages of translated paragraphs (those still in English left out), three paragraphs or more."""
    folder = shared_data("text", "libreoffice-help")
    with gzip.open(folder / "lo-help-7.4.7.en-US.jsonl.gz", "rt", encoding="utf-8") as f:
        english = {json.loads(line)["text"] for line in f}
    pages: dict[str, list[str]] = {}
    with gzip.open(folder / f"lo-help-7.4.7.{lang}.jsonl.gz", "rt", encoding="utf-8") as f:
        for row in map(json.loads, f):
            if row["text"] not in english:
                pages.setdefault(row["file"], []).append(row["text"])
    docs = ["\n".join(p) for p in pages.values() if len(p) >= 3]
    return random.Random(1).sample(docs, min(limit, len(docs)))


@pytest.fixture(scope="module")
def finnish_halves():
    docs = ud_documents(shared_data("text", "ud", "fi_tdt-ud-dev.txt")) + ud_documents(shared_data("text", "ud", "fi_ftb-ud-dev.txt"))
    docs += udhr_documents(shared_data("text", "udhr", "udhr_fin.txt")) + libreoffice_documents("fi")
    random.Random(7).shuffle(docs)
    return docs[::2], docs[1::2]


@pytest.fixture(scope="module")
def calibrated(finnish_halves, tmp_path_factory):
    """`langmill calibrate` on the first half: (folder, settings file, the run's output)."""
    folder = tmp_path_factory.mktemp("calibrate")
    ref = write_jsonl(folder / "reference.jsonl", [{"text": t} for t in finnish_halves[0]])
    out = folder / "fi.yaml"
    result = run_langmill("calibrate", ref, "--lang", "fi", "--out", out, "--budget", BUDGET)
    assert result.returncode == 0, result.stderr
    return folder, out, result


def test_held_out_false_drop_within_budget(calibrated, finnish_halves):
    folder, settings, _ = calibrated
    held_out = write_jsonl(folder / "held_out.jsonl", [{"text": t} for t in finnish_halves[1]])
    out = folder / "corpus"
    result = run_langmill("corpus", held_out, "--lang", "fi", "--config", settings, "--out", out)
    assert result.returncode == 0, result.stderr
    _, excluded, stats = read_out(out)
    n = stats["rows_in"]
    assert n == len(finnish_halves[1])
    # Duplicates are not false drops of a filter (LibreOffice repeats pages); everything else is.
    dropped = excluded.filter(~excluded["reason"].is_in(["exact_dup", "near_dup"])).height
    lo, hi = wilson_interval(dropped, n)
    assert lo <= BUDGET, f"held-out false drop {dropped}/{n} = {dropped / n:.2%} [{lo:.2%}, {hi:.2%}] is above the budget {BUDGET:.0%}"


def test_settings_file_loads_in_corpus(calibrated):
    _, settings, result = calibrated
    data = yaml.safe_load(settings.read_text(encoding="utf-8"))
    printed = run_langmill("corpus", "--print-config", "--lang", "fi", "--config", settings)
    assert printed.returncode == 0, printed.stderr
    merged = yaml.safe_load(printed.stdout)
    assert merged["gopher_quality"]["min_alpha_words_ratio"] == data["gopher_quality"]["min_alpha_words_ratio"]
    assert merged["lid"]["threshold"] == data["lid"]["threshold"]
    header = settings.read_text(encoding="utf-8").split("\n", 12)[:12]
    assert any("reference.jsonl (" in line and "bytes)" in line for line in header)  # provenance: the input and its size
    assert any("Budget: at most 3.0%" in line for line in header)
    assert "joint (the real filters, all rules)" in result.stdout


def test_finnish_stop_words_from_frequency(calibrated):
    _, settings, _ = calibrated
    stop_words = yaml.safe_load(settings.read_text(encoding="utf-8"))["gopher_quality"]["stop_words"]
    assert {"ja", "on", "ei"} <= set(stop_words)
    assert len(stop_words) >= 8
    assert all(isinstance(w, str) for w in stop_words)  # "on" stays a string, not YAML's boolean


def test_predicted_drops_are_the_filters_drops(finnish_halves):
    """The per-rule statistics calibrate reads (RULES over the kernels' columns) drop exactly the
    documents the real LID step and filters drop with the calibrated settings."""
    cal, meas = calibrate(finnish_halves[0][:300], "fi", budget=BUDGET, keep_measurements=True)
    union = np.zeros(meas.n, dtype=bool)
    for res in cal.results:
        if res.rule.name in meas.values and not (res.rule.kind == "flag" and res.rule.key == "enabled"):
            union |= drops(meas.values[res.rule.name], res.rule.kind, res.threshold)
    union |= meas.always | meas.lid_dropped
    reasons = simulate(meas, "fi", cal.lid, cal.config)
    assert [r is not None for r in reasons] == union.tolist()
    assert cal.joint_dropped <= BUDGET * cal.n


def test_small_reference_warns(finnish_halves, tmp_path):
    ref = write_jsonl(tmp_path / "tiny.jsonl", [{"text": t} for t in finnish_halves[0][:25]])
    result = run_langmill("calibrate", ref, "--lang", "fi", "--out", tmp_path / "fi.yaml")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "unreliable" in line]
    assert warnings and all("documents would give 40" in line for line in warnings)


@pytest.mark.parametrize("case", ["empty", "unknown_language", "unreadable"])
def test_one_line_errors(case, tmp_path, finnish_halves):
    good = write_jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in finnish_halves[0][:5]])
    if case == "empty":
        (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
        args, expected = [tmp_path / "empty.jsonl", "--lang", "fi"], "no text in the reference"
    elif case == "unknown_language":
        args, expected = [good, "--lang", "xq"], "does not know this language"
    else:
        (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
        args, expected = [tmp_path / "broken.parquet", "--lang", "fi"], "not a readable Parquet file"
    result = run_langmill("calibrate", *args, "--out", tmp_path / "out.yaml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("langmill: error:") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.yaml").exists()
