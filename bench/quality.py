"""How much well-formed text the corpus filters keep and how much junk they catch (issue 14) -> bench/quality.md.

For fi, eu and et, from real text in ../shared/data:

  1. well-formed documents per genre (UD dev treebanks, LibreOffice help pages, UDHR, Leipzig
     sentences, and for Finnish chat answers from Dolly, oasst1 and MT-Bench), built by
     scripts/reference_docs.py, the builders scripts/calibrate_languages.py calibrates the shipped
     language files with: the even-index half is that calibration reference, the odd-index half
     (less any text also in the even half) is held out, and only it is measured;
  2. junk documents of ten kinds (navigation, cookie notices, keyword spam, code, number tables,
     mixed-language pages, machine repetition, lorem ipsum, OCR noise), built from real material
     where there is some (the recipes are in JUNK_RECIPES and in the .md);
  3. four configurations, all through the real CLI: `langmill corpus` defaults, `--profile fineweb2`,
     a profile computed by `langmill calibrate` from the calibration half (genres balanced), and
     datatrove's own filters at their default thresholds, run in-process on the documents langmill's
     default language-ID step kept (a `langmill corpus` run with every quality filter off).

Near-duplicate removal is switched off (`dedup.min_words` above any document's length); exact dedup
has no switch, so a document dropped as `exact_dup` or `near_dup` counts as kept: it passed every
filter. This measures filters, not dedup. Each document's fate is read back by id from OUT/data and
OUT/excluded (reason and rule). The "Language ID" section copies the accuracy table of
bench/lid_backends.md.

    .venv/bin/python bench/quality.py          # ~2 minutes on 2 cores (needs the bench extra: pip install -e .[bench], for spaCy)
"""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "scripts"))

import calibrate_languages  # noqa: E402
import reference_docs  # noqa: E402
from langmill.evalstats import wilson_interval  # noqa: E402

