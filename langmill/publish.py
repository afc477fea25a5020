"""`langmill publish`: langmill output folders -> one Hugging Face Hub repo.

    DIR[=CONFIG] ...   data folders (stats.json, data/, excluded/, logs/job.json)
        -> configs       one per folder (--by-language: per folder and `lang` value; --include-excluded:
                         `<config>-excluded` from excluded/)
        -> repo tree     README.md (the card, merged with the repo's own: publish_card.py)
                         data/<config>/train-0000i-of-0000N.parquet (hard links of the shards, or
                         copies; rewritten when --by-language splits them)
        -> --dry-run LOCAL_DIR: the tree is written there, nothing is sent
           otherwise:    create_repo(exist_ok) -> upload_folder (one commit for a normal folder;
                         with hf_xet, huggingface_hub uploads a big one in resumable batches: a rerun
                         skips what is already there)

    MODEL_DIR          a `langmill train` output (OUT/model/): a model repo with OUT/model/'s files,
                       its card (train/card.py's, with license and tags), and the run's records
                       under langmill/ (train_metrics.json, mix.json, config.json). Never checkpoints/.

The token comes from HF_TOKEN or the Hub login (huggingface_hub finds it); it is never printed and
never written: the card is built only from stats.json and a scrubbed logs/job.json, and every
file of the tree but the shards and big weights is searched for it before anything is sent. Hub calls that fail with 429/5xx or
a dropped connection are retried with growing waits (one line each); a refused token, a full quota
and other refusals end the command with one line.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from langmill.publish_card import dataset_card, model_card, read_json, source_licenses, input_paths

REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
CONFIG_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")
RETRY_STATUS = (408, 429, 500, 502, 503, 504)
RETRIES = 5
FIRST_WAIT_S = 1.0
# Files of a model repo that a new upload replaces (stale weight shards of an earlier, larger one).
MODEL_PATTERNS = ["*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "adapter_model.*", "langmill/*"]
TRAIN_RECORDS = ("train_metrics.json", "mix.json", "config.json")
SCANNED_BYTES = 50_000_000  # files below this size are searched for the token before an upload
# Above either, an upload without hf_xet (one commit of everything, restarted from scratch when it
# fails) is worth a warning.
LARGE_FILES, LARGE_BYTES = 200, 2_000_000_000


class PublishError(Exception):
    """Something the user can fix; the message is one line."""


# --- what is published ------------------------------------------------------------------------------


@dataclass
class DataFolder:
    """A langmill output folder of a row stage."""

    path: str
    config: str  # the config name of its kept rows
    stats: dict
    job: dict
    data: list[str]
    excluded: list[str]

    @property
    def stage(self) -> str:
        return str(self.stats.get("stage") or self.job.get("command") or "unknown")

    @property
    def kind(self) -> str:
        """What its rows are: corpus, sft, preference, evaluation (from the stage and the columns)."""
        if self.stage.startswith("eval"):
            return "evaluation"
        names = set(_schema(self.data[0]).names) if self.data else set()
        if {"prompt", "chosen", "rejected"} <= names:
            return "preference"
        if "messages" in names:
            return "sft"
        return "corpus" if "text" in names else "rows"


@dataclass
class ModelFolder:
    """A `langmill train` output folder: OUT/model/ and the run's records."""

    path: str
    settings: dict  # OUT/config.json

    @property
    def model(self) -> str:
        return os.path.join(self.path, "model")

    @property
    def kind(self) -> str:
        return str(self.settings.get("kind") or "sft")


@dataclass
class Config:
    """One config of the dataset repo: some shards of one folder (all of them, or one language's rows)."""

    name: str
    folder: DataFolder
    part: str  # "data" or "excluded"
    files: list[str]
    schema: pa.Schema
    lang: str | None = None  # --by-language: the `lang` value its rows have
    data_name: str = ""  # the config of the folder's kept rows
    rows: int = 0
    languages: dict = field(default_factory=dict)  # lang value -> rows
    models: dict = field(default_factory=dict)  # `model` column value -> rows (the rows that name one)


