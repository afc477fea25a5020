"""Language-ID backends (langmill.lid_backends): fastText lid.176 and heliport on real sentences, the
code mapping, the per-language default, and `langmill corpus --lid-backend heliport` end to end."""

import json
import pickle

import pytest
from conftest import SAMPLE_DIR, read_out, run_langmill, shared_data
from datatrove.data import Document

from langmill.config import LidSettings, language_lid_thresholds
from langmill.filters.lid import LanguageFilter
from langmill.languages import canonical_lang
from langmill.lid_backends import DEFAULT_BACKEND, FastTextBackend, HeliportBackend, default_backend, heliport_languages, make_backend


def leipzig(lang: str, n: int = 200) -> list[str]:
    lines = shared_data("text", "lingua-sentences", f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()][:n]


@pytest.fixture(scope="module")
def heliport():
    return HeliportBackend()


@pytest.fixture(scope="module")
def fasttext():
    return FastTextBackend()


def accuracy(backend, lang: str) -> float:
    preds = backend.predict(leipzig(lang))
    return sum(code == lang for code, _ in preds) / len(preds)


def test_heliport_knows_yoruba_and_swahili_where_lid176_does_not(heliport, fasttext):
    assert accuracy(heliport, "yo") >= 0.95 and accuracy(fasttext, "yo") < 0.1
    assert accuracy(heliport, "sw") >= 0.97 > accuracy(fasttext, "sw")


@pytest.mark.parametrize("lang", ["fi", "et", "eu", "en", "de", "ru"])
def test_both_backends_label_real_sentences(heliport, fasttext, lang):
    assert accuracy(heliport, lang) >= 0.9 and accuracy(fasttext, lang) >= 0.9


def test_scores_probability_vs_confidence(heliport, fasttext):
    fi = leipzig("fi", 50)
    ft_scores = [s for _, s in fasttext.predict(fi)]
    hp_scores = [s for _, s in heliport.predict(fi)]
    assert all(0 <= s <= 1 for s in ft_scores)
    assert all(0 <= s <= 7 for s in hp_scores) and max(hp_scores) > 1  # heliport's confidence is not a probability
    # No letters: no language, for both.
    assert heliport.ranked("12345 678 --", 1) == [("und", 0.0)]
    assert heliport.ranked("", 3) == [("und", 0.0)]


def test_heliport_top_k_names_the_winner_even_below_its_own_cutoff(heliport):
    ranked = heliport.ranked("Eesti keel on ilus ja see lause on eesti keeles.", 3)
    assert ranked[0][0] == "et" and ranked[0][1] > 0
    assert len({code for code, _ in ranked}) == len(ranked) and all(score <= 0 for _, score in ranked[1:])
    # "Hello world" is below heliport's own English cut-off (it would say "und"): the winner is kept.
    assert heliport.ranked("Hello world", 1)[0][0] == "en"


def test_code_mapping():
    assert {canonical_lang(c) for c in ("fin", "fin_Latn", "__label__fin_Latn", "FI")} == {"fi"}
    assert canonical_lang("spa") == "es" and canonical_lang("swa") == "sw" and canonical_lang("yor") == "yo"
    assert canonical_lang("hbs") == "sh" and canonical_lang("est") == "et"
    known = heliport_languages()
    assert {"fi", "et", "eu", "sw", "yo", "es", "se", "smn"} <= known and not known & {"und", "zxx", "fin", "spa"}
    assert len(known) > 200


def test_default_backend_per_language():
    assert DEFAULT_BACKEND["yo"] == "heliport" and DEFAULT_BACKEND["fi"] == "fasttext"
    assert default_backend("fin_Latn") == "fasttext" and default_backend("yor") == "heliport"
    assert default_backend("fr") == "fasttext"  # not measured, both know it
    assert default_backend("zu") == "heliport" and default_backend("smn") == "heliport"  # only heliport knows them


def test_backends_pickle_without_their_models(heliport):
    heliport.predict(["Tämä on suomea."])
    clone = pickle.loads(pickle.dumps(heliport))
    assert clone._model is None and clone.ranked("Tämä on suomenkielinen lause kotimaan uutisista.", 1)[0][0] == "fi"
    step = LanguageFilter("sw", backend="heliport")
    clone = pickle.loads(pickle.dumps(step))
    assert clone.backend._model is None and clone.threshold == LidSettings.heliport_threshold


