"""Rebuild the shipped fi/eu/et quality settings (langmill/configs/languages/) with `langmill calibrate`.

The reference is the public text in ../shared/data, cut into documents per source by
scripts/reference_docs.py (its docstring says how): ud, udhr, libreoffice, leipzig, and for fi also
chat-dolly, chat-oasst1, chat-mtbench. Only the calibration half is used: the documents with an even
index in each source (bench/quality.py measures on the odd half). Each source is one REFERENCE input,
and calibrate runs with --per-input: every source on its own loses at most the budget (issue 14's
">= 95 % kept in every genre"), not only their mean.

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
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # reference_docs, also when loaded by file path (tests)
from reference_docs import ISO3, ROOT, SOURCES, describe, sources  # noqa: E402,F401
from reference_docs import TEXT as DATA  # noqa: E402

# Every source keeps >= 95 % (--per-input: the "in every genre"); the LID threshold is
# calibrated too and written into the file (lid.threshold or lid.heliport_threshold: the backend
# corpus uses for the language), as FineWeb-2 sets one per language.
MODE = ("--per-input",)
# The language-neutral defaults: the mean over languages (each weighing the same) may lose 5 %; per
# input, dozens of 12-document UDHR inputs would leave no rule standing.
NEUTRAL_BUDGET = 0.05
BUDGET = 0.03  # per source on the calibration half; held out, the drop is 1-2 points higher (issue 14 asks >= 95 % kept, held out)

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


def neutral_languages() -> list[str]:
    """Every language with text in ../shared/data (UD, UDHR, Leipzig)."""
    langs = {p.name.split("_")[0] for p in (DATA / "ud").glob("*-ud-dev.txt")} | {p.stem for p in (DATA / "lingua-sentences").glob("*.txt")}
    langs |= {code for code, iso in ISO3.items() if (DATA / "udhr" / f"udhr_{iso}.txt").is_file()}
    return sorted(langs)


# --- calibrate and write ----------------------------------------------------------------------------


def write_reference(folder: Path, docs: dict[str, list[str]]) -> list[Path]:
    """One JSONL per source, each its own input (with --per-input each keeps >= 95 %: the chat sources too)."""
    paths = []
    for name, texts in docs.items():
        path = folder / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        paths.append(path)
    return paths


def run_calibrate(lang: str, paths: list[Path], out: Path) -> str:
    cmd = [sys.executable, "-m", "langmill.cli", "calibrate", *map(str, paths), "--lang", lang, "--out", str(out), "--budget", str(BUDGET), *MODE]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        sys.exit(f"calibrate {lang} failed:\n{result.stderr}")
    return result.stdout + result.stderr


def language_file(lang: str, calibrated: Path, docs: dict[str, list[str]], log: str, paths: list[Path]) -> str:
    """The shipped file: description and provenance, calibrate's sections, the hand-kept C4 values."""
    from langmill import __version__

    data = yaml.safe_load(calibrated.read_text(encoding="utf-8"))
    comments = [line for line in calibrated.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    lid = {k: v for k, v in data.pop("lid").items() if k in ("threshold", "heliport_threshold")}
    backend = "heliport" if "heliport_threshold" in lid else "fasttext"
    data = {"lid": lid, **data}
    formula = next((line.split("(FineWeb-2): ")[1].split(";")[0] for line in comments if "(FineWeb-2): " in line), "?")
    keep = LANGUAGES[lang]
    shipped = ROOT / "langmill" / "configs" / "languages" / f"{lang}.yaml"
    hand = yaml.safe_load(shipped.read_text(encoding="utf-8")) if shipped.is_file() else {}
    data.setdefault("c4", {}).update({k: v for k, v in hand.get("c4", {}).items() if k in ("min_words_per_line", "extra_policy_substrings")})
    for section in data.values():
        section.pop("enabled", None)  # which filters run is quality.yaml's choice (C4: off)
    summary = [line[2:] for line in comments if line.startswith(("# Budget", "# dropped with"))]
    summary += [f"  {Path(line.split(': ')[0].strip('# ')).stem}: {line.split(': ', 1)[1]}" for line in comments
                if line.startswith("#   ") and line.endswith(" dropped")]  # one line per input
    lines = [
        *(f"# {line}" for line in keep["about"]),
        "#",
        f"# Calibrated: scripts/calibrate_languages.py ({datetime.date.today().isoformat()}, langmill {__version__}), which runs",
        f"#   langmill calibrate {' '.join(p.name if p.suffix else p.name + '/' for p in paths)} --lang {lang} --budget {BUDGET} {' '.join(MODE)}",
        "# on the calibration half (even-indexed documents) of ../shared/data (scripts/reference_docs.py), one input",
        "# per source:",
        *(f"#   {name}: {len(texts)} documents ({describe(name, lang)})" for name, texts in docs.items()),
        *(f"# {line}" for line in summary),
        f"# Language ID: the document threshold of {backend} (the backend corpus uses for {lang}); FineWeb-2's formula",
        f"#   on this reference gives {formula}, calibrate loosened it to {next(iter(lid.values()))} (never under 0.3 for fastText).",
        f"# The budget, {BUDGET:.0%} per source, is calibrate's default; on new text the drop is 1-2 points higher (the held-out",
        "#   halves in bench/quality.md: at 4 and 5 % some genres lose more than 5 %).",
        "# Thresholds are calibrate's: never stricter than the published Gopher/C4/FineWeb values (a comment gives",
        "# the published value where calibrate moved it); langmill's own rules (separators, garbled and distinct",
        "# words, stop words per length) loosened from a strict start (given as \"langmill's start\"). By hand:",
        "# the curated stop words (calibrate sets min_stop_words on them) and the C4 values (C4 is off by",
        "# default; they apply when a --config turns it on).",
    ]
    return "\n".join(lines) + "\n" + annotate(yaml.dump(data, Dumper=_FlowLists, allow_unicode=True, sort_keys=False, width=100))


class _FlowLists(yaml.SafeDumper):
    """Lists (stop words, substrings) on a few lines, mappings in block style."""


_FlowLists.add_representer(list, lambda dumper, v: dumper.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _lookup(tree: dict, path: list[str]):
    for key in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(int(key) if key.isdigit() else key)
    return tree


def annotate(text: str) -> str:
    """Each threshold calibrate moved gets its published value (langmill's own rules: their start) as a
    comment; a by_length bucket's, the bucket's own start or else the section's published value."""
    from langmill.calibrate import OWN_START, PUBLISHED

    out, section, path = [], None, []
    for line in text.splitlines():
        key, colon, value = line.strip().partition(":")
        indent = len(line) - len(line.lstrip())
        if not colon or line.lstrip().startswith(("[", "'", '"')) or (indent and not line.strip()[0].isalnum() and not key.isdigit()):
            out.append(line)  # a long list's continuation
            continue
        if indent == 0:
            section, path = key, []
            out.append(line)
            continue
        path = path[: indent // 2 - 1] + [key]
        value = value.strip()
        if value and not value.startswith(("[", "{")):
            main = path[2:] if path[0] == "by_length" else path
            own = _lookup(OWN_START.get(section, {}), path)
            if own is None and path[0] == "by_length":  # a bucket without a start of its own starts at the section's
                own = _lookup(OWN_START.get(section, {}), main)
            published = _lookup(PUBLISHED.get(section, {}), main)
            try:
                if own is not None and not isinstance(own, dict) and float(value) != float(own):
                    line += f"  # langmill's start {own}"
                elif own is None and published is not None and not isinstance(published, dict) and float(value) != float(published):
                    line += f"  # published {published}"
            except ValueError:
                pass  # not a number (true/false, a word)
        out.append(line)
    return "\n".join(out) + "\n"


def neutral(work: Path) -> None:
    """The language-neutral thresholds: every language weighs the same, each of its sources the same.
    Prints calibrate's table, then the weighted drop of these and of the published thresholds on the
    calibration half and on the held-out half (the numbers in configs/quality.yaml's header)."""
    import numpy as np

    from langmill.calibrate import calibrate, normalised_groups, published_bound, simulate_quality, table

    def reference(half: str):
        texts, groups, names, shares = [], [], [], []
        langs = neutral_languages()
        for lang in langs:
            docs = sources(lang, half)
            for name, items in docs.items():
                names.append(f"{lang}/{name}")
                shares.append(1 / len(langs) / len(docs))
                groups += [len(names) - 1] * len(items)
                texts += items
        return texts, groups, names, shares, langs

    texts, groups, names, shares, langs = reference("even")
    cal, meas = calibrate(texts, None, budget=NEUTRAL_BUDGET, groups=groups, input_names=names, group_shares=shares, keep_measurements=True)
    print(f"languages: {' '.join(langs)}; {len(texts)} documents")
    print("\n".join(table(cal)))
    bound = published_bound()
    bound["gopher_quality"]["stop_words"] = []
    for half in ("even", "odd"):
        texts, groups, names, shares, _ = reference(half)
        norm, group_arr = normalised_groups(texts, groups)
        weights = np.array([shares[g] / max(int((group_arr == g).sum()), 1) for g in group_arr])
        meas.lid_texts = norm
        for label, config in (("these thresholds", cal.config), ("the published ones", bound)):
            dropped = np.array([r is not None for r in simulate_quality(meas, config)])
            print(f"{half} half ({len(norm)} documents): {label} drop {weights[dropped].sum() / weights.sum():.2%} (weighted)")


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
            text = language_file(lang, work / f"{lang}.yaml", docs, log, paths)
            if args.dry_run:
                print(text)
            else:
                (ROOT / "langmill" / "configs" / "languages" / f"{lang}.yaml").write_text(text, encoding="utf-8")
                print(f"wrote langmill/configs/languages/{lang}.yaml")


if __name__ == "__main__":
    main()
