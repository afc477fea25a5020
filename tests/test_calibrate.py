"""`langmill calibrate` on real Finnish text (../shared/data): UD dev treebanks (consecutive sentences
grouped into documents of 5-15), UDHR paragraphs and translated LibreOffice help pages. Calibrated on
one half, the written settings run through the real `langmill corpus` on the other half, whose
false drop must stay within the budget's interval. Real fastText, real Rust kernels, the real CLI."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

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
    assert "joint (the real filters, all rules; each input weighs the same)" in result.stdout


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


def test_separator_rule_starts_strict_and_loosens_for_the_reference():
    """max_separator_ratio, langmill's own rule, starts at its strict value (OWN_START) and is never
    set below it; a reference whose well-formed pages use separators (LibreOffice Math help: "<?> = <?>"
    placeholders) loosens it until they are kept."""
    from langmill import native
    from langmill.calibrate import OWN_START

    start = OWN_START["gopher_quality"]["max_separator_ratio"]
    prose = ud_documents(shared_data("text", "ud", "fi_tdt-ud-dev.txt"))[:76]
    help_pages = libreoffice_documents("fi", limit=5000)
    stats = native.gopher_quality_stats(help_pages)
    share = stats[:, native.GOPHER_QUALITY_COLUMNS.index("n_separators")] / np.maximum(stats[:, 2], 1)
    dense = [help_pages[i] for i in np.flatnonzero(share > start)]
    assert 2 <= len(dense) <= 10  # a handful of 1,812 pages: 3 % budget cannot pay for them as 5 % of the reference
    for texts, want_loosened in ((prose, False), (prose + dense, True)):
        cal = calibrate(texts, "fi", budget=BUDGET)
        [res] = [r for r in cal.results if r.rule.name == "gopher_quality.max_separator_ratio"]
        threshold = cal.config["gopher_quality"]["max_separator_ratio"]
        assert threshold == res.threshold and res.default == start and res.calibrated == want_loosened
        if want_loosened:
            assert threshold >= share.max() and res.dropped == 0
        else:
            assert threshold == start


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


# --- several inputs: balance, held-out per source, heliport, the shipped files -------------------------


def reference_script():
    """scripts/calibrate_languages.py, whose document builders made the shipped fi/eu/et files."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "calibrate_languages.py"
    spec = importlib.util.spec_from_file_location("calibrate_languages", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def finnish_sources(tmp_path_factory):
    """The Finnish reference as the shipped file was made, its four prose and help sources (the chat
    ones: `finnish_chat`): one JSONL per source, calibration (even) and held-out (odd) halves:
    {half: {source: path}}."""
    shared_data("text", "libreoffice-help")
    script = reference_script()
    folder = tmp_path_factory.mktemp("sources")
    out: dict = {}
    for half in ("even", "odd"):
        docs = {name: texts for name, texts in script.sources("fi", half).items() if not name.startswith("chat-")}
        (folder / half).mkdir()
        out[half] = {name: write_jsonl(folder / half / f"{name}.jsonl", [{"id": f"{name}-{i}", "text": t} for i, t in enumerate(texts)])
                     for name, texts in docs.items()}
    return out


@pytest.fixture(scope="module")
def balanced_and_not(finnish_sources, tmp_path_factory):
    """`langmill calibrate` on the four Finnish sources, balanced and with --no-balance."""
    folder = tmp_path_factory.mktemp("balance")
    inputs = list(finnish_sources["even"].values())
    files = {}
    for name, extra in (("balanced", []), ("no-balance", ["--no-balance"])):
        files[name] = folder / f"{name}.yaml"
        result = run_langmill("calibrate", *inputs, "--lang", "fi", "--out", files[name], *extra)
        assert result.returncode == 0, result.stderr
        files[name + "-stdout"] = result.stdout
    return files


def test_one_genre_no_longer_sets_the_thresholds(balanced_and_not, finnish_sources):
    """LibreOffice help is 906 of 1,142 calibration documents: weighed per document it sets the rules
    that help pages (short UI pages, repeated headings) fail to its own extremes (the short-line rule
    off, the LID threshold at its 0.3 floor); with each source weighing the same, they are stricter."""
    bal, flat = (yaml.safe_load(balanced_and_not[k].read_text(encoding="utf-8")) for k in ("balanced", "no-balance"))
    assert bal["lid"]["threshold"] > flat["lid"]["threshold"] == 0.3  # flat: down to FineWeb-2's floor (help pages)
    assert bal["gopher_quality"]["min_doc_words"] > flat["gopher_quality"]["min_doc_words"]
    assert bal["gopher_quality"]["min_alpha_words_ratio"] >= flat["gopher_quality"]["min_alpha_words_ratio"]  # over words (markup left out): the same
    for n in (2, 3, 4):  # documents of up to 40 words (short help pages) have their own top n-gram thresholds
        assert bal["gopher_repetition"]["by_length"][40]["max_top_ngram_char_frac"][n] < flat["gopher_repetition"]["by_length"][40]["max_top_ngram_char_frac"][n]
    assert bal["fineweb_quality"]["max_newline_word_ratio"] <= flat["fineweb_quality"]["max_newline_word_ratio"]
    assert bal["fineweb_quality"]["max_short_line_ratio"] < 1 == flat["fineweb_quality"]["max_short_line_ratio"]  # flat: off
    # the table says what each source loses, and the header how the budget was weighed
    stdout = balanced_and_not["balanced-stdout"]
    assert all(f"input {path}" in stdout for path in finnish_sources["even"].values())
    assert "(each input weighs the same)" in balanced_and_not["balanced"].read_text(encoding="utf-8").split("gopher_quality:")[0]


def test_balanced_held_out_false_drop_within_budget(balanced_and_not, finnish_sources, tmp_path):
    """The balanced settings on the held-out (odd) half through the real `langmill corpus`: the false
    drop, each source weighing the same, stays within the budget's interval."""
    out = tmp_path / "corpus"
    held_out = finnish_sources["odd"]
    result = run_langmill("corpus", *held_out.values(), "--lang", "fi", "--config", balanced_and_not["balanced"], "--out", out)
    assert result.returncode == 0, result.stderr
    _, excluded, stats = read_out(out)
    sizes = {name: sum(1 for _ in open(path, encoding="utf-8")) for name, path in held_out.items()}
    assert stats["rows_in"] == sum(sizes.values())
    dropped_ids = excluded.filter(~excluded["reason"].is_in(["exact_dup", "near_dup"]))["id"].to_list()
    rates = {name: sum(i.startswith(f"{name}-") for i in dropped_ids) / n for name, n in sizes.items()}
    rate = sum(rates.values()) / len(rates)
    weights = np.concatenate([np.full(n, 1 / (len(sizes) * n)) for n in sizes.values()])
    n_eff = int(weights.sum() ** 2 / (weights**2).sum())  # Kish's effective size of the weighted sample
    lo, hi = wilson_interval(round(rate * n_eff), n_eff)
    assert lo <= BUDGET, f"held-out false drop {rate:.2%} [{lo:.2%}, {hi:.2%}] (per source {rates}) is above the budget {BUDGET:.0%}"
    assert rates["ud"] <= 0.05 and rates["leipzig"] <= 0.05  # prose sources are not where the budget goes


def test_heliport_backend(finnish_halves, tmp_path):
    """--lid-backend heliport: the LID threshold is set on heliport's confidence scale (0-7, not a
    probability) and the file pins the backend, so corpus --config uses the same one."""
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in finnish_halves[0][:200]])
    out = tmp_path / "fi.yaml"
    result = run_langmill("calibrate", ref, "--lang", "fi", "--out", out, "--lid-backend", "heliport")
    assert result.returncode == 0, result.stderr
    lid = yaml.safe_load(out.read_text(encoding="utf-8"))["lid"]
    assert lid["backend"] == "heliport" and "threshold" not in lid
    assert 0 <= lid["heliport_threshold"] < 7
    printed = run_langmill("corpus", "--print-config", "--lang", "fi", "--config", out)
    assert printed.returncode == 0, printed.stderr
    merged = yaml.safe_load(printed.stdout)["lid"]
    assert merged["backend"] == "heliport" and merged["heliport_threshold"] == lid["heliport_threshold"]
    bad = run_langmill("calibrate", ref, "--lang", "fi", "--out", tmp_path / "x.yaml", "--lid-backend", "langid")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("langmill: error: --lid-backend") and "Traceback" not in bad.stderr


