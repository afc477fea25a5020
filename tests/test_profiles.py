"""`--profile fineweb2`: FineWeb-2's published per-language settings converted into langmill's, checked
against the shared source file, through the real filters and the real CLI."""

import gzip
import json
import random
import struct
from pathlib import Path

import pytest
import yaml
from datatrove.data import Document

from langmill.config import ConfigError, language_lid_thresholds, load_config, load_quality_config
from langmill.filters.lid import default_lid_model
from langmill.filters.quality import C4Filter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter, build_quality_filters
from langmill.languages import ISO3_TO_1
from langmill.profiles import fineweb2_language, fineweb2_settings, fineweb2_table, load_profile, matchable_stop_words
from tests.conftest import SAMPLE_DIR, read_out, run_langmill, shared_data


@pytest.fixture(scope="module")
def source() -> dict:
    """FineWeb-2's settings as shared (../shared/data), the file the packaged one was converted from."""
    with gzip.open(shared_data("fineweb2-filter-configs.json.gz"), "rt", encoding="utf-8") as f:
        return json.load(f)


def checked_languages(source: dict) -> list[str]:
    # Estonian is ekk_Latn in FineWeb-2 (the individual language; "est_Latn" resolves to it)
    return ["fin_Latn", "eus_Latn", "ekk_Latn", *random.Random(14).sample(sorted(source), 3)]


def test_packaged_file_holds_the_source_numbers(source):
    table = fineweb2_table()
    assert sorted(table) == sorted(source) and len(table) == 1929
    for name in checked_languages(source):
        assert table[name] == source[name], name
    assert (table["fin_Latn"]["language_score"], table["eus_Latn"]["language_score"], table["ekk_Latn"]["language_score"]) == (0.764, 0.701, 0.638)


def test_converted_settings_equal_fineweb2s(source):
    for name in checked_languages(source):
        fw = source[name]
        s = fineweb2_settings(fw, lid_threshold=True)
        rep, qual, fwq = s["gopher_repetition"], s["gopher_quality"], s["fineweb_quality"]
        assert rep["max_top_ngram_char_frac"] == dict(fw["top_n_grams"]), name
        assert rep["max_dup_ngram_char_frac"] == {n: min(f, 1.0) for n, f in fw["dup_n_grams"]}, name
        assert rep["max_dup_line_frac"] == (fw["dup_line_frac"] if 0 < fw["dup_line_frac"] <= 1 else 1.0), name
        assert (qual["min_mean_word_length"], qual["max_mean_word_length"]) == (fw["min_avg_word_length"], fw["max_avg_word_length"])
        assert qual["min_alpha_words_ratio"] == fw["max_non_alpha_words_ratio"] and qual["min_stop_words"] == 2
        assert qual["stop_words"] == [w for w in fw["stopwords"] if w in matchable_stop_words(fw["stopwords"])]
        assert fwq["min_line_punct_ratio"] == max(fw["line_punct_thr"], 0.0) and fwq["max_newline_word_ratio"] == fw["new_line_ratio"]
        assert s["lid"]["threshold"] == fw["language_score"]
        assert "lid" not in fineweb2_settings(fw, lid_threshold=False)
    fi = fineweb2_settings(source["fin_Latn"], lid_threshold=True)
    assert fi["gopher_quality"]["min_alpha_words_ratio"] == 0.755 and fi["fineweb_quality"]["min_line_punct_ratio"] == 0.114
    # "s." is never one langmill token ("s", "."): the only Finnish stop word left out
    assert [w for w in source["fin_Latn"]["stopwords"] if w not in fi["gopher_quality"]["stop_words"]] == ["s."]


def test_every_language_converts_into_valid_settings(source):
    """All 1,929 language-scripts pass the settings check (top n-gram limits above 1, dup_line_frac 0 or above 1)."""
    for name, fw in source.items():
        settings, _ = load_config("fi", profile=fineweb2_settings(fw, lid_threshold=True))
        assert settings.quality["c4"]["enabled"] is False, name
    off = [name for name, fw in source.items() if fw["line_punct_thr"] < 0]
    assert len(off) == 1613 and fineweb2_settings(source[off[0]], False)["fineweb_quality"]["min_line_punct_ratio"] == 0.0


