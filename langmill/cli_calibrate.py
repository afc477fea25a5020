"""`langmill calibrate`: options -> reference texts -> `langmill.calibrate` -> a --config file and a table."""

import datetime
import os
import shlex
import sys

import click

from langmill.cli import _check_language, _fail


def read_reference(inputs: list[str], text_key: str, split: str) -> tuple[list[str], list[int], list[tuple[str, int]], int]:
    """(texts, the input each came from, (file, size) of each file, unreadable rows) with langmill's
    own readers; an input is one REFERENCE argument (a file, a folder or a glob). `split` "lines"
    makes every non-blank line of a .txt file one document (JSONL/Parquet rows stay whole)."""
    from langmill.readers import InputError, InputReader, check_input_files, input_format, resolve_inputs

    texts, groups, sizes, bad = [], [], [], 0
    for g, item in enumerate(inputs):
        try:
            files = resolve_inputs([item])
            check_input_files(files, text_key)
        except InputError as err:
            _fail(str(err))
        reader = InputReader(files, text_key=text_key, split="paragraphs" if split == "paragraphs" else "document")
        for doc in reader.run():
            if doc.metadata.get("bad_row"):
                bad += 1
                continue
            if split == "lines" and input_format(doc.metadata["source"]) == "text":
                found = [line for line in doc.text.split("\n") if line.strip()]
            else:
                found = [doc.text] if doc.text.strip() else []
            texts += found
            groups += [g] * len(found)
        sizes += [(path, os.path.getsize(path)) for path in files]
    return texts, groups, sizes, bad


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
@click.option("--lid-backend", help="Language ID by fasttext or heliport, as `langmill corpus --lid-backend`: the threshold is set on "
              "that backend's scores and the file pins it. [default: the one corpus uses for --lang]")
@click.option("--balance/--no-balance", default=True,
              help="Each REFERENCE input (file, folder or glob) weighs the same in the false-drop rate, however many documents it "
              "holds; --no-balance: each document weighs the same.")
@click.option("--per-input", is_flag=True,
              help="The budget holds for every REFERENCE input on its own (\"at least 95 %% kept in every genre\"), not only for "
              "their mean: thresholds loosen until the input that loses the most is within it.")
@click.option("--keep-lid", is_flag=True,
              help="Keep the LID threshold `langmill corpus` uses (the backend's default) instead of calibrating it: what it drops "
              "is paid from the budget first, and only the quality rules are set.")
