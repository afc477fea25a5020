"""Statistics of judged evaluations: win rates, MT-Bench scores, response-language fidelity.

Pure functions over plain lists and dicts (no I/O); `langmill eval` and `langmill prefs` call them
and write what they return to results.json, so every summary is a JSON-able dict (intervals are
[low, high] lists, rates are fractions in [0, 1], a rate over nothing is None).

Conventions follow the tools people compare against:
- FastChat's MT-Bench pairwise mode judges every pair in both orders; a verdict that changes with
  the seats counts as a tie, and a game where either order failed to parse is dropped (here: counted
  in parse_failures). Its win rate counts a tie as half a win ("win_rate_adjusted").
- FastChat's single-answer grading reports the mean score per turn and the mean of all scores of
  both turns; scores that failed to parse (-1 there, None here) are left out.
- alpaca_eval reports wins, draws and a win rate with ties as half, with a standard error; here the
  interval is a bootstrap over prompts (a prompt's turns resampled together) and, for decisive
  games only, a Wilson interval.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from langmill.answers import strip_reasoning
from langmill.checks import _code_free
from langmill.languages import canonical_lang

VERDICTS = ("a", "b", "tie")
WIN_VALUE = {"a": 1.0, "tie": 0.5, "b": 0.0}  # A's share of a game
BOOTSTRAP_CHUNK = 4_000_000  # resample indices drawn at once (memory, not results: chunks are sequential)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (the usual 95 % interval for z = 1.96); (0, 1)
    when n is 0. Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n."""
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, not k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    # At k = 0 (k = n) the bound is exactly 0 (1); rounding would leave it a hair inside.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def bootstrap_interval(values: list[float], clusters: list[str] | None = None, n_resamples: int = 2000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`, deterministic for a seed.

    With `clusters` (one label per value), whole clusters are resampled: the two turns of one
    question, judged on one conversation, are not independent observations. A resample's mean is
    the mean of the values of the clusters drawn (clusters of unequal size weigh by size)."""
    if not values:
        raise ValueError("bootstrap_interval of no values")
    if clusters is not None and len(clusters) != len(values):
        raise ValueError(f"bootstrap_interval: {len(values)} values but {len(clusters)} cluster labels")
    labels = clusters if clusters is not None else range(len(values))
    index: dict = {}
    codes = np.fromiter((index.setdefault(label, len(index)) for label in labels), dtype=np.int64, count=len(values))
    sums = np.bincount(codes, weights=np.asarray(values, dtype=np.float64))
    sizes = np.bincount(codes).astype(np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    per_chunk = max(1, BOOTSTRAP_CHUNK // len(sums))
    means = []
    for start in range(0, n_resamples, per_chunk):
        drawn = rng.integers(0, len(sums), size=(min(per_chunk, n_resamples - start), len(sums)))
        means.append(sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1))
    tail = (1 - level) / 2
    low, high = np.quantile(np.concatenate(means), [tail, 1 - tail])
    return float(low), float(high)


def combine_orders(first: str | None, second: str | None) -> str | None:
    """One verdict from a comparison judged in both orders, each already in terms of the answers
    ("a", "b", "tie"; None: the judge's output did not parse). Agreeing orders give their verdict,
    disagreeing ones a tie (a preference that follows the seats is no preference), a failed one None."""
    for verdict in (first, second):
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"a verdict is one of {', '.join(VERDICTS)} or None, not {verdict!r}")
    if first is None or second is None:
        return None
    return first if first == second else "tie"


def _rate(k: float, n: int) -> float | None:
    return k / n if n else None


def _interval(values: list[float], clusters: list[str], seed: int) -> list[float] | None:
    return list(bootstrap_interval(values, clusters, seed=seed)) if values else None


def _tally(outcomes: list[tuple[str, str | None]], seed: int) -> dict:
    """Counts, win rate of A (ties as half) and its bootstrap interval of (prompt id, verdict) pairs."""
    judged = [(pid, v) for pid, v in outcomes if v is not None]
    counts = Counter(v for _, v in judged)
    values = [WIN_VALUE[v] for _, v in judged]
    return {
        "games": len(outcomes),
        "judged": len(judged),
        "a_wins": counts["a"],
        "b_wins": counts["b"],
        "ties": counts["tie"],
        "win_rate": _rate(sum(values), len(judged)),
        "ci95": _interval(values, [pid for pid, _ in judged], seed),
    }


def _language_rule(a_in_lang: bool | None, b_in_lang: bool | None) -> str | None:
    """The verdict the wrong-language rule imposes, or None where it does not apply."""
    if a_in_lang is False and b_in_lang is False:
        return "tie"
    if a_in_lang is False:
        return "b"
    if b_in_lang is False:
        return "a"
    return None


def winrate_summary(games: list[dict], wrong_language_loss: bool = False, seed: int = 0) -> dict:
    """Win rate of answer set A against B from pairwise judgements.

    A game is {"id", "category" (or None), "turn", "orders": [v1] or [v1, v2], "a_in_lang",
    "b_in_lang"}: v1 was judged with A's answer shown first, v2 with B's first, both already
    expressed as "a", "b", "tie" or None (unparsable judge output); in_lang is the answer's LID
    verdict (None: not decided, e.g. too short). A game's verdict is `combine_orders(v1, v2)`, or v1
    when only one order was judged. With `wrong_language_loss`, an answer not in the target language
    loses whatever the judge said (both out of language: a tie), also where the judge's output failed.

    Returns:
        games            number of games (prompt turns compared)
        judged           games with a verdict (not None)
        a_wins, b_wins, ties   counts over judged games
        win_rate         A's win rate, ties counted as half: (a_wins + ties / 2) / judged (FastChat's
                         win_rate_adjusted, alpaca_eval's win_rate / 100); None when nothing was judged
        loss_rate        b_wins / judged
        ci95             95 % percentile-bootstrap interval of win_rate, games resampled by prompt id
                         (both turns of a question together); None when nothing was judged
        decisive_win_rate   a_wins / (a_wins + b_wins), ties left out; None without decisive games
        wilson95         Wilson 95 % interval of decisive_win_rate
        per_category     {category: games, judged, a_wins, b_wins, ties, win_rate, ci95}, categories
                         sorted by name; games without a category are left out
        per_turn         {"1": the same, "2": ...}
        flip_rate        share of games with both orders parsed whose two verdicts differ (position
                         bias, or a judge that cannot tell the answers apart); None without such games
        first_seat_wins  share of parsed single-order verdicts (each order counted on its own, ties
                         included in the denominator) that chose the answer shown first (v1 == "a" or
                         v2 == "b"); a judge without position bias picks either seat about equally often
        order_verdicts   {"parsed": n, "first_seat": n, "second_seat": n, "ties": n}: the counts behind it
        parse_failures   {"games": games without a verdict, "first_order": v1 None,
                          "second_order": v2 None (of games judged in both orders)}
        language_losses  games decided by the wrong-language rule (0 unless `wrong_language_loss`)
        language_changed those of them whose verdict differs from the judge's
        wrong_language   {"a": n, "b": n}: games whose A (B) answer is out of the target language
                         (counted whether or not the rule is on)
    """
    outcomes: list[tuple[str, str | None]] = []
    by_category: dict[str, list] = {}
    by_turn: dict[str, list] = {}
    seats = Counter()
    flips = both_parsed = 0
    failed = Counter()
    language_losses = language_changed = 0
    wrong = Counter()
    for game in games:
        orders = list(game["orders"])
        if not 1 <= len(orders) <= 2:
            raise ValueError(f"game {game.get('id')!r}: orders holds {len(orders)} verdicts, not 1 or 2")
        # One order judged: its verdict (combine_orders with itself checks that it is a verdict).
        verdict = combine_orders(*orders) if len(orders) == 2 else combine_orders(orders[0], orders[0])
        _count_seats(orders, seats, failed)
        if len(orders) == 2 and None not in orders:
            both_parsed += 1
            flips += orders[0] != orders[1]
        a_in, b_in = game.get("a_in_lang"), game.get("b_in_lang")
        wrong["a"] += a_in is False
        wrong["b"] += b_in is False
        imposed = _language_rule(a_in, b_in) if wrong_language_loss else None
        if imposed is not None:
            language_losses += 1
            language_changed += imposed != verdict
            verdict = imposed
        failed["games"] += verdict is None
        outcome = (str(game["id"]), verdict)
        outcomes.append(outcome)
        if game.get("category") is not None:
            by_category.setdefault(str(game["category"]), []).append(outcome)
        by_turn.setdefault(str(game["turn"]), []).append(outcome)

    summary = _tally(outcomes, seed)
    decisive = summary["a_wins"] + summary["b_wins"]
    summary.update(
        loss_rate=_rate(summary["b_wins"], summary["judged"]),
        decisive_win_rate=_rate(summary["a_wins"], decisive),
        wilson95=list(wilson_interval(summary["a_wins"], decisive)),
        per_category={cat: _tally(by_category[cat], seed) for cat in sorted(by_category)},
        per_turn={turn: _tally(by_turn[turn], seed) for turn in sorted(by_turn, key=int)},
        flip_rate=_rate(flips, both_parsed),
        first_seat_wins=_rate(seats["first_seat"], seats["parsed"]),
        order_verdicts={key: seats[key] for key in ("parsed", "first_seat", "second_seat", "ties")},
        parse_failures={key: failed[key] for key in ("games", "first_order", "second_order")},
        language_losses=language_losses,
        language_changed=language_changed,
        wrong_language={"a": wrong["a"], "b": wrong["b"]},
    )
    return summary


def _count_seats(orders: list, seats: Counter, failed: Counter) -> None:
    """Count each parsed order's verdict by the seat it chose; order 1 seats A first, order 2 B."""
    for position, (verdict, first_answer) in enumerate(zip(orders, ("a", "b"))):
        if verdict is None:
            failed["first_order" if position == 0 else "second_order"] += 1
            continue
        seats["parsed"] += 1
        if verdict == "tie":
            seats["ties"] += 1
        else:
            seats["first_seat" if verdict == first_answer else "second_seat"] += 1


def _score_stats(rows: list[tuple[str, float]], seed: int) -> dict:
    scores = [s for _, s in rows]
    return {
        "graded": len(scores),
        "score": sum(scores) / len(scores) if scores else None,
        "ci95": _interval(scores, [pid for pid, _ in rows], seed),
    }


def mtbench_summary(grades: list[dict], seed: int = 0) -> dict:
    """MT-Bench single-answer grading, reported like FastChat's show_result.

    A grade is {"id", "category" (or None), "turn": 1 or 2, "score": 1-10 or None (unparsable)}.

    Returns:
        grades          number of grades (questions x turns)
        graded          grades with a score
        parse_failures  grades without one (left out of every mean, as FastChat drops score -1)
        score           mean of every parsed score of both turns (FastChat's "Average"); None if none
        ci95            95 % bootstrap interval of it, questions resampled with both their turns
        per_turn        {"1": {graded, score, ci95, parse_failures}, "2": ...}
        per_category    {category: {graded, score (both turns), ci95, turn_1, turn_2 (means or None)}},
                        sorted by name (the MT-Bench radar chart); grades without a category left out
    """
    parsed: list[tuple[str, float]] = []
    by_turn: dict[str, list] = {}
    failures_by_turn = Counter()
    by_category: dict[str, list] = {}
    for grade in grades:
        turn, score = str(grade["turn"]), grade["score"]
        by_turn.setdefault(turn, [])
        if score is None:
            failures_by_turn[turn] += 1
            continue
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"grade {grade.get('id')!r} turn {turn}: score {score!r} is not a number")
        row = (str(grade["id"]), float(score))
        parsed.append(row)
        by_turn[turn].append(row)
        if grade.get("category") is not None:
            by_category.setdefault(str(grade["category"]), []).append((turn, row))

    summary = {"grades": len(grades), "graded": len(parsed), "parse_failures": len(grades) - len(parsed)}
    summary.update(_score_stats(parsed, seed))
    summary["per_turn"] = {
        turn: {**_score_stats(by_turn[turn], seed), "parse_failures": failures_by_turn[turn]}
        for turn in sorted(by_turn, key=int)
    }
    summary["per_category"] = {cat: _category_scores(by_category[cat], seed) for cat in sorted(by_category)}
    return summary


