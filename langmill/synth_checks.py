"""Checks of generated instruction/answer pairs (Magpie and grounded synthesis): plain functions.

Settings: `langmill/configs/synth.yaml` (`langmill.config.load_synth_config`). `check_pair` runs
every check on one pair and returns its failures in the order of `SYNTH_REASONS`, each a `Failure`
whose `reason` becomes the excluded row's reason and whose detail says what was measured.
"""

from __future__ import annotations

from langmill.checks import Failure, _code_free, compression_ratio, identity_hits, in_order

SYNTH_REASONS = ("truncated", "instruction_shape", "lid", "refusal", "model_identity", "repetition")
# Why a policy's answer (langmill prefs) can only be a rejected answer, in the order they are checked.
ANSWER_ISSUES = ("truncated", "empty", "artifact", "lid", "refusal", "model_identity", "repetition")


def _on(section: dict) -> bool:
    return section.get("enabled", True)


def instruction_shape(text: str, config: dict) -> str | None:
    """Why `text` is not a usable request, or None: too short or long, a fragment (ends like the
    start of a list), a leftover of the chat template, or a role label the model echoed."""
    section = config["instruction"]
    stripped = text.strip()
    words = len(stripped.split())
    if words < section["min_words"]:
        return f"instruction has {words} words < {section['min_words']}"
    if words > section["max_words"]:
        return f"instruction has {words} words > {section['max_words']}"
    marker = next((m for m in section["template_markers"] if m in stripped), None)
    if marker:
        return f"instruction holds the template marker {marker!r}"
    lowered = stripped.lower()
    prefix = next((p for p in section["role_prefixes"] if lowered.startswith(p.lower())), None)
    if prefix:
        return f"instruction starts with the role label {prefix!r}"
    ending = next((e for e in section["bad_endings"] if stripped.endswith(e)), None)
    if ending:
        return f"instruction ends with {ending!r}: a fragment, not a request"
    return None


def language(text: str, lang: str, config: dict, lid, what: str) -> str | None:
    """Why `text` (the instruction or the answer) is not in `lang`, or None; `lid` is anything with
    `predict(text) -> (lang, score)` (langmill.filters.lid.LanguageFilter)."""
    section = config["lid"]
    if len(text.split()) < section["min_words"]:
        return None
    predicted, score = lid.predict(text)
    if predicted != lang:
        return f"{what} lid={predicted}({score:.2f})!={lang}"
    if score < section["threshold"]:
        return f"{what} lid={predicted}({score:.2f})<{section['threshold']}"
    return None


def refusal(answer: str, lang: str, config: dict) -> str | None:
    """The refusal phrase the start of `answer` holds (English ones count in every language)."""
    section = config["refusal"]
    start = answer[: section["first_chars"]].lower()
    phrases = section["phrases"].get("en", []) + (section["phrases"].get(lang, []) if lang != "en" else [])
    found = next((p for p in phrases if p.lower() in start), None)
    return f"answer declines: {found!r}" if found else None


def repetition(answer: str, config: dict) -> str | None:
    section = config["repetition"]
    if not _on(section) or len(answer.encode("utf-8")) < section["min_bytes"]:
        return None
    ratio = compression_ratio(answer)
    return f"compression_ratio={ratio:.2f}<{section['min_compression_ratio']}" if ratio < section["min_compression_ratio"] else None


def check_answer(answer: str, lang: str, config: dict, lid, finish_reason: str | None = None) -> list[Failure]:
    """Every failed check of one answer to a given prompt (langmill prefs), in the order of
    ANSWER_ISSUES: cut off, empty, a chat-template leftover, not in `lang`, a refusal, model
    identity words, degenerate repetition."""
    failures: list[Failure] = []

    def add(reason: str, detail: str | None) -> None:
        if detail:
            failures.append(Failure(reason, detail))

    if finish_reason == "length":
        add("truncated", "answer stopped at max_tokens")
    if not answer.strip():
        return failures + [Failure("empty", "the answer is empty")]
    marker = next((m for m in config["instruction"]["template_markers"] if m in answer), None)
    lowered = answer.lstrip().lower()
    prefix = next((p for p in config["instruction"]["role_prefixes"] if lowered.startswith(p.lower())), None)
    add("artifact", f"answer holds the template marker {marker!r}" if marker else f"answer starts with the role label {prefix!r}" if prefix else None)
    if _on(config["lid"]):
        add("lid", language(_code_free(answer), lang, config, lid, "answer"))  # code is no language
    if _on(config["refusal"]):
        add("refusal", refusal(answer, lang, config))
    if _on(config["model_identity"]):
        hits = identity_hits(answer, config["model_identity"]["words"])
        add("model_identity", ", ".join(f"{w}×{n}" for w, n in hits.items()) if hits else None)
    add("repetition", repetition(answer, config))
    return failures


def check_pair(instruction: str, answer: str, lang: str, config: dict, lid, finish_reason: str | None = None) -> list[Failure]:
    """Every failed check of one generated pair, in the order of SYNTH_REASONS."""
    failures: list[Failure] = []

    def add(reason: str, detail: str | None) -> None:
        if detail:
            failures.append(Failure(reason, detail))

    if finish_reason == "length":
        add("truncated", "answer stopped at max_tokens")
    if _on(config["instruction"]):
        add("instruction_shape", instruction_shape(instruction, config))
    if _on(config["answer"]) and len(answer.split()) < config["answer"]["min_words"]:
        add("instruction_shape", f"answer has {len(answer.split())} words < {config['answer']['min_words']}")
    if _on(config["lid"]):
        add("lid", language(instruction, lang, config, lid, "instruction") or language(answer, lang, config, lid, "answer"))
    if _on(config["refusal"]):
        add("refusal", refusal(answer, lang, config))
    if _on(config["model_identity"]):
        hits = identity_hits(instruction + "\n" + answer, config["model_identity"]["words"])
        add("model_identity", ", ".join(f"{w}×{n}" for w, n in hits.items()) if hits else None)
    add("repetition", repetition(answer, config))
    return in_order(failures, SYNTH_REASONS)