@pytest.mark.parametrize("spelling, name", [("fi", "fin_Latn"), ("FI", "fin_Latn"), ("fin", "fin_Latn"), ("fin_Latn", "fin_Latn"),
                                            ("fi-FI", "fin_Latn"), ("eu", "eus_Latn"), ("eus", "eus_Latn"), ("et", "ekk_Latn"),
                                            ("est_Latn", "ekk_Latn"), ("ekk", "ekk_Latn"), ("yo", "yor_Latn"), ("srp_Latn", "srp_Latn"),
                                            ("sr_Cyrl", "srp_Cyrl"), ("zh", "cmn_Hani")])
def test_any_code_resolves(spelling, name):
    assert fineweb2_language(spelling) == name


def test_languages_without_one_setting_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"^--lang sr: FineWeb-2 has settings for 2 scripts of this language \(srp_Cyrl, srp_Latn\); give one"):
        fineweb2_language("sr")
    with pytest.raises(ConfigError, match=r"^--lang xyz: FineWeb-2 has no settings for this language \(closest: "):
        fineweb2_language("xyz")
    with pytest.raises(ConfigError, match=r"^--profile fineweb3: unknown profile \(known: fineweb2\)$"):
        load_profile("fineweb3", "fi", None)


# --- FineWeb-2's choices, on real text through the real filters -----------------------------------------


@pytest.fixture(scope="module")
def ud_fi() -> list[str]:
    lines = shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if len(ln.split()) >= 8 and ln.endswith(".")][:40]


def test_no_c4_no_paragraph_repetition_no_short_lines(ud_fi):
    default, _ = load_quality_config("fi")
    profile, _ = load_config("fi", profile=load_profile("fineweb2", "fi", None).settings)
    q = profile.quality
    assert q["c4"]["enabled"] is False and q["fineweb_quality"]["max_short_line_ratio"] == 1.0
    assert q["fineweb_quality"]["max_dup_line_char_ratio"] == 0.1
    assert all(q["gopher_repetition"][k] == 1.0 for k in ("max_dup_para_frac", "max_dup_para_char_frac", "max_dup_line_char_frac"))
    assert not any(isinstance(f, C4Filter) for f in build_quality_filters(q))

    # One line of real sentences whose last full stop is missing: C4, when turned on, removes it and drops
    # the document; langmill's defaults leave C4 off as the profile does (configs/quality.yaml says why).
    one_line = " ".join(ud_fi[:8])[:-1]
    assert default["c4"]["enabled"] is False and not any(isinstance(f, C4Filter) for f in build_quality_filters(default))
    assert C4Filter(config=default["c4"] | {"enabled": True}).check(Document(text=one_line, id="a")).startswith("sentences=0<3")
    # A refrain paragraph repeated (2 of 4 paragraphs, 0.5): Gopher's published 0.3 drops it, fi's calibrated
    # file as its threshold says; the profile has no paragraph rule, its line rule drops it.
    a, b = "\n".join(ud_fi[8:11]), "\n".join(ud_fi[11:14])
    song = "\n\n".join([a, b, a, a])
    gopher = default["gopher_repetition"] | {"max_dup_para_frac": 0.3}
    assert GopherRepetitionFilter(config=gopher).check(Document(text=song, id="b")).startswith("dup_para_frac=0.5>0.3")
    fi_verdict = GopherRepetitionFilter(config=default["gopher_repetition"]).check(Document(text=song, id="b"))
    assert (fi_verdict is None) == (0.5 <= default["gopher_repetition"]["max_dup_para_frac"]), fi_verdict
    assert GopherRepetitionFilter(config=q["gopher_repetition"]).check(Document(text=song, id="b")).startswith("dup_line_frac")
    # Verse: real sentences cut into lines of 3 words; the short-line rule is off, the newline ratio is FineWeb-2's.
    # langmill's fi defaults keep it: 92 % of its lines are short, under fi's calibrated share (help pages).
    words = " ".join(ud_fi[14:24]).split()
    verse = "\n".join(" ".join(words[i:i + 3]) for i in range(0, len(words), 3))
    assert FineWebQualityFilter(config=default["fineweb_quality"]).check(Document(text=verse, id="c")) is None
    published = default["fineweb_quality"] | {"max_short_line_ratio": 0.67}  # FineWeb's own value drops it
    assert FineWebQualityFilter(config=published).check(Document(text=verse, id="c")).startswith("short_line_ratio")
    assert FineWebQualityFilter(config=q["fineweb_quality"]).check(Document(text=verse, id="c")).startswith("newline_word_ratio")
    # Separators: langmill's own rule, which FineWeb-2 does not have. Real sentences, every 6 words a "|".
    assert q["gopher_quality"]["max_separator_ratio"] == 1.0
    words = " ".join(ud_fi[24:40]).split()
    menu_like = " | ".join(" ".join(words[i:i + 6]) for i in range(0, len(words), 6))
    assert GopherQualityFilter(config=default["gopher_quality"]).check(Document(text=menu_like, id="d")).startswith("separator_ratio")
    verdict = GopherQualityFilter(config=q["gopher_quality"]).check(Document(text=menu_like, id="d"))
    assert not (verdict or "").startswith("separator_ratio"), verdict  # (its "|" tokens lower the alpha share: FineWeb-2's 0.755)


