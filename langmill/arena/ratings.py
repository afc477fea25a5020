"""Ratings and rater agreement of the human preference arena: pure functions, numpy only.

A vote is `(model_a, model_b, outcome)` with outcome 1.0 (A preferred), 0.0 (B preferred) or 0.5
(tie; the arena folds "both bad" into ties before calling). Votes are in time order.

- Bradley-Terry: P(i beats j) = p_i / (p_i + p_j). Fitted by maximum likelihood with Hunter's MM
  algorithm, a tie counted as half a win for each side (Chatbot Arena's convention), and reported
  on the Elo scale: rating = base + scale * log10(p), geometric mean of p anchored at `base`.
  `prior` adds that many virtual ties between every pair of models that met, so a model that won
  (or lost) every game still gets a finite rating; prior=0 is the pure MLE.
- Online Elo: the classic update in vote order; it depends on the order, BT does not.
- Bootstrap: 95 % percentile intervals from resampled votes (BT: multinomial cell counts, all
  rounds fitted at once; Elo: votes drawn with replacement in random order, as Chatbot Arena does).
- Agreement: pooled pairwise percent agreement, nominal Krippendorff's alpha, Cohen's kappa.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

OUTCOMES = (0.0, 0.5, 1.0)
DEFAULT_PRIOR = 0.5  # virtual ties per met pair: every rating finite; a quarter point each way fades as votes grow
_LN10 = math.log(10.0)
_CHUNK_CELLS = 4_000_000  # floats of a (rounds, M, M) block fitted at once (memory only)
_ELO_STEPS = 512  # votes whose resampled indices are drawn at once (memory only)


# ---------------------------------------------------------------- votes


def _check_votes(votes, where: str) -> list[tuple[str, str, float]]:
    checked = []
    for n, vote in enumerate(votes):
        try:
            a, b, outcome = vote
        except (TypeError, ValueError):
            raise ValueError(f"{where}: vote {n} must be (model_a, model_b, outcome), not {vote!r}") from None
        if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
            raise ValueError(f"{where}: vote {n} must name two models as non-empty strings, not {a!r}, {b!r}")
        if a == b:
            raise ValueError(f"{where}: vote {n} compares model {a!r} with itself")
        if outcome not in OUTCOMES:
            raise ValueError(f"{where}: vote {n} outcome must be 1.0, 0.5 or 0.0, not {outcome!r}")
        checked.append((a, b, float(outcome)))
    return checked


def _index(votes, models, where: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Model names and, per vote, the index of A, of B and A's score."""
    if models is None:
        names = sorted({m for a, b, _ in votes for m in (a, b)})
    else:
        names = list(models)
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: models lists a model twice")
        unknown = sorted({m for a, b, _ in votes for m in (a, b)} - set(names))
        if unknown:
            raise ValueError(f"{where}: votes name models missing from models: {', '.join(unknown)}")
    pos = {m: i for i, m in enumerate(names)}
    ia = np.array([pos[a] for a, _, _ in votes], dtype=np.int64)
    ib = np.array([pos[b] for _, b, _ in votes], dtype=np.int64)
    score = np.array([o for _, _, o in votes], dtype=np.float64)
    return names, ia, ib, score


def _score_matrix(ia, ib, score, m: int) -> np.ndarray:
    """W[i, j] = points i scored against j (a win 1, a tie 1/2)."""
    w = np.zeros((m, m))
    np.add.at(w, (ia, ib), score)
    np.add.at(w, (ib, ia), 1.0 - score)
    return w


# ---------------------------------------------------------------- Bradley-Terry


def _components(met: np.ndarray) -> list[list[int]]:
    """Connected components of the undirected graph `met` (bool, M x M)."""
    seen, groups = set(), []
    for start in range(len(met)):
        if start in seen:
            continue
        group, todo = [], [start]
        seen.add(start)
        while todo:
            i = todo.pop()
            group.append(i)
            for j in np.flatnonzero(met[i]):
                if int(j) not in seen:
                    seen.add(int(j))
                    todo.append(int(j))
        groups.append(sorted(group))
    return groups


