"""Quality control of translations: real en->fi pairs pass, planted failures of each kind are caught,
and `langmill qc` keeps its accounting. Real fastText; real text from ../shared/data."""

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from langmill.filters.lid import LanguageFilter
from langmill.checks import check_translation
from langmill.config import load_qc_config

from conftest import run_langmill, write_jsonl

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
N_PAIRS = 600  # dolly records used (instruction, context and response of each)


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-text check skipped: {path} is absent (../shared/data is present on developer machines and in CI)")
    return path


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def config():
    return load_qc_config()


@pytest.fixture(scope="module")
def lid_fi():
    return LanguageFilter("fi")


@pytest.fixture(scope="module")
def dolly_pairs():
    """(English, Finnish) texts of the first N_PAIRS dolly records, aligned by doc_index."""
    en = {r["doc_index"]: r for r in read_jsonl(shared("instructions", "dolly-15k-en.from-docx.jsonl.gz"))}
    fi = {r["doc_index"]: r for r in read_jsonl(shared("instructions", "dolly-15k-fi.from-docx.jsonl.gz"))}
    pairs = []
    for i in sorted(set(en) & set(fi))[:N_PAIRS]:
        for key in ("instruction", "context", "response"):
            s, t = en[i].get(key) or "", fi[i].get(key) or ""
            if s.strip() and t.strip():
                pairs.append((s, t))
    return pairs


@pytest.fixture(scope="module")
def ui_pairs():
    """LibreOffice UI strings (en, fi) and (en, eu) that hold placeholders."""
    out = {}
    for lang in ("fi", "eu"):
        rows = read_jsonl(shared("parallel-strings", f"lo-ui-7.4.7.en-{lang}.jsonl.gz"))
        out[lang] = [(r["en"], r[lang]) for r in rows if r.get("en") and r.get(lang) and ("%" in r["en"] or "$(" in r["en"])]
    return out


def test_real_pairs_mostly_pass(dolly_pairs, config, lid_fi):
    results = [check_translation(s, t, "fi", config, lid_fi) for s, t in dolly_pairs]
    rate = sum(r.ok for r in results) / len(results)
    reasons = {}
    for r in results:
        for reason in r.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    print(f"\nreal dolly en->fi pairs: {len(results)}, pass rate {rate:.3f}; failures by check: {reasons}")
    # Human translations drop list markers or translate {Placeholders} now and then; the rest pass.
    assert rate >= 0.90
    assert all(r.text == t for r, (_, t) in zip(results, dolly_pairs) if r.ok)


def test_real_placeholder_strings_pass(ui_pairs, config):
    # Only the structural checks: UI strings are too short for LID and length ratios.
    for lang, pairs in ui_pairs.items():
        lid = LanguageFilter(lang)
        results = [check_translation(s, t, lang, config, lid) for s, t in pairs]
        ph_ok = sum("placeholders_changed" not in r.reasons for r in results) / len(results)
        print(f"\nLibreOffice UI en->{lang} strings with placeholders: {len(results)}, placeholders kept in {ph_ok:.3f}")
        assert len(results) > 500
        assert ph_ok >= 0.95


# Per target language: a model-identity sentence and a leftover prompt line, in that language.
PLANTED_WORDS = {
    "fi": ("Olen ChatGPT, OpenAI:n kehittämä kielimalli.", "Käännös:"),
    "eu": ("ChatGPT naiz, OpenAI-k garatutako hizkuntza-eredua.", "Itzulpena:"),
}


