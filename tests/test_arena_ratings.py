"""Arena ratings and agreement (langmill/arena/ratings.py): hand-computed values, a simulation with
known strengths, the bootstrap, and the errors for votes that cannot be rated."""

import math

import numpy as np
import pytest

from langmill.arena import ratings


def repeat(a, b, outcome, times):
    return [(a, b, outcome)] * times


# ---------------------------------------------------------------- Bradley-Terry by hand


def test_bradley_terry_hand_example_without_ties():
    # A>B 2, B>A 1, B>C 2, C>B 1, A>C 4, C>A 1. Strengths 4:2:1 solve the MLE equations
    # W_i = sum_j n_ij p_i / (p_i + p_j) exactly:
    #   A: 6 wins = 3 * 4/6 + 5 * 4/5 = 2 + 4;  B: 3 = 3 * 2/6 + 3 * 2/3 = 1 + 2;  C: 2 = 3 * 1/3 + 5 * 1/5.
    # Geometric mean of 4, 2, 1 is 2, so A = 1000 + 400 log10(2) = 1120.412, B = 1000, C = 879.588.
    votes = (
        repeat("A", "B", 1.0, 2) + repeat("B", "A", 1.0, 1) + repeat("B", "C", 1.0, 2)
        + repeat("C", "B", 1.0, 1) + repeat("A", "C", 1.0, 4) + repeat("C", "A", 1.0, 1)
    )
    got = ratings.bradley_terry(votes, prior=0)
    assert list(got) == ["A", "B", "C"]
    assert got["A"] == pytest.approx(1000 + 400 * math.log10(2), abs=1e-6)
    assert got["A"] == pytest.approx(1120.411998, abs=1e-6)
    assert got["B"] == pytest.approx(1000.0, abs=1e-6)
    assert got["C"] == pytest.approx(879.588002, abs=1e-6)
    # Votes stated from the other seat (B, A, 0.0) are the same games.
    flipped = [(b, a, 1.0 - o) for a, b, o in votes]
    assert ratings.bradley_terry(flipped, prior=0) == pytest.approx(got, abs=1e-6)
    # The default prior (0.5 virtual ties per pair that met) pulls ratings together, mean still 1000.
    shrunk = ratings.bradley_terry(votes)
    assert 1000 < shrunk["A"] < got["A"] and got["C"] < shrunk["C"] < 1000
    assert sum(shrunk.values()) / 3 == pytest.approx(1000.0, abs=1e-6)


def test_bradley_terry_hand_example_with_ties():
    # A>B 3 times, 2 ties, B>A once: 6 games, A scores 3 + 2/2 = 4, B scores 1 + 2/2 = 2.
    # With two models the MLE is p_A / (p_A + p_B) = 4/6, so p_A / p_B = 4/2 = 2 and the ratings
    # are 1000 +- 200 log10(2): A = 1060.206, B = 939.794 (difference 400 log10(2) = 120.412).
    votes = repeat("A", "B", 1.0, 3) + repeat("A", "B", 0.5, 2) + repeat("B", "A", 1.0, 1)
    got = ratings.bradley_terry(votes, prior=0)
    assert got["A"] - got["B"] == pytest.approx(400 * math.log10(4 / 2), abs=1e-6)
    assert got["A"] == pytest.approx(1060.205999, abs=1e-6)
    assert got["B"] == pytest.approx(939.794001, abs=1e-6)
    # prior=1 adds one tie: A scores 4.5 of 7, B 2.5: difference 400 log10(4.5 / 2.5) = 102.109.
    assert ratings.bradley_terry(votes, prior=1.0)["A"] - ratings.bradley_terry(votes, prior=1.0)["B"] == pytest.approx(102.1094, abs=1e-3)


def test_bradley_terry_models_fix_order_and_unvoted_models_get_none():
    votes = repeat("A", "B", 1.0, 2) + repeat("B", "A", 1.0, 1)
    got = ratings.bradley_terry(votes, models=["Z", "B", "A"], prior=0)
    assert list(got) == ["Z", "B", "A"]
    assert got["Z"] is None
    assert got["A"] - got["B"] == pytest.approx(400 * math.log10(2), abs=1e-6)
    with pytest.raises(ValueError, match="missing from models: B"):
        ratings.bradley_terry(votes, models=["A"])


# ---------------------------------------------------------------- Elo by hand


