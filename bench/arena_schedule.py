"""`langmill arena`'s pair scheduler against uniform random pairing, on a real campaign size.

The campaign: the Finnish MT-Bench answers of all 31 models in ../shared/data (80 prompts, 36,000
pairs). `--participants` people vote `--rounds` times each, taking turns; each vote picks a side at
random (the outcome does not matter here). Printed per scheduler:
- votes per model pair after all votes: min, max, standard deviation (a campaign wants them equal:
  the rating intervals are as wide as the least-voted pair allows),
- pairs a person saw twice (langmill: never, by a unique constraint),
- milliseconds per assignment plus vote through the database (SQLite file, or --db URL).
The random baseline is what a hand-rolled arena does: a random model pair, a random prompt, no
memory of who saw what (FastChat's arena samples model pairs by weight, also without a per-person
memory).

    .venv/bin/python bench/arena_schedule.py [--participants 50] [--rounds 20] [--db postgresql://...]
"""

import argparse
import glob
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from langmill.arena.items import read_campaign
from langmill.arena.store import Store

MT_BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "instructions" / "mt-bench"


def spread(counts: Counter, model_pairs: list) -> tuple[int, int, float]:
    values = [counts.get(p, 0) for p in model_pairs]
    return min(values), max(values), statistics.pstdev(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file in a temp folder)")
    args = parser.parse_args()
    files = sorted(glob.glob(str(MT_BENCH / "model_answer_fi" / "*.jsonl")))
    if not files:
        raise SystemExit(f"no answers in {MT_BENCH}: ../shared/data is needed")
    campaign = read_campaign(files, [str(MT_BENCH / "question_fi.jsonl")])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or str(Path(tmp) / "arena.sqlite"))
        added = store.load(campaign, "fi")
        store.invite(args.participants)
        model_pairs = sorted({tuple(sorted((a, b))) for (a, _), (b, _) in _pairs(campaign)})
        rng = random.Random(0)
        started, n = time.perf_counter(), 0
        for _ in range(args.rounds):
            for person in range(1, args.participants + 1):
                shown = store.assign(person, rng)
                store.vote(person, shown.id, rng.choice(("left", "right", "tie")), None)
                n += 1
        ms = 1000 * (time.perf_counter() - started) / n
        ours = Counter(tuple(sorted((r["left_model"], r["right_model"]))) for r in store.vote_rows())
        seen = Counter((r["participant"], r["prompt_key"], *sorted((r["left_model"], r["right_model"]))) for r in store.vote_rows())

    baseline, repeats = Counter(), Counter()
    prompts = sorted(campaign.prompts)
    for _ in range(args.rounds):
        for person in range(args.participants):
            pair = rng.choice(model_pairs)
            repeats[person, rng.choice(prompts), pair] += 1
            baseline[pair] += 1
    print(f"campaign: {len(campaign.models)} models, {len(campaign.prompts)} prompts, {added['pairs']:,} pairs; "
          f"{args.participants} participants x {args.rounds} votes = {n:,} votes on {len(model_pairs)} model pairs")
    print("| scheduler | votes per model pair: min | max | std | pairs seen twice by one person | ms per assign + vote |")
    print("|---|---|---|---|---|---|")
    lo, hi, sd = spread(ours, model_pairs)
    print(f"| langmill | {lo} | {hi} | {sd:.2f} | {sum(c > 1 for c in seen.values())} | {ms:.1f} ({'SQLite' if not args.db else 'PostgreSQL'}) |")
    blo, bhi, bsd = spread(baseline, model_pairs)
    print(f"| uniform random | {blo} | {bhi} | {bsd:.2f} | {sum(c > 1 for c in repeats.values())} | — |")
    print(f"ratio of standard deviations (random / langmill): {bsd / sd:.1f}x" if sd else "langmill: every model pair got the same number of votes")


def _pairs(campaign):
    by_prompt: dict[str, list[str]] = {}
    for model, pid in campaign.answers:
        by_prompt.setdefault(pid, []).append(model)
    for models in by_prompt.values():
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                yield (a, None), (b, None)


if __name__ == "__main__":
    main()