@pytest.mark.parametrize("lang", ["fi", "eu", "et"])
def test_shipped_language_files_say_where_they_came_from(lang):
    """The shipped settings parse, load, and their header names the reference they were calibrated on."""
    from langmill.config import CONFIG_DIR, load_quality_config

    text = (CONFIG_DIR / "languages" / f"{lang}.yaml").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text)
    cfg, own = load_quality_config(lang)
    assert own and cfg["gopher_quality"]["min_doc_words"] == data["gopher_quality"]["min_doc_words"]
    for source in (f"text/ud/{lang}_*-ud-dev.txt", "text/udhr/udhr_", f"lo-help-7.4.7.{lang}.jsonl.gz", f"text/lingua-sentences/{lang}.txt"):
        assert source in header, source
    script = reference_script()
    command = "langmill calibrate ud.jsonl udhr.jsonl libreoffice.jsonl leipzig.jsonl " + ("chat-dolly.jsonl chat-oasst1.jsonl chat-mtbench.jsonl " if lang == "fi" else "")
    assert "scripts/calibrate_languages.py" in header and f"{command}--lang {lang} --budget {script.BUDGET} --per-input" in header
    assert "even-indexed documents" in header and f"Budget: at most {script.BUDGET:.1%}" in header and "langmill 0." in header
    assert "for every input on its own" in header and "Language ID: the document threshold of" in header
    assert set(data["lid"]) <= {"threshold", "heliport_threshold"} and len(data["lid"]) == 1
    assert len(data["gopher_quality"]["stop_words"]) >= 40  # the curated list is kept