def test_elo_hand_example():
    # Start 1000 each, K = 32.
    # 1. (A, B, 1.0): E_A = 0.5, A = 1000 + 32 * 0.5 = 1016, B = 984.
    # 2. (B, C, 0.5): E_B = 1 / (1 + 10^((1000 - 984) / 400)) = 1 / (1 + 10^0.04) = 1 / 2.0964782
    #    = 0.4769904; change 32 * (0.5 - 0.4769904) = 0.7363068: B = 984.7363068, C = 999.2636932.
    # 3. (C, A, 0.0), A preferred: E_C = 1 / (1 + 10^((1016 - 999.2636932) / 400))
    #    = 1 / (1 + 10^0.0418408) = 1 / 2.1011355 = 0.4759331; change 32 * (0 - 0.4759331)
    #    = -15.2298602: C = 984.0338330, A = 1031.2298602.
    got = ratings.elo([("A", "B", 1.0), ("B", "C", 0.5), ("C", "A", 0.0)], k=32.0)
    assert got == pytest.approx({"A": 1031.2298602, "B": 984.7363068, "C": 984.0338330}, abs=1e-6)
    # Order matters for Elo (not for BT): the same votes reversed end elsewhere.
    assert ratings.elo([("C", "A", 0.0), ("B", "C", 0.5), ("A", "B", 1.0)]) != pytest.approx(got, abs=1e-3)


def test_vectorised_elo_replays_votes_like_elo():
    # The bootstrap's Elo runs many rounds at once; fed the votes in their own order (every round
    # the same) it must match the plain update.
    rng = np.random.default_rng(3)
    names = ["a", "b", "c", "d"]
    votes = [(names[i], names[(i + j) % 4], o) for i, j, o in zip(rng.integers(0, 4, 700), rng.integers(1, 4, 700), rng.choice([0.0, 0.5, 1.0], 700))]

    class InOrder:  # hands out indices 0, 1, 2, ... in place of random draws
        start = 0

        def integers(self, low, high, size):
            steps, rounds = size
            picks = np.repeat(np.arange(self.start, self.start + steps)[:, None], rounds, axis=1)
            self.start += steps
            return picks

    _, ia, ib, score = ratings._index(votes, names, "test")
    replayed = ratings._elo_rounds(ia, ib, score, 4, 3, InOrder(), 32.0, 1000.0, 400.0)
    plain = ratings.elo(votes)
    for r in range(3):
        assert dict(zip(names, replayed[r])) == pytest.approx(plain, abs=1e-9)


# ---------------------------------------------------------------- simulation and bootstrap


TRUE = np.array([1200.0, 1100.0, 1000.0, 950.0, 800.0])
NAMES = ["m1", "m2", "m3", "m4", "m5"]