def _unbounded_group(scored: np.ndarray) -> tuple[list[int], str] | None:
    """A group that won (or lost) every game against the rest, when `scored` (i scored a point
    against j) is not strongly connected; None when it is (then the MLE exists)."""
    m = len(scored)
    reach = scored | np.eye(m, dtype=bool)
    while True:  # transitive closure by squaring
        nxt = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
        if (nxt == reach).all():
            break
        reach = nxt
    if reach.all():
        return None
    mutual = reach & reach.T
    groups = {tuple(np.flatnonzero(mutual[i])) for i in range(m)}
    found = []
    for g in sorted(groups):
        inside = np.zeros(m, dtype=bool)
        inside[list(g)] = True
        if not reach[~inside][:, inside].any():  # nobody outside scored against g
            found.append((list(g), "won"))
        elif not reach[inside][:, ~inside].any():  # g scored against nobody outside
            found.append((list(g), "lost"))
    return min(found, key=lambda f: len(f[0]))  # name a single model when one is to blame


def _fit_mm(w: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Hunter's MM for Bradley-Terry on a batch of score matrices w (B, M, M), each with its
    'scored against' graph strongly connected. Returns log-strengths (B, M) with mean 0 and the
    iterations each fit took (max_iter + 1 where it did not converge). Converged fits leave the
    batch, so a slow resample does not slow the others."""
    wins = w.sum(-1)
    games = w + np.swapaxes(w, -1, -2)
    theta = np.zeros(wins.shape)
    iters = np.full(len(w), max_iter + 1)
    idx = np.arange(len(w))
    th, log_wins, gm = theta, np.log(wins), games
    for it in range(1, max_iter + 1):
        p = np.exp(th)
        new = log_wins - np.log((gm / (p[:, :, None] + p[:, None, :])).sum(-1))
        new -= new.mean(-1, keepdims=True)  # geometric mean of strengths = 1
        done = np.abs(new - th).max(-1) < tol
        th = new
        if done.any():
            theta[idx[done]] = th[done]
            iters[idx[done]] = it
            keep = ~done
            idx, th, log_wins, gm = idx[keep], th[keep], log_wins[keep], gm[keep]
            if not len(idx):
                break
    theta[idx] = th
    return theta, iters


def _bt_matrix(votes, models, prior: float, where: str):
    """Checked votes -> (names, rated mask, score matrix with the prior, met mask, (ia, ib, score))."""
    if not prior >= 0 or not math.isfinite(prior):
        raise ValueError(f"{where}: prior must be a finite number >= 0, not {prior!r}")
    votes = _check_votes(votes, where)
    names, ia, ib, score = _index(votes, models, where)
    w = _score_matrix(ia, ib, score, len(names))
    met = (w + w.T) > 0
    rated = met.any(1)
    sub = np.flatnonzero(rated)
    if not len(sub):
        raise ValueError(f"{where}: no votes to rate")
    groups = _components(met[np.ix_(sub, sub)])
    if len(groups) > 1:
        listed = " | ".join("{" + ", ".join(names[sub[i]] for i in g) + "}" for g in groups)
        raise ValueError(f"{where}: models form {len(groups)} groups that never met, ratings across them are meaningless: {listed}")
    w = w + (prior / 2.0) * met  # `prior` ties: half a point each way
    if prior == 0:
        bad = _unbounded_group(w[np.ix_(sub, sub)] > 0)
        if bad is not None:
            group, how = bad
            who = f"model {names[sub[group[0]]]!r}" if len(group) == 1 else "models " + ", ".join(names[sub[i]] for i in group)
            raise ValueError(f"{where}: no maximum-likelihood ratings with prior=0: {who} {how} every game against the others (use prior > 0)")
    return names, rated, w, met, (ia, ib, score)


def bradley_terry(
    votes,
    models=None,
    prior: float = DEFAULT_PRIOR,
    base: float = 1000.0,
    scale: float = 400.0,
    tol: float = 1e-10,
    max_iter: int = 10000,
) -> dict[str, float | None]:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale, mean rating = `base`.

    A tie counts as half a win for each side (Chatbot Arena's convention). Fitted with Hunter's MM
    algorithm: p_i <- W_i / sum_j n_ij / (p_i + p_j), with W_i the points of i and n_ij the games
    of i and j; stops when no log-strength moves by `tol`. `prior` adds that many virtual ties
    between every pair that met (default 0.5: every rating finite, and a shrinkage worth a quarter
    game per pair that fades as votes grow); prior=0 is the pure MLE and raises ValueError when a
    model (or a group) won or lost every game. `models` fixes the order and the set of the result;
    a listed model without votes gets None and does not enter the fit. Models in groups that never
    met raise ValueError (ratings across groups are meaningless). Default order: sorted names.
    """
    where = "bradley_terry"
    names, rated, w, _, _ = _bt_matrix(votes, models, prior, where)
    sub = np.flatnonzero(rated)
    theta, iters = _fit_mm(w[np.ix_(sub, sub)][None], tol, max_iter)
    if iters[0] > max_iter:
        raise ValueError(f"{where}: MM did not converge to tol={tol} in {max_iter} iterations (raise max_iter or tol)")
    ratings = base + scale * theta[0] / _LN10
    out: dict[str, float | None] = {m: None for m in names}
    for i, r in zip(sub, ratings):
        out[names[i]] = float(r)
    return out


# ---------------------------------------------------------------- Elo


def elo(votes, k: float = 32.0, base: float = 1000.0, scale: float = 400.0) -> dict[str, float]:
    """Online Elo over the votes in the given order: every model starts at `base`; per vote
    E_a = 1 / (1 + 10^((R_b - R_a) / scale)), R_a += k (S_a - E_a), R_b -= k (S_a - E_a), a tie
    scoring 0.5. Sorted by model name."""
    votes = _check_votes(votes, "elo")
    r: dict[str, float] = {}
    for a, b, s in votes:
        ra, rb = r.setdefault(a, base), r.setdefault(b, base)
        delta = k * (s - 1.0 / (1.0 + 10.0 ** ((rb - ra) / scale)))
        r[a], r[b] = ra + delta, rb - delta
    return {m: r[m] for m in sorted(r)}


def _elo_rounds(ia, ib, score, m: int, rounds: int, rng, k: float, base: float, scale: float) -> np.ndarray:
    """Online Elo of `rounds` resamples (len(votes) votes drawn with replacement, in draw order),
    run together: one numpy step per vote over a (rounds * M) array."""
    n = len(ia)
    # In units u = R * ln10 / (2 scale): S - E = (S - 1/2) - tanh(u_a - u_b) / 2.
    c = _LN10 / (2.0 * scale)
    u = np.full(rounds * m, base * c)
    offsets = np.arange(rounds, dtype=np.int64) * m
    half_k = c * k / 2.0
    x = np.empty(rounds)
    for start in range(0, n, _ELO_STEPS):
        pick = rng.integers(0, n, size=(min(_ELO_STEPS, n - start), rounds))
        fa, fb = ia[pick] + offsets, ib[pick] + offsets
        ks = (c * k) * (score[pick] - 0.5)
        for t in range(len(pick)):
            ua, ub = u.take(fa[t]), u.take(fb[t])
            np.subtract(ua, ub, out=x)
            np.tanh(x, out=x)
            x *= half_k
            np.subtract(ks[t], x, out=x)  # the change of u_a
            u.put(fa[t], ua + x)
            u.put(fb[t], ub - x)
    return (u / c).reshape(rounds, m)


# ---------------------------------------------------------------- bootstrap


def _bt_rounds(ia, ib, score, w_prior: np.ndarray, rounds: int, rng, base, scale) -> np.ndarray:
    """BT ratings of `rounds` resamples: multinomial counts over distinct (pair, outcome) cells,
    fitted in blocks of rounds by the batched MM."""
    m, n = len(w_prior), len(ia)
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    s_lo = np.where(ia == lo, score, 1.0 - score)  # score of the lower-index model
    code = (lo * m + hi) * 3 + np.rint(s_lo * 2).astype(np.int64)
    cells, counts = np.unique(code, return_counts=True)
    pair, kind = cells // 3, cells % 3
    c_lo, c_hi = pair // m, pair % m
    block = max(1, _CHUNK_CELLS // (m * m))
    out = np.empty((rounds, m))
    for start in range(0, rounds, block):
        r = min(block, rounds - start)
        draws = rng.multinomial(n, counts / n, size=r).astype(np.float64)
        w = np.broadcast_to(w_prior.reshape(1, m * m), (r, m * m)).copy()
        for kd in range(3):  # one outcome kind at a time: its (lo, hi) cells are distinct
            sel = kind == kd
            pts = draws[:, sel]
            w[:, c_lo[sel] * m + c_hi[sel]] += pts * (kd / 2.0)
            w[:, c_hi[sel] * m + c_lo[sel]] += pts * (1.0 - kd / 2.0)
        theta, iters = _fit_mm(w.reshape(r, m, m), 1e-9, 100_000)
        if (iters > 100_000).any():
            raise ValueError("bootstrap: MM did not converge on a resample")
        out[start : start + r] = base + scale * theta / _LN10
    return out


def bootstrap(
    votes,
    rounds: int = 1000,
    seed: int = 0,
    prior: float = DEFAULT_PRIOR,
    k: float = 32.0,
    base: float = 1000.0,
    scale: float = 400.0,
) -> dict:
    """95 % percentile intervals of BT and online-Elo ratings over `rounds` resamples of the votes
    (with replacement): {"bt": {model: [lo, hi]}, "elo": {model: [lo, hi]}, "rounds": rounds}.

    BT: resampled counts of the distinct (pair, outcome) cells, refitted with the same `prior`
    placed on the pairs that met in the data (so every resample has finite ratings); prior must be
    > 0 here, since a resample can leave a model unbeaten. Elo: each round runs the online update
    over len(votes) votes drawn with replacement in random order (Chatbot Arena's bootstrap), so
    its interval covers the order's effect too. Deterministic for a seed; models sorted by name.
    """
    where = "bootstrap"
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"{where}: rounds must be a positive integer, not {rounds!r}")
    if not prior > 0:
        raise ValueError(f"{where}: prior must be > 0 (a resample can leave a model unbeaten, whose MLE is infinite), not {prior!r}")
    names, _, _, met, (ia, ib, score) = _bt_matrix(votes, None, prior, where)
    m = len(names)
    rng = np.random.default_rng(seed)
    bt = _bt_rounds(ia, ib, score, (prior / 2.0) * met, rounds, rng, base, scale)
    el = _elo_rounds(ia, ib, score, m, rounds, rng, k, base, scale)

    def intervals(x):
        q = np.percentile(x, [2.5, 97.5], axis=0)
        return {name: [float(q[0, i]), float(q[1, i])] for i, name in enumerate(names)}

    return {"bt": intervals(bt), "elo": intervals(el), "rounds": rounds}


# ---------------------------------------------------------------- tallies and agreement


def win_matrix(votes) -> dict:
    """{a: {b: {"wins", "losses", "ties", "n", "win_rate"}}} for every ordered pair that met, from
    a's side (a vote (x, y, 0.0) is a win of y over x); win_rate = (wins + ties / 2) / n."""
    votes = _check_votes(votes, "win_matrix")
    tally: dict[tuple[str, str], list[int]] = {}
    for a, b, s in votes:
        ab, ba = tally.setdefault((a, b), [0, 0, 0]), tally.setdefault((b, a), [0, 0, 0])
        slot = {1.0: (0, 1), 0.0: (1, 0), 0.5: (2, 2)}[s]  # (a's column, b's column): win, loss, tie
        ab[slot[0]] += 1
        ba[slot[1]] += 1
    out: dict[str, dict] = {}
    for (a, b) in sorted(tally):
        wins, losses, ties = tally[(a, b)]
        n = wins + losses + ties
        out.setdefault(a, {})[b] = {"wins": wins, "losses": losses, "ties": ties, "n": n, "win_rate": (wins + ties / 2) / n}
    return out


def percent_agreement(units: list[list[str]]) -> float | None:
    """Share of agreeing rater pairs, pooled over all pairs within units (units with fewer than two
    labels ignored); None when there is no pair."""
    agree = pairs = 0
    for labels in units:
        m = len(labels)
        if m < 2:
            continue
        pairs += m * (m - 1) // 2
        agree += sum(c * (c - 1) // 2 for c in Counter(labels).values())
    return agree / pairs if pairs else None


def krippendorff_alpha(units: list[list[str]]) -> float | None:
    """Nominal Krippendorff's alpha, any number of raters per unit: coincidences o_ck sum, over
    units with m >= 2 values, the ordered c-k value pairs / (m - 1); alpha = 1 - (n - 1) *
    sum_{c != k} o_ck / sum_{c != k} n_c n_k. None when fewer than two pairable values or when every
    value is the same (no expected disagreement)."""
    o_diff = 0.0
    totals: Counter = Counter()
    for labels in units:
        m = len(labels)
        if m < 2:
            continue
        counts = Counter(labels)
        totals.update(counts)
        o_diff += (m * m - sum(c * c for c in counts.values())) / (m - 1)  # ordered pairs with c != k
    n = sum(totals.values())
    expected = n * n - sum(c * c for c in totals.values())  # sum_{c != k} n_c n_k
    if n < 2 or expected == 0:
        return None
    return 1.0 - (n - 1) * o_diff / expected


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters: (p_o - p_e) / (1 - p_e), p_e from each rater's label shares.
    None when there are no items or chance agreement is 1 (both raters used one same label)."""
    n = len(pairs)
    if not n:
        return None
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_o = sum(a == b for a, b in pairs) / n
    p_e = sum(first[c] * second[c] for c in first) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)