DATA = reference_docs.SHARED
TEXT = reference_docs.TEXT
LANGMILL = str(REPO / ".venv" / "bin" / "langmill")
LANGS = ("fi", "eu", "et")
UD = {"fi": ("fi_tdt", "fi_ftb"), "eu": ("eu_bdt",), "et": ("et_ewt",)}
JUNK_PER_KIND = 120
SEED = 14
CONFIGS = ("defaults", "fineweb2", "calibrated", "datatrove", "datatrove-sw")
GOAL_KEPT, GOAL_CAUGHT = 0.95, 0.90
NO_NEAR_DEDUP = {"dedup": {"min_words": 10**9}}
FILTERS_OFF = {s: {"enabled": False} for s in ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality")}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def words(text: str) -> int:
    return len(text.split())


# --- well-formed genres ----------------------------------------------------------------------------------

GENRE_RECIPES = reference_docs.RECIPES  # one definition, shared with scripts/calibrate_languages.py


def build_genres(lang: str) -> dict[str, tuple[list[str], list[str]]]:
    """{genre: (calibration half, evaluation half)}: scripts/reference_docs.py's sources, even and odd
    halves; the even halves are what scripts/calibrate_languages.py calibrates the shipped files on."""
    even, odd = reference_docs.sources(lang, "even"), reference_docs.sources(lang, "odd")
    return {g: (even[g], odd[g]) for g in even}


# --- junk ------------------------------------------------------------------------------------------------

JUNK_RECIPES = {
    "navigation": "6-15 lines of menus (`A | B | C`, 3-8 items), breadcrumbs (`A > B > C`) and footers (`© 2023 A · B`) "
                  "from LibreOffice UI strings (parallel-strings lo-ui en-fi / en-eu, `~` removed, 1-4 words); "
                  "Estonian has no UI strings here, so its items are Estonian help headings (h1-h3 differing from en-US)",
    "cookie": "1-3 cookie/JavaScript notices + a button line + 0-2 menu lines; the notices and buttons are short generic "
              "templates written by us (5 per language)",
    "keyword_spam": "40-150 words drawn from 5-20 of the language's 300 most frequent words (>= 4 letters, Leipzig + UD), "
                    "joined by one separator per document (`, `, ` | `, ` - `, space, newline, ` #`)",
    "code": "20-60 consecutive lines of a Python standard-library module (Lib/*.py of the running interpreter)",
    "table": "a header of 3-6 words of the language + 10-30 rows of numbers (years, counts, decimals with comma, "
             "percentages), one separator per table (` | `, tab, spaces)",
    "mixed": "8-14 English Leipzig sentences (two per line) with 1-2 lines of one target-language Leipzig sentence inserted; "
             "caught = dropped, or kept with foreign_share >= 0.5 (its English lines removed by line LID, so what is kept is "
             "target-language text)",
    "repetition": "half: one real sentence (UD) repeated 10-40 times, one per line; half: a real 3-6 sentence "
                  "document (UD) whose lines appear 2-3 times in a row (a pasted page)",
    "lorem": "2-5 paragraphs of lorem ipsum (sentences of 6-15 words from the classical word list), half opening with "
             "`Lorem ipsum dolor sit amet...`; a third with a target-language heading line",
    "ocr": "a real 8-sentence Leipzig/UD document with 25 % of its non-space characters substituted (OCR confusions "
           "and random symbols), a line break after 15 % of words, 10 % of long words hyphenated across a line break",
}

COOKIE = {
    "fi": (["Tämä sivusto käyttää evästeitä käyttökokemuksen parantamiseksi.",
            "Jatkamalla sivuston käyttöä hyväksyt evästeiden käytön.",
            "Käytämme evästeitä sisällön ja mainosten personointiin sekä liikenteen analysointiin.",
            "Ota JavaScript käyttöön nähdäksesi tämän sivun sisällön.",
            "Selaimesi ei tue JavaScriptiä."],
           ["Hyväksy kaikki", "Vain välttämättömät", "Evästeasetukset", "Tietosuojaseloste", "Lue lisää"]),
    "eu": (["Webgune honek cookieak erabiltzen ditu zure esperientzia hobetzeko.",
            "Nabigatzen jarraitzen baduzu, cookieen erabilera onartzen duzu.",
            "Cookieak erabiltzen ditugu edukia pertsonalizatzeko eta trafikoa aztertzeko.",
            "Gaitu JavaScript orri honen edukia ikusteko.",
            "Zure nabigatzaileak ez du JavaScript onartzen."],
           ["Onartu guztiak", "Beharrezkoak soilik", "Cookie-ezarpenak", "Pribatutasun-politika", "Gehiago irakurri"]),
    "et": (["See veebileht kasutab küpsiseid, et parandada teie kasutuskogemust.",
            "Lehe kasutamist jätkates nõustute küpsiste kasutamisega.",
            "Kasutame küpsiseid sisu isikupärastamiseks ja liikluse analüüsimiseks.",
            "Selle lehe sisu nägemiseks lubage JavaScript.",
            "Teie brauser ei toeta JavaScripti."],
           ["Nõustu kõigiga", "Ainult vajalikud", "Küpsiste seaded", "Privaatsuspoliitika", "Loe edasi"]),
}
LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna "
         "aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute "
         "irure in reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur sint occaecat cupidatat non "
         "proident sunt culpa qui officia deserunt mollit anim id est laborum").split()
OCR_CONFUSIONS = "il1|!IrnmcoeO0Q5S8B6bgq9.,;:'`~^-_ /\\()[]"


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def ui_items(lang: str) -> list[str]:
    """Short interface strings of the language: LibreOffice UI (fi, eu) or help headings (et)."""
    if lang in ("fi", "eu"):
        rows = read_jsonl_gz(DATA / "parallel-strings" / f"lo-ui-7.4.7.en-{lang}.jsonl.gz")
        items = [r[lang].replace("~", "").strip() for r in rows]
    else:
        folder = TEXT / "libreoffice-help"
        english = {(r["file"], r["par_id"]): r["text"] for r in read_jsonl_gz(folder / "lo-help-7.4.7.en-US.jsonl.gz")}
        items = [r["text"].strip() for r in read_jsonl_gz(folder / f"lo-help-7.4.7.{lang}.jsonl.gz")
                 if r["tag"] in ("h1", "h2", "h3") and english.get((r["file"], r["par_id"])) != r["text"]]
    return sorted({i for i in items if 1 <= words(i) <= 4 and not re.search(r"[%$<>{}]", i)})