def test_an_input_with_few_documents_is_named(finnish_halves, tmp_path):
    """Balanced, a one-document input weighs as much as a large one: the run names it and says how to
    split it (UDHR's .txt is one paragraph per line)."""
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in finnish_halves[0][:100]])
    udhr = tmp_path / "udhr_fin.txt"
    udhr.write_text(shared_data("text", "udhr", "udhr_fin.txt").read_text(encoding="utf-8"), encoding="utf-8")
    one = run_langmill("calibrate", ref, udhr, "--lang", "fi", "--out", tmp_path / "a.yaml")
    assert one.returncode == 0, one.stderr
    assert f"langmill: warning: {udhr} holds 1 reference document(s) but weighs 1/2 of the budget" in one.stderr
    assert "--split paragraphs or lines" in one.stderr
    lines = run_langmill("calibrate", ref, udhr, "--lang", "fi", "--split", "lines", "--out", tmp_path / "b.yaml")
    assert lines.returncode == 0 and f"{udhr} holds" not in lines.stderr


@pytest.fixture(scope="module")
def finnish_all_sources(tmp_path_factory):
    """All seven Finnish sources (prose, help pages, three kinds of chat answers), both halves."""
    shared_data("text", "libreoffice-help")
    script = reference_script()
    folder = tmp_path_factory.mktemp("all-sources")
    out: dict = {}
    for half in ("even", "odd"):
        (folder / half).mkdir()
        out[half] = {name: write_jsonl(folder / half / f"{name}.jsonl", [{"id": f"{name}-{i}", "text": t} for i, t in enumerate(texts)])
                     for name, texts in script.sources("fi", half).items()}
    return out


def _held_out_rates(result_dir, held_out: dict) -> dict[str, tuple[int, int]]:
    """{source: (dropped, documents)} of a `langmill corpus` run, dedup drops not counted (filters only)."""
    _, excluded, stats = read_out(result_dir)
    sizes = {name: sum(1 for _ in open(path, encoding="utf-8")) for name, path in held_out.items()}
    assert stats["rows_in"] == sum(sizes.values())
    dropped = excluded.filter(~excluded["reason"].is_in(["exact_dup", "near_dup"]))["id"].to_list()
    return {name: (sum(i.startswith(f"{name}-") for i in dropped), n) for name, n in sizes.items()}