@dataclass
class PublishJob:
    specs: list[str]
    repo_id: str
    license: str
    private: bool = False
    dry_run: str | None = None
    include_excluded: bool = False
    by_language: bool = False
    pretty_name: str | None = None
    message: str | None = None
    base_model: str | None = None  # model repos: the Hub id of a base model trained from a local copy


def _schema(path: str) -> pa.Schema:
    return pq.read_schema(path)


def _rows(path: str) -> int:
    return pq.read_metadata(path).num_rows


def parse_spec(spec: str) -> tuple[str, str | None]:
    """DIR or DIR=CONFIG (a path that exists is a path, even with '=' in it)."""
    if os.path.exists(spec) or "=" not in spec:
        return spec, None
    path, config = spec.rsplit("=", 1)
    return path, config


def config_name(text: str) -> str:
    """A folder's name as a config name: lowercase, [a-z0-9_-]."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return name or "data"


def inspect(spec: str) -> DataFolder | ModelFolder:
    """The folder DIR names, checked: a finished langmill run with shards, or a train run's model."""
    path, config = parse_spec(spec)
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise PublishError(f"{path}: no such folder")
    if config is not None and not CONFIG_NAME.fullmatch(config):
        raise PublishError(f"{spec}: config name {config!r} must be lowercase letters, digits, '-' and '_'")
    model = os.path.join(path, "model")
    if os.path.isdir(model) and os.path.isfile(os.path.join(path, "train_metrics.json")):
        if not any(os.path.isfile(os.path.join(model, f)) for f in ("config.json", "adapter_config.json")):
            raise PublishError(f"{model}: no config.json or adapter_config.json; not a saved model")
        return ModelFolder(path, read_json(os.path.join(path, "config.json")))
    stats_file = os.path.join(path, "stats.json")
    if not os.path.isfile(stats_file):
        if os.path.isfile(os.path.join(path, "logs", "job.json")):
            raise PublishError(f"{path}: the run did not finish (no stats.json); rerun its command to complete it")
        raise PublishError(f"{path}: not a langmill output folder (no stats.json and data/, nor a train run's model/)")
    stats = read_json(stats_file)
    if not stats:
        raise PublishError(f"{stats_file}: not a JSON object")
    if stats.get("rows_in_equals_kept_plus_excluded") is False:
        raise PublishError(f"{stats_file}: rows in != kept + excluded; the run is incomplete, rerun its command before publishing")
    data, excluded = (sorted(glob.glob(os.path.join(path, part, "*.parquet"))) for part in ("data", "excluded"))
    if not data:
        raise PublishError(f"{path}: no data/*.parquet shards")
    return DataFolder(path, config or config_name(os.path.basename(path)), stats, read_json(os.path.join(path, "logs", "job.json")), data, excluded)


def _shards(files: list[str], where: str) -> tuple[list[str], pa.Schema]:
    """The shards of one config and their one schema: 0-row placeholders left out unless nothing
    else is there; shards whose columns differ cannot load as one dataset."""
    try:
        with_rows = [p for p in files if _rows(p) > 0]
        files = with_rows or files[:1]
        schemas = [_schema(p).remove_metadata() for p in files]
    except (OSError, pa.ArrowInvalid) as err:
        raise PublishError(f"{where}: a shard cannot be read ({err})") from None
    for path, schema in zip(files, schemas):
        if not schema.equals(schemas[0]):
            raise PublishError(f"{where}: {os.path.basename(path)} has other columns than {os.path.basename(files[0])}; the shards cannot load as one config")
    return files, _schema(files[0])