# --- the command line -----------------------------------------------------------------------------------


def glotlid_style_model(path: Path) -> Path:
    """lid.176 with its labels renamed as GlotLID names languages (__label__fi -> __label__fin_Latn): a real
    fastText model whose labels look like GlotLID's. Rewrites the dictionary entries of the .ftz file."""
    data = Path(default_lid_model()).read_bytes()
    iso3 = {}
    for three, one in ISO3_TO_1.items():
        iso3.setdefault(one, three)
    pos = 8 + 12 * 4 + 8  # magic, version; 12 int32 arguments and one double
    size = struct.unpack_from("<i", data, pos)[0]
    pos += 12 + 16  # size, nwords, nlabels (int32); ntokens, pruneidx_size (int64)
    out = bytearray(data[:pos])
    for _ in range(size):
        end = data.index(b"\0", pos)
        word = data[pos:end].decode("utf-8")
        if word.startswith("__label__"):
            code = word.removeprefix("__label__")
            word = f"__label__{iso3.get(code, code.ljust(3, 'x'))}_Latn"
        out += word.encode("utf-8") + data[end:end + 10]  # NUL, count (int64), type (int8)
        pos = end + 10
    path.write_bytes(bytes(out + data[pos:]))
    return path


def print_config(*args) -> tuple[str, dict]:
    result = run_langmill("corpus", "--print-config", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, yaml.safe_load(result.stdout)


def test_print_config_names_the_profile_and_the_lid_decision(tmp_path, source):
    text, cfg = print_config("--lang", "fi", "--profile", "fineweb2")
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert header[0] == "# langmill corpus settings: packaged defaults < profile fineweb2 (fin_Latn) < --config < flags"
    assert any("FineWeb-2's settings for fin_Latn" in ln for ln in header)
    assert any("lid.threshold: langmill's, not FineWeb-2's 0.764, which is a GlotLID score" in ln for ln in header)
    assert any("rule definitions that differ" in ln and "(s.)" in ln for ln in header)
    assert cfg["lid"]["threshold"] == language_lid_thresholds("fi")["threshold"] != 0.764 and cfg["c4"]["enabled"] is False
    assert cfg["gopher_quality"]["min_alpha_words_ratio"] == 0.755 and cfg["gopher_repetition"]["max_top_ngram_char_frac"][2] == 0.253

    model = glotlid_style_model(tmp_path / "glotlid-style.ftz")
    text, cfg = print_config("--lang", "fin_Latn", "--profile", "fineweb2", "--lid-model", model)
    assert cfg["lid"]["threshold"] == 0.764 and cfg["lid"]["model"] == str(model)
    assert "lid.threshold 0.764: FineWeb-2's GlotLID score threshold for fin_Latn" in text

    # The printed settings are a --config file; precedence: profile < --config < flags.
    (tmp_path / "printed.yaml").write_text(text, encoding="utf-8")
    _, again = print_config("--lang", "fi", "--config", tmp_path / "printed.yaml")
    assert again == cfg
    (tmp_path / "mine.yaml").write_text("gopher_quality:\n  min_doc_words: 30\nc4:\n  enabled: true\n", encoding="utf-8")
    _, mine = print_config("--lang", "fi", "--profile", "fineweb2", "--lid-model", model, "--config", tmp_path / "mine.yaml", "--lid-threshold", "0.5")
    assert mine["gopher_quality"]["min_doc_words"] == 30 and mine["c4"]["enabled"] is True and mine["lid"]["threshold"] == 0.5
    assert mine["gopher_quality"]["min_alpha_words_ratio"] == 0.755

    # Yoruba: no langmill settings file, FineWeb-2 has yor_Latn.
    text, cfg = print_config("--lang", "yo", "--profile", "fineweb2")
    assert "FineWeb-2's settings for yor_Latn" in text and cfg["gopher_quality"]["stop_words"][:3] == source["yor_Latn"]["stopwords"][:3]


def test_unknown_language_is_one_line(tmp_path):
    out = tmp_path / "out"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "xyz", "--profile", "fineweb2", "--out", out)
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("langmill: error: --lang xyz: FineWeb-2 has no settings for this language (closest: ")


