"""`langmill publish`: options -> a PublishJob -> langmill.publish.publish -> summary (no logic of its own)."""

import click

from langmill.cli import _fail


@click.command()
@click.argument("folders", nargs=-1, metavar="DIR[=CONFIG]...")
@click.option("--repo-id", help="The Hub repo, ORG/NAME (created when missing).")
@click.option("--license", "license_id", help="License of what is published, as a Hub license id (apache-2.0, cc-by-4.0, other, ...). Required.")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False), metavar="LOCAL_DIR",
              help="Write the exact repo tree (card and shards) to LOCAL_DIR instead of uploading; its README.md is merged like the repo's.")
@click.option("--include-excluded", is_flag=True, help="Also publish each folder's excluded/ rows (with reason and detail) as config <config>-excluded.")
@click.option("--by-language", is_flag=True, help="One config per folder and `lang` value, named <config>-<lang>.")
@click.option("--pretty-name", help="The card's title and pretty_name. [default: NAME of the repo id; an existing card keeps its own]")
@click.option("--message", help="Commit message. [default: langmill publish]")
@click.option("--base-model", help="Model repos: the Hub id (ORG/NAME) of the base model, when training started from a local copy of it.")
def publish(folders, repo_id, license_id, private, dry_run, include_excluded, by_language, pretty_name, message, base_model):
    """Publish langmill output folders as one Hugging Face dataset repo, one config per folder,
    with a dataset card written from each folder's stats.json and logs/job.json (provenance,
    settings, counts kept and excluded by reason, QC, languages, source licenses), merged into the
    card the repo already has. A `langmill train` output folder is published as a model repo.

    The token comes from HF_TOKEN or `hf auth login` and is never printed or written. An
    interrupted upload resumes when the same command is run again.

    \b
    Examples:
      langmill publish corpus-fi sft-fi=sft prefs-fi --repo-id my-org/fi-data --license cc-by-4.0
      langmill publish corpus-fi --repo-id my-org/fi-data --license cc-by-4.0 --by-language --include-excluded --dry-run /tmp/fi-data
      langmill publish sft-run --repo-id my-org/tiny-fi-sft --license apache-2.0
    """
    from langmill.publish import PublishError, PublishJob
    from langmill.publish import publish as run_publish

    if not repo_id:
        _fail("--repo-id is required (ORG/NAME)")
    job = PublishJob(specs=list(folders), repo_id=repo_id, license=(license_id or "").strip().lower(), private=private, dry_run=dry_run,
                     include_excluded=include_excluded, by_language=by_language, pretty_name=pretty_name, message=message,
                     base_model=base_model)
    try:
        result = run_publish(job, echo=lambda line: click.echo(line, err=True))
    except PublishError as err:
        _fail(str(err))
    where = result["url"]
    if dry_run:
        click.echo(f"wrote the repo tree to {where} ({result['files']:,} files); nothing was uploaded")
    else:
        click.echo(f"published to {where} ({result['files']:,} files, {result['bytes'] / 1e6:,.1f} MB)"
                   + ("; its card was merged with ours" if result.get("had_card") else ""))
    if result["model"] is not None:
        click.echo(f"model: {result['model'].kind} run {result['model'].path} (card: README.md; records: langmill/)")
        return
    width = max(len(c.name) for c in result["configs"])
    target = where if dry_run else repo_id
    for config in result["configs"]:
        click.echo(f"  {config.name:<{width}}  {config.rows:>10,} rows   load_dataset({target!r}, {config.name!r})")