def simulate(n, seed):
    """n votes between random pairs, drawn from Bradley-Terry with TRUE ratings. Ties take equal
    shares from win and loss, so A's expected score stays its BT probability (the model that
    counting a tie as half a win estimates)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n)
    b = (a + rng.integers(1, 5, n)) % 5
    pa = 1.0 / (1.0 + 10.0 ** ((TRUE[b] - TRUE[a]) / 400.0))
    tie = 0.4 * np.minimum(pa, 1.0 - pa)
    u = rng.random(n)
    outcome = np.where(u < pa - tie / 2, 1.0, np.where(u < pa + tie / 2, 0.5, 0.0))
    return [(NAMES[i], NAMES[j], float(o)) for i, j, o in zip(a, b, outcome)]


def test_simulation_recovers_known_ratings_inside_bootstrap_intervals():
    votes = simulate(4000, seed=11)
    assert any(o == 0.5 for _, _, o in votes)
    fitted = ratings.bradley_terry(votes)
    assert sorted(NAMES, key=fitted.get, reverse=True) == NAMES
    true = dict(zip(NAMES, TRUE - TRUE.mean() + 1000.0))  # the fit's anchor: mean rating 1000
    assert max(abs(fitted[m] - true[m]) for m in NAMES) < 40
    boot = ratings.bootstrap(votes, rounds=1000, seed=0)
    assert boot["rounds"] == 1000
    for m in NAMES:
        lo, hi = boot["bt"][m]
        assert lo < true[m] < hi, (m, lo, true[m], hi)
        assert hi - lo < 60  # ~400 games per pair: roughly +-15 points
    # Ten times the votes: intervals about sqrt(10) ~ 3.2 times narrower.
    small = ratings.bootstrap(simulate(400, seed=12), rounds=1000, seed=0)
    for m in NAMES:
        wide = small["bt"][m][1] - small["bt"][m][0]
        narrow = boot["bt"][m][1] - boot["bt"][m][0]
        assert narrow < 0.5 * wide, (m, narrow, wide)


def test_bootstrap_is_deterministic_and_contains_point_estimates():
    votes = simulate(1500, seed=5)
    first = ratings.bootstrap(votes, rounds=300, seed=7)
    assert first == ratings.bootstrap(votes, rounds=300, seed=7)
    assert first != ratings.bootstrap(votes, rounds=300, seed=8)
    bt, el = ratings.bradley_terry(votes), ratings.elo(votes)
    for m in NAMES:
        assert first["bt"][m][0] < bt[m] < first["bt"][m][1]
        assert first["elo"][m][0] < el[m] < first["elo"][m][1]
    with pytest.raises(ValueError, match="prior must be > 0"):
        ratings.bootstrap(votes, prior=0)


# ---------------------------------------------------------------- votes that cannot be rated


def test_unbeaten_model_needs_a_prior():
    votes = [("A", "B", 1.0), ("C", "A", 0.0), ("B", "C", 1.0), ("C", "B", 1.0), ("B", "C", 0.5)]
    with pytest.raises(ValueError, match="prior=0: model 'A' won every game"):
        ratings.bradley_terry(votes, prior=0)
    got = ratings.bradley_terry(votes)  # the default prior keeps A finite, and on top
    assert all(math.isfinite(r) for r in got.values()) and max(got, key=got.get) == "A"
    with pytest.raises(ValueError, match="model 'C' lost every game"):
        ratings.bradley_terry([("A", "B", 1.0), ("B", "A", 1.0), ("A", "C", 1.0), ("B", "C", 1.0)], prior=0)


def test_disconnected_groups_are_refused():
    votes = [("A", "B", 1.0), ("B", "A", 1.0), ("C", "D", 0.5), ("E", "D", 1.0)]
    with pytest.raises(ValueError, match=r"2 groups that never met.*\{A, B\} \| \{C, D, E\}"):
        ratings.bradley_terry(votes)
    with pytest.raises(ValueError, match="never met"):
        ratings.bootstrap(votes, rounds=10)


def test_bad_votes_give_one_clear_line():
    with pytest.raises(ValueError, match="vote 1 outcome must be 1.0, 0.5 or 0.0, not 0.7"):
        ratings.elo([("A", "B", 1.0), ("A", "B", 0.7)])
    with pytest.raises(ValueError, match="compares model 'A' with itself"):
        ratings.win_matrix([("A", "A", 1.0)])
    with pytest.raises(ValueError, match="no votes"):
        ratings.bradley_terry([])


# ---------------------------------------------------------------- tallies and agreement


def test_win_matrix_orientation_and_ties():
    votes = [("x", "y", 1.0), ("x", "y", 0.0), ("y", "x", 0.0), ("x", "y", 0.5), ("y", "z", 0.0)]
    got = ratings.win_matrix(votes)
    # x-y: x won votes 1 and 3 ((y, x, 0.0) is a win for x), lost vote 2, tied vote 4.
    assert got["x"]["y"] == {"wins": 2, "losses": 1, "ties": 1, "n": 4, "win_rate": 2.5 / 4}
    assert got["y"]["x"] == {"wins": 1, "losses": 2, "ties": 1, "n": 4, "win_rate": 1.5 / 4}
    assert got["z"]["y"]["wins"] == 1 and got["y"]["z"]["losses"] == 1
    assert "z" not in got["x"]


def test_percent_agreement():
    # Unit 1: 3 pairs, 1 agreeing (a-a); unit 2: 1 pair, agreeing; unit 3 has one label: ignored.
    assert ratings.percent_agreement([["a", "a", "b"], ["c", "c"], ["a"]]) == pytest.approx(2 / 4)
    assert ratings.percent_agreement([["a"], []]) is None


def test_krippendorff_alpha_hand_example():
    # Units (a,a) (a,b) (b,b) (b,b); every unit has m = 2, so each ordered pair adds 1/(m-1) = 1.
    # Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 2 + 2 = 4; n_a = 3, n_b = 5, n = 8.
    # D_o = (o_ab + o_ba) / n = 2/8; D_e = (n_a n_b + n_b n_a) / (n (n - 1)) = 30/56.
    # alpha = 1 - D_o / D_e = 1 - (2/8) (56/30) = 1 - 14/30 = 8/15 = 0.5333.
    assert ratings.krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]]) == pytest.approx(8 / 15)
    # Three raters on one unit, two on another, one lone value (unpairable, ignored):
    # unit (a,a,b): o_aa = 2/2 = 1, o_ab = o_ba = 2/2 = 1; unit (b,b): o_bb = 2; n_a = 2, n_b = 3, n = 5.
    # alpha = 1 - (n - 1) (o_ab + o_ba) / (2 n_a n_b) = 1 - 4 * 2 / 12 = 1/3.
    assert ratings.krippendorff_alpha([["a", "a", "b"], ["b", "b"], ["c"]]) == pytest.approx(1 / 3)
    assert ratings.krippendorff_alpha([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert ratings.krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # no expected disagreement
    assert ratings.krippendorff_alpha([["a"], ["b"]]) is None  # nothing pairable


def test_cohen_kappa_textbook_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no. p_o = 35/50 = 0.7; rater 1 says yes 25/50,
    # rater 2 30/50: p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert ratings.cohen_kappa(pairs) == pytest.approx(0.4)
    assert ratings.cohen_kappa([]) is None
    assert ratings.cohen_kappa([("yes", "yes")] * 4) is None  # chance agreement 1
    assert ratings.cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)