def _counts(files: list[str], column: str, lang: str | None = None) -> dict:
    """{value: rows} of a column over the shards (of the rows of one `lang` value, when given)."""
    counts: Counter = Counter()
    for path in files:
        names = _schema(path).names
        if column in names and (lang is None or "lang" in names):
            table = pq.read_table(path, columns=list(dict.fromkeys([column] + (["lang"] if lang is not None else []))))
            values = table.column(column).to_pylist()
            if lang is not None:
                values = [v for v, row_lang in zip(values, table.column("lang").to_pylist()) if (row_lang or "") == lang]
            counts.update(values)
    return dict(counts.most_common())


def plan_configs(folders: list[DataFolder], by_language: bool, include_excluded: bool) -> list[Config]:
    """The repo's configs, in the order of the folders."""
    configs = []
    for folder in folders:
        files, schema = _shards(folder.data, f"{folder.path}/data")
        counts = _counts(files, "lang")
        if by_language:
            if "lang" not in schema.names:
                raise PublishError(f"{folder.path}: its rows have no `lang` column to split by (--by-language)")
            for lang, rows in sorted(counts.items(), key=lambda kv: str(kv[0])):
                name = f"{folder.config}-{config_name(lang) if lang else 'und'}"
                configs.append(Config(name, folder, "data", files, schema, lang=lang or "", data_name=folder.config, rows=rows, languages={lang: rows},
                                      models=_counts(files, "model", lang or "")))
        else:
            configs.append(Config(folder.config, folder, "data", files, schema, data_name=folder.config, rows=sum(map(_rows, files)), languages=counts,
                                  models=_counts(files, "model")))
        if include_excluded and folder.excluded:
            files, schema = _shards(folder.excluded, f"{folder.path}/excluded")
            configs.append(Config(f"{folder.config}-excluded", folder, "excluded", files, schema, data_name=folder.config,
                                  rows=sum(map(_rows, files)), languages=_counts(files, "lang")))
    seen: Counter = Counter(c.name for c in configs)
    twice = [name for name, n in seen.items() if n > 1]
    if twice:
        raise PublishError(f"two folders make config {twice[0]!r}: name them DIR=CONFIG")
    return configs


# --- the repo tree ----------------------------------------------------------------------------------