def _category_scores(rows: list[tuple[str, tuple[str, float]]], seed: int) -> dict:
    stats = _score_stats([row for _, row in rows], seed)
    for turn in ("1", "2"):
        scores = [score for t, (_, score) in rows if t == turn]
        stats[f"turn_{turn}"] = sum(scores) / len(scores) if scores else None
    return stats


def _words_for_lid(text: str) -> str:
    """The prose of an answer: without its reasoning block, code and URLs."""
    return " ".join(_code_free(strip_reasoning(text)).split())


def _word_count(prose: str) -> int:
    """Words with a letter: "[4, 1, 3]" or "= 2 * 8 - 18" are no evidence of a language."""
    return sum(any(ch.isalpha() for ch in token) for token in prose.split())


def answer_language(text: str, lang: str, lid, min_words: int = 5) -> tuple[str, float] | None:
    """(language, probability) of an answer's prose by `lid` (anything with
    `predict(text) -> (lang, score)`, e.g. `LanguageFilter(lang)`); None when the answer is empty or
    has fewer than `min_words` words (tokens with a letter) once code, URLs and a <think> block are
    removed (too little to tell, e.g. "42", "[4, 1, 3]" or a code-only answer). The language comes
    back as `canonical_lang` spells it; `lang` (the target) does not change the prediction, an
    answer is in it when `answer_language(...)[0] == canonical_lang(lang)`."""
    prose = _words_for_lid(text)
    if _word_count(prose) < min_words:
        return None
    predicted, score = lid.predict(prose)
    return canonical_lang(predicted), float(score)


