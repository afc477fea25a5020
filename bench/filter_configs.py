"""Like-for-like settings: langmill's quality filters configured with datatrove's default thresholds.

The thresholds are read from the signatures of datatrove's filter classes (`inspect`), so the
comparison follows datatrove if its defaults change. Where a datatrove rule has no exact langmill
counterpart the mapping below says so; those differences show up in the disagreement breakdown.
"""

from __future__ import annotations

import inspect

DATATROVE_LANGUAGE = "fi"

# bench name -> (datatrove class path, langmill class name)
FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality")
DATATROVE_CLASSES = {
    "gopher_quality": "datatrove.pipeline.filters.gopher_quality_filter:GopherQualityFilter",
    "gopher_repetition": "datatrove.pipeline.filters.gopher_repetition_filter:GopherRepetitionFilter",
    "c4": "datatrove.pipeline.filters.c4_filters:C4QualityFilter",
    "fineweb_quality": "datatrove.pipeline.filters.fineweb_quality_filter:FineWebQualityFilter",
}
LANGMILL_CLASSES = {
    "gopher_quality": "GopherQualityFilter",
    "gopher_repetition": "GopherRepetitionFilter",
    "c4": "C4Filter",
    "fineweb_quality": "FineWebQualityFilter",
}


def datatrove_class(name: str):
    module, cls = DATATROVE_CLASSES[name].split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


def datatrove_defaults(name: str) -> dict:
    """Default keyword arguments of the datatrove filter's constructor."""
    params = inspect.signature(datatrove_class(name).__init__).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def datatrove_filter(name: str):
    """The datatrove filter with its defaults, and language="fi" (all four take a language)."""
    return datatrove_class(name)(language=DATATROVE_LANGUAGE)


def _off_if_disabled(value, disabled=-1):
    return None if value is None or value == disabled else value


def gopher_quality(d: dict) -> dict:
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    return {
        "min_doc_words": d["min_doc_words"],
        "max_doc_words": d["max_doc_words"],
        "min_mean_word_length": d["min_avg_word_length"],
        "max_mean_word_length": d["max_avg_word_length"],
        # datatrove applies one ratio to both '#' and ellipses
        "max_hash_word_ratio": d["max_symbol_word_ratio"],
        "max_ellipsis_word_ratio": d["max_symbol_word_ratio"],
        "max_bullet_lines_ratio": d["max_bullet_lines_ratio"],
        "max_ellipsis_lines_ratio": d["max_ellipsis_lines_ratio"],
        "min_alpha_words_ratio": d["max_non_alpha_words_ratio"],  # datatrove's name, same meaning
        "min_stop_words": d["min_stop_words"],
        # datatrove's default list is English even with language="fi"
        "stop_words": list(STOP_WORDS if d["stop_words"] is None else d["stop_words"]),
        "alpha_ratio_of": "tokens",  # datatrove counts punctuation tokens too
        # langmill's own rules, which datatrove does not have: off; no per-length thresholds
        "max_separator_ratio": 1, "max_garbled_word_ratio": 1, "min_distinct_word_ratio": 0, "by_length": {},
    }


def gopher_repetition(d: dict) -> dict:
    return {
        "max_dup_line_frac": d["dup_line_frac"],
        "max_dup_para_frac": d["dup_para_frac"],
        "max_dup_line_char_frac": d["dup_line_char_frac"],
        "max_dup_para_char_frac": d["dup_para_char_frac"],
        "max_top_ngram_char_frac": {int(n): frac for n, frac in d["top_n_grams"]},
        "max_dup_ngram_char_frac": {int(n): frac for n, frac in d["dup_n_grams"]},
        "by_length": {},  # datatrove has one threshold per rule
    }


def c4(d: dict) -> dict:
    from datatrove.pipeline.filters.c4_filters import END_PUNCTUATION, POLICY_SUBSTRINGS

    from langmill.native.textstats import CLOSING_CHARS

    return {
        "min_words_per_line": _off_if_disabled(d["min_words_per_line"]),
        "min_sentences": _off_if_disabled(d["min_num_sentences"]),
        "max_word_length": _off_if_disabled(d["max_word_length"]),
        "remove_no_terminal_punct_lines": d["filter_no_terminal_punct"],
        "remove_ellipsis_lines": d["filter_no_terminal_punct"],  # datatrove: same switch
        "drop_lorem_ipsum": d["filter_lorem_ipsum"],
        "drop_curly_bracket": d["filter_curly_bracket"],
        # datatrove counts a closing quote as terminal; langmill skips closing quotes, then looks
        "terminal_punctuation": [p for p in END_PUNCTUATION if p not in CLOSING_CHARS],
        "javascript_substrings": ["javascript"] if d["filter_javascript"] else [],
        "policy_substrings": list(POLICY_SUBSTRINGS) if d["filter_policy"] else [],
        "extra_policy_substrings": [],
    }


def fineweb_quality(d: dict) -> dict:
    from datatrove.utils.text import TERMINAL_PUNCTUATION

    return {
        "min_line_punct_ratio": d["line_punct_thr"],
        "line_punct_exclude_zero": d["line_punct_exclude_zero"],
        "max_short_line_ratio": d["short_line_thr"],
        "short_line_length": d["short_line_length"],
        "max_dup_line_char_ratio": d["char_duplicates_ratio"],
        "max_newline_word_ratio": d["new_line_ratio"],
        "terminal_punctuation": list(TERMINAL_PUNCTUATION if d["stop_chars"] is None else d["stop_chars"]),
    }


MAPPERS = {"gopher_quality": gopher_quality, "gopher_repetition": gopher_repetition, "c4": c4, "fineweb_quality": fineweb_quality}


def langmill_config_from_datatrove(name: str) -> dict:
    """langmill's config section for filter `name`, with datatrove's default thresholds."""
    return MAPPERS[name](datatrove_defaults(name))


if __name__ == "__main__":
    import json

    for n in FILTERS:
        print(n, json.dumps(langmill_config_from_datatrove(n), ensure_ascii=False))
