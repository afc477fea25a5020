"""`langmill arena serve|invite|status|pause|resume|results`: options -> langmill.arena (no logic of its own)."""

import json
import os
import re
import sys
import time

import click

from langmill.cli import _fail

DB_HELP = "The campaign's database: a SQLite file (created when missing) or postgresql://USER:PASSWORD@HOST/DB."


def _store(db: str, create: bool = False):
    from langmill.arena.store import Store, StoreError

    try:
        return Store(db, create=create)
    except StoreError as err:
        _fail(str(err))


@click.group(name="arena")
def arena_group():
    """Native speakers compare two anonymous answers side by side; Bradley–Terry ratings, and how
    far an LLM judge agrees with them.

    \b
    A campaign:
      langmill arena serve --answers a.jsonl b.jsonl c.jsonl --lang fi --db arena.sqlite
      langmill arena invite --db arena.sqlite --n 50 --base-url https://arena.example.org --out links.csv
      langmill arena invite --db arena.sqlite --admin --base-url https://arena.example.org --out admin.csv
      langmill arena results --db arena.sqlite --out arena-results --judge eval-out
    """


@arena_group.command()
@click.argument("answer_specs", nargs=-1, metavar="[NAME=]ANSWERS...")
@click.option("--answers", "answers_flag", is_flag=True,
              help="Only says that the answer files follow (`--answers a.jsonl b.jsonl`); they may also come without it. Each is a model's "
                   "answers (langmill eval answers, MT-Bench model_answer/*.jsonl, SFT shards, completions) or a preference shard (two "
                   "sides: NAME/chosen, NAME/rejected); at least two models; NAME= renames. Not needed to restart a campaign.")