def test_per_input_budget_holds_for_every_source(finnish_all_sources, tmp_path):
    """--per-input: every source loses at most the budget on the calibration half (the table says so),
    where the mean budget lets help pages and MT-Bench answers lose more. On the held-out half, the LID
    step included, the worst source loses less than with the mean budget, and every source less than
    twice the budget: thresholds set at the reference's tails drop more of new text (measured: help
    pages 4.6 % at a 3 % budget), which is why the shipped files use 2.5 % (bench/quality.md)."""
    budget = 0.03
    inputs = list(finnish_all_sources["even"].values())
    files = {}
    for mode, extra in (("mean", []), ("per-input", ["--per-input"])):
        files[mode] = tmp_path / f"{mode}.yaml"
        result = run_langmill("calibrate", *inputs, "--lang", "fi", "--out", files[mode], "--budget", budget, *extra)
        assert result.returncode == 0, result.stderr
        per_input = [line for line in result.stdout.splitlines() if line.strip().startswith("input ")]
        shares = [int(line.split()[2]) / int(line.split()[-1].replace(",", "")) for line in per_input]
        assert len(shares) == len(inputs)
        if mode == "mean":
            assert max(shares) > budget  # the mean fits, the worst source does not
        else:
            assert max(shares) <= budget, per_input
    assert "the budget holding for every input on its own" in files["per-input"].read_text(encoding="utf-8")
    held_out = finnish_all_sources["odd"]
    worst = {}
    for mode, settings in files.items():
        out = tmp_path / f"corpus-{mode}"
        result = run_langmill("corpus", *held_out.values(), "--lang", "fi", "--config", settings, "--out", out)
        assert result.returncode == 0, result.stderr
        rates = {name: k / n for name, (k, n) in _held_out_rates(out, held_out).items()}
        worst[mode] = max(rates.values())
        if mode == "per-input":
            assert all(rate < 2 * budget for rate in rates.values()), rates
    assert worst["per-input"] < worst["mean"], worst


def test_keep_lid_pays_for_the_corpus_threshold(finnish_halves, tmp_path):
    """--keep-lid: the file keeps the LID threshold corpus uses for fi (its language file's), and what
    it drops is in the joint drop before any quality rule is loosened."""
    from langmill.config import language_lid_thresholds

    ref = write_jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in finnish_halves[0][:400]])
    out = tmp_path / "fi.yaml"
    result = run_langmill("calibrate", ref, "--lang", "fi", "--out", out, "--keep-lid")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["lid"]["threshold"] == language_lid_thresholds("fi")["threshold"]
    assert "lid.threshold" not in result.stdout  # not a calibrated rule: no row of its own


def test_tighten_one_spends_what_is_left_one_document_at_a_time():
    from langmill.calibrate import Rule, tighten_one

    values = np.array([0.1, 0.2, 0.3, 0.5, np.nan])
    rule = Rule("gopher_quality", "max_separator_ratio", "max")
    kept = np.zeros(5, dtype=bool)
    assert tighten_one(values, rule, 0.6, 0.2, kept) == 0.4  # drops 0.5, halfway to the next kept value beyond the start
    assert tighten_one(values, rule, 0.4, 0.2, drops(values, "max", 0.4)) == 0.2  # drops 0.3: the start itself
    assert tighten_one(values, rule, 0.2, 0.2, drops(values, "max", 0.2)) is None  # nothing left beyond the start
    low = Rule("gopher_quality", "min_distinct_word_ratio", "min")
    assert tighten_one(values, low, 0.0, 0.3, np.zeros(5, dtype=bool)) == 0.15
    count = Rule("gopher_quality", "min_stop_words", "min", integer=True)
    assert tighten_one(np.array([0.0, 1.0, 4.0, 6.0]), count, 0, 6, np.zeros(4, dtype=bool)) == 1  # drops the 0 nearest the threshold, keeps 1


def test_per_input_budget_pays_for_what_lid_puts_in_another_language():
    """Budget per input: an input's drop counts the documents LID puts in another language (no
    threshold keeps them); an input that those alone put over the limit is left out, not chased."""
    from langmill.calibrate import Budget

    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    lost = np.array([False, False, False, True, False, False, False, False, False, True])
    weights = np.where(lost, 0.0, 1.0)
    budget = Budget(weights, 0.3, groups, lost)
    assert budget.present == [0, 1] and budget.infeasible == [2]  # input 2: half of it is another language
    joint = np.zeros(10, dtype=bool)
    assert budget.by_input(joint, {}).tolist() == [0.25, 0.0]  # input 0 starts at 1 of 4 lost
    joint[0] = True
    assert budget.by_input(joint, {1: 0.1}).tolist() == [0.5, 0.1]