def test_language_filter_with_heliport_on_a_mixed_document():
    """A Swahili document with an English paragraph: heliport keeps the document, drops the line."""
    sw, en = leipzig("sw", 6), leipzig("en", 2)
    doc = Document(text="\n".join(sw[:3] + [" ".join(en)] + sw[3:]), id="sw")
    step = LanguageFilter("sw", backend="heliport")
    assert step.check(doc) is None, doc.metadata
    assert doc.metadata["lang"] == "sw" and doc.metadata["lang_score"] > LidSettings.heliport_threshold
    assert doc.metadata["foreign_line_count"] == 1 and " ".join(en) not in doc.text
    # A Yoruba document: lid.176 does not keep it, heliport does.
    assert LanguageFilter("yo").check(Document(text="\n".join(leipzig("yo", 6)), id="yo")) is not None
    assert LanguageFilter("yo", backend="heliport").check(Document(text="\n".join(leipzig("yo", 6)), id="yo")) is None


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown language-ID backend 'cld3'"):
        make_backend("cld3")
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", "/tmp/never-created", "--lid-backend", "cld3")
    assert result.returncode == 2
    assert result.stderr.strip() == "langmill: error: --lid-backend: lid.backend must be one of auto, fasttext, heliport, not 'cld3'"


def test_heliport_refuses_a_fasttext_model(tmp_path):
    from langmill.lid_backends import default_lid_model

    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", tmp_path / "out", "--lid-backend", "heliport",
                          "--lid-model", default_lid_model())
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "is a fastText model; heliport (lid.backend / --lid-backend heliport) brings its own" in result.stderr


def test_print_config_names_the_backend_and_threshold():
    yo = run_langmill("corpus", "--lang", "yo", "--print-config")
    assert "  backend: heliport\n" in yo.stdout and "  line_backend: heliport\n" in yo.stdout
    fi = run_langmill("corpus", "--lang", "fi", "--lid-backend", "heliport", "--lid-threshold", "1.2", "--print-config")
    fasttext = language_lid_thresholds("fi")["threshold"]  # fi's file: calibrated on lid.176's scale, kept as it is
    assert "  backend: heliport\n" in fi.stdout and "  heliport_threshold: 1.2\n" in fi.stdout and f"  threshold: {fasttext}\n" in fi.stdout


def test_corpus_with_heliport_on_the_sample(tmp_path):
    rows = [json.loads(line) for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip()]
    out = tmp_path / "out"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out, "--lid-backend", "heliport")
    assert result.returncode == 0, result.stderr[-3000:]
    kept, excluded, stats = read_out(out)
    assert stats["rows_in"] == len(rows) == kept.height + excluded.height
    assert set(kept["lang"]) == {"fi"} and kept["lang_score"].min() >= LidSettings.heliport_threshold
    assert kept["lang"].null_count() == 0 and kept["lang_score"].null_count() == 0
    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text())
    other = {i for i, m in manifest.items() if m["lang"] != "fi"}
    assert other and not other & set(kept["id"])  # nothing in another language kept
    lid = excluded.filter(excluded["reason"] == "lid")
    assert lid.height and lid["lang"].null_count() == 0
    job = json.loads((out / "logs" / "job.json").read_text())
    assert "heliport" in json.dumps(job)

    # The fingerprint holds the backend: the same folder with fastText is another job.
    again = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out, "--lid-backend", "fasttext")
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_language_file_lid_threshold_is_a_default_that_config_and_flag_override(tmp_path):
    """fi/eu/et's files set their calibrated LID threshold (FineWeb-2 sets one per language); a --config
    file and --lid-threshold still win, and a language without one keeps LidSettings' default."""
    import yaml

    def lid(*args):
        result = run_langmill("corpus", "--print-config", *args)
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)["lid"]

    eu = language_lid_thresholds("eu")["threshold"]
    assert eu != LidSettings.threshold and lid("--lang", "eu")["threshold"] == eu
    assert language_lid_thresholds("et").keys() == {"heliport_threshold"}  # et's backend is heliport
    (tmp_path / "mine.yaml").write_text("lid:\n  threshold: 0.8\n", encoding="utf-8")
    assert lid("--lang", "eu", "--config", tmp_path / "mine.yaml")["threshold"] == 0.8
    assert lid("--lang", "eu", "--config", tmp_path / "mine.yaml", "--lid-threshold", "0.7")["threshold"] == 0.7
    assert language_lid_thresholds("sw") == {} and lid("--lang", "sw")["threshold"] == LidSettings.threshold
