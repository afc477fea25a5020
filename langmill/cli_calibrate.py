"""`langmill calibrate`: options -> reference texts -> `langmill.calibrate` -> a --config file and a table."""

import datetime
import math
import os

import click

from langmill.cli import _check_language, _fail


def read_reference(inputs: list[str], text_key: str, split: str) -> tuple[list[str], list[tuple[str, int]], int]:
    """(texts, (file, size) of each input, unreadable rows) with langmill's own readers; `split`
    "lines" makes every non-blank line of a .txt file one document (JSONL/Parquet rows stay whole)."""
    from langmill.readers import InputError, InputReader, check_input_files, input_format, resolve_inputs

    try:
        files = resolve_inputs(list(inputs))
        check_input_files(files, text_key)
    except InputError as err:
        _fail(str(err))
    reader = InputReader(files, text_key=text_key, split="paragraphs" if split == "paragraphs" else "document")
    texts, bad = [], 0
    for doc in reader.run():
        if doc.metadata.get("bad_row"):
            bad += 1
        elif split == "lines" and input_format(doc.metadata["source"]) == "text":
            texts += [line for line in doc.text.split("\n") if line.strip()]
        elif doc.text.strip():
            texts.append(doc.text)
    return texts, [(path, os.path.getsize(path)) for path in files], bad


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="REFERENCE...")
@click.option("--lang", help="Language of the reference text (ISO 639-1 such as fi, or 639-3 such as fin / fin_Latn).")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="The settings file to write (YAML for langmill corpus --config).")
@click.option("--budget", type=click.FloatRange(0, 0.5, min_open=True), default=0.03,
              help="Share of the reference documents the whole pipeline (LID + quality filters) may drop.")
@click.option("--text-key", default="text", help="Field (JSONL) or column (Parquet) that holds the text.")
@click.option("--split", type=click.Choice(["document", "paragraphs", "lines"]), default="document",
              help="For .txt references: one document per file, per blank-line-separated block, or per line.")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model the corpus will use. Default: the embedded lid.176.ftz.")
def calibrate(inputs, lang, out, budget, text_key, split, lid_model):
    """Quality-filter and language-ID thresholds for a language, from clean reference text.

    REFERENCE is text known to be well-formed in the language (UD treebanks, Wikipedia, UDHR, a
    trusted corpus): files, directories or globs, read as `langmill corpus` reads them. Each
    threshold is set at the tail of the reference's distribution, so that the whole pipeline drops
    at most --budget of the reference; stop words come from token frequencies, the LID threshold
    from FineWeb-2's formula (median - 1 std of the reference's scores). The table shows each
    rule's expected false drop with a 95 % interval; the method is in langmill/calibrate.py.

    \b
    Example:
      langmill calibrate wiki-fi.parquet ud/fi_tdt-ud-dev.txt --lang fi --out fi.yaml
      langmill corpus crawl/*.jsonl.gz --lang fi --config fi.yaml --out fi-corpus
    """
    from langmill import __version__
    from langmill.calibrate import calibrate as run_calibration
    from langmill.calibrate import table, write_settings
    from langmill.config import ConfigError, load_config
    from langmill.languages import canonical_lang

    if not inputs:
        _fail("no REFERENCE given (files, directories or globs of clean text in the language)")
    if not lang:
        _fail("--lang is required (e.g. --lang fi)")
    if not out:
        _fail("--out is required (the settings file to write, e.g. --out fi.yaml)")
    if os.path.isdir(out):
        _fail(f"--out {out}: is a directory; give the settings file to write")
    if lid_model:
        from langmill.filters.lid import check_lid_model

        if not os.path.isfile(lid_model):
            _fail(f"{lid_model}: language-ID model not found")
        try:
            check_lid_model(lid_model)
        except ConfigError as err:
            _fail(str(err))
    lang = canonical_lang(lang)
    settings, _ = load_config(lang)
    lid = settings.lid
    if lid_model:
        lid.model = lid_model
    backends = ("fasttext",)
    if hasattr(lid, "backend"):  # the LID backend corpus would use for the language ("auto" resolved)
        from langmill.lid_backends import resolve_backends

        lid.backend, lid.line_backend = resolve_backends(lang, lid.backend, lid.line_backend, lid.model)
        backends = (lid.backend, lid.line_backend)
    _check_language(lang, lid.model, "--lang", backends)
    texts, sizes, bad = read_reference(inputs, text_key, split)
    if bad:
        click.echo(f"langmill: warning: {bad:,} unreadable row(s) in the reference were left out", err=True)
    if not texts:
        _fail(f"{', '.join(inputs)}: no text in the reference ({bad:,} unreadable rows, every other one empty)")
    click.echo(f"langmill calibrate: {len(texts):,} reference documents from {len(sizes)} file(s) (lang={lang}, budget {budget:.1%})", err=True)
    try:
        cal = run_calibration(texts, lang, budget=budget, lid=lid)
    except ValueError as err:
        _fail(f"{', '.join(inputs)}: {err}")
    write_settings(cal, out, sizes, __version__, datetime.date.today().isoformat())
    try:  # what corpus --config will read
        load_config(lang, out)
    except ConfigError as err:
        _fail(f"{out}: the written settings do not load ({err}); please report this")
    click.echo("\n".join(table(cal)))
    _warnings(cal)
    click.echo(f"langmill calibrate: wrote {out}; use it with: langmill corpus INPUT... --lang {lang} --config {out} --out OUT", err=True)


def _warnings(cal) -> None:
    from langmill.calibrate import MIN_TAIL_DOCS, switched_off

    for res, needed in cal.small_tails():
        click.echo(f"langmill: warning: {res.rule.name}: only {res.dropped} reference document(s) lie beyond its threshold "
                   f"(< {MIN_TAIL_DOCS}): the threshold and its false drop are unreliable; about {needed:,} documents would give {MIN_TAIL_DOCS}", err=True)
    if cal.switched_off():
        click.echo(f"langmill: warning: the reference's tail reaches the end of the range of {', '.join(r.rule.name for r in cal.switched_off())}: "
                   "those rules drop nothing now (check the reference, or raise --budget)", err=True)
    total = cal.n + cal.other_language
    if cal.other_language > cal.budget * total:
        click.echo(f"langmill: warning: language ID puts {cal.other_language:,} of {total:,} reference documents ({cal.other_language / total:.1%}) in "
                   "another language; they are left out of the budget. Check the reference, or use a --lid-model that knows the language", err=True)
    if cal.expected_rate > cal.budget:
        fitted = sum(1 for r in cal.results if r.calibrated and r.rule.kind != "flag" and not switched_off(r.rule, r.threshold))
        click.echo(f"langmill: warning: expected false drop on new text {cal.expected_rate:.1%} > the budget {cal.budget:.1%} even at the loosest "
                   f"thresholds the reference supports ({fitted} rules set at its extremes, {cal.joint_dropped} documents dropped); "
                   f"about {math.ceil((fitted + cal.joint_dropped) / cal.budget):,} reference documents would fit the budget", err=True)
