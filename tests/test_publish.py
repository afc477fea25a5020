"""`langmill publish`: real langmill output folders (a corpus run on the sample data, a qc run over
real translations, a prefs run judged by the scripted endpoint, a tiny TRL run) published as a
dataset or a model repo.

- --dry-run writes the repo tree: `datasets.load_dataset(DIR, CONFIG)` loads every config with the
  features and rows of the source shards (--include-excluded, --by-language too); the card's front
  matter parses with huggingface_hub and its body says how each config was made.
- Publishing A then B to the same repo merges the cards: both configs and sections, and a
  paragraph and a metadata key the user added, survive.
- The upload goes to tests/hub_server.py, a stdlib HTTP server on 127.0.0.1 that speaks the part
  of the Hub API huggingface_hub uses (huggingface_hub ships no test server): through the real CLI,
  with HF_ENDPOINT and a random HF_TOKEN, once with hf_xet off (one create_commit) and once with it
  on (huggingface_hub's pipelined, resumable upload). The server gets every file in one commit per
  call, the token in the Authorization header, and the token is in no file written and no output.
"""

import gzip
import json
import re
import os
import secrets
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE_DIR, run_langmill, shared_data, write_jsonl
from hub_server import HubServer
from scripted_endpoint import ScriptedEndpoint


def _dataset_card(text: str) -> tuple[dict, str]:
    from huggingface_hub import DatasetCard

    card = DatasetCard(text)
    return card.data.to_dict(), card.text


