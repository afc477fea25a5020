"""The parts of `langmill translate` that need no model: segmentation, input formats, prompts, and
the retry/QC logic of one row driven by a scripted `generate` (real fastText, real QC, real text)."""

import asyncio
import gzip
import json

import pytest
from datatrove.data import Document
from datatrove.pipeline.inference.types import InferenceError, InferenceResult

from langmill.formats import BadRow, detect_format, parse_hh, to_fields
from langmill.generators.translate import TranslateSettings, Translator, load_examples, segment

from conftest import shared_data


def read_gz(path, n=None):
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if n and len(rows) >= n:
                break
    return rows


def join(segments):
    return "".join(s.prefix + s.text + s.suffix for s in segments)


# --- segmentation ---------------------------------------------------------------------------------


def test_segments_give_back_every_real_text_exactly():
    texts = [m["text"] for m in read_gz(shared_data("instructions", "oasst1-en-validation.jsonl.gz"))]
    texts += [r.get(k, "") for r in read_gz(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"), 2000) for k in ("context", "response")]
    n_code = 0
    for text in texts:
        segments = segment(text, max_chars=400)
        assert join(segments) == text
        for s in segments:
            if s.text.lstrip().startswith("```") and s.text.rstrip().endswith("```"):
                n_code += 1
                assert not s.translate  # fenced code never goes to the model
            if s.translate:
                assert "\n\n" not in s.text.strip()  # never more than one paragraph
                assert len(s.text) <= 400 or "\n" not in s.text  # long paragraphs are cut into lines
    assert n_code >= 5  # oasst has real code blocks


def test_segment_markers_and_passthrough():
    text = "Steps:\n\n1. Open `settings.py`.\n2. Set {name} to 5.\n\n## Result\n\n$$E = mc^2$$\n\nhttps://example.org/a_b\n"
    segments = segment(text)
    assert join(segments) == text
    sent = [s.text for s in segments if s.translate]
    assert sent == ["Steps:", "Open `settings.py`.", "Set {name} to 5.", "Result"]
    assert [s.prefix for s in segments if s.translate][1:] == ["1. ", "2. ", "## "]


# --- formats --------------------------------------------------------------------------------------


def test_formats_detected_and_converted():
    dolly = {"instruction": "Summarise.", "context": "Long text.", "response": "Short."}
    alpaca = {"instruction": "Add.", "input": "2 + 2", "output": "4"}
    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    pref = {"prompt": "Q?", "chosen": "Good.", "rejected": "Bad."}
    assert [detect_format(r) for r in (dolly, alpaca, chat, pref)] == ["dolly", "alpaca", "messages", "preference"]
    assert to_fields(dolly, "dolly")["messages"] == [{"role": "user", "content": "Summarise.\n\nLong text."}, {"role": "assistant", "content": "Short."}]
    assert to_fields(alpaca, "alpaca")["messages"][0]["content"] == "Add.\n\n2 + 2"
    assert to_fields({"instruction": "Add.", "input": "", "output": "4"}, "alpaca")["messages"][0]["content"] == "Add."
    assert to_fields(pref, "preference") == {"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "Good."}],
                                             "rejected": [{"role": "assistant", "content": "Bad."}]}
    for bad in ({"text": "x"}, {"messages": "x"}, {"messages": [{"role": "user"}]}, {"instruction": 3, "output": "x"}):
        with pytest.raises(BadRow):
            to_fields(bad, detect_format(bad))


def test_a_prompt_repeated_in_chosen_and_rejected_is_kept_once():
    # HuggingFaceH4/ultrafeedback_binarized's shape: the prompt string, then both answers as [user, assistant]
    user = {"role": "user", "content": "Name a Finnish lake."}
    row = {"prompt": user["content"], "chosen": [user, {"role": "assistant", "content": "Saimaa."}],
           "rejected": [{"content": user["content"], "role": "user"}, {"role": "assistant", "content": "Lake."}]}
    assert to_fields(row, "preference") == {"prompt": [user], "chosen": [{"role": "assistant", "content": "Saimaa."}],
                                            "rejected": [{"role": "assistant", "content": "Lake."}]}
    other = {**row, "rejected": [{"role": "user", "content": "Another question?"}, {"role": "assistant", "content": "Lake."}]}
    assert len(to_fields(other, "preference")["chosen"]) == 2  # not both repeat it: left as it is


def test_real_hh_transcripts_become_prompt_chosen_rejected():
    rows = read_gz(shared_data("instructions", "hh-rlhf-harmless-base.test.jsonl.gz"), 300)
    converted = 0
    for row in rows:
        try:
            fields = to_fields(row, "preference")
        except BadRow:
            continue
        converted += 1
        assert fields["prompt"][-1]["role"] == "user"
        assert row["chosen"].endswith(fields["chosen"][0]["content"]) and row["rejected"].endswith(fields["rejected"][0]["content"])
        assert len(parse_hh(row["chosen"])) == len(fields["prompt"]) + 1
    assert converted >= 0.9 * len(rows)


# --- prompts --------------------------------------------------------------------------------------


def test_prompts_zeroshot_and_fewshot():
    s = TranslateSettings(lang="fi")
    p = s.payload("Keep {name} as is.", 0)
    assert p["messages"][0]["role"] == "system" and "Finnish" in p["messages"][1]["content"]
    assert p["messages"][1]["content"].endswith("Keep {name} as is.") and "{name} or %s" in p["messages"][1]["content"]
    assert p["temperature"] == 0.0 and "seed" not in p  # greedy first attempt
    retry = s.payload("Keep {name} as is.", 2)
    assert retry["temperature"] == 0.7 and retry["seed"] == 2
    few = TranslateSettings(lang="fi", prompt="fewshot", examples=load_examples("fi", "en"))
    p = few.payload("Good morning.", 0)
    assert p["prompt"].endswith("English: Good morning.\nFinnish:") and p["prompt"].count("Finnish: ") == len(few.examples) >= 3
    assert "\n\n" in p["stop"] and "\nEnglish:" in p["stop"]
    assert load_examples("eu", "en") == []


# --- one row, with a scripted model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dolly_fi_pairs():
    en = read_gz(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"), 400)
    fi = {r["doc_index"]: r for r in read_gz(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), 400)}
    pairs = {}
    for r in en:
        t = fi.get(r["doc_index"])
        if t and "\n" not in r["response"] and 12 <= len(r["response"].split()) <= 80 and "\n" not in t["response"]:
            pairs[r["response"]] = t["response"]
        if t and "\n" not in r["instruction"] and len(r["instruction"].split()) >= 6:
            pairs[r["instruction"]] = t["instruction"]
    return pairs


class ScriptedModel:
    """A `generate` callback: real human translations, with planted failures on chosen attempts."""

    def __init__(self, pairs: dict, bad_attempts: dict | None = None):
        self.pairs, self.bad_attempts, self.calls = pairs, bad_attempts or {}, []

    async def __call__(self, payload: dict) -> InferenceResult:
        text = payload["messages"][-1]["content"].rsplit("\n\n", 1)[-1]
        self.calls.append((text, payload.get("seed")))
        attempt = sum(1 for t, _ in self.calls if t == text) - 1
        plant = self.bad_attempts.get(attempt)
        out = self.pairs[text]
        if plant == "english":
            out = text
        elif plant == "artifact":
            out = f"Tässä on käännös suomeksi:\n\n{out}"
        elif plant == "error":
            raise InferenceError(None, "BadRequestError HTTP 400: prompt too long")
        finish = "length" if plant == "truncated" else "stop"
        return InferenceResult(text=out, finish_reason=finish, usage={"completion_tokens": 10})


def _row(pairs):
    instruction, response = list(pairs)[0], next(k for k in pairs if len(k.split()) >= 12 and k != list(pairs)[0])
    return {"instruction": instruction, "context": "", "response": response}, instruction, response


def run_row(translator, row, model, row_id="x.jsonl:1"):
    doc = Document(text="", id=row_id, metadata={"row": row, "source": row_id})
    return asyncio.run(translator.rollout(doc, model))


def test_row_translated_and_checked(dolly_fi_pairs):
    row, instruction, response = _row(dolly_fi_pairs)
    result = run_row(Translator(TranslateSettings(lang="fi")), row, ScriptedModel(dolly_fi_pairs))
    assert result["status"] == "kept", result.get("detail")
    assert result["fields"]["messages"][1]["content"] == dolly_fi_pairs[response]
    assert result["source_fields"]["messages"][0]["content"] == instruction
    assert result["qc"]["requests"] == result["qc"]["segments"] == 2 and result["qc"]["min_lang_score"] > 0.65


def test_failing_segments_are_retried_with_new_seeds(dolly_fi_pairs):
    row, _, response = _row(dolly_fi_pairs)
    for plant in ("english", "truncated"):
        model = ScriptedModel(dolly_fi_pairs, {0: plant})  # the first attempt fails, the retry is fine
        result = run_row(Translator(TranslateSettings(lang="fi")), row, model)
        assert result["status"] == "kept", (plant, result.get("detail"))
        assert result["qc"]["retried_segments"] == 2 and result["qc"]["requests"] == 4
        assert [seed for t, seed in model.calls if t == response] == [None, 1]
    # Failing every time: the row is excluded with every reason, after 1 + retries attempts.
    model = ScriptedModel(dolly_fi_pairs, {0: "english", 1: "english", 2: "truncated"})
    result = run_row(Translator(TranslateSettings(lang="fi", retries=2)), row, model)
    assert result["status"] == "excluded" and result["reason"] == "truncated"
    assert "messages[1] segment 1: truncated" in result["detail"]
    assert len([1 for t, _ in model.calls if t == response]) == 3
    # A safely removable prompt artifact is stripped, not retried.
    result = run_row(Translator(TranslateSettings(lang="fi")), row, ScriptedModel(dolly_fi_pairs, {0: "artifact"}))
    assert result["status"] == "kept" and result["qc"]["requests"] == 2
    assert not result["fields"]["messages"][0]["content"].startswith("Tässä")
    # A request the server refuses fails the row (not the run), without retries.
    result = run_row(Translator(TranslateSettings(lang="fi")), row, ScriptedModel(dolly_fi_pairs, {0: "error"}))
    assert result["status"] == "excluded" and result["reason"] == "generation_error" and "prompt too long" in result["detail"]


def test_code_and_identical_segments(dolly_fi_pairs):
    text = next(k for k in dolly_fi_pairs if len(k.split()) >= 12)
    code = "```bash\nls -la ~/data\n```"
    row = {"messages": [{"role": "system", "content": text}, {"role": "user", "content": f"{text}\n\n{code}"}]}
    model = ScriptedModel(dolly_fi_pairs)
    result = run_row(Translator(TranslateSettings(lang="fi")), row, model)
    assert result["status"] == "kept", result.get("detail")
    assert result["fields"]["messages"][1]["content"] == f"{dolly_fi_pairs[text]}\n\n{code}"
    assert [m["role"] for m in result["fields"]["messages"]] == ["system", "user"]
    assert len(model.calls) == 1  # the same paragraph twice in a row: translated once; code never sent


def test_bad_and_mismatched_rows_are_excluded(dolly_fi_pairs):
    translator = Translator(TranslateSettings(lang="fi"))
    doc = Document(text="", id="f.jsonl:3", metadata={"bad_row": "f.jsonl:3: malformed JSON", "source": "f.jsonl:3"})
    assert asyncio.run(translator.rollout(doc, None))["reason"] == "bad_row"
    result = run_row(translator, {"prompt": "a", "chosen": "b", "rejected": "c"}, ScriptedModel({}))
    assert result["reason"] == "bad_row" and "separate run" in result["detail"]


def test_sample_rows_of_each_format():
    from conftest import REPO

    expected = {"chats.jsonl": "messages", "alpaca.jsonl": "alpaca", "dolly.jsonl": "dolly", "preferences.jsonl": "preference"}
    for name, fmt in expected.items():
        rows = [json.loads(line) for line in (REPO / "langmill" / "sample_rows" / name).read_text().splitlines()]
        assert rows and all(detect_format(r) == fmt for r in rows)
        for r in rows:
            fields = to_fields(r, fmt)
            assert all(m["content"].strip() for messages in fields.values() for m in messages)


def test_vllm_command_passes_flags_and_never_trusts_remote_code_by_default():
    from langmill.generators.engine import EngineConfig, vllm_cpu_build

    cmd = EngineConfig(model="/models/m").vllm_command(8000)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"] and "--trust-remote-code" not in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"  # never exposed beyond this machine
    cmd = EngineConfig(model="m", tensor_parallel=4, data_parallel=2, max_model_len=8192, dtype="bfloat16",
                       trust_remote_code=True, vllm_args=["--enforce-eager", "--enable-chunked-prefill"]).vllm_command(8000)
    for flag, value in (("--tensor-parallel-size", "4"), ("--data-parallel-size", "2"), ("--max-model-len", "8192"), ("--dtype", "bfloat16")):
        assert cmd[cmd.index(flag) + 1] == value
    assert "--trust-remote-code" in cmd and cmd[-2:] == ["--enforce-eager", "--enable-chunked-prefill"]
    assert "--no-enable-chunked-prefill" not in cmd  # the user's choice wins
    assert ("--no-enable-chunked-prefill" in EngineConfig(model="m").vllm_command(1)) == vllm_cpu_build()


def test_rollout_after_datatrove_readers(tmp_path, dolly_fi_pairs):
    """The rollout needs no langmill reader: datatrove's JsonlReader with langmill's row adapter, or
    a document whose metadata holds the row's fields."""
    from datatrove.pipeline.readers import JsonlReader

    from langmill.readers import row_adapter

    row, _, response = _row(dolly_fi_pairs)
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    [doc] = list(JsonlReader(str(tmp_path), adapter=row_adapter).run())
    translator = Translator(TranslateSettings(lang="fi"))
    result = asyncio.run(translator.rollout(doc, ScriptedModel(dolly_fi_pairs)))
    assert doc.metadata["source"] == "rows.jsonl:1" and result["status"] == "kept", result.get("detail")
    assert result["fields"]["messages"][1]["content"] == dolly_fi_pairs[response]
    plain = Document(text="x", id="y", metadata={**row, "file_path": "rows.jsonl"})
    assert asyncio.run(translator.rollout(plain, ScriptedModel(dolly_fi_pairs)))["status"] == "kept"


def test_sharegpt_rows_and_rows_with_nothing_to_translate(dolly_fi_pairs):
    """ShareGPT's conversations of {from, value} are chats (human/gpt become user/assistant); a row
    whose every message is empty, or with a role langmill does not translate, is a bad row that
    costs no request."""
    _, instruction, response = _row(dolly_fi_pairs)
    sharegpt = {"conversations": [{"from": "human", "value": instruction}, {"from": "gpt", "value": response}]}
    assert detect_format(sharegpt) == "sharegpt"
    result = run_row(Translator(TranslateSettings(lang="fi")), sharegpt, ScriptedModel(dolly_fi_pairs))
    assert result["status"] == "kept" and result["format"] == "sharegpt", result.get("detail")
    assert result["fields"]["messages"] == [{"role": "user", "content": dolly_fi_pairs[instruction]},
                                            {"role": "assistant", "content": dolly_fi_pairs[response]}]

    tool_output = '{"temperature": 21, "unit": "celsius"}'
    chat = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
    degenerate = {
        "messages: every message is empty": ("sft", {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": "  \n"},
                                                                  {"role": "assistant", "content": ""}]}),
        "messages[2] has role 'tool'": ("sft", {"messages": chat + [{"role": "tool", "content": tool_output}]}),
        "conversations[2] has role 'function_call'": ("sft", {"conversations": sharegpt["conversations"] + [{"from": "function_call", "value": tool_output}]}),
        "messages is a plain string": ("sft", {"messages": f"{instruction}\n\n{response}"}),
        "chosen is empty": ("preference", {"prompt": instruction, "chosen": " ", "rejected": response}),
    }
    for detail, (kind, row) in degenerate.items():
        model = ScriptedModel(dolly_fi_pairs)
        result = run_row(Translator(TranslateSettings(lang="fi", kind=kind)), row, model)
        assert result["status"] == "excluded" and result["reason"] == "bad_row" and detail in result["detail"], result
        assert model.calls == []


def test_inputs_of_both_kinds_are_refused():
    from conftest import REPO

    from langmill.formats import input_formats, run_kind
    from langmill.readers import InputError

    chats, prefs = (str(REPO / "langmill" / "sample_rows" / name) for name in ("chats.jsonl", "preferences.jsonl"))
    assert run_kind(input_formats([chats, chats])) == "sft" and run_kind(input_formats([prefs])) == "preference"
    with pytest.raises(InputError) as err:
        run_kind(input_formats([chats, prefs]))
    assert str(err.value) == (f"{prefs} holds preference rows, {chats} SFT rows; "
                              "the shards of one run share one schema: run langmill translate once per kind")
    assert run_kind(input_formats([chats, prefs], "messages")) == "sft"  # a given --format: preference rows are bad rows
