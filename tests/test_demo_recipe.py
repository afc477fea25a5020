"""The demo recipe (README's first command) end to end on a 2-core CPU: every stage with real vLLM,
real TRL and a real `datasets` load of the published folder, killed in the middle and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from conftest import REPO, run_langmill

DEMO = REPO / "recipes" / "demo.yaml"
DATA_STAGES = ("corpus", "translate", "qc", "synth", "prefs", "eval")


def _state(out: Path) -> dict:
    try:
        return json.loads((out / "run-state.json").read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return {}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline[:200]}")
    return found


def test_demo_recipe_runs_every_stage_and_resumes_after_a_kill(tmp_path):
    out = tmp_path / "demo"
    # Kill the whole run (runner, stage, vLLM server) hard while the synth stage generates.
    run = subprocess.Popen([sys.executable, "-m", "langmill.cli", "run", str(DEMO), "--out", str(out)], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while _state(out).get("synth", {}).get("status") != "started":
            assert run.poll() is None, run.stderr.read()
            assert time.monotonic() < deadline, "the demo never reached its synth stage"
            time.sleep(0.5)
        time.sleep(12)  # its vLLM server is starting or generating
        assert run.poll() is None
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    time.sleep(3)
    assert _processes_mentioning(str(out)) == []  # no vLLM server or worker left behind

    result = run_langmill("run", DEMO, "--out", out, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    headers = {line.split()[2].rstrip(":"): line for line in result.stderr.splitlines() if line.startswith("── ")}
    for stage in ("model", "corpus", "translate", "qc"):
        assert "finished before, skipped" in headers[stage]
    assert "resuming the interrupted run" in headers["synth"]
    assert "Resuming the run in" in result.stderr  # the synth command itself picked up its folder
    assert all(s["status"] == "finished" for s in _state(out).values()) and len(_state(out)) == 11

    for stage in DATA_STAGES:  # rows in = kept + excluded, counted from the shards, in every data stage
        stats = json.loads((out / stage / "stats.json").read_text())
        assert stats["rows_in_equals_kept_plus_excluded"], stage
        kept = pl.read_parquet(out / stage / "data" / "*.parquet")
        assert kept.height == stats["kept"], stage
        if "id" in kept.columns:
            assert kept["id"].n_unique() == kept.height, stage  # the resumed stage wrote nothing twice
    assert json.loads((out / "corpus" / "stats.json").read_text())["kept"] > 20
    assert json.loads((out / "prefs" / "stats.json").read_text())["kept"] > 0  # DPO had pairs to learn from
    for stage in ("sft", "dpo"):
        assert (out / stage / "model" / "model.safetensors").is_file()
        assert json.loads((out / stage / "train_metrics.json").read_text())["global_step"] > 0
    assert json.loads((out / "dpo" / "config.json").read_text())["model"] == str(out / "sft" / "model")  # wired by name
    assert 0 <= json.loads((out / "eval" / "results.json").read_text())["win_rate"] <= 1

    # The dataset folder loads config by config with the real `datasets` loader, offline.
    loaded = subprocess.run([sys.executable, "-c", (
        "import json, sys, datasets; d = sys.argv[1]; "
        "print(json.dumps({c: datasets.load_dataset(d, c, split='train').num_rows for c in datasets.get_dataset_config_names(d)}))"),
        str(out / "hub" / "dataset")], capture_output=True, text=True, timeout=300,
        # its own cache: datasets names a local folder's cache by the folder's name ("dataset"), so a
        # shared cache would answer with an earlier run's rows
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets-cache")})
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    rows = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert rows == {stage: json.loads((out / stage / "stats.json").read_text())["kept"] for stage in ("corpus", "translate", "synth", "prefs")}
    card = (out / "hub" / "model" / "README.md").read_text()
    assert card.startswith("---\n") and "license: apache-2.0" in card
    assert (out / "hub" / "model" / "model.safetensors").is_file()
    assert "Recipe demo: 11 stage(s)" in result.stderr