def _plant(kind: str, s: str, t: str, rng: random.Random, estonian: list[str], lang: str = "fi") -> str:
    words = t.split()
    if kind == "lid_english":
        return s
    if kind == "lid_estonian":
        return " ".join(estonian[rng.randrange(len(estonian) - 5):][:5])
    if kind == "truncated":
        return " ".join(words[: max(1, len(words) * 3 // 10)])
    if kind == "repeated":
        return "\n".join([t] * 8)
    if kind == "symbol_soup":
        return "".join(ch if not ch.isalpha() or rng.random() < 0.4 else rng.choice("#@%&*=+|~^") for ch in t)
    if kind == "identity":
        return t + " " + PLANTED_WORDS[lang][0]
    if kind == "artifact_middle":
        middle = len(words) // 2
        return " ".join(words[:middle]) + f"\n{PLANTED_WORDS[lang][1]}\n" + " ".join(words[middle:])
    raise ValueError(kind)


EXPECTED = {
    "lid_english": "lid", "lid_estonian": "lid", "truncated": "length_ratio", "repeated": "compression_ratio",
    "symbol_soup": "non_alnum_share", "identity": "model_identity", "artifact_middle": "prompt_artifact",
}


@pytest.fixture(scope="module")
def help_pairs_eu():
    """(English, Basque) LibreOffice help paragraphs aligned by file and par_id, translated ones only."""
    def load(lang):
        rows = read_jsonl(shared("text", "libreoffice-help", f"lo-help-7.4.7.{lang}.jsonl.gz"))
        return {(r["file"], r["par_id"]): r["text"] for r in rows if r.get("tag") == "p"}

    en, eu = load("en-US"), load("eu")
    return [(en[k], eu[k]) for k in sorted(set(en) & set(eu)) if en[k] != eu[k] and len(en[k].split()) >= 15][:3000]


@pytest.mark.parametrize("lang", ["fi", "eu"])
def test_planted_failures_are_caught(lang, dolly_pairs, help_pairs_eu, config):
    """Real human translations (fi: dolly-15k; eu: LibreOffice help) pass; the same texts with a
    planted failure of each kind are caught."""
    lid = LanguageFilter(lang)
    pairs = dolly_pairs if lang == "fi" else help_pairs_eu
    et_path = shared("text", "lingua-sentences", "et.txt")
    estonian = [w for line in et_path.read_text(encoding="utf-8").splitlines() for w in line.split()]
    rng = random.Random(7)
    # Good pairs long enough for every check to apply (LID, length ratio, compression).
    candidates = [(s, t) for s, t in pairs if len(s.split()) >= 15 and len(t.encode()) >= 150][:400]
    passed = [check_translation(s, t, lang, config, lid).ok for s, t in candidates]
    good = [pair for pair, ok in zip(candidates, passed) if ok][:150]
    print(f"\n{lang}: {sum(passed)}/{len(passed)} real human translations pass QC")
    assert sum(passed) / len(passed) >= 0.85
    assert len(good) >= 100
    rates = {}
    for kind, reason in EXPECTED.items():
        caught = 0
        for s, t in good:
            if kind == "lid_estonian":
                bad = " ".join(estonian[rng.randrange(len(estonian) - 40):][: len(t.split())])
            else:
                bad = _plant(kind, s, t, rng, estonian, lang)
            caught += reason in check_translation(s, bad, lang, config, lid).reasons
        rates[kind] = caught / len(good)
    print(f"\n{lang}: catch rates on", len(good), "real pairs:", {k: round(v, 3) for k, v in rates.items()})
    for kind, rate in rates.items():
        assert rate >= 0.95, (kind, rate)


def test_planted_structure_changes(dolly_pairs, ui_pairs, config, lid_fi):
    rng = random.Random(3)
    code = "```python\ndef area(r):\n    return 3.14159 * r ** 2  # circle\n```"
    good = [(s, t) for s, t in dolly_pairs if len(s.split()) >= 15 and check_translation(s, t, "fi", config, lid_fi).ok][:100]
    url = "https://en.wikipedia.org/wiki/Finland_(country)"
    math = ("The energy is $E = mc^2$, and $$\\int_0^1 x\\,dx = 1/2$$.", "Energia on $E = mc^2$, ja $$\\int_0^1 x\\,dx = 1/2$$.")
    # (reason, source and good translation around a real pair, two ways to break the translation)
    plants = [
        ("code_changed", lambda s, t: (f"{s}\n\n{code}\n", f"{t}\n\n{code}\n"),
         (lambda t: t.replace("# circle", "# ympyrä"), lambda t: t.replace("3.14159", "3.14"))),
        ("urls_changed", lambda s, t: (f"{s} See {url}.", f"{t} Katso {url}."),
         (lambda t: t.replace("/wiki/", "/fi/"), lambda t: t.replace("en.wikipedia", "fi.wikipedia"))),
        ("latex_changed", lambda s, t: (f"{s} {math[0]}", f"{t} {math[1]}"),
         (lambda t: t.replace("$E = mc^2$", "E = mc^2"), lambda t: t.replace("1/2$$", "0.5$$"))),
    ]
    rates = {}
    for reason, wrap, breaks in plants:
        caught = 0
        for s, t in good:
            src, ok_tgt = wrap(s, t)
            assert check_translation(src, ok_tgt, "fi", config, lid_fi).ok
            bad = rng.choice(breaks)(ok_tgt)
            caught += reason in check_translation(src, bad, "fi", config, lid_fi).reasons
        rates[reason] = caught / len(good)
    # Placeholder dropped: real LibreOffice strings.
    pairs = [(s, t) for s, t in ui_pairs["fi"] if check_translation(s, t, "fi", config, lid_fi).ok]
    caught = total = 0
    from langmill.checks import PLACEHOLDER
    for s, t in pairs:
        found = PLACEHOLDER.findall(t)
        if not found:
            continue
        total += 1
        bad = t.replace(found[0], "", 1)
        caught += "placeholders_changed" in check_translation(s, bad, "fi", config, lid_fi).reasons
    rates["placeholders_changed"] = caught / total
    print("\ncatch rates:", {k: round(v, 3) for k, v in rates.items()}, f"(placeholders: {total} LibreOffice strings)")
    assert total > 300
    assert all(rate >= 0.99 for rate in rates.values()), rates


def test_prompt_artifacts_stripped_or_failed(dolly_pairs, config, lid_fi):
    s, t = next((s, t) for s, t in dolly_pairs if len(s.split()) >= 15 and check_translation(s, t, "fi", config, lid_fi).ok)
    for wrapped in (f"Käännös:\n{t}", f"Here is the translation:\n\n{t}", f"**Käännös:**\n{t}\n", f"{t}\nTranslation:",
                    f"Sure! Here's the Finnish translation:\n{t}"):
        result = check_translation(s, wrapped, "fi", config, lid_fi)
        assert result.ok, (wrapped[:60], result.failures)
        assert result.text.strip() == t.strip()
        assert result.metrics["artifacts_removed"] >= 1
    words = t.split()
    for bad in (f"{' '.join(words[:5])}\nKäännös:\n{' '.join(words[5:])}", f"Käännös: {t}"):
        result = check_translation(s, bad, "fi", config, lid_fi)
        assert "prompt_artifact" in result.reasons, bad[:60]
    # A line the source has too is no artifact.
    assert check_translation(f"Translation:\n{s}", f"Translation:\n{t}", "fi", config, lid_fi).ok


def test_thresholds_are_configurable(dolly_pairs, config, lid_fi):
    s, t = next((s, t) for s, t in dolly_pairs if len(s.split()) >= 15 and check_translation(s, t, "fi", config, lid_fi).ok)
    truncated = " ".join(t.split()[: len(t.split()) // 2])
    ratio = len(truncated.split()) / len(s.split())
    strict = load_qc_config({"length_ratio": {"languages": {"fi": {"min": ratio + 0.05}}}})
    lenient = load_qc_config({"length_ratio": {"languages": {"fi": {"min": ratio - 0.05}}}})
    assert "length_ratio" in check_translation(s, truncated, "fi", strict, lid_fi).reasons
    assert "length_ratio" not in check_translation(s, truncated, "fi", lenient, lid_fi).reasons
    custom = load_qc_config({"model_identity": {"words": ["Poro"]}})
    assert "model_identity" in check_translation(s, t + " Olen Poro.", "fi", custom, lid_fi).reasons
    assert "model_identity" not in check_translation(s, t + " Olen ChatGPT.", "fi", custom, lid_fi).reasons
    # Every check can be switched off (langmill translate --no-qc).
    from langmill.config import QC_OFF

    off = load_qc_config(QC_OFF)
    for bad in (s, "\n".join([t] * 8), f"Käännös:\n{t}\nOlen ChatGPT.", truncated):
        result = check_translation(s, bad, "fi", off, lid_fi)
        assert result.ok and result.text == bad
    assert not check_translation(s, s, "fi", load_qc_config({"lid": {"enabled": True}, "length_ratio": {"enabled": False}}), lid_fi).ok


# ---- the command ---------------------------------------------------------------------------------

def _msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def test_cli_qc_sft_and_preferences(tmp_path, dolly_pairs):
    long = [(s, t) for s, t in dolly_pairs if 15 <= len(s.split()) <= 120][:6]
    (s1, t1), (s2, t2), (s3, t3), (s4, t4), (s5, t5), (s6, t6) = long
    sft = [
        {"id": "good", "messages": _msgs(("user", t1), ("assistant", t2)), "source_messages": _msgs(("user", s1), ("assistant", s2))},
        {"id": "artifact", "messages": _msgs(("user", t1), ("assistant", f"Käännös:\n{t2}")), "source_messages": _msgs(("user", s1), ("assistant", s2))},
        {"id": "english", "messages": _msgs(("user", t3), ("assistant", s4)), "source_messages": _msgs(("user", s3), ("assistant", s4))},
        {"id": "roles", "messages": _msgs(("assistant", t3), ("user", t4)), "source_messages": _msgs(("user", s3), ("assistant", s4))},
        {"id": "count", "messages": _msgs(("user", t3)), "source_messages": _msgs(("user", s3), ("assistant", s4))},
        {"id": "no_source", "messages": _msgs(("user", t3))},
    ]
    sft_path = write_jsonl(tmp_path / "sft.jsonl", sft)
    with open(sft_path, "a", encoding="utf-8") as f:
        f.write('{"id": "broken", "messages": [\n')
    prefs = [
        {"id": "p_good", "prompt": t5, "chosen": t6, "rejected": t1, "source_prompt": s5, "source_chosen": s6, "source_rejected": s1},
        {"id": "p_repeat", "prompt": t5, "chosen": t6, "rejected": "\n".join([t1] * 8), "source_prompt": s5, "source_chosen": s6, "source_rejected": s1},
        {"id": "p_list", "prompt": _msgs(("user", t5)), "chosen": _msgs(("assistant", t6 + " Olen ChatGPT.")), "rejected": _msgs(("assistant", t1)),
         "source_prompt": _msgs(("user", s5)), "source_chosen": _msgs(("assistant", s6)), "source_rejected": _msgs(("assistant", s1))},
    ]
    pref_path = write_jsonl(tmp_path / "prefs.jsonl", prefs)
    # One run checks one kind of rows (its shards share one schema): SFT and preferences apart.
    kept, excluded, by_reason = {}, {}, Counter()
    for name, path, n_rows in (("sft", sft_path, 7), ("prefs", pref_path, 3)):
        out = tmp_path / name
        proc = run_langmill("qc", path, "--to", "fi", "--out", out)
        assert proc.returncode == 0, proc.stderr
        stats = json.loads((out / "stats.json").read_text())
        assert stats["rows_in"] == n_rows == stats["kept"] + stats["excluded"]
        assert stats["rows_in_equals_kept_plus_excluded"]
        report = (out / "report.html").read_text()
        assert "<svg" in report and all(reason in report for reason in stats["excluded_by_reason"])
        by_reason.update(stats["excluded_by_reason"])
        kept |= {row["id"]: row for row in pl.read_parquet(out / "data" / "*.parquet").to_dicts()}
        excluded |= {row["id"]: row for row in pl.read_parquet(out / "excluded" / "*.parquet").to_dicts()}
    assert set(kept) == {"good", "artifact", "p_good"}
    assert kept["artifact"]["messages"][1]["content"] == t2  # the artifact line removed
    assert kept["artifact"]["qc"]["artifacts_removed"] == 1
    assert kept["good"]["qc"]["messages_checked"] == 2
    assert kept["p_good"]["chosen"] == [{"role": "assistant", "content": t6}]  # TRL's standard format, as messages
    reasons = {k: v["reason"] for k, v in excluded.items()}
    assert reasons == {"english": "lid", "roles": "structure", "count": "structure", "no_source": "bad_row",
                       "sft.jsonl:7": "bad_row", "p_repeat": "length_ratio", "p_list": "model_identity"}
    assert "messages[1]" in excluded["english"]["detail"] and "lid=en" in excluded["english"]["detail"]
    assert "malformed JSON" in excluded["sft.jsonl:7"]["detail"]
    # Eight copies are too long and too repetitive: `reason` is the first check, `detail` has both.
    assert excluded["p_repeat"]["detail"].startswith("rejected: length_ratio=")
    assert "rejected: compression_ratio=" in excluded["p_repeat"]["detail"]
    assert by_reason == {"bad_row": 2, "structure": 2, "lid": 1, "length_ratio": 1, "model_identity": 1}
    assert stats["failed_checks"]["compression_ratio"] == 1

    # Re-check with other thresholds, without regenerating: the result in OUT is replaced.
    strict = tmp_path / "strict.yaml"
    strict.write_text("model_identity: {words: [Virgin]}\nlength_ratio: {min_source_words: 1000}\n", encoding="utf-8")
    proc = run_langmill("qc", pref_path, "--to", "fi", "--out", out, "--config", strict)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "stats.json").read_text())
    assert again["rows_in"] == 3 == again["kept"] + again["excluded"]


def test_cli_qc_errors(tmp_path):
    proc = run_langmill("qc", tmp_path / "missing.jsonl", "--to", "fi", "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"langmill: error: {tmp_path / 'missing.jsonl'}: no such file or directory"]
    bad_config = tmp_path / "c.yaml"
    bad_config.write_text("nonsense: {a: 1}\n")
    good = write_jsonl(tmp_path / "a.jsonl", [])
    proc = run_langmill("qc", good, "--to", "fi", "--out", tmp_path / "o", "--config", bad_config)
    assert proc.returncode == 2 and "c.yaml: unknown section nonsense (known: lid, " in proc.stderr
    proc = run_langmill("qc", good, "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.startswith("langmill: error: --to is required")
    proc = run_langmill("qc", "--help")
    assert proc.returncode == 0 and "--to" in proc.stdout and "--lid-model" in proc.stdout
