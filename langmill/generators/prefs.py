"""Rollouts of `langmill prefs`: completions from policy models, judged, turned into pairs (Aya).

1. `PolicySampler.rollout` (one stage per policy model): `samples` completions of one prompt,
   each a chat request with its own seed, behind a system message that asks for the target
   language (a prompt with a system message of its own keeps it). Every completion is checked
   (`synth_checks.check_answer`: truncated, empty, template artifacts, language, refusal, model
   identity, repetition); one with an issue can only ever be a `rejected` answer.
2. `PairJudge.rollout` (the judge's stage): every completion of the prompt, from every policy,
   scored 1-10 by the judge; then `choose_pairs` makes chosen/rejected pairs, and with `pairwise`
   each pair is judged again head to head in both orders and kept only when both orders agree.

`choose_pairs` is plain logic: chosen = the best clean, judged completion; rejected = a flawed
completion if there is one (its flaw is objective), else the worst judged one, and only when
chosen's score beats it by at least `margin`. Ties, small margins, identical texts and judge
failures give no pair and a reason instead; chosen and rejected are never the same text.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field

from langmill.generators.engine import TargetLid
from langmill.generators.judge import Judge, JudgeSettings, language_name

# Why a prompt gave no pair, in the order it is decided.
PAIR_REASONS = ("generation_error", "no_usable_completion", "judge_error", "too_few_completions", "identical", "tie", "small_margin",
                "pairwise_disagrees")
PAIR_MODES = ("best-worst", "all")
# Sampling of MT-Bench answers by category, as FastChat answers the benchmark (others: 0.7).
CATEGORY_TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0, "stem": 0.1,
                        "humanities": 0.1}


@dataclass
class PolicySettings:
    """How policy models answer prompts (TRL-style config dataclass).

    samples: completions per prompt and model, each with its own seed.
    system: the system message (None: judge.yaml's policy_system, {language} filled in; "": none).
    params: sampling of every request.
    checks: langmill/configs/synth.yaml (its lid, refusal, model_identity, repetition and
        instruction.template_markers sections judge a completion).
    """

    lang: str
    samples: int = 4
    system: str | None = None
    params: dict = field(default_factory=lambda: {"temperature": 0.8, "top_p": 0.95, "max_tokens": 1024})
    seed: int = 0
    checks: dict = field(default_factory=dict)

    def __post_init__(self):
        from langmill.config import load_synth_config
        from langmill.generators.judge import load_judge_prompts

        self.checks = self.checks or load_synth_config()
        if self.system is None:
            self.system = load_judge_prompts()["policy_system"].format(language=language_name(self.lang)).strip()

    def request_seed(self, key: str) -> int:
        return (self.seed + zlib.crc32(key.encode())) % (1 << 31)

    def conversation(self, messages: list[dict]) -> list[dict]:
        has_system = any(m["role"] == "system" for m in messages)
        return messages if has_system or not self.system else [{"role": "system", "content": self.system}, *messages]


class PolicySampler(TargetLid):
    """The rollout of one policy model's stage: a prompt document -> {"completions": [...]}, each
    {"text", "finish_reason", "tokens", "seed", "lang", "lang_score", "issue", "issue_detail"}
    (text None and issue "generation_error" when the request was refused)."""

    def __init__(self, settings: PolicySettings, model_index: int = 0):
        self.settings, self.model_index = settings, model_index

    async def complete(self, generate, messages: list[dict], key: str, params: dict | None = None) -> dict:
        from datatrove.pipeline.inference.types import InferenceError

        from langmill.synth_checks import check_answer

        s = self.settings
        seed = s.request_seed(key)
        try:
            answered = await generate({"messages": s.conversation(messages), **(params or s.params), "seed": seed})
        except InferenceError as err:  # a refused request fails this completion, not the run
            return {"text": None, "seed": seed, "issue": "generation_error", "issue_detail": " ".join(str(err.error).split())[:300]}
        text = answered.text.strip()
        lang, score = self.lid.predict(text) if text else (None, None)
        failures = check_answer(text, s.lang, s.checks, self.lid, answered.finish_reason)
        return {"text": text, "finish_reason": answered.finish_reason, "tokens": int(answered.usage.get("completion_tokens") or 0), "seed": seed,
                "lang": lang, "lang_score": score, "issue": failures[0].reason if failures else None,
                "issue_detail": "; ".join(f.detail for f in failures) or None}

    async def rollout(self, document, generate) -> dict:
        meta = document.metadata
        if meta.get("problem"):  # a row that holds no prompt: nothing to ask
            return {"completions": []}
        messages = meta["prompt"]["messages"]
        keys = [f"{document.id}\x00{self.model_index}\x00{j}" for j in range(self.settings.samples)]
        return {"completions": list(await asyncio.gather(*(self.complete(generate, messages, key) for key in keys)))}


# --- pairs ---------------------------------------------------------------------------------------


def _issue_counts(completions: list[dict], key: str) -> str:
    counts: dict[str, int] = {}
    for c in completions:
        if c.get(key):
            counts[c[key]] = counts.get(c[key], 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def choose_pairs(completions: list[dict], mode: str = "best-worst", margin: float = 2.0) -> tuple[list[tuple[int, int]], dict | None]:
    """(chosen index, rejected index) pairs of one prompt's completions, or ([], {"reason", "detail"}).

    A completion is {"text": str | None, "issue": str | None, "score": float | None} (score None:
    the judge's output was unusable). Clean = no issue; flawed = an issue but a text. Chosen is
    always clean and judged. best-worst: one pair, the best clean completion against the worst
    flawed one (lowest score, unjudged first) or else the worst clean one. all: every clean judged
    completion against every flawed one and every clean one it beats by `margin`."""
    texts = [c.get("text") for c in completions]
    if not any(t is not None for t in texts):
        return [], {"reason": "generation_error", "detail": f"every request failed ({_issue_counts(completions, 'issue') or 'no completion'})"}
    clean = [i for i, c in enumerate(completions) if c["text"] is not None and not c.get("issue")]
    judged = [i for i in clean if completions[i].get("score") is not None]
    flawed = [i for i, c in enumerate(completions) if c["text"] is not None and c.get("issue")]
    if not clean:
        return [], {"reason": "no_usable_completion", "detail": f"every completion has an issue: {_issue_counts(completions, 'issue')}"}
    if not judged:
        return [], {"reason": "judge_error", "detail": f"the judge failed on every clean completion ({_issue_counts(completions, 'judge_error') or len(clean)})"}

    def score(i: int) -> float:
        value = completions[i].get("score")
        return float("-inf") if value is None else value

    def differ(i: int, j: int) -> bool:
        return texts[i].strip() != texts[j].strip()

    best = max(judged, key=lambda i: (score(i), -i))  # the first of equal bests
    worst_flawed = sorted((j for j in flawed if differ(best, j)), key=lambda j: (score(j), j))
    others = sorted((j for j in judged if j != best and differ(best, j)), key=lambda j: (score(j), j))
    if mode == "all":
        pairs = [(i, j) for i in judged for j in flawed if differ(i, j)]
        pairs += [(i, j) for i in judged for j in judged if score(i) - score(j) >= margin and differ(i, j)]
        if pairs:
            return sorted(pairs, key=lambda p: (-score(p[0]), p)), None
    if worst_flawed:
        return [(best, worst_flawed[0])], None
    if not others:
        if len(judged) > 1 or flawed:
            return [], {"reason": "identical", "detail": "every other completion has the same text as the best one"}
        unjudged = len(clean) - len(judged)
        return [], {"reason": "judge_error" if unjudged else "too_few_completions",
                    "detail": f"one clean judged completion, nothing to pair it with{f' ({unjudged} clean one(s) the judge failed on)' if unjudged else ''}"}
    worst = others[0]
    gap = score(best) - score(worst)
    if gap == 0:
        return [], {"reason": "tie", "detail": f"every clean completion scored {score(best):g}"}
    if gap < margin:
        return [], {"reason": "small_margin", "detail": f"best {score(best):g} - worst {score(worst):g} = {gap:g} < margin {margin:g}"}
    return [(best, worst)], None


@dataclass
class PairSettings:
    """How completions become pairs: `mode` (best-worst or all), `margin` (the least score gap
    between two clean completions), `pairwise` (confirm each pair head to head, both orders)."""

    mode: str = "best-worst"
    margin: float = 2.0
    pairwise: bool = False


class PairJudge:
    """The rollout of the judge's stage: a prompt document with every policy's completions ->
    {"completions": [... with "score", "rationale", "judge_error", "judge_raw"], "pairs": [...],
    "excluded": {"reason", "detail"} or None}."""

    def __init__(self, judge: JudgeSettings, pairs: PairSettings):
        self.judge, self.pairs = Judge(judge), pairs

    async def _score(self, generate, messages: list[dict], completion: dict, key: str) -> dict:
        if completion.get("text") is None:
            return completion
        result = await self.judge.score(generate, messages, completion["text"], key=key)
        if "error" in result:
            return {**completion, "score": None, "judge_error": result["error"], "judge_detail": result["detail"], "judge_raw": result["raw"]}
        return {**completion, "score": result["value"], "rationale": result["rationale"]}

    async def rollout(self, document, generate) -> dict:
        meta = document.metadata
        if meta.get("problem"):
            return {"completions": [], "pairs": [], "excluded": meta["problem"]}
        messages = meta["prompt"]["messages"]
        completions = list(await asyncio.gather(*(self._score(generate, messages, c, f"{document.id}\x00{c['model_index']}\x00{c['sample']}")
                                                 for c in meta["completions"])))
        found, excluded = choose_pairs(completions, self.pairs.mode, self.pairs.margin)
        pairs = [{"chosen": i, "rejected": j} for i, j in found]
        if self.pairs.pairwise and pairs:
            pairs = await self._confirm(generate, document.id, messages, completions, pairs)
            if not pairs:
                excluded = {"reason": "pairwise_disagrees", "detail": "head to head (both orders), the judge did not prefer the chosen answer"}
        return {"completions": completions, "pairs": pairs, "excluded": excluded}

    async def _confirm(self, generate, doc_id: str, messages: list[dict], completions: list[dict], pairs: list[dict]) -> list[dict]:
        """The pairs the judge confirms head to head in both orders; a pair whose rejected answer is
        flawed needs no confirmation (its flaw is objective)."""
        from langmill.evalstats import combine_orders

        async def confirm(pair: dict) -> dict | None:
            chosen, rejected = completions[pair["chosen"]], completions[pair["rejected"]]
            if rejected.get("issue"):
                return pair
            orders = await self.judge.compare(generate, messages, chosen["text"], rejected["text"], key=f"{doc_id}\x00{pair['chosen']}\x00{pair['rejected']}")
            verdicts = [o.get("value") for o in orders]
            return {**pair, "pairwise": verdicts} if combine_orders(*verdicts) == "a" else None

        return [p for p in await asyncio.gather(*(confirm(p) for p in pairs)) if p is not None]