def real_sentences(lang: str) -> list[str]:
    ud = [s.strip() for bank in UD[lang] for s in (TEXT / "ud" / f"{bank}-ud-dev.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    leipzig = [x.strip() for x in (TEXT / "lingua-sentences" / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
    return ud + leipzig


def frequent_words(lang: str, n: int = 300) -> list[str]:
    counts = Counter(w for s in real_sentences(lang) for w in re.findall(r"[^\W\d_]{4,}", s.lower()))
    return [w for w, _ in counts.most_common(n)]


def junk_navigation(rng, items, lang) -> str:
    lines = []
    for _ in range(rng.randint(6, 15)):
        kind = rng.random()
        if kind < 0.5:
            lines.append(" | ".join(rng.sample(items, rng.randint(3, 8))))
        elif kind < 0.8:
            lines.append(" > ".join(rng.sample(items, rng.randint(3, 5))))
        else:
            lines.append(f"© {rng.randint(2005, 2025)} " + " · ".join(rng.sample(items, rng.randint(2, 5))))
    return "\n".join(lines)


def junk_cookie(rng, items, lang) -> str:
    notices, buttons = COOKIE[lang]
    lines = [" ".join(rng.sample(notices, rng.randint(1, 3)))]
    lines.append(" | ".join(rng.sample(buttons, rng.randint(2, 4))))
    lines += [" | ".join(rng.sample(items, rng.randint(3, 6))) for _ in range(rng.randint(0, 2))]
    rng.shuffle(lines)
    return "\n".join(lines)


def junk_keyword_spam(rng, vocab, lang) -> str:
    keywords = rng.sample(vocab, rng.randint(5, 20))
    sep = rng.choice([", ", " | ", " - ", " ", "\n", " #"])
    return sep.join(rng.choice(keywords) for _ in range(rng.randint(40, 150)))


def junk_code(rng, modules, lang) -> str:
    while True:
        lines = rng.choice(modules).read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) > 80:
            start, n = rng.randrange(len(lines) - 60), rng.randint(20, 60)
            chunk = "\n".join(lines[start:start + n])
            if words(chunk) >= 20:
                return chunk


def junk_table(rng, vocab, lang) -> str:
    sep = rng.choice([" | ", "\t", "   "])
    cols = rng.randint(3, 6)
    rows = [sep.join(w.capitalize() for w in rng.sample(vocab, cols))]
    for _ in range(rng.randint(10, 30)):
        cells = [str(rng.randint(1990, 2025))]
        for _ in range(cols - 1):
            form = rng.random()
            cells.append(f"{rng.randint(0, 999)} {rng.randint(0, 999):03d}" if form < 0.3 else
                         f"{rng.uniform(0, 100):.1f}".replace(".", ",") if form < 0.6 else
                         f"{rng.uniform(-20, 80):.1f} %" if form < 0.8 else str(rng.randint(0, 99)))
        rows.append(sep.join(cells))
    return "\n".join(rows)


def junk_mixed(rng, pools, lang) -> str:
    english, target = pools
    start = rng.randrange(len(english) - 14)
    en = english[start:start + rng.randint(8, 14)]
    lines = [" ".join(en[i:i + 2]) for i in range(0, len(en), 2)]
    for _ in range(rng.randint(1, 2)):
        lines.insert(rng.randint(0, len(lines)), rng.choice(target))
    return "\n".join(lines)


def junk_repetition(rng, sentences, lang) -> str:
    if rng.random() < 0.5:
        return "\n".join([rng.choice(sentences)] * rng.randint(10, 40))
    start = rng.randrange(len(sentences) - 6)
    lines = sentences[start:start + rng.randint(3, 6)]
    return "\n".join(line for line in lines for _ in range(rng.randint(2, 3)))


def junk_lorem(rng, items, lang) -> str:
    paragraphs = []
    for _ in range(rng.randint(2, 5)):
        sents = [" ".join(rng.choice(LOREM) for _ in range(rng.randint(6, 15))).capitalize() + "." for _ in range(rng.randint(3, 6))]
        paragraphs.append(" ".join(sents))
    if rng.random() < 0.5:
        paragraphs[0] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + paragraphs[0]
    if rng.random() < 1 / 3:
        paragraphs.insert(0, rng.choice(items))
    return "\n".join(paragraphs)


def junk_ocr(rng, sentences, lang) -> str:
    start = rng.randrange(len(sentences) - 8)
    text = " ".join(sentences[start:start + 8])
    chars = [rng.choice(OCR_CONFUSIONS) if not c.isspace() and rng.random() < 0.25 else c for c in text]
    out = []
    for word in "".join(chars).split():
        if len(word) > 6 and rng.random() < 0.10:
            cut = rng.randint(2, len(word) - 2)
            word = word[:cut] + "-\n" + word[cut:]
        out.append(word + ("\n" if rng.random() < 0.15 else " "))
    return "".join(out).strip()


def build_junk(lang: str) -> dict[str, list[str]]:
    items, vocab = ui_items(lang), frequent_words(lang)
    ud = [s.strip() for bank in UD[lang] for s in (TEXT / "ud" / f"{bank}-ud-dev.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    leipzig = [x.strip() for x in (TEXT / "lingua-sentences" / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
    english = [x.strip() for x in (TEXT / "lingua-sentences" / "en.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
    modules = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    makers = {
        "navigation": (junk_navigation, items), "cookie": (junk_cookie, items), "keyword_spam": (junk_keyword_spam, vocab),
        "code": (junk_code, modules), "table": (junk_table, vocab), "mixed": (junk_mixed, (english, leipzig)),
        "repetition": (junk_repetition, ud), "lorem": (junk_lorem, items), "ocr": (junk_ocr, leipzig + ud),
    }
    junk = {}
    for kind, (make, material) in makers.items():
        rng = random.Random(f"{SEED}-{lang}-{kind}")
        junk[kind] = [make(rng, material, lang) for _ in range(JUNK_PER_KIND)]
    return junk


# --- running the configurations --------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench/quality.py: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def calibrate(lang: str, genres: dict[str, tuple[list[str], list[str]]], work: Path) -> tuple[Path, str]:
    """`langmill calibrate` with its defaults on the calibration halves, one input per genre (as
    scripts/calibrate_languages.py gives them; it adds --per-input and its own budget)."""
    folder = work / f"calibration-{lang}"
    folder.mkdir(parents=True)
    inputs = []
    for genre, docs in genres.items():
        path = folder / f"{genre}.jsonl"
        write_jsonl(path, [{"id": f"{genre}:{i}", "text": t} for i, t in enumerate(docs[0])])
        inputs.append(str(path))
    out = work / f"calibrated-{lang}.yaml"
    printed = run([LANGMILL, "calibrate", *inputs, "--lang", lang, "--out", str(out)])
    return out, printed


def settings_file(work: Path, name: str, *layers: dict) -> Path:
    merged: dict = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(merged, allow_unicode=True), encoding="utf-8")
    return path


def corpus(inp: Path, lang: str, out: Path, config: Path, profile: str | None = None) -> dict[str, dict]:
    """Run `langmill corpus`; each document's fate by id: {"kept": bool, "reason": str, "foreign_share": float}."""
    cmd = [LANGMILL, "corpus", str(inp), "--lang", lang, "--out", str(out), "--config", str(config), "--overwrite"]
    run(cmd + (["--profile", profile] if profile else []))
    fates = {}
    for row in pl.read_parquet(out / "data" / "*.parquet").select("id", "foreign_share").iter_rows(named=True):
        fates[row["id"]] = {"kept": True, "reason": None, "foreign_share": row["foreign_share"] or 0.0}
    for row in pl.read_parquet(out / "excluded" / "*.parquet").select("id", "reason", "detail", "text").iter_rows(named=True):
        passed = row["reason"] in ("exact_dup", "near_dup")  # dedup comes after every filter
        rule = row["detail"].split("=")[0] if row["reason"] not in ("lid", "empty", "bad_row") and row["detail"] else ""
        fates[row["id"]] = {"kept": passed, "reason": None if passed else f"{row['reason']}{': ' + rule if rule else ''}",
                            "foreign_share": 0.0, "text": row["text"]}
    return fates


def datatrove_fates(lid_fates: dict[str, dict], texts: dict[str, str], lang: str, stop_words=None) -> dict[str, dict]:
    """datatrove's four filters at their default thresholds (tokenizer of `lang`) on the text langmill's
    default LID step kept; a document LID dropped stays dropped for `lid`. `stop_words`: replaces
    GopherQualityFilter's default (English) list."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    quality = GopherQualityFilter(language=lang, **({"stop_words": stop_words} if stop_words else {}))
    chain = [GopherRepetitionFilter(language=lang), quality, C4QualityFilter(language=lang), FineWebQualityFilter(language=lang)]
    fates = {}
    for doc_id, fate in lid_fates.items():
        if not fate["kept"]:
            fates[doc_id] = fate
            continue
        doc, reason = Document(text=texts[doc_id], id=doc_id), None
        for step in chain:
            verdict = step.filter(doc)
            ok, why = (verdict, "") if isinstance(verdict, bool) else verdict
            if not ok:
                reason = f"{type(step).__name__}: {why}"
                break
        fates[doc_id] = {"kept": reason is None, "reason": reason, "foreign_share": fate["foreign_share"]}
    return fates


def kept_texts(out: Path) -> dict[str, str]:
    texts = dict(pl.read_parquet(out / "data" / "*.parquet").select("id", "text").iter_rows())
    dups = pl.read_parquet(out / "excluded" / "*.parquet").filter(pl.col("reason").is_in(["exact_dup", "near_dup"]))
    texts.update(dict(dups.select("id", "text").iter_rows()))
    return texts


def run_configs(lang: str, genres: dict, junk: dict, work: Path) -> tuple[dict[str, dict], str]:
    rows = [{"id": f"{g}:{i}", "text": t} for g, docs in genres.items() for i, t in enumerate(docs[1])]
    rows += [{"id": f"junk/{k}:{i}", "text": t} for k, docs in junk.items() for i, t in enumerate(docs)]
    inp = work / f"input-{lang}.jsonl"
    write_jsonl(inp, rows)
    log(f"{lang}: calibrate on the calibration half")
    calibrated, printed = calibrate(lang, genres, work)
    base = settings_file(work, f"base-{lang}", NO_NEAR_DEDUP)
    fates = {}
    log(f"{lang}: corpus, defaults")
    fates["defaults"] = corpus(inp, lang, work / f"out-{lang}-defaults", base)
    log(f"{lang}: corpus --profile fineweb2")
    fates["fineweb2"] = corpus(inp, lang, work / f"out-{lang}-fineweb2", base, profile="fineweb2")
    log(f"{lang}: corpus --config calibrated")
    cal = settings_file(work, f"calibrated-dedup-{lang}", yaml.safe_load(calibrated.read_text(encoding="utf-8")), NO_NEAR_DEDUP)
    fates["calibrated"] = corpus(inp, lang, work / f"out-{lang}-calibrated", cal)
    log(f"{lang}: corpus LID only, then datatrove's filters")
    lid_out = work / f"out-{lang}-lid"
    lid_fates = corpus(inp, lang, lid_out, settings_file(work, f"lid-{lang}", NO_NEAR_DEDUP, FILTERS_OFF))
    texts = kept_texts(lid_out)
    fates["datatrove"] = datatrove_fates(lid_fates, texts, lang)
    from langmill.config import load_quality_config

    stop_words = load_quality_config(lang)[0]["gopher_quality"]["stop_words"]
    fates["datatrove-sw"] = datatrove_fates(lid_fates, texts, lang, stop_words=stop_words)
    return fates, printed


# --- tables ----------------------------------------------------------------------------------------------


def caught(fate: dict, kind: str) -> bool:
    if not fate["kept"]:
        return True
    return kind == "mixed" and fate["foreign_share"] >= 0.5


def cell(k: int, n: int) -> str:
    if n == 0:
        return "-"
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.3f} [{lo:.2f}, {hi:.2f}]"


def outcomes(fates: dict, genres: dict, junk: dict) -> dict:
    """{("genre", g): (kept, n), ("junk", k): (caught, n)} for one config."""
    res = {}
    for g, docs in genres.items():
        ids = [f"{g}:{i}" for i in range(len(docs[1]))]
        res[("genre", g)] = (sum(fates[i]["kept"] for i in ids), len(ids))
    for k, docs in junk.items():
        ids = [f"junk/{k}:{i}" for i in range(len(docs))]
        res[("junk", k)] = (sum(caught(fates[i], k) for i in ids), len(ids))
    return res


def results_table(lang: str, per_config: dict, genres: dict, junk: dict) -> list[str]:
    out = [f"### {lang}", "", "| set | n | " + " | ".join(CONFIGS) + " |", "|---|---|" + "---|" * len(CONFIGS)]
    for g in genres:
        n = per_config[CONFIGS[0]][("genre", g)][1]
        out.append(f"| kept: {g} | {n} | " + " | ".join(cell(*per_config[c][("genre", g)]) for c in CONFIGS) + " |")
    for k in junk:
        n = per_config[CONFIGS[0]][("junk", k)][1]
        out.append(f"| caught: {k} | {n} | " + " | ".join(cell(*per_config[c][("junk", k)]) for c in CONFIGS) + " |")
    pooled = {c: [sum(v[i] for key, v in per_config[c].items() if key[0] == "junk") for i in (0, 1)] for c in CONFIGS}
    out.append(f"| **caught: all junk** | {pooled[CONFIGS[0]][1]} | " + " | ".join(f"**{cell(*pooled[c])}**" for c in CONFIGS) + " |")
    return out + [""]


def mixed_note(lang: str, fates: dict, junk: dict) -> str:
    """How mixed-language pages were caught: dropped whole, or kept with their English lines removed."""
    ids = [f"junk/mixed:{i}" for i in range(len(junk["mixed"]))]
    parts = [f"{c} {sum(not fates[c][i]['kept'] for i in ids)} dropped / "
             f"{sum(fates[c][i]['kept'] and fates[c][i]['foreign_share'] >= 0.5 for i in ids)} kept without their English lines"
             for c in CONFIGS]
    return f"{lang} mixed-language pages ({len(ids)}): " + "; ".join(parts) + "."


def goal(per_config: dict) -> tuple[bool, list[str]]:
    """Goal: every genre kept >= 95 % and all junk pooled caught >= 90 % (point estimates); what fails."""
    fails = [f"{key[1]} {k / n:.2f}" for key, (k, n) in per_config.items() if key[0] == "genre" and n and k / n < GOAL_KEPT]
    kc = sum(k for key, (k, _) in per_config.items() if key[0] == "junk")
    nc = sum(n for key, (_, n) in per_config.items() if key[0] == "junk")
    if kc / nc < GOAL_CAUGHT:
        fails.append(f"junk caught {kc / nc:.2f}")
    weak = [f"{key[1]} {k / n:.2f}" for key, (k, n) in per_config.items() if key[0] == "junk" and k / n < GOAL_CAUGHT]
    return not fails, fails + ([f"(kinds < 0.90: {', '.join(weak)})"] if weak else [])


def goal_table(results: dict) -> list[str]:
    out = ["| lang | config | goal met | fails (genres kept < 0.95; junk caught < 0.90) |", "|---|---|---|---|"]
    for lang, per_config in results.items():
        for c in CONFIGS:
            met, fails = goal(per_config[c])
            out.append(f"| {lang} | {c} | {'yes' if met else 'no'} | {'; '.join(fails) or '-'} |")
    return out + [""]


def reasons_table(lang: str, fates: dict, genres: dict) -> list[str]:
    out = [f"#### {lang}: why well-formed documents were dropped (top 3 reasons, count)", "",
           "| genre | " + " | ".join(CONFIGS) + " |", "|---|" + "---|" * len(CONFIGS)]
    for g, docs in genres.items():
        ids = [f"{g}:{i}" for i in range(len(docs[1]))]
        cells = []
        for c in CONFIGS:
            top = Counter(fates[c][i]["reason"] for i in ids if not fates[c][i]["kept"]).most_common(3)
            cells.append(", ".join(f"{r} ({n})" for r, n in top) or "-")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return out + [""]


def recipe_table(all_genres: dict, all_junk: dict) -> list[str]:
    out = ["| lang | genre | documents (calibration / evaluation) | median words (evaluation) |", "|---|---|---|---|"]
    for lang, genres in all_genres.items():
        for g, docs in genres.items():
            cal, ev = docs
            med = sorted(map(words, ev))[len(ev) // 2] if ev else 0
            out.append(f"| {lang} | {g} | {len(cal)} / {len(ev)} | {med} |")
    return out + [""]


def lid_section() -> list[str]:
    path = REPO / "bench" / "lid_backends.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    match = re.search(r"## Top-1 accuracy.*?\n(\|.*?)\n\n", text, re.S)
    from langmill.lid_backends import DEFAULT_BACKEND

    out = ["## Language ID", "",
           "Copied from `bench/lid_backends.md` (rebuilt by `bench/lid_backends.py`: 1,000 Leipzig sentences per language, "
           "documents of ~1.8 kB joined from them; 95 % Wilson intervals). The default backend per language is "
           "heliport only where its sentence interval lies wholly above lid.176's, else fastText; it is "
           "`DEFAULT_BACKEND` in `langmill/lid_backends.py`, which every run above used.", ""]
    out += [match.group(1), ""] if match else ["(bench/lid_backends.md not found: run bench/lid_backends.py)", ""]
    out += ["Per-language default used here: " + ", ".join(f"{lang} {DEFAULT_BACKEND.get(lang, 'fasttext')}" for lang in LANGS) + ".", ""]
    return out


def git_version() -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def short_calibrate_output(printed: str) -> list[str]:
    """calibrate's output with its per-rule "too few reference documents in the tail" warnings in one line."""
    thin = re.compile(r"langmill: warning: (\S+): only \d+ reference document\(s\) lie beyond")
    lines, rules = [], []
    for line in printed.strip().splitlines():
        match = thin.match(line)
        if match:
            rules.append(match.group(1))
        elif "wrote" not in line:  # the temp path of the settings file
            lines.append(line)
    if rules:
        lines.append(f"langmill: warning (one per rule, shortened here): fewer than 40 reference documents beyond the threshold of: {', '.join(rules)}")
    return lines


def report(results, all_fates, all_genres, all_junk, calibrations, seconds) -> str:
    head = [
        "# Corpus filter quality: well-formed text kept, junk caught (fi, eu, et)", "",
        f"Rebuilt by `bench/quality.py` ({time.strftime('%Y-%m-%d')}, langmill at {git_version()}, {seconds / 60:.1f} min on this machine). "
        "Every number is a share of documents with its 95 % Wilson interval. Well-formed documents are the "
        "**held-out half** (odd document index) of each genre, built by `scripts/reference_docs.py`; the even half is the "
        "calibration reference, the same documents `scripts/calibrate_languages.py` calibrates the packaged fi/eu/et "
        "settings (the **defaults** column) on, so every column is measured on documents none of them was calibrated on.", "",
        "## Configurations", "",
        "- **defaults**: `langmill corpus --lang L` with its packaged settings.",
        "- **fineweb2**: `--profile fineweb2` (FineWeb-2's settings for the language; the LID threshold stays langmill's, "
        "the language file's, because lid.176/heliport are not GlotLID).",
        "- **calibrated**: `--config` with the output of `langmill calibrate INPUT... --lang L` at its defaults (budget 0.03 "
        "of the mean over inputs) on the calibration halves, one input per genre, the inputs `scripts/calibrate_languages.py` "
        f"gives it for the packaged settings, which add `--per-input` (every genre on its own) and a budget of "
        f"{calibrate_languages.BUDGET} (its settings file plus the dedup line below).",
        "- **datatrove**: datatrove's GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter "
        "(`datatrove.pipeline.filters`, default thresholds, `language=L` for the tokenizer; in this order, in-process) on "
        "the documents and text that langmill's default language-ID step kept (a `langmill corpus` run with every quality "
        "filter off; foreign lines removed as langmill does). datatrove's LanguageFilter would download its model, so "
        "**the LID step is langmill's default for every configuration** (fastText lid.176 for fi and eu, heliport for et, "
        "at the threshold the language's file sets). "
        "datatrove's default stop words are English (`the`, `be`, `to`, ...), so its stop-word rule (two of them) drops "
        "nearly every fi/eu/et document;",
        "- **datatrove-sw**: the same, with GopherQualityFilter's `stop_words` set to langmill's packaged stop words of "
        "the language (what a datatrove user would do for a non-English corpus), every threshold still datatrove's.",
        "",
        "All langmill runs go through the real CLI (`.venv/bin/langmill corpus ... --config X`) with near-duplicate removal "
        "off (`dedup: {min_words: 1000000000}`; near dedup only looks at documents of at least `min_words` words). Exact "
        "dedup has no switch: a document dropped as `exact_dup`/`near_dup` passed every filter and counts as kept. "
        "**This measures filters, not dedup.** A document's fate is read by id from `data/` and `excluded/`.",
        "",
        f"Goal (issue 14): ≥ {GOAL_KEPT:.0%} of well-formed documents kept in every genre, ≥ {GOAL_CAUGHT:.0%} of junk caught "
        "(all kinds pooled), judged on the point estimates.", "",
    ]
    body = ["## Goal check", ""] + goal_table(results) + ["## Kept and caught, per configuration", ""]
    for lang in results:
        body += results_table(lang, results[lang], all_genres[lang], all_junk[lang])
        body += [mixed_note(lang, all_fates[lang], all_junk[lang]), ""]
    body += ["## What loses good text", "",
             "`reason: rule` from `excluded/` (langmill) or `filter: reason` (datatrove); `lid` = language ID.", ""]
    for lang in results:
        body += reasons_table(lang, all_fates[lang], all_genres[lang])
    body += ["## Data", "", "### Well-formed genres", ""]
    body += [f"- **{g}**: {r}." for g, r in GENRE_RECIPES.items()]
    rd = reference_docs
    body += ["", "Every genre is one source of `scripts/reference_docs.py`, built once in a fixed order and split by "
             "document index: even = calibration (the reference of the packaged settings and of **calibrated**), odd = "
             "evaluation, less any document whose text is also in the even half (identical LibreOffice help pages), so the "
             "evaluation half is strictly held out. UD, UDHR, LibreOffice and Leipzig have no minimum length and no cap. "
             f"Chat (Finnish only): answers of at least {rd.MIN_WORDS} words whose Finnish function words outnumber the English "
             "ones (fixed lists, not a language-ID model; Finnish: " + ", ".join(sorted(rd.FI_FUNCTION)) + "; English: "
             + ", ".join(sorted(rd.EN_FUNCTION)) + f"), each answer once, at most {rd.CHAT_CAP} per source (a seeded sample, "
             "kept in source order), all before the split. Basque and Estonian have no chat data in ../shared/data "
             "(MT-Bench has Estonian questions, no answers).", ""]
    body += recipe_table(all_genres, all_junk)
    body += ["### Junk", "", f"{JUNK_PER_KIND} documents per kind and language, seed {SEED}.", ""]
    body += [f"- **{k}**: {r}." for k, r in JUNK_RECIPES.items()]
    body += ["", "### The calibrated profiles (langmill calibrate's terminal table)", ""]
    for lang, printed in calibrations.items():
        body += [f"{lang}:", "", "```", *short_calibrate_output(printed), "```", ""]
    return "\n".join(head + body + lid_section())


def main() -> None:
    if not TEXT.is_dir():
        sys.exit(f"bench/quality.py: {TEXT} is absent (../shared/data is needed)")
    start = time.time()
    results, all_fates, all_genres, all_junk, calibrations = {}, {}, {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="langmill-quality-") as tmp:
        for lang in LANGS:
            log(f"{lang}: building genres and junk")
            all_genres[lang], all_junk[lang] = build_genres(lang), build_junk(lang)
            work = Path(tmp) / lang
            work.mkdir()
            all_fates[lang], calibrations[lang] = run_configs(lang, all_genres[lang], all_junk[lang], work)
            results[lang] = {c: outcomes(all_fates[lang][c], all_genres[lang], all_junk[lang]) for c in CONFIGS}
            for line in results_table(lang, results[lang], all_genres[lang], all_junk[lang]):
                print(line)
    text = report(results, all_fates, all_genres, all_junk, calibrations, time.time() - start)
    (REPO / "bench" / "quality.md").write_text(text + "\n", encoding="utf-8")
    log(f"wrote bench/quality.md ({(time.time() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