def _link(source: str, target: str) -> None:
    """A hard link (no copy of a big shard), or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_config(config: Config, root: str) -> list[str]:
    """data/<config>/train-0000i-of-0000N.parquet under root (the folder emptied first: a config
    published again replaces its files)."""
    folder = os.path.join(root, "data", config.name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if config.lang is None:
        sources = config.files
        targets = [os.path.join(folder, f"train-{i:05d}-of-{len(sources):05d}.parquet") for i in range(len(sources))]
        for source, target in zip(sources, targets):
            _link(source, target)
        return targets
    return _write_language(config, folder)


def _write_language(config: Config, folder: str) -> list[str]:
    """The rows of one `lang` value, streamed shard by shard into shards of their own."""
    import pyarrow.compute as pc

    parts = []
    for index, source in enumerate(config.files):
        parquet, writer = pq.ParquetFile(source), None
        part = os.path.join(folder, f".part-{index:05d}.parquet")
        for batch in parquet.iter_batches(batch_size=10_000):
            column = batch.column(batch.schema.get_field_index("lang"))
            keep = pc.or_(pc.is_null(column), pc.equal(column, "")) if config.lang == "" else pc.equal(column, config.lang)
            rows = batch.filter(pc.fill_null(keep, False))
            if rows.num_rows:
                writer = writer or pq.ParquetWriter(part, parquet.schema_arrow, compression="zstd")
                writer.write_batch(rows, row_group_size=10_000)
        if writer:
            writer.close()
            parts.append(part)
    targets = [os.path.join(folder, f"train-{i:05d}-of-{len(parts):05d}.parquet") for i in range(len(parts))]
    for part, target in zip(parts, targets):
        os.replace(part, target)
    return targets


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_dataset_tree(configs: list[Config], job: PublishJob, root: str, existing_card: str | None) -> None:
    for config in configs:
        _write_config(config, root)
    _write_text(os.path.join(root, "README.md"), dataset_card(configs, job.repo_id, job.license, job.pretty_name, existing_card))


def build_model_tree(folder: ModelFolder, job: PublishJob, root: str, existing_card: str | None) -> None:
    """OUT/model/'s files at the root, the run's records under langmill/, the merged card."""
    for dirpath, dirnames, filenames in os.walk(folder.model):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        target_dir = os.path.join(root, os.path.relpath(dirpath, folder.model))
        os.makedirs(target_dir, exist_ok=True)
        for name in filenames:
            if not name.startswith(".") and not (dirpath == folder.model and name == "README.md"):
                target = os.path.join(target_dir, name)
                if os.path.lexists(target):
                    os.unlink(target)
                _link(os.path.join(dirpath, name), target)
    records = os.path.join(root, "langmill")
    os.makedirs(records, exist_ok=True)
    for name in TRAIN_RECORDS:
        source = os.path.join(folder.path, name)
        if os.path.isfile(source):
            shutil.copy2(source, os.path.join(records, name))
    train_card = _read_text(os.path.join(folder.model, "README.md")) or f"# {folder.kind.upper()} model trained with langmill\n"
    _write_text(os.path.join(root, "README.md"), model_card(train_card, folder.kind, job.license, existing_card, job.base_model))


def check_no_token(root: str, token: str | None) -> None:
    """The token in no file of the tree that langmill or the trainer wrote (the card, the records,
    configs, training_args.bin; not the shards and big weights): refuse to go on if it is."""
    if not token:
        return
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.endswith(".parquet") and os.path.getsize(path) < SCANNED_BYTES:
                with open(path, "rb") as f:
                    if token.encode() in f.read():
                        raise PublishError(f"{os.path.relpath(os.path.join(dirpath, name), root)} holds the Hub token; nothing was uploaded")


def _check_local_dir(path: str, inputs: list[str]) -> str:
    """--dry-run LOCAL_DIR: new, empty, or a tree written before (a README.md whose front matter
    has the langmill tag: a repo cloned from the Hub works too)."""
    from langmill.publish_card import CardError, split_card

    path = os.path.abspath(path)
    for source in inputs:
        if path == source or path.startswith(source + os.sep) or source.startswith(path + os.sep):
            raise PublishError(f"--dry-run {path}: inside or around {source}; use a folder of its own")
    if os.path.exists(path) and not os.path.isdir(path):
        raise PublishError(f"--dry-run {path}: exists and is not a folder")
    try:
        ours = "langmill" in (split_card(_read_text(os.path.join(path, "README.md")) or "")[0].get("tags") or [])
    except CardError as err:
        raise PublishError(f"--dry-run {path}: README.md: {err}") from None
    if os.path.isdir(path) and os.listdir(path) and not ours:
        raise PublishError(f"--dry-run {path}: a folder with other files in it; use a new folder or one written by publish --dry-run")
    return path


# --- the Hub ------------------------------------------------------------------------------------------


def _transport_errors() -> tuple:
    errors: list = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            imported = __import__(module)
            errors.append(getattr(imported, "TransportError", None) or getattr(imported, "ConnectionError"))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def hub_call(what: str, call: Callable, echo: Callable[[str], None], token: str | None, wait_s: float = FIRST_WAIT_S):
    """`call()`, retried on 429/5xx and dropped connections with doubling waits; every other
    failure becomes one line (PublishError) that never holds the token."""
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(1, RETRIES + 1):
        try:
            return call()
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status in RETRY_STATUS and attempt < RETRIES:
                echo(f"langmill: the Hub answered {status} to {what}; retrying in {wait_s:g} s (try {attempt + 1} of {RETRIES})")
            else:
                raise PublishError(_redact(hub_error_line(err, status, what), token)) from None
        except _transport_errors() as err:
            if attempt >= RETRIES:
                raise PublishError(_redact(f"cannot reach the Hub ({what}): {_one_line(err)}", token)) from None
            echo(f"langmill: {what}: {_one_line(err)[:120]}; retrying in {wait_s:g} s (try {attempt + 1} of {RETRIES})")
        except ValueError as err:  # huggingface_hub: "Invalid metadata in README.md" and the like
            raise PublishError(_redact(f"{what}: {_one_line(err)}", token)) from None
        time.sleep(wait_s)
        wait_s *= 2


def hub_error_line(err, status: int | None, what: str) -> str:
    message = _one_line(getattr(err, "server_message", None) or str(err))[:300]
    if status == 401:
        return f"the Hub did not accept the token ({what}: 401); set HF_TOKEN to a write token or run `hf auth login`"
    if status in (403, 413) and re.search(r"quota|storage|limit|too large", message, re.I):
        return f"the Hub refused the upload for lack of space ({status}: {message}); free space or raise the quota, then rerun to resume"
    if status == 403:
        return f"no write access ({what}: 403: {message}); check the token's permissions for the namespace"
    if status in RETRY_STATUS:
        return f"the Hub kept answering {status} to {what} after {RETRIES} tries; rerun later (files already committed are skipped)"
    return f"{what} failed ({status}: {message})"


def _one_line(err) -> str:
    return " ".join(str(err).split())


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "hf_***") if token else text


def _xet_available() -> bool:
    """Whether huggingface_hub will use hf_xet (it does when installed and not disabled)."""
    import importlib.util

    from huggingface_hub import constants

    return not constants.HF_HUB_DISABLE_XET and importlib.util.find_spec("hf_xet") is not None


def _existing_card(api, repo_id: str, repo_type: str, echo, token) -> str | None:
    """The repo's README.md, or None when it has none."""
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError, RevisionNotFoundError

    with tempfile.TemporaryDirectory(prefix="langmill-card-") as cache:
        def download():
            try:
                return _read_text(api.hf_hub_download(repo_id, "README.md", repo_type=repo_type, cache_dir=cache))
            except (RemoteEntryNotFoundError, RevisionNotFoundError):  # the Hub says there is none
                return None
            except LocalEntryNotFoundError as err:  # the Hub could not be asked: never take that for "no card"
                raise ConnectionError(_one_line(err)[:200]) from None

        return hub_call("read README.md", download, echo, token)


