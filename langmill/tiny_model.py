"""Build a tiny random-weight Llama chat model, fully offline (`langmill tiny-model --out DIR`).

Used by the demo recipe and the tests: every generation and training stage can run end to end on a
2-core CPU with it, and nothing is downloaded.  ``build_tiny_model(path)``
trains a small byte-level BPE tokenizer locally, wraps it in a
``PreTrainedTokenizerFast`` with a simple chat template, creates a 2-layer
``LlamaForCausalLM`` with a fixed seed and saves everything (safetensors)
so that vLLM (CPU) and transformers can load it without network access.
The output is garbage text, but shapes, special tokens, chat template and
generation config are all real.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

SEED = 1234
VOCAB_SIZE = 1500
DTYPE = "bfloat16"

BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"
UNK = "<unk>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, *ROLE_TOKENS]  # ids 0..7 in this order

# Simple Jinja chat template: every message is "<|role|>\ncontent<|end|>\n".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Unsupported role: ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Please summarise the following document in one paragraph.",
    "The weather today is sunny with a light breeze from the west.",
    "Data cleaning removes duplicates, boilerplate and very short documents.",
    "A language model predicts the next token given the previous tokens.",
    "She opened the window and listened to the rain on the roof.",
    "Translate the sentence into Finnish and keep the meaning intact.",
    "The train to Helsinki leaves at seven o'clock in the morning.",
    "You are a helpful assistant that answers questions briefly.",
    "What is the capital of Finland? The capital of Finland is Helsinki.",
    "Numbers such as 1, 2, 3, 42 and 2024 appear in many texts.",
    "He wrote a short note, folded it twice and left it on the table.",
    "Quality filters look at word counts, symbol ratios and repetition.",
    "Minhash signatures help to find near-duplicate documents quickly.",
    "The library closes at five, so we should hurry if we want books.",
    "Hello! How are you today? I am fine, thank you very much.",
]


def _training_lines() -> list[str]:
    lines: list[str] = []
    corpus = Path(__file__).resolve().parent / "sample_data" / "corpus.jsonl"
    if corpus.is_file():
        with corpus.open(encoding="utf-8") as fh:
            for raw in fh:
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    text = json.loads(raw).get("text", "")
                except (ValueError, AttributeError):
                    continue
                lines.extend(ln for ln in str(text).splitlines() if ln.strip())
    # English sentences (plus a few variations) so English text tokenizes sensibly.
    for i in range(20):
        for s in _ENGLISH:
            lines.append(s if i == 0 else f"{s} ({i})")
    # Make sure every role marker / stop string appears in plain text too.
    lines.extend(["<fi>tämä on testi</fi>", "system user assistant", "</fi>"])
    return lines


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_lines(), trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=2048,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(path: str | os.PathLike) -> str:
    """Create the tiny model in *path* (unless ``path/config.json`` exists).

    Returns ``str(path)``.
    """
    out = Path(path)
    if (out / "config.json").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    import transformers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = _build_tokenizer()
    vocab = len(tokenizer)
    bos_id = tokenizer.convert_tokens_to_ids(BOS)
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    pad_id = tokenizer.convert_tokens_to_ids(PAD)

    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    # bfloat16 is what vLLM's CPU backend runs by default ("auto" downcasts a
    # float32 checkpoint to bf16 and logs a warning per weight), so store that.
    # transformers >= 5 calls the field ``dtype``; older versions ``torch_dtype``.
    if int(transformers.__version__.split(".")[0]) >= 5:
        config.dtype = DTYPE
    else:
        config.torch_dtype = DTYPE

    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).to(getattr(torch, DTYPE)).eval()

    # No sampling defaults (max_new_tokens, temperature, ...) here: vLLM
    # applies generation_config.json values as per-request defaults.
    gen = GenerationConfig(
        bos_token_id=bos_id,
        eos_token_id=[eos_id, end_id],
        pad_token_id=pad_id,
    )
    model.generation_config = gen

    # Write into a scratch dir, then move files in with config.json last so a
    # half-built directory is never mistaken for a finished one.
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-model-", dir=out))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        gen.save_pretrained(tmp)
        files = sorted(tmp.iterdir(), key=lambda p: p.name == "config.json")
        for f in files:
            f.chmod(0o644)
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


__all__ = ["build_tiny_model"]

if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m langmill.tiny_model OUT_DIR   (a tiny random Llama chat model; output is noise)")
    print(build_tiny_model(sys.argv[1]))
