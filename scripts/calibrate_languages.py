"""Rebuild the shipped fi/eu/et quality settings (langmill/configs/languages/) with `langmill calibrate`.

The reference is the public text in ../shared/data, cut into documents per source:

    ud           UD dev treebank sentences, 5-15 consecutive ones per document (text/ud/<lang>_*-ud-dev.txt)
    udhr         UDHR paragraphs, 4 consecutive ones per document (text/udhr/udhr_<iso3>.txt)
    libreoffice  LibreOffice help paragraphs grouped per page, paragraphs left in English removed, pages
                 of 3 paragraphs or more (text/libreoffice-help/lo-help-7.4.7.<lang>.jsonl.gz, en-US file)
    leipzig      Leipzig news/web sentences, 8 per document (text/lingua-sentences/<lang>.txt)

Only the calibration half is used: the documents with an even index in each source (bench/quality.py
measures on the odd half). Each source is one REFERENCE input, so each weighs the same in the budget.

    .venv/bin/python scripts/calibrate_languages.py                 # fi eu et -> configs/languages/
    .venv/bin/python scripts/calibrate_languages.py --neutral       # the language-neutral values (printed)
    .venv/bin/python scripts/calibrate_languages.py --dry-run fi    # calibrate, print, write nothing

A language file keeps what calibrate should not replace: its description (LANGUAGES below), its curated
stop words and C4's policy substrings and line length (read from the shipped file, kept for a user who
turns C4 back on); every threshold is calibrate's, with the provenance in the header.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LANGMILL_SHARED_DATA", ROOT.parent / "shared" / "data")) / "text"
BUDGET = 0.05  # the goal of issue 14: >= 95 % of well-formed documents kept (the budget is the mean over sources)
ISO3 = {"fi": "fin", "eu": "eus", "et": "est", "cy": "cym", "is": "isl", "en": "eng", "yo": "yor"}

# Each file's description; its curated stop words and C4 values are read from the shipped file and
# kept (calibrate sets everything else).
LANGUAGES = {
    "fi": {
        "about": ["Finnish. Agglutinative: long words, few of them (mean word length 7.6-7.8 code points in UDHR",
                  "and Leipzig news vs 5.0 for English)."],
    },
    "eu": {
        "about": ["Basque. Agglutinative: mean word length 6.8 (Leipzig news, UDHR) vs 5.0 for English."],
    },
    "et": {
        "about": ["Estonian. Agglutinative like Finnish: mean word length 6.1-6.6 (Leipzig news, UDHR) vs 5.0",
                  "for English; web writing ends many sentences with '...' (9.6 % of Estonian Web Treebank sentences)."],
    },
}


# --- documents per source --------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ud_documents(lang: str) -> list[str]:
    """Consecutive sentences grouped into documents of 5-15, treebank by treebank."""
    docs = []
    for path in sorted((DATA / "ud").glob(f"{lang}_*-ud-dev.txt")):
        sentences, rnd, i = _lines(path), random.Random(0), 0
        while i < len(sentences):
            k = rnd.randint(5, 15)
            docs.append(" ".join(sentences[i : i + k]))
            i += k
    return docs


def _grouped(path: Path, per_doc: int, joiner: str) -> list[str]:
    """Consecutive lines of `path` joined into documents of `per_doc` (none when the file is absent)."""
    if not path.is_file():
        return []
    lines = _lines(path)
    return [joiner.join(lines[i : i + per_doc]) for i in range(0, len(lines), per_doc)]


def udhr_documents(lang: str, per_doc: int = 4) -> list[str]:
    return _grouped(DATA / "udhr" / f"udhr_{ISO3.get(lang, lang)}.txt", per_doc, "\n\n")


# A page left with one or two translated paragraphs is its title and a line: a fragment, not a page.
MIN_PAGE_PARAGRAPHS = 3


def libreoffice_documents(lang: str) -> list[str]:
    """Help pages of translated paragraphs (those still in English left out), in file order, of at
    least MIN_PAGE_PARAGRAPHS paragraphs."""
    folder = DATA / "libreoffice-help"
    path = folder / f"lo-help-7.4.7.{lang}.jsonl.gz"
    if not path.is_file():
        return []
    with gzip.open(folder / "lo-help-7.4.7.en-US.jsonl.gz", "rt", encoding="utf-8") as f:
        english = {json.loads(line)["text"] for line in f}
    pages: dict[str, list[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for row in map(json.loads, f):
            if row["text"] not in english:
                pages.setdefault(row["file"], []).append(row["text"])
    return ["\n".join(p) for _, p in sorted(pages.items()) if len(p) >= MIN_PAGE_PARAGRAPHS]


def leipzig_documents(lang: str, per_doc: int = 8) -> list[str]:
    return _grouped(DATA / "lingua-sentences" / f"{lang}.txt", per_doc, " ")


SOURCES = {"ud": ud_documents, "udhr": udhr_documents, "libreoffice": libreoffice_documents, "leipzig": leipzig_documents}


def sources(lang: str, half: str = "even") -> dict[str, list[str]]:
    """{source: documents} of one half: even (calibration) or odd (held out)."""
    start = 0 if half == "even" else 1
    return {name: docs[start::2] for name, build in SOURCES.items() if (docs := build(lang))}


def neutral_languages() -> list[str]:
    """Every language with text in ../shared/data (UD, UDHR, Leipzig)."""
    langs = {p.name.split("_")[0] for p in (DATA / "ud").glob("*-ud-dev.txt")} | {p.stem for p in (DATA / "lingua-sentences").glob("*.txt")}
    langs |= {code for code, iso in ISO3.items() if (DATA / "udhr" / f"udhr_{iso}.txt").is_file()}
    return sorted(langs)


# --- calibrate and write ----------------------------------------------------------------------------


def write_reference(folder: Path, docs: dict[str, list[str]]) -> list[Path]:
    paths = []
    for name, texts in docs.items():
        path = folder / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        paths.append(path)
    return paths


def run_calibrate(lang: str, paths: list[Path], out: Path) -> str:
    cmd = [sys.executable, "-m", "langmill.cli", "calibrate", *map(str, paths), "--lang", lang, "--out", str(out), "--budget", str(BUDGET)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        sys.exit(f"calibrate {lang} failed:\n{result.stderr}")
    return result.stdout + result.stderr


def language_file(lang: str, calibrated: Path, docs: dict[str, list[str]], log: str) -> str:
    """The shipped file: description and provenance, calibrate's sections, the hand-kept C4 values."""
    from langmill import __version__

    data = yaml.safe_load(calibrated.read_text(encoding="utf-8"))
    comments = [line for line in calibrated.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    lid = data.pop("lid")
    keep = LANGUAGES[lang]
    shipped = ROOT / "langmill" / "configs" / "languages" / f"{lang}.yaml"
    hand = yaml.safe_load(shipped.read_text(encoding="utf-8")) if shipped.is_file() else {}
    data.setdefault("c4", {}).update({k: v for k, v in hand.get("c4", {}).items() if k in ("min_words_per_line", "extra_policy_substrings")})
    for section in data.values():
        section.pop("enabled", None)  # which filters run is quality.yaml's choice (C4: off)
    summary = [line[2:] for line in comments if line.startswith(("# Budget", "# dropped with"))]
    summary += [f"  {Path(line.split(': ')[0].strip('# ')).stem}: {line.split(': ', 1)[1]}" for line in comments if ".jsonl: " in line]
    lines = [
        *(f"# {line}" for line in keep["about"]),
        "#",
        f"# Calibrated: scripts/calibrate_languages.py ({datetime.date.today().isoformat()}, langmill {__version__}), which runs",
        f"#   langmill calibrate ud.jsonl udhr.jsonl libreoffice.jsonl leipzig.jsonl --lang {lang} --budget {BUDGET}",
        "# on the calibration half (even-indexed documents) of ../shared/data/text, one input per source:",
        *(f"#   {name}: {len(texts)} documents ({describe(name, lang)})" for name, texts in docs.items()),
        *(f"# {line}" for line in summary),
        f"# Language ID (not read from this file; set lid.{next(iter(lid))} in a --config file to use it): "
        + ", ".join(f"{k} {v}" for k, v in lid.items()) + ".",
        "# Thresholds are calibrate's (never stricter than the published Gopher/C4/FineWeb values; a comment",
        "# gives the published value where calibrate moved it). By hand: the curated stop words (calibrate",
        "# sets min_stop_words on them) and the C4 values (C4 is off by default; they apply when a --config",
        "# turns it on).",
    ]
    return "\n".join(lines) + "\n" + annotate(yaml.dump(data, Dumper=_FlowLists, allow_unicode=True, sort_keys=False, width=100))


class _FlowLists(yaml.SafeDumper):
    """Lists (stop words, substrings) on a few lines, mappings in block style."""


_FlowLists.add_representer(list, lambda dumper, v: dumper.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def annotate(text: str) -> str:
    """Each threshold calibrate moved gets its published value (langmill's own rules: their start) as a comment."""
    from langmill.calibrate import OWN_START, PUBLISHED

    out, section, mapping = [], None, None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        published = None
        if not line.startswith(" "):
            section, mapping = key, None
        elif line.startswith("    ") and not (mapping and key.isdigit()):
            pass  # a long list's continuation
        elif line.startswith("    "):
            published = PUBLISHED.get(section, {}).get(mapping, {}).get(int(key))
        elif value.strip() == "":
            mapping = key
        else:
            mapping, published = None, PUBLISHED.get(section, {}).get(key)
        own = OWN_START.get(section, {}).get(key) if published is None and not line.startswith("    ") else None
        if own is not None and float(value) != float(own):
            line += f"  # langmill's start {own}"
        if published is not None and not isinstance(published, dict) and float(value) != float(published):
            line += f"  # published {published}"
        out.append(line)
    return "\n".join(out) + "\n"


def describe(name: str, lang: str) -> str:
    return {
        "ud": f"text/ud/{lang}_*-ud-dev.txt, 5-15 consecutive sentences",
        "udhr": f"text/udhr/udhr_{ISO3.get(lang, lang)}.txt, 4 consecutive paragraphs",
        "libreoffice": f"text/libreoffice-help/lo-help-7.4.7.{lang}.jsonl.gz, pages of 3+ translated paragraphs",
        "leipzig": f"text/lingua-sentences/{lang}.txt, 8 consecutive sentences",
    }[name]


def neutral(work: Path) -> None:
    """The language-neutral thresholds: every language weighs the same, each of its sources the same."""
    from langmill.calibrate import calibrate, table

    texts, groups, names, shares = [], [], [], []
    langs = neutral_languages()
    for lang in langs:
        docs = sources(lang)
        for name, items in docs.items():
            names.append(f"{lang}/{name}")
            shares.append(1 / len(langs) / len(docs))
            groups += [len(names) - 1] * len(items)
            texts += items
    cal = calibrate(texts, None, budget=BUDGET, groups=groups, input_names=names, group_shares=shares)
    print(f"languages: {' '.join(langs)}; {len(texts)} documents")
    print("\n".join(table(cal)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("langs", nargs="*", default=list(LANGUAGES))
    parser.add_argument("--neutral", action="store_true", help="print the language-neutral thresholds instead")
    parser.add_argument("--dry-run", action="store_true", help="calibrate and print; write no language file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.neutral:
            neutral(work)
            return
        for lang in args.langs:
            docs = sources(lang)
            folder = work / lang
            folder.mkdir()
            paths = write_reference(folder, docs)
            log = run_calibrate(lang, paths, work / f"{lang}.yaml")
            print(log)
            text = language_file(lang, work / f"{lang}.yaml", docs, log)
            if args.dry_run:
                print(text)
            else:
                (ROOT / "langmill" / "configs" / "languages" / f"{lang}.yaml").write_text(text, encoding="utf-8")
                print(f"wrote langmill/configs/languages/{lang}.yaml")


if __name__ == "__main__":
    main()