def _staging_parent(job: PublishJob) -> str | None:
    """Next to the first input (same file system: the shards are hard-linked, not copied), or the
    temporary folder when that is not writable."""
    parent = os.path.dirname(os.path.abspath(parse_spec(job.specs[0])[0]))
    return parent if os.access(parent, os.W_OK) else None


def upload(job: PublishJob, repo_type: str, build: Callable[[str, str | None], None], delete_patterns: list[str], echo) -> dict:
    """Create the repo, build the tree in a staging folder with the repo's card merged in, upload it."""
    from huggingface_hub import HfApi, constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise PublishError("HF_HUB_OFFLINE is set: unset it to upload, or write the repo tree locally with --dry-run LOCAL_DIR")
    token = get_token()
    if not token:
        raise PublishError("no Hub token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    url = hub_call("create the repo", lambda: api.create_repo(job.repo_id, repo_type=repo_type, private=job.private, exist_ok=True), echo, token)
    existing = _existing_card(api, job.repo_id, repo_type, echo, token)
    with tempfile.TemporaryDirectory(prefix=".langmill-publish-", dir=_staging_parent(job)) as staging:
        build(staging, existing)
        check_no_token(staging, token)
        files = sum(len(f) for _, _, f in os.walk(staging))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(staging) for f in fs)
        echo(f"langmill publish: uploading {files:,} files ({size / 1e6:,.1f} MB) to {url}")
        if (files > LARGE_FILES or size > LARGE_BYTES) and not _xet_available():
            echo("langmill: warning: without hf_xet this goes in one commit that starts over when it fails; "
                 "pip install hf_xet for an upload in batches that a rerun resumes")
        commit = hub_call("upload", lambda: api.upload_folder(repo_id=job.repo_id, repo_type=repo_type, folder_path=staging,
                                                               commit_message=job.message or "langmill publish", delete_patterns=delete_patterns), echo, token)
    return {"url": str(url), "commit": getattr(commit, "oid", None), "files": files, "bytes": size, "had_card": existing is not None}