def language_fidelity(texts: list[str], lang: str, lid, min_words: int = 5) -> dict:
    """How many of a model's answers are in the target language, by LID (top language).

    Returns:
        answers    number of texts
        empty      answers that are empty or blank (also once a <think> block is removed)
        too_short  answers with fewer than `min_words` words of prose (tokens with a letter; code
                   and URLs removed);
                   neither these nor empty ones are in the denominator
        judged     answers given to LID
        in_lang    of those, answers whose top language is `lang`
        share      in_lang / judged (None when nothing was judged)
        wilson95   Wilson 95 % interval of the share
        other      {language: n} of the judged answers in another language, most frequent first
    """
    target = canonical_lang(lang)
    empty = too_short = 0
    found = Counter()
    for text in texts:
        if not strip_reasoning(text or "").strip():
            empty += 1
            continue
        result = answer_language(text, target, lid, min_words)
        if result is None:
            too_short += 1
        else:
            found[result[0]] += 1
    judged = sum(found.values())
    in_lang = found.pop(target, 0)
    return {
        "answers": len(texts),
        "judged": judged,
        "in_lang": in_lang,
        "share": _rate(in_lang, judged),
        "wilson95": list(wilson_interval(in_lang, judged)),
        "too_short": too_short,
        "empty": empty,
        "other": dict(sorted(found.items(), key=lambda item: (-item[1], item[0]))),
    }