@click.option("--prompts", "prompt_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Prompts the answer files do not hold (MT-Bench question.jsonl, or any prompt rows).")
@click.option("--lang", help="The campaign's language (ISO 639-1 such as fi or eu). Required for a new campaign.")
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface; put a TLS proxy in front).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True, help="Requests served at once.")
@click.option("--ui-lang", help="Language of the participants' pages: a shipped translation (en, fi). [default: --lang where shipped, else en]")
@click.option("--ui-file", type=click.Path(dir_okay=False, exists=True), help="Your own translation of langmill/arena/locales/template.yaml.")
@click.option("--goal", type=click.IntRange(min=1), default=20, show_default=True, help="Votes per participant that the progress bar counts to.")
@click.option("--rate-limit", type=click.IntRange(min=1), default=12, show_default=True, help="Votes per participant per minute; more get 429.")
@click.option("--overlap", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of new pairs given to a second (third, ...) person, so that agreement between people can be measured.")
@click.option("--criteria", metavar="NAME,NAME",
              help="Optional questions besides the overall vote, each answered A / equal / B: language, content, or names of your own "
                   "(their questions: criterion_NAME in --ui-file). The Latxa arena asked about language and content. [default: the "
                   "campaign's, none at first]")
@click.option("--plain-text", is_flag=True, help="Show answers as plain text instead of Markdown (raw HTML is never rendered).")
@click.option("--secure-cookies", is_flag=True, help="Session cookies only over HTTPS (behind a TLS proxy).")
def serve(answer_specs, answers_flag, prompt_paths, lang, db, host, port, threads, ui_lang, ui_file, goal, rate_limit, overlap, criteria, plain_text, secure_cookies):
    """Serve the voting pages (and /admin) until Ctrl-C. The first start loads the answers into
    --db; a restart with the same --db goes on where the campaign was, and --answers with new
    models or prompts adds them (answers already shown cannot change).

    Pairs are scheduled so that every model pair gets votes evenly and nobody sees a pair twice;
    each answer is shown as escaped Markdown, in random order. Every vote is one transaction."""
    from langmill.arena import i18n
    from langmill.arena.app import ArenaSettings, create_app
    from langmill.arena.items import read_campaign
    from langmill.arena.store import StoreError, redacted
    from langmill.languages import canonical_lang
    from langmill.readers import InputError

    campaign = None
    if answer_specs:  # read before the database is made: bad files leave nothing behind
        try:
            campaign = read_campaign(list(answer_specs), list(prompt_paths))
        except InputError as err:
            _fail(str(err))
    store = _store(db, create=True)
    stored_lang = store.setting("lang")
    lang = canonical_lang(lang) if lang else stored_lang
    if not lang:
        _fail("--lang is required for a new campaign")
    if campaign is not None:
        try:
            added = store.load(campaign, lang)
        except StoreError as err:
            _fail(str(err))
        skipped = ", ".join(f"{n:,} {why}" for why, n in campaign.skipped.most_common())
        click.echo(f"answers: {len(campaign.models)} models, {len(campaign.prompts):,} prompts, {len(campaign.answers):,} answers"
                   + (f"; left out: {skipped}" if skipped else "") + (f"; {len(campaign.bad_rows):,} bad rows (first: {campaign.bad_rows[0][0]}: "
                                                                       f"{campaign.bad_rows[0][1]})" if campaign.bad_rows else ""), err=True)
        click.echo(f"database: added {added['prompts']:,} prompts, {added['answers']:,} answers, {added['pairs']:,} pairs", err=True)
    elif stored_lang and lang != stored_lang:
        _fail(f"this arena database is a campaign in {stored_lang!r}, not {lang!r}")
    counts = store.counts()
    if not counts["pairs"]:
        _fail(f"--db {redacted(store.url)} holds no campaign yet; give --answers A B ... and --lang")
    if criteria is not None:
        names = [c.strip() for c in criteria.split(",") if c.strip()]
        bad = next((c for c in names if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", c)), None)
        if bad:
            _fail(f"--criteria: {bad!r} is not a name of lower-case letters, digits and _")
        store.set_setting("criteria", json.dumps(names))
    try:
        shown_lang = ui_lang or (lang if lang in i18n.available() else "en")
        ui, missing = i18n.catalog(shown_lang, ui_file)
    except i18n.CatalogError as err:
        _fail(str(err))
    if missing:
        click.echo(f"warning: the interface translation leaves {len(missing)} text(s) in English: {', '.join(missing)}", err=True)
    settings = ArenaSettings(goal=goal, rate_per_minute=rate_limit, overlap=overlap, criteria=store.criteria, markdown=not plain_text, secure_cookies=secure_cookies, ui=ui,
                             ui_lang=shown_lang if not ui_file else os.path.splitext(os.path.basename(ui_file))[0], lang=lang)
    progress = {"votes": counts["votes"]}

    def on_vote():
        progress["votes"] += 1
        if progress["votes"] % 25 == 0:
            now = store.counts()
            click.echo(f"{time.strftime('%H:%M:%S')} votes: {now['votes']:,} from {now['voters']:,} participants", err=True)

    app = create_app(store, settings, on_vote)
    click.echo(f"arena ({lang}): {counts['models']} models, {counts['prompts']:,} prompts, {counts['pairs']:,} pairs; "
               f"{counts['votes']:,} votes so far from {counts['voters']:,} of {counts['participants']:,} invited participants"
               + ("; PAUSED (langmill arena resume)" if store.paused else ""), err=True)
    if not counts["participants"]:
        click.echo(f"nobody is invited yet: langmill arena invite --db {db} --n 50 --base-url http://{host}:{port} --out links.csv", err=True)
    click.echo(f"serving http://{host}:{port}/ (database {redacted(store.url)}); participants join by their links, organisers by an "
               f"admin link (langmill arena invite --admin ...) to /admin; Ctrl-C stops", err=True)
    from waitress import serve as waitress_serve

    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="langmill-arena", _quiet=True)
    except (OSError, ValueError) as err:  # ValueError: waitress's "Invalid host/port specified."
        _fail(f"cannot listen on {host}:{port}: {getattr(err, 'strerror', None) or err}")
    except KeyboardInterrupt:
        pass
    click.echo(f"stopped; {store.counts()['votes']:,} votes stored", err=True)


@arena_group.command()
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
@click.option("--n", "count", type=click.IntRange(1, 100_000), default=1, show_default=True, help="How many invitation links.")
@click.option("--admin", is_flag=True, help="Admin links instead (the /admin page: progress, live ratings, pause, exports).")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, help="Where participants reach the server.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="CSV file to append the links to (label,role,link); created readable by you only. Links are never printed.")
def invite(db, count, admin, base_url, out):
    """Make invitation links: one per participant (each votes as one person), or admin links.
    The database stores only a hash of each token, so keep the CSV: it is the only copy."""
    store = _store(db)
    role = "admin" if admin else "participant"
    new = not os.path.exists(out)
    try:  # opened before any token is made: a token whose link is not written anywhere is lost
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as err:
        _fail(f"--out {out}: {err.strerror}")
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        made = store.invite(count, role, prefix="admin" if admin else "p")
        if new:
            f.write("label,role,link\n")
        for label, token in made:
            f.write(f"{label},{role},{base_url.rstrip('/')}/join/{token}\n")
    click.echo(f"wrote {len(made):,} {role} link(s) ({made[0][0]}..{made[-1][0]}) to {out}; keep it private: a link lets its holder "
               + ("see the results and pause the campaign" if admin else "vote"))


@arena_group.command()
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
def status(db):
    """Progress of the campaign: votes, participants, and the spread of votes over model pairs."""
    store = _store(db)
    counts = store.counts()
    balance = [n for _, _, n in store.model_pair_votes()]
    click.echo(f"{counts['votes']:,} votes from {counts['voters']:,} of {counts['participants']:,} invited participants; "
               f"{counts['models']} models, {counts['prompts']:,} prompts, {counts['pairs']:,} pairs; "
               f"votes per model pair {min(balance, default=0):,}-{max(balance, default=0):,}; "
               + ("paused" if store.paused else "running"))


@arena_group.command()
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
def pause(db):
    """Stop showing new pairs (a pair already on someone's screen can still be voted)."""
    _store(db).set_setting("paused", "1")
    click.echo("paused: participants see a 'come back later' page; langmill arena resume --db ... restarts voting")


@arena_group.command()
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
def resume(db):
    """Show pairs again after `langmill arena pause`."""
    _store(db).set_setting("paused", "0")
    click.echo("voting resumed")


@arena_group.command()
@click.option("--db", required=True, metavar="FILE|URL", help=DB_HELP)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder: report.html, results.json, votes.csv/.parquet, data/ (TRL preference pairs), excluded/, stats.json.")
@click.option("--judge", "judge_folders", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A `langmill eval winrate` output folder judging the same answers: agreement between the judge and people. Repeatable.")
@click.option("--bootstrap", "rounds", type=click.IntRange(min=0), default=1000, show_default=True, help="Bootstrap resamples for the 95 % intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Leave out votes cast faster than this after the pair was shown (clicked through without reading).")
def results(db, out, judge_folders, rounds, seed, min_seconds):
    """Ratings (Bradley–Terry and Elo with bootstrap 95 % intervals), the win-rate matrix, ties,
    votes per participant, agreement between people and with the LLM judge per category;
    report.html, and the votes as a TRL preference dataset in OUT/data/ (one row per pair where
    more people preferred one answer; the rest in OUT/excluded/ with the reason), which
    `langmill publish OUT --repo-id ORG/NAME --license ...` uploads."""
    from langmill.arena.results import ResultsError, write_results
    from langmill.run import RunError

    store = _store(db)
    started = time.monotonic()
    try:
        stats = write_results(store, out, judge_folders, rounds, seed, min_seconds)
    except (ResultsError, RunError) as err:
        _fail(str(err))
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        summary = json.load(f)
    people = f"{summary['participants']:,} participant" + ("" if summary["participants"] == 1 else "s")
    click.echo(f"{summary['votes']:,} votes ({summary['votes_too_fast']:,} too fast, left out) from {people} in {time.monotonic() - started:.1f} s")
    if summary["rating_problem"]:
        click.echo(f"no ratings: {summary['rating_problem']}")
    for r in summary["ratings"]:
        ci = f" [{r['bt_ci'][0]:.0f}, {r['bt_ci'][1]:.0f}]" if r["bt_ci"] else ""
        click.echo(f"  {r['model']:<40} {r['bt']:7.0f}{ci}  ({r['votes']:,} votes)")
    agree = summary["human_agreement"]
    if agree["percent_agreement"] is not None:
        click.echo(f"people agree on {100 * agree['percent_agreement']:.1f} % of {agree['pairs_with_several_votes']:,} pairs judged by several")
    voted = sorted({m for p in summary["model_pairs"] for m in (p["model_a"], p["model_b"])})
    for name, judging in (summary.get("judges") or {}).items():
        judge = judging["by_category"].get("all")
        if not judge:
            click.echo(f"warning: no vote is on a pair judge {name} judged: it compared {', '.join(judging['judged_models'])}; people "
                       f"voted on {', '.join(voted)} (name the answer files alike, or rename with NAME=PATH in arena serve)", err=True)
        elif judge["agreement"] is not None:
            kappa = f", Cohen's kappa {judge['kappa']:.2f}" if judge["kappa"] is not None else ""
            click.echo(f"judge {name} agrees with people on {100 * judge['agreement']:.1f} % of {judge['votes']:,} votes{kappa}")
    click.echo(f"preference pairs: {stats['kept']:,} kept, {stats['excluded']:,} without a preference "
               f"({', '.join(f'{k} {v:,}' for k, v in stats['excluded_by_reason'].items()) or 'none'})")
    click.echo(f"report:   {os.path.join(os.path.abspath(out), 'report.html')}")
    click.echo(f"pairs:    {os.path.join(os.path.abspath(out), 'data')}/  (langmill publish {out} --repo-id ORG/NAME --license ...)")
    sys.stdout.flush()