def calibrate(inputs, lang, out, budget, text_key, split, lid_model, lid_backend, balance, per_input, keep_lid):
    """Quality-filter and language-ID thresholds for a language, from clean reference text.

    REFERENCE is text known to be well-formed in the language (UD treebanks, Wikipedia, UDHR, a
    trusted corpus): files, directories or globs, read as `langmill corpus` reads them. Give one
    REFERENCE per genre or source: each weighs the same in the budget (--no-balance: each
    document), so a large source of one genre does not set the thresholds alone. Thresholds start
    at the published Gopher/C4/FineWeb values and are loosened where the reference needs it, until
    the whole pipeline drops at most --budget of the reference; stop words come from token
    frequencies, the LID threshold from FineWeb-2's formula (median - 1 std of the reference's
    scores). The table shows each rule's false drop with a 95 % interval and the drop per input;
    the method is in langmill/calibrate.py.

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
    if lid_backend is not None:
        from langmill.config import check_option

        try:
            check_option("--lid-backend", "lid.backend", lid_backend)
        except ConfigError as err:
            _fail(str(err))
        lid.backend = lid_backend
        if lid_backend == "heliport" and lid_model:
            _fail(f"--lid-model {lid_model} is a fastText model; heliport (--lid-backend heliport) brings its own: leave out one of them")
    backends = ("fasttext",)
    if hasattr(lid, "backend"):  # the LID backend corpus would use for the language ("auto" resolved)
        from langmill.lid_backends import resolve_backends

        lid.backend, lid.line_backend = resolve_backends(lang, lid.backend, lid.line_backend, lid.model)
        backends = (lid.backend, lid.line_backend)
    _check_language(lang, lid.model, "--lang", backends)
    texts, groups, sizes, bad = read_reference(inputs, text_key, split)
    if bad:
        click.echo(f"langmill: warning: {bad:,} unreadable row(s) in the reference were left out", err=True)
    if not texts:
        _fail(f"{', '.join(inputs)}: no text in the reference ({bad:,} unreadable rows, every other one empty)")
    click.echo(f"langmill calibrate: {len(texts):,} reference documents from {len(sizes)} file(s) (lang={lang}, budget {budget:.1%})", err=True)
    try:
        cal = run_calibration(texts, lang, budget=budget, lid=lid, groups=groups, input_names=list(inputs), balance=balance,
                              per_input=per_input, keep_lid=keep_lid)
    except ValueError as err:
        _fail(f"{', '.join(inputs)}: {err}")
    command = "langmill calibrate " + " ".join(shlex.quote(str(a)) for a in sys.argv[2:]) if sys.argv[1:2] == ["calibrate"] else None
    write_settings(cal, out, sizes, __version__, datetime.date.today().isoformat(), command)
    try:  # what corpus --config will read
        load_config(lang, out)
    except ConfigError as err:
        _fail(f"{out}: the written settings do not load ({err}); please report this")
    click.echo("\n".join(table(cal)))
    _warnings(cal)
    click.echo(f"langmill calibrate: wrote {out}; use it with: langmill corpus INPUT... --lang {lang} --config {out} --out OUT", err=True)


def _warnings(cal) -> None:
    from langmill.calibrate import MIN_TAIL_DOCS

    for res, needed in cal.small_tails():
        click.echo(f"langmill: warning: {res.rule.name}: only {res.dropped} reference document(s) lie beyond its threshold "
                   f"(< {MIN_TAIL_DOCS}): the threshold and its false drop are unreliable; about {needed:,} documents would give {MIN_TAIL_DOCS}", err=True)
    if cal.switched_off():
        click.echo(f"langmill: warning: the reference's tail reaches the end of the range of {', '.join(r.rule.name for r in cal.switched_off())}: "
                   "those rules drop nothing now (check the reference, or raise --budget)", err=True)
    if cal.balanced and len(cal.per_input) > 1:  # an input's weight is 1/inputs however few documents it holds
        for name, docs, _ in cal.per_input:
            if docs < 20:
                hint = " (.txt: --split paragraphs or lines makes one document per block or line)" if str(name).endswith(".txt") else ""
                click.echo(f"langmill: warning: {name} holds {docs} reference document(s) but weighs 1/{len(cal.per_input)} of the budget: "
                           f"so few documents weigh as much as each other input; give it more text{hint}, or use --no-balance", err=True)
    for name in cal.beyond_budget:
        click.echo(f"langmill: warning: {name}: language ID puts more than the budget of it in another language; --per-input leaves it "
                   "out (no threshold can keep it within the budget)", err=True)
    total = cal.n + cal.other_language
    if cal.other_language > cal.budget * total:
        click.echo(f"langmill: warning: language ID puts {cal.other_language:,} of {total:,} reference documents ({cal.other_language / total:.1%}) in "
                   f"another language; they are left out of the budget{' (with --per-input, each input pays for its own)' if cal.every_input else ''}. "
                   "Check the reference, or use a --lid-model that knows the language", err=True)
    if cal.expected_rate > cal.budget:
        click.echo(f"langmill: warning: expected false drop on new text {cal.expected_rate:.1%} > the budget {cal.budget:.1%} even with every rule "
                   f"loosened as far as the reference allows ({cal.joint_dropped} documents dropped whatever the thresholds, "
                   f"{cal.extreme_correction:.1%} for thresholds at the reference's extremes): a larger reference or a larger --budget", err=True)