def _licensed_folder(folder: Path, license_id: str, text: str) -> Path:
    """An input folder with a dataset card stating its license (as the sources' READMEs do)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"---\nlicense: {license_id}\n---\n\n{text}\n", encoding="utf-8")
    return folder


def _gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three finished langmill runs: corpus (the sample data), qc of translated chats (real dolly
    en->fi and UDHR en->et translations, one damaged line), prefs (dolly prompts, scripted judge)."""
    root = tmp_path_factory.mktemp("runs")
    r = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", SAMPLE_DIR / "txt", "--lang", "fi", "--out", root / "corpus")
    assert r.returncode == 0, r.stderr[-2000:]

    en = {r["doc_index"]: r for r in _gz(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"))}
    fi = {r["doc_index"]: r for r in _gz(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"))}
    ids = sorted(set(en) & set(fi))[:30]
    dolly = _licensed_folder(root / "inputs" / "dolly", "cc-by-sa-3.0", "databricks-dolly-15k and its Finnish translation (TurkuNLP/dolly-fi).")
    chats = [{"id": f"dolly-{i}", "lang": "fi", "source_lang": "en",
              "messages": [{"role": "user", "content": fi[i]["instruction"]}, {"role": "assistant", "content": fi[i]["response"]}],
              "source_messages": [{"role": "user", "content": en[i]["instruction"]}, {"role": "assistant", "content": en[i]["response"]}]} for i in ids]
    write_jsonl(dolly / "dolly-fi.jsonl", chats)
    with open(dolly / "dolly-fi.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "cut", "messages": [{"role": "user", "content": "Mik\n')  # a line cut short
    udhr = _licensed_folder(root / "inputs" / "udhr", "other", "Universal Declaration of Human Rights (OHCHR): freely reproducible.")
    eng, est = (shared_data("text", "udhr", f"udhr_{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("eng", "est"))
    write_jsonl(udhr / "udhr-et.jsonl", [{"id": f"udhr-{i}", "lang": "et", "source_lang": "en",
                                          "messages": [{"role": "user", "content": est[i]}, {"role": "assistant", "content": est[i + 1]}],
                                          "source_messages": [{"role": "user", "content": eng[i]}, {"role": "assistant", "content": eng[i + 1]}]}
                                         for i in range(2, 40, 2)])
    (root / "no-lid.yaml").write_text("lid:\n  enabled: false\n")  # the Estonian rows are checked by everything but language ID
    r = run_langmill("qc", dolly / "dolly-fi.jsonl", udhr / "udhr-et.jsonl", "--to", "fi", "--config", root / "no-lid.yaml", "--out", root / "chats-fi")
    assert r.returncode == 0, r.stderr[-2000:]

    prompts = write_jsonl(dolly / "prompts.jsonl", [fi[i] for i in ids[:12]])
    with open(prompts, "a", encoding="utf-8") as f:
        f.write('{"instruction": 42, "response": "x"}\n')
    with ScriptedEndpoint(["judge-x", "policy-a", "policy-b"]) as endpoint:
        r = run_langmill("prefs", prompts, "--lang", "fi", "--model", "policy-a", "--model", "policy-b", "--judge", "judge-x",
                         "--endpoint-url", endpoint.url, "--samples", "2", "--out", root / "prefs")
    assert r.returncode == 0, r.stderr[-2000:]
    return {"corpus": root / "corpus", "chats": root / "chats-fi", "prefs": root / "prefs"}


@pytest.fixture(scope="module")
def train_run(runs, tiny_model, tmp_path_factory) -> Path:
    """A real `langmill train sft` output (2 steps of the tiny model on the chats)."""
    out = tmp_path_factory.mktemp("train") / "sft"
    r = run_langmill("train", "sft", "--data", runs["chats"], "--model", tiny_model, "--out", out, "--max-steps", "2", "--batch-size", "4",
                     "--max-length", "128", "--save-steps", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "checkpoints").is_dir()
    return out


def _shards(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("*.parquet")) if pq.read_metadata(p).num_rows]


def _load(tree: Path, config: str, cache: Path):
    import datasets

    return datasets.load_dataset(str(tree), config, split="train", cache_dir=str(cache))


def _assert_loads_like(tree: Path, config: str, sources: list[Path], cache: Path, rows: int | None = None):
    """The config loads with the features of its source shards and their rows."""
    import datasets

    loaded = _load(tree, config, cache)
    assert loaded.features == datasets.Features.from_arrow_schema(pq.read_schema(sources[0])), config
    expected = sum(pq.read_metadata(p).num_rows for p in sources) if rows is None else rows
    assert loaded.num_rows == expected, config
    return loaded


def _one_line_error(r) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("langmill: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    return errors[0]


# --- dry run --------------------------------------------------------------------------------------------


def test_dry_run_tree_loads_every_config_with_the_source_features(runs, tmp_path, monkeypatch):
    from datasets import List, Value

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tree = tmp_path / "tree"
    r = run_langmill("publish", runs["corpus"], runs["chats"], f"{runs['prefs']}=prefs-fi", "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0",
                     "--include-excluded", "--dry-run", tree)
    assert r.returncode == 0, r.stderr
    sources = {"corpus": runs["corpus"] / "data", "corpus-excluded": runs["corpus"] / "excluded", "chats-fi": runs["chats"] / "data",
               "chats-fi-excluded": runs["chats"] / "excluded", "prefs-fi": runs["prefs"] / "data", "prefs-fi-excluded": runs["prefs"] / "excluded"}
    assert sorted(p.name for p in (tree / "data").iterdir()) == sorted(sources)
    for config, folder in sources.items():
        shards = _shards(folder)
        written = sorted((tree / "data" / config).glob("*.parquet"))
        assert [p.name for p in written] == [f"train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
        assert [os.stat(p).st_ino for p in written] == [os.stat(p).st_ino for p in shards]  # hard links, no copies
        loaded = _assert_loads_like(tree, config, shards, tmp_path / "cache")
        assert f"  {config} " in r.stdout and f"{loaded.num_rows:>10,} rows" in r.stdout
    chats = _load(tree, "chats-fi", tmp_path / "cache")
    assert chats.features["messages"] == List({"role": Value("string"), "content": Value("string")})
    assert chats.features["qc"]["min_lang_score"] == Value("float32")
    prefs = _load(tree, "prefs-fi", tmp_path / "cache")
    assert prefs.features["chosen_score"] == Value("float32") and prefs.features["scores"] == List(Value("float32"))
    assert prefs.num_rows == json.loads((runs["prefs"] / "stats.json").read_text())["kept"]
    reasons = json.loads((runs["corpus"] / "stats.json").read_text())["excluded_by_reason"]
    assert set(_load(tree, "corpus-excluded", tmp_path / "cache")["reason"]) == set(reasons)
    import datasets

    assert datasets.get_dataset_config_names(str(tree)) == list(sources)


def test_card_front_matter_and_sections(runs, tmp_path):
    tree = tmp_path / "tree"
    r = run_langmill("publish", runs["corpus"], runs["chats"], runs["prefs"], "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0",
                     "--include-excluded", "--dry-run", tree)
    assert r.returncode == 0, r.stderr
    meta, body = _dataset_card((tree / "README.md").read_text(encoding="utf-8"))
    assert meta["license"] == "cc-by-sa-4.0" and meta["pretty_name"] == "fi-data"
    assert meta["language"] == ["et", "fi"]  # the `lang` values of the kept rows
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert {"langmill", "corpus", "translation", "preference", "dpo", "sft"} <= set(meta["tags"])
    assert [c["config_name"] for c in meta["configs"]] == ["corpus", "corpus-excluded", "chats-fi", "chats-fi-excluded", "prefs", "prefs-excluded"]
    assert meta["configs"][2]["data_files"] == [{"split": "train", "path": "data/chats-fi/*.parquet"}]

    corpus_stats = json.loads((runs["corpus"] / "stats.json").read_text())
    section = body.split("<!-- langmill:config corpus -->")[1].split("<!-- /langmill:config corpus -->")[0]
    assert f"| {corpus_stats['rows_in']} | {corpus_stats['kept']} | {corpus_stats['excluded']} |" in section
    for reason, n in corpus_stats["excluded_by_reason"].items():
        assert f"| {reason} | {n} |" in section
    assert all(f"| {s['step']} | {s['in']} | {s['dropped']} | {s['out']} |" in section for s in corpus_stats["funnel"])
    assert re.search(r"- command, finished \S+: `langmill corpus .+ --lang fi --out " + re.escape(str(runs["corpus"])) + "`", section), section
    assert "| `corpus.jsonl` |" in section and "Licenses of the source data: `apache-2.0`" in section
    from langmill.config import load_quality_config

    fi_min_words = load_quality_config("fi")[0]["gopher_quality"]["min_doc_words"]  # fi.yaml's (calibrated)
    assert f"min_doc_words: {fi_min_words}" in section  # the settings of logs/job.json
    assert 'load_dataset("my-org/fi-data", "corpus", split="train")' in section

    chats = body.split("<!-- langmill:config chats-fi -->")[1].split("<!-- /langmill:config chats-fi -->")[0]
    stats = json.loads((runs["chats"] / "stats.json").read_text())
    assert f"Pass rate (kept / rows in): {stats['kept'] / stats['rows_in']:.1%}" in chats
    assert "| `dolly-fi.jsonl` |" in chats and "| cc-by-sa-3.0 |" in chats and "| other |" in chats  # each input's license
    assert "| fi | 30 |" in chats and "| et | 19 |" in chats  # `lang` counts of the kept rows
    prefs = body.split("<!-- langmill:config prefs -->")[1].split("<!-- /langmill:config prefs -->")[0]
    assert "- policy models: `policy-a`, `policy-b`" in prefs and "- judge: `judge-x`" in prefs and "| bad_row | 1 |" in prefs
    assert "published as cc-by-sa-4.0" in r.stderr  # the sources are under other licenses: said once

    # A shard of a langmill run as an input: the licenses of what that run read.
    from langmill.publish_card import source_licenses

    shard = str(_shards(runs["chats"] / "data")[0])
    assert source_licenses([shard]) == {shard: "cc-by-sa-3.0, other"}


def test_by_language_makes_one_config_per_lang_value(runs, tmp_path):
    import polars as pl

    tree = tmp_path / "tree"
    r = run_langmill("publish", f"{runs['chats']}=chats", "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", "--by-language", "--dry-run", tree)
    assert r.returncode == 0, r.stderr
    source = pl.read_parquet(_shards(runs["chats"] / "data"))
    assert sorted(p.name for p in (tree / "data").iterdir()) == ["chats-et", "chats-fi"]
    for lang in ("et", "fi"):
        rows = source.filter(pl.col("lang") == lang)
        loaded = _assert_loads_like(tree, f"chats-{lang}", _shards(runs["chats"] / "data"), tmp_path / "cache", rows=rows.height)
        assert set(loaded["lang"]) == {lang} and sorted(loaded["id"]) == sorted(rows["id"].to_list())
    meta, body = _dataset_card((tree / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in meta["configs"]] == ["chats-et", "chats-fi"]
    assert "Only the rows whose `lang` is `et`." in body


def test_publishing_a_then_b_merges_the_card_and_keeps_what_the_user_wrote(runs, tmp_path):
    tree = tmp_path / "tree"
    r = run_langmill("publish", runs["corpus"], "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", "--dry-run", tree)
    assert r.returncode == 0, r.stderr
    card = (tree / "README.md").read_text(encoding="utf-8")
    hand_written = "We thank the volunteers who checked a sample of these texts by hand."
    card = card.replace("license: cc-by-sa-4.0", "license: cc-by-sa-4.0\nannotations_creators:\n- machine-generated")
    card = card.replace("<!-- /langmill:intro -->", f"<!-- /langmill:intro -->\n\n## Acknowledgements\n\n{hand_written}\n")
    (tree / "README.md").write_text(card, encoding="utf-8")

    for _ in range(2):  # B twice: its section and config are replaced, not repeated
        r = run_langmill("publish", runs["chats"], "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", "--dry-run", tree)
        assert r.returncode == 0, r.stderr
    text = (tree / "README.md").read_text(encoding="utf-8")
    meta, body = _dataset_card(text)
    assert [c["config_name"] for c in meta["configs"]] == ["corpus", "chats-fi"]
    assert meta["annotations_creators"] == ["machine-generated"] and meta["language"] == ["fi", "et"]
    assert hand_written in body and body.index("## Acknowledgements") < body.index("<!-- langmill:config corpus -->")
    assert text.count("<!-- langmill:config chats-fi -->") == 1 and text.count("<!-- langmill:config corpus -->") == 1
    kept = json.loads((runs["corpus"] / "stats.json").read_text())["kept"]
    assert text.count("<!-- langmill:intro -->") == 1 and f"| `corpus` | {kept} |" in text and "| `chats-fi` |" in text
    _assert_loads_like(tree, "corpus", _shards(runs["corpus"] / "data"), tmp_path / "cache")
    _assert_loads_like(tree, "chats-fi", _shards(runs["chats"] / "data"), tmp_path / "cache")


def test_settings_that_hold_secrets_stay_out_of_the_card(runs, tmp_path):
    folder = tmp_path / "chats-fi"
    shutil.copytree(runs["chats"], folder)
    job = json.loads((folder / "logs" / "job.json").read_text())
    key = "hf_" + secrets.token_hex(16)
    # What a user could have put in settings: an endpoint with credentials, a token in a config.
    job.update({"endpoint_url": f"https://alice:{key}@llm.example.org/v1?api_key=sk-{secrets.token_hex(12)}", "api_key_env": "MY_KEY_VAR",
                "config": {**job["config"], "hub_token": key, "note": f"made with {key}"}})
    (folder / "logs" / "job.json").write_text(json.dumps(job))
    r = run_langmill("publish", folder, "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", "--dry-run", tmp_path / "tree")
    assert r.returncode == 0, r.stderr
    card = (tmp_path / "tree" / "README.md").read_text(encoding="utf-8")
    assert key not in card and "alice" not in card and "sk-" not in card and "hub_token" not in card
    assert "MY_KEY_VAR" in card  # a variable's name is not a secret


# --- upload ---------------------------------------------------------------------------------------------


def _hub_env(server: HubServer, tmp_path: Path, token: str, xet: bool = False) -> dict:
    for name in ("hf-home", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    return {"HF_ENDPOINT": server.url, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf-home"), "TMPDIR": str(tmp_path / "tmp"),
            "HF_HUB_DISABLE_XET": "" if xet else "1", "HF_HUB_OFFLINE": "0"}


def _files_holding(token: str, *folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and token.encode() in path.read_bytes():
                found.append(str(path))
    return found


@pytest.mark.parametrize("xet", [False, True], ids=["one-commit", "hf_xet-pipeline"])
def test_upload_to_a_local_hub_merges_and_never_leaks_the_token(runs, tmp_path, xet):
    token = "hf_" + secrets.token_hex(17)
    outputs = []
    with HubServer(token=token) as server:
        env = _hub_env(server, tmp_path, token, xet)
        server.fail("commit", 503)  # the first commit fails: retried with a wait
        r = run_langmill("publish", runs["corpus"], "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", "--include-excluded", env=env)
        outputs.append(r)
        assert r.returncode == 0, r.stderr
        assert f"published to {server.url}/datasets/my-org/fi-data" in r.stdout and "load_dataset('my-org/fi-data', 'corpus')" in r.stdout
        repo = server.repo("my-org/fi-data")
        assert len(repo.commits) == 1 and [x["route"] for x in server.requests].count("commit") == 2
        if not xet:  # with hf_xet, huggingface_hub retries its commit itself
            assert "the Hub answered 503 to upload; retrying in 1 s" in r.stderr

        # The user edits the card on the Hub; an earlier upload of chats-fi left a second shard.
        card = repo.files["README.md"].decode()
        repo.files["README.md"] = card.replace("<!-- /langmill:intro -->", "<!-- /langmill:intro -->\n\nWritten by hand on the Hub.\n").encode()
        repo.files["data/chats-fi/train-00002-of-00003.parquet"] = b"stale"
        r = run_langmill("publish", runs["chats"], runs["prefs"], "--repo-id", "my-org/fi-data", "--license", "cc-by-sa-4.0", env=env)
        outputs.append(r)
        assert r.returncode == 0, r.stderr
        assert "its card was merged with ours" in r.stdout
        assert len(repo.commits) == 2 and repo.commits[1]["deleted"] == ["data/chats-fi/train-00002-of-00003.parquet"]
        expected = {".gitattributes", "README.md"}
        for config, folder in (("corpus", runs["corpus"] / "data"), ("corpus-excluded", runs["corpus"] / "excluded"),
                               ("chats-fi", runs["chats"] / "data"), ("prefs", runs["prefs"] / "data")):
            n = len(_shards(folder))
            expected |= {f"data/{config}/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)}
        assert set(repo.files) == expected
        assert not server.unknown
        assert {x["authorization"] for x in server.requests if x["route"] in ("create", "preupload", "commit", "resolve")} == {f"Bearer {token}"}

        stored = tmp_path / "stored"
        server.write_files(stored)
    tree = stored / "dataset" / "my-org" / "fi-data"
    meta, body = _dataset_card((tree / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in meta["configs"]] == ["corpus", "corpus-excluded", "chats-fi", "prefs"]
    assert "Written by hand on the Hub." in body and all(f"<!-- langmill:config {c} -->" in body for c in ("corpus", "chats-fi", "prefs"))
    for config, folder in (("corpus", runs["corpus"] / "data"), ("chats-fi", runs["chats"] / "data"), ("prefs", runs["prefs"] / "data")):
        _assert_loads_like(tree, config, _shards(folder), tmp_path / "cache")
    assert all(token not in r.stdout + r.stderr for r in outputs)
    assert not list(runs["corpus"].parent.glob(".langmill-publish-*"))  # the staging folder next to the inputs is gone
    assert not _files_holding(token, stored, tmp_path / "hf-home", tmp_path / "tmp")


def test_model_folder_is_a_model_repo_with_its_card(train_run, tmp_path):
    from transformers import AutoModelForCausalLM

    token = "hf_" + secrets.token_hex(17)
    with HubServer(token=token) as server:
        r = run_langmill("publish", train_run, "--repo-id", "my-org/tiny-fi-sft", "--license", "apache-2.0", "--base-model", "my-org/tiny-llama",
                         "--private", env=_hub_env(server, tmp_path, token))
        assert r.returncode == 0, r.stderr
        repo = server.repo("my-org/tiny-fi-sft", "model")
        assert not server.unknown and len(repo.commits) == 1 and repo.private
        stored = tmp_path / "stored"
        server.write_files(stored)
    model_files = {p.name for p in (train_run / "model").iterdir()}
    assert set(repo.files) == {".gitattributes", *model_files, "langmill/train_metrics.json", "langmill/mix.json", "langmill/config.json"}
    assert not any("checkpoint" in name for name in repo.files)
    assert repo.files["model.safetensors"] == (train_run / "model" / "model.safetensors").read_bytes()
    assert repo.files["langmill/mix.json"] == (train_run / "mix.json").read_bytes()
    from huggingface_hub import ModelCard

    card = ModelCard(repo.files["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["base_model"] == "my-org/tiny-llama" and {"langmill", "sft", "trl"} <= set(meta["tags"])
    assert meta["language"] == ["et", "fi"] and meta["pipeline_tag"] == "text-generation"
    assert "Trained with `langmill train sft`" in card.text and "<!-- langmill:model -->" in card.text
    model = AutoModelForCausalLM.from_pretrained(stored / "model" / "my-org" / "tiny-fi-sft")  # what was uploaded loads
    assert model.config.num_hidden_layers == 2
    assert token not in r.stdout + r.stderr and not _files_holding(token, stored, tmp_path / "hf-home", tmp_path / "tmp")


# --- errors ---------------------------------------------------------------------------------------------


def test_user_errors_are_one_line(runs, train_run, tmp_path):
    publish = ("publish", "--repo-id", "my-org/fi-data")
    assert "--license is required" in _one_line_error(run_langmill(*publish, runs["corpus"], "--dry-run", tmp_path / "t"))
    inputs = runs["chats"].parent / "inputs" / "dolly"
    assert "not a langmill output folder" in _one_line_error(run_langmill(*publish, inputs, "--license", "mit", "--dry-run", tmp_path / "t"))
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["corpus"], unfinished)
    (unfinished / "stats.json").unlink()  # a run killed before its report
    assert "the run did not finish" in _one_line_error(run_langmill(*publish, unfinished, "--license", "mit", "--dry-run", tmp_path / "t"))
    assert "publish it alone" in _one_line_error(run_langmill(*publish, train_run, runs["corpus"], "--license", "mit", "--dry-run", tmp_path / "t"))
    same_name = run_langmill(*publish, runs["corpus"], f"{runs['chats']}=corpus", "--license", "mit", "--dry-run", tmp_path / "t")
    assert "name them DIR=CONFIG" in _one_line_error(same_name)
    assert "expected ORG/NAME" in _one_line_error(run_langmill("publish", runs["corpus"], "--repo-id", "fi-data", "--license", "mit"))
    assert "a folder with other files" in _one_line_error(run_langmill(*publish, runs["corpus"], "--license", "mit", "--dry-run", inputs))
    assert not (tmp_path / "t").exists()
    tree = tmp_path / "tree"
    assert run_langmill(*publish, runs["corpus"], "--license", "mit", "--dry-run", tree).returncode == 0
    card = (tree / "README.md").read_text(encoding="utf-8")
    (tree / "README.md").write_text(card.replace("license: mit", "license: [mit", 1), encoding="utf-8")  # a hand edit that broke the YAML
    assert "front matter is not YAML" in _one_line_error(run_langmill(*publish, runs["chats"], "--license", "mit", "--dry-run", tree))

    token = "hf_" + secrets.token_hex(17)
    with HubServer(token=token) as server:
        env = _hub_env(server, tmp_path, token)
        line = _one_line_error(run_langmill(*publish, runs["corpus"], "--license", "mit", env={**env, "HF_TOKEN": ""}))
        assert line == "langmill: error: no Hub token: set HF_TOKEN or run `hf auth login`" and not server.requests
        wrong = "hf_" + secrets.token_hex(17)
        line = _one_line_error(run_langmill(*publish, runs["corpus"], "--license", "mit", env={**env, "HF_TOKEN": wrong}))
        assert "did not accept the token" in line and "hf auth login" in line and wrong not in line
        server.fail("commit", 403, "You have exceeded your storage quota (1 TB) for private repositories")
        r = run_langmill(*publish, runs["corpus"], "--license", "mit", env=env)
        assert "refused the upload for lack of space" in _one_line_error(r) and "storage quota" in r.stderr
        assert set(server.repo("my-org/fi-data").files) == {".gitattributes"}  # nothing half-committed
        assert token not in r.stderr + r.stdout
        server.repo("my-org/fi-data").files["README.md"] = b"---\nlicense: [mit\n---\nOur data.\n"
        line = _one_line_error(run_langmill(*publish, runs["corpus"], "--license", "mit", env=env))
        assert "the repo's README.md: its front matter is not YAML" in line
        assert server.repo("my-org/fi-data").files["README.md"] == b"---\nlicense: [mit\n---\nOur data.\n"
