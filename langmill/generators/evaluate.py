"""Rollouts of `langmill eval`: a model answers benchmark prompts; the judge compares or grades.

- `Answerer.rollout`: the answers of one model to one prompt, turn after turn (MT-Bench's second
  question is asked after the model's own first answer), behind the target-language system
  message; MT-Bench categories get FastChat's temperatures (0 for math, coding, reasoning, ...).
- `PairwiseJudge.rollout` (winrate): answer A against answer B on the prompt's first turn,
  judged in both orders by default; the two verdicts are kept apart, and combined in the report
  (`evalstats.combine_orders`: a verdict that flips with the seats is a tie).
- `GradeJudge.rollout` (mtbench): single-answer grading 1-10 of every turn, the second with the
  whole conversation before it; questions with a reference answer (math, reasoning, coding) are
  graded against it.
"""

from __future__ import annotations

import asyncio

from langmill.generators.judge import Judge, JudgeSettings
from langmill.generators.prefs import CATEGORY_TEMPERATURE, PolicySettings

REFERENCE_CATEGORIES = ("math", "reasoning", "coding")


class Answerer:
    """A model's answers to a prompt document: {"answers": [text per turn], "finish_reasons",
    "error"} (answers stop at the first refused request)."""

    def __init__(self, settings: PolicySettings, category_temperature: bool = True):
        self.settings, self.category_temperature = settings, category_temperature

    def params(self, category: str | None) -> dict:
        params = dict(self.settings.params)
        if self.category_temperature and category in CATEGORY_TEMPERATURE:
            params["temperature"] = CATEGORY_TEMPERATURE[category]
        return params

    async def rollout(self, document, generate) -> dict:
        from datatrove.pipeline.inference.types import InferenceError

        meta = document.metadata
        if meta.get("problem"):
            return {"answers": [], "finish_reasons": [], "error": None}
        prompt, s = meta["prompt"], self.settings
        messages, answers, reasons = s.conversation(list(prompt["messages"])), [], []
        for turn, question in enumerate([None, *prompt["turns"]]):
            if question is not None:
                messages.append({"role": "user", "content": question})
            try:
                answered = await generate({"messages": messages, **self.params(prompt.get("category")),
                                           "seed": s.request_seed(f"{document.id}\x00{turn}")})
            except InferenceError as err:
                return {"answers": answers, "finish_reasons": reasons, "error": " ".join(str(err.error).split())[:300]}
            answers.append(answered.text.strip())
            reasons.append(answered.finish_reason)
            messages.append({"role": "assistant", "content": answers[-1]})
        return {"answers": answers, "finish_reasons": reasons, "error": None}


def _judged(result: dict) -> dict:
    """A judgement as stored: {"value", "rationale"} or {"value": None, "error", "detail", "raw"}."""
    if "error" in result:
        return {"value": None, "error": result["error"], "detail": result["detail"], "raw": result.get("raw")}
    return {"value": result["value"], "rationale": result["rationale"]}


class PairwiseJudge:
    """The judge's rollout of `eval winrate`: {"orders": [judgement (A first), judgement (B first)]}."""

    def __init__(self, settings: JudgeSettings, both_orders: bool = True):
        self.judge, self.both_orders = Judge(settings), both_orders

    async def rollout(self, document, generate) -> dict:
        meta = document.metadata
        if meta.get("problem"):
            return {"orders": []}
        prompt = meta["prompt"]
        reference = (prompt.get("reference") or [None])[0] if prompt.get("category") in REFERENCE_CATEGORIES else None
        (a, b) = (answers[0] for answers in meta["answers"])  # first turns of A and B
        orders = await self.judge.compare(generate, prompt["messages"], a, b, reference,
                                          key=document.id, both_orders=self.both_orders)
        return {"orders": [_judged(o) for o in orders]}


class GradeJudge:
    """The judge's rollout of `eval mtbench`: {"grades": [judgement per turn]} (score 1-10)."""

    def __init__(self, settings: JudgeSettings):
        self.judge = Judge(settings)

    async def rollout(self, document, generate) -> dict:
        meta = document.metadata
        if meta.get("problem"):
            return {"grades": []}
        prompt, answers = meta["prompt"], meta["answers"][0]  # the one side's answer per turn
        questions = [prompt["messages"][-1]["content"], *prompt["turns"]][: len(answers)]
        references = prompt.get("reference") if prompt.get("category") in REFERENCE_CATEGORIES else None

        async def grade(turn: int) -> dict:
            conversation = list(prompt["messages"])
            for earlier in range(turn):
                conversation += [{"role": "assistant", "content": answers[earlier]}, {"role": "user", "content": questions[earlier + 1]}]
            reference = references[turn] if references and turn < len(references) else None
            return _judged(await self.judge.score(generate, conversation, answers[turn], reference, key=f"{document.id}\x00{turn}"))

        return {"grades": list(await asyncio.gather(*(grade(t) for t in range(len(answers)))))}