# --- the command ------------------------------------------------------------------------------------


def publish(job: PublishJob, echo: Callable[[str], None] = print) -> dict:
    """Publish (or with job.dry_run, write locally) the folders of `job`; returns what was done."""
    if not REPO_ID.fullmatch(job.repo_id or "") or ".." in job.repo_id:
        raise PublishError(f"--repo-id {job.repo_id!r}: expected ORG/NAME (letters, digits, '-', '_', '.')")
    if not job.license or not LICENSE_ID.fullmatch(job.license):
        raise PublishError("--license is required: the license of the published data or model (a Hub license id such as apache-2.0, cc-by-4.0, other)")
    if job.base_model and not REPO_ID.fullmatch(job.base_model):
        raise PublishError(f"--base-model {job.base_model!r}: expected the Hub id ORG/NAME of the base model")
    if not job.specs:
        raise PublishError("no DIR given (langmill output folders, or one train output folder)")
    folders = [inspect(spec) for spec in job.specs]
    models = [f for f in folders if isinstance(f, ModelFolder)]
    if models and len(folders) > 1:
        raise PublishError(f"{models[0].path} is a trained model: publish it alone (a model repo), and data folders in another call")
    if job.base_model and not models:
        raise PublishError("--base-model is for a train output folder (a model repo)")
    if models:
        folder = models[0]
        repo_type, configs = "model", []
        build = lambda root, card: build_model_tree(folder, job, root, card)  # noqa: E731
        delete = MODEL_PATTERNS
    else:
        repo_type = "dataset"
        configs = plan_configs(folders, job.by_language, job.include_excluded)
        build = lambda root, card: build_dataset_tree(configs, job, root, card)  # noqa: E731
        delete = [f"data/{c.name}/*" for c in configs]
        _warn_licenses(folders, job.license, echo)
    build = _warning_license_change(build, job.license, echo)
    if job.dry_run:
        root = _check_local_dir(job.dry_run, [f.path for f in folders])
        os.makedirs(root, exist_ok=True)
        build(root, _read_text(os.path.join(root, "README.md")))
        from huggingface_hub import get_token

        check_no_token(root, get_token())
        result = {"url": root, "files": sum(len(f) for _, _, f in os.walk(root))}
    else:
        result = upload(job, repo_type, build, delete, echo)
    return {**result, "repo_type": repo_type, "configs": configs, "model": models[0] if models else None}


def _warning_license_change(build: Callable, license_id: str, echo) -> Callable:
    """`build`, saying first when the repo's card has another license (ours replaces it)."""
    from langmill.publish_card import CardError, split_card

    def build_and_warn(root: str, card: str | None) -> None:
        try:
            old = split_card(card or "")[0].get("license")
        except CardError as err:
            raise PublishError(f"the repo's README.md: {err}; fix it (or remove it) and publish again") from None
        if old and old != license_id:
            echo(f"langmill: warning: the repo's card said license {old}; it now says {license_id}")
        build(root, card)

    return build_and_warn


def _warn_licenses(folders: list[DataFolder], license_id: str, echo) -> None:
    """One line when the sources state licenses other than the one published under."""
    stated = {lic for f in folders for lic in source_licenses(input_paths(f.job)).values()}
    other = sorted(lic for lic in stated if license_id not in [x.strip() for x in lic.split(",")])
    if other:
        echo(f"langmill: warning: source data is under {', '.join(other)}, published as {license_id}: check that its terms allow this")