def test_corpus_run_with_the_profile(tmp_path):
    out = tmp_path / "out"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--profile", "fineweb2", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "langmill: profile fineweb2 (fin_Latn): FineWeb-2's settings for fin_Latn" in result.stderr
    assert "langmill: profile fineweb2 (fin_Latn): lid.threshold: langmill's" in result.stderr
    kept, excluded, stats = read_out(out)
    n_rows = sum(1 for ln in (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip())
    assert stats["rows_in"] == n_rows == kept.height + excluded.height and stats["rows_in_equals_kept_plus_excluded"]
    assert stats["profile"] == "fineweb2 (fin_Latn)" and kept.height > 0
    assert "c4" not in set(excluded.get_column("reason").to_list())
    job = json.loads((out / "logs" / "job.json").read_text())
    assert job["profile"] == "fineweb2 (fin_Latn)"
    # Another profile (here: none) is another run: refused, not resumed.
    again = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out)
    assert again.returncode == 2 and "holds a run with other inputs or settings" in again.stderr


def test_profile_takes_nothing_of_the_language_files_calibration():
    """fi's file has per-length buckets and langmill's own rules; under --profile fineweb2 none of them
    apply: one threshold per rule, the letter share over tokens as FineWeb-2 counts it."""
    own, _ = load_quality_config("fi")
    assert own["gopher_quality"]["by_length"] and own["gopher_repetition"]["by_length"]
    profile, _ = load_config("fi", profile=load_profile("fineweb2", "fi", None).settings)
    q = profile.quality
    assert q["gopher_quality"]["by_length"] == {} and q["gopher_repetition"]["by_length"] == {}
    assert q["gopher_quality"]["alpha_ratio_of"] == "tokens" and q["gopher_quality"]["min_alpha_words_ratio"] == 0.755
    assert q["gopher_quality"]["max_garbled_word_ratio"] == 1.0 and q["gopher_quality"]["min_distinct_word_ratio"] == 0.0
    assert q["gopher_quality"]["max_separator_ratio"] == 1.0
