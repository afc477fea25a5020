"""Magpie's pre-query template from real chat templates of several model families.

The templates in tests/fixtures/chat_templates/ are the chat templates these model families ship
(text, rendered by transformers' own `apply_chat_template` through the tiny local tokenizer, with
each family's special tokens).
"""

from pathlib import Path

import pytest

from langmill.generators.magpie import SENTINEL, TemplateError, next_user_prefix, pre_query_template, stop_for, tokenizer_render, user_turn_end

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"

# family: where a user's message ends (the stop of a generated instruction), and the prompt of a
# second user turn after one exchange.
TURNS = {
    "llama-3": ("<|eot_id|>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nMikä on Saimaa?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nSuomen suurin järvi.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"),
    "qwen2-chatml": ("<|im_end|>", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nMikä on Saimaa?<|im_end|>\n"
                     "<|im_start|>assistant\nSuomen suurin järvi.<|im_end|>\n<|im_start|>user\n"),
    "gemma": ("<end_of_turn>", "<bos><start_of_turn>user\nMikä on Saimaa?<end_of_turn>\n<start_of_turn>model\nSuomen suurin järvi.<end_of_turn>\n"
              "<start_of_turn>user\n"),
    "mistral": ("[/INST]", "<s>[INST] Mikä on Saimaa? [/INST]Suomen suurin järvi.</s>[INST] "),
}

# family: (template file, special tokens, pre-query template without / with a system message)
FAMILIES = {
    "llama-3": ("llama-3-instruct.jinja", {"bos_token": "<|begin_of_text|>"},
                "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nVastaa aina suomeksi.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\n"),
    "qwen2-chatml": ("qwen2-instruct-chatml.jinja", {},
                     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
                     "<|im_start|>system\nVastaa aina suomeksi.<|im_end|>\n<|im_start|>user\n"),
    "gemma": ("gemma-it.jinja", {"bos_token": "<bos>"}, "<bos><start_of_turn>user\n", None),
    "mistral": ("mistral-instruct-v0.2.jinja", {"bos_token": "<s>", "eos_token": "</s>"}, "<s>[INST] ", None),
}


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize("family", FAMILIES)
def test_pre_query_template_of_each_family(tokenizer, family):
    name, tokens, plain, with_system = FAMILIES[family]
    render = tokenizer_render(tokenizer, (TEMPLATES / name).read_text(), **tokens)
    assert pre_query_template(render) == plain
    if with_system is None:  # Gemma and Mistral v0.2 have no system role: a clear error
        with pytest.raises(TemplateError, match="takes no system message.*leave out --system"):
            pre_query_template(render, system="Vastaa aina suomeksi.")
    else:
        assert pre_query_template(render, system="Vastaa aina suomeksi.") == with_system
    # What the model is sent continues exactly where a user's message would start.
    full = render([{"role": "user", "content": SENTINEL}])
    assert full.startswith(plain)


@pytest.mark.parametrize("family", FAMILIES)
def test_turn_end_and_the_next_user_turn(tokenizer, family):
    name, tokens, _, _ = FAMILIES[family]
    render = tokenizer_render(tokenizer, (TEMPLATES / name).read_text(), **tokens)
    end, second_turn = TURNS[family]
    assert user_turn_end(render) == end
    exchange = [{"role": "user", "content": "Mikä on Saimaa?"}, {"role": "assistant", "content": "Suomen suurin järvi."}]
    assert next_user_prefix(render, exchange) == second_turn


def test_the_tiny_models_own_template(tokenizer):
    assert pre_query_template(tokenizer_render(tokenizer)) == "<s><|user|>\n"
    assert pre_query_template(tokenizer_render(tokenizer), system="Ole lyhyt.") == "<s><|system|>\nOle lyhyt.<|end|>\n<|user|>\n"


def test_unusable_templates_are_one_clear_error(tokenizer):
    class NoTemplate:
        chat_template = None

    with pytest.raises(TemplateError, match="no chat template"):
        tokenizer_render(NoTemplate())
    with pytest.raises(TemplateError, match="nothing before the user's message"):
        pre_query_template(tokenizer_render(tokenizer, "{% for m in messages %}{{ m['content'] }}{% endfor %}"))
    with pytest.raises(TemplateError, match="does not show the user's message"):
        pre_query_template(tokenizer_render(tokenizer, "<s>hello"))
    with pytest.raises(TemplateError, match="drops the system message"):
        pre_query_template(tokenizer_render(tokenizer, "{% for m in messages if m['role'] == 'user' %}<u>{{ m['content'] }}{% endfor %}"), system="Ole lyhyt.")


def test_instruction_stop_is_a_token_id_for_special_tokens_and_a_string_otherwise(tokenizer):
    end = user_turn_end(tokenizer_render(tokenizer))
    assert end == "<|end|>" and stop_for(tokenizer, end) == {"stop_token_ids": [tokenizer.convert_tokens_to_ids("<|end|>")]}
    assert stop_for(tokenizer, "[/INST]") == {"stop": ["[/INST]"]}  # plain text in this vocabulary
    assert stop_for(tokenizer, "") == {}
