"""langmill arena without a web server: what a campaign shows (items), its results (ratings,
agreement with people and with an LLM judge, the TRL preference export, publish) and the
interface translations. The server, the browser, concurrency and crashes: test_arena_web.py and
test_arena_server.py; the rating maths: test_arena_ratings.py."""

import json
import re
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_langmill, shared_data, write_jsonl

from langmill import schemas
from langmill.arena import i18n
from langmill.arena.items import read_campaign
from langmill.arena.results import judge_agreement, read_judgements, summarise, write_results
from langmill.arena.store import Store
from langmill.readers import InputError

MODELS = ("gpt-oss-120b-fi", "Poro-34B-chat-finnish", "llama-3.1-70B-Instruct_fi")


def _mt_bench() -> tuple[list[str], str]:
    folder = shared_data("instructions", "mt-bench")
    return [str(folder / "model_answer_fi" / f"{m}.jsonl") for m in MODELS], str(folder / "question_fi.jsonl")


# --- what is shown ---------------------------------------------------------------------------------


def test_mt_bench_answers_with_their_questions_give_first_turns():
    answers, questions = _mt_bench()
    campaign = read_campaign(answers, [questions])
    assert campaign.models == list(MODELS)
    assert len(campaign.prompts) == 80 and len(campaign.answers) == 240
    first = json.loads(open(questions, encoding="utf-8").readline())
    assert campaign.prompts[str(first["question_id"])]["messages"] == [{"role": "user", "content": first["turns"][0]}]
    row = json.loads(open(answers[1], encoding="utf-8").readline())
    assert campaign.answers[MODELS[1], str(row["question_id"])] == row["choices"][0]["turns"][0]  # the first turn only


def test_sft_shards_carry_their_prompts_and_a_preference_shard_is_two_sides(tmp_path):
    for model, said in (("m1", "Hyvä vastaus."), ("m2", "Toinen vastaus.")):
        write_jsonl(tmp_path / f"{model}.jsonl", [
            {"id": f"q{i}", "model": model, "messages": [{"role": "system", "content": "Ole avulias."}, {"role": "user", "content": f"Kysymys {i}?"},
                                                        {"role": "assistant", "content": f"{said} {i}"}, {"role": "user", "content": "Entä sitten?"},
                                                        {"role": "assistant", "content": "Toinen vuoro."}]} for i in range(3)])
    campaign = read_campaign([str(tmp_path / "m1.jsonl"), f"renamed={tmp_path / 'm2.jsonl'}"])
    assert campaign.models == ["m1", "renamed"]
    assert campaign.prompts["q1"]["messages"] == [{"role": "system", "content": "Ole avulias."}, {"role": "user", "content": "Kysymys 1?"}]
    assert campaign.answers["renamed", "q2"] == "Toinen vastaus. 2"

    write_jsonl(tmp_path / "prefs.jsonl", [{"id": "p1", "prompt": "Mikä on pääkaupunki?", "chosen": "Helsinki.", "rejected": "Tukholma."},
                                           {"id": "p2", "prompt": "Laske 2+2.", "chosen": "4", "rejected": ""}])
    pairs = read_campaign([str(tmp_path / "prefs.jsonl")])
    assert pairs.models == ["prefs/chosen", "prefs/rejected"]
    assert pairs.answers == {("prefs/chosen", "p1"): "Helsinki.", ("prefs/rejected", "p1"): "Tukholma."}
    assert pairs.skipped == {"empty answer": 1, "prompt with fewer than two answers": 1}


def test_campaign_input_errors_are_one_line(tmp_path):
    answers, questions = _mt_bench()
    with pytest.raises(InputError, match="at least two models"):
        read_campaign(answers[:1], [questions])
    with pytest.raises(InputError, match="is also"):
        read_campaign([answers[0], answers[0]], [questions])
    with pytest.raises(InputError, match="no prompt has answers of two models .*give --prompts"):
        read_campaign(answers[:2])  # FastChat answers hold no question text
    with pytest.raises(InputError, match="no such file"):
        read_campaign([answers[0], str(tmp_path / "missing.jsonl")])


# --- results ---------------------------------------------------------------------------------------


def _vote(store: Store, participant: int, prefer: dict) -> None:
    """One vote by a participant who prefers models in the order of `prefer` (model -> strength)."""
    shown = store.assign(participant, random.Random(participant))
    left, right = shown.left_model, shown.right_model
    gap = prefer[left] - prefer[right]
    choice = "tie" if gap == 0 else ("left" if gap > 0 else "right")
    assert store.vote(participant, shown.id, choice, "selkeämpi" if choice != "tie" else None) == "stored"


@pytest.fixture(scope="module")
def voted(tmp_path_factory):
    """A SQLite campaign on the real MT-Bench answers: 4 people, 15 votes each, who all prefer
    llama > Poro > gpt-oss (a tie where they are equal)."""
    answers, questions = _mt_bench()
    store = Store(str(tmp_path_factory.mktemp("arena") / "arena.sqlite"))
    store.load(read_campaign(answers, [questions]), "fi")
    people = [pid for pid in range(1, 5)]
    store.invite(4)
    prefer = {"llama-3.1-70B-Instruct_fi": 3, "Poro-34B-chat-finnish": 2, "gpt-oss-120b-fi": 1}
    for _ in range(15):
        for pid in people:
            _vote(store, pid, prefer)
    return store


def test_results_folder_ratings_export_and_accounting(voted, tmp_path):
    out = tmp_path / "results"
    stats = write_results(voted, str(out), rounds=200)
    summary = json.loads((out / "results.json").read_text())
    assert summary["votes"] == 60 and summary["participants"] == 4
    assert [r["model"] for r in summary["ratings"]] == ["llama-3.1-70B-Instruct_fi", "Poro-34B-chat-finnish", "gpt-oss-120b-fi"]
    for r in summary["ratings"]:
        assert r["bt_ci"][0] <= r["bt"] <= r["bt_ci"][1]
    assert sum(p["votes"] for p in summary["model_pairs"]) == 60
    assert max(p["votes"] for p in summary["model_pairs"]) - min(p["votes"] for p in summary["model_pairs"]) <= 1  # scheduled evenly

    votes = pl.read_csv(out / "votes.csv")
    assert votes.height == 60 and set(votes["choice"]) == {"left", "right"}
    assert (votes.filter(pl.col("choice") == "left")["winner"] == votes.filter(pl.col("choice") == "left")["left_model"]).all()

    from datasets import load_dataset

    pairs = load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert pairs.num_rows == stats["kept"] == 60  # every pair seen once, every vote decisive
    row = pairs[0]
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
    better = {"llama-3.1-70B-Instruct_fi": 3, "Poro-34B-chat-finnish": 2, "gpt-oss-120b-fi": 1}
    assert all(better[c] > better[r] for c, r in zip(pairs["chosen_model"], pairs["rejected_model"]))
    assert stats["rows_in"] == stats["kept"] + stats["excluded"] and stats["rows_in_equals_kept_plus_excluded"]
    page = (out / "report.html").read_text()
    assert "Bradley–Terry" in page and "<svg" in page and "llama-3.1-70B-Instruct_fi" in page


def test_published_with_langmill_publish(voted, tmp_path):
    out = tmp_path / "results"
    write_results(voted, str(out), rounds=0)
    tree = tmp_path / "tree"
    done = run_langmill("publish", f"{out}=arena-fi", "--repo-id", "my-org/arena-fi", "--license", "cc-by-4.0", "--include-excluded", "--dry-run", tree)
    assert done.returncode == 0, done.stderr
    import datasets

    loaded = datasets.load_dataset(str(tree), "arena-fi", split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 60 and {"prompt", "chosen", "rejected", "chosen_model", "agreement"} <= set(loaded.column_names)
    assert "arena results" in (tree / "README.md").read_text()


def _row(pid, left, right, choice, category, participant="p1", seconds=5.0):
    return {"prompt_key": pid, "left_model": left, "right_model": right, "choice": choice, "category": category, "participant": participant,
            "seconds": seconds, "reason": None, "voted_at": 0.0}


def _judge_folder(tmp_path, games: list[tuple[str, str, str, str, str]], judge: str = "judge-7b"):
    folder = tmp_path / judge
    (folder / "data").mkdir(parents=True)
    rows = [{"id": pid, "category": cat, "turn": 1, "verdict": verdict, "orders": [verdict, verdict], "a_model": a, "a_answer": "x", "a_lang": "fi",
             "b_model": b, "b_answer": "y", "b_lang": "fi", "a_in_lang": True, "b_in_lang": True, "verdict_rationales": ["", ""],
             "judge_model": judge, "source": "q.jsonl"} for pid, cat, a, b, verdict in games]
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.WINRATE_GAME), folder / "data" / "00000.parquet")
    return folder


def test_judge_agreement_matches_a_hand_computed_example(tmp_path):
    # Pairs of models A < B. Judge: p1 A, p2 B (written with B as the judge's side a), p3 tie.
    folder = _judge_folder(tmp_path, [("p1", "writing", "A", "B", "a"), ("p2", "writing", "B", "A", "a"), ("p3", "math", "A", "B", "tie")])
    judges = read_judgements([str(folder)])
    assert list(judges) == ["judge-7b"]
    judged = judges["judge-7b"]
    rows = [_row("p1", "A", "B", "left", "writing"), _row("p1", "B", "A", "right", "writing", "p2"), _row("p1", "A", "B", "tie", "writing", "p3"),
            _row("p2", "B", "A", "right", "writing"), _row("p3", "B", "A", "both_bad", "math"), _row("p3", "A", "B", "right", "math", "p2")]
    # (judge, person): p1 (a,a) (a,a) (a,tie); p2 (b,a); p3 (tie,tie) (tie,b)
    found = judge_agreement(rows, judged)
    # all: agreement 3/6; marginals judge a3 b1 tie2, people a3 b1 tie2: pe = (9+1+4)/36 = 14/36,
    # kappa = (18/36 - 14/36) / (22/36) = 4/22; without ties (a,a) (a,a) (b,a): 2/3
    assert found["all"]["agreement"] == pytest.approx(0.5) and found["all"]["kappa"] == pytest.approx(4 / 22)
    assert found["all"]["agreement_without_ties"] == pytest.approx(2 / 3) and found["all"]["votes_without_ties"] == 3
    # writing: (a,a) (a,a) (a,tie) (b,a): po 2/4, pe = (3*3)/16, kappa = (8/16 - 9/16) / (7/16) = -1/7
    assert found["writing"]["agreement"] == pytest.approx(0.5) and found["writing"]["kappa"] == pytest.approx(-1 / 7)
    # math: (tie,tie) (tie,b): po 1/2, pe = (2*1)/4: kappa 0
    assert found["math"]["kappa"] == pytest.approx(0.0)
    summary = summarise(rows, rounds=0, judged=judges)
    assert summary["judges"]["judge-7b"]["by_category"]["all"]["agreement"] == pytest.approx(0.5)
    # people on p1: a, a, tie (pairs: agree, no, no) and p3: tie, b (no): 1 of 4 rater pairs
    assert summary["human_agreement"]["pairs_with_several_votes"] == 2
    assert summary["human_agreement"]["percent_agreement"] == pytest.approx(1 / 4)


def test_too_fast_votes_are_left_out_and_counted():
    rows = [_row("p1", "A", "B", "left", None, seconds=0.4), _row("p2", "A", "B", "right", None, seconds=8.0)]
    summary = summarise(rows, rounds=0, min_seconds=2.0)
    assert summary["votes"] == 2 and summary["votes_rated"] == 1 and summary["votes_too_fast"] == 1


def test_results_command_with_a_judge_and_bad_inputs(voted, tmp_path):
    db = voted.url.removeprefix("sqlite:///")
    rows = voted.vote_rows()
    # a judge that agrees with the first two thirds of the votes and contradicts the rest
    games = []
    for k, r in enumerate(rows):
        preferred = {"left": r["left_model"], "right": r["right_model"]}[r["choice"]]
        other = r["right_model"] if preferred == r["left_model"] else r["left_model"]
        games.append((r["prompt_key"], r["category"], r["left_model"], r["right_model"], "a" if (preferred == r["left_model"]) == (k < 40) else "b"))
        assert other
    folder = _judge_folder(tmp_path, games)
    done = run_langmill("arena", "results", "--db", db, "--out", tmp_path / "out", "--judge", folder, "--bootstrap", "100")
    assert done.returncode == 0, done.stderr
    assert "judge judge-7b agrees with people on 66.7 % of 60 votes" in done.stdout
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["judges"]["judge-7b"]["by_category"]["all"]["votes"] == 60

    bad = run_langmill("arena", "results", "--db", tmp_path / "missing.sqlite", "--out", tmp_path / "o2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such arena database" in bad.stderr
    (tmp_path / "not-eval").mkdir()
    bad = run_langmill("arena", "results", "--db", db, "--out", tmp_path / "o3", "--judge", tmp_path / "not-eval")
    assert bad.returncode == 2 and "a `langmill eval winrate` output folder is expected" in bad.stderr


def test_serve_refuses_bad_campaigns_in_one_line(tmp_path):
    answers, questions = _mt_bench()
    one = run_langmill("arena", "serve", "--answers", answers[0], "--prompts", questions, "--lang", "fi", "--db", tmp_path / "a.sqlite")
    assert one.returncode == 2 and "at least two models" in one.stderr and one.stderr.count("\n") == 1
    no_lang = run_langmill("arena", "serve", *answers, "--prompts", questions, "--db", tmp_path / "b.sqlite")
    assert no_lang.returncode == 2 and "--lang is required" in no_lang.stderr
    bad_ui = tmp_path / "xx.yaml"
    bad_ui.write_text("progress: 'Votes: {done}'\n")
    ui = run_langmill("arena", "serve", *answers, "--prompts", questions, "--lang", "fi", "--db", tmp_path / "c.sqlite", "--ui-file", bad_ui)
    assert ui.returncode == 2 and "must keep the placeholders" in ui.stderr
    missing_ui = run_langmill("arena", "serve", "--db", tmp_path / "c.sqlite", "--ui-lang", "sw")
    assert missing_ui.returncode == 2 and "no interface translation for 'sw'" in missing_ui.stderr


# --- the interface texts ----------------------------------------------------------------------------


def test_translations_cover_the_english_keys_and_keep_placeholders(tmp_path):
    english, _ = i18n.catalog("en")
    template = yaml.safe_load(open(f"{i18n.LOCALES}/template.yaml", encoding="utf-8"))
    assert set(template) == set(english) and not any(template.values())
    finnish, missing = i18n.catalog("fi")
    assert missing == [] and finnish["vote_left"] == "A on parempi" and finnish["progress"].format(done=3, goal=20) == "Ääniä: 3/20"
    partial = tmp_path / "sw.yaml"
    partial.write_text('page_title: "Jibu lipi ni bora?"\n')
    found, missing = i18n.catalog(path=str(partial))
    assert found["page_title"] == "Jibu lipi ni bora?" and found["vote_left"] == "A is better" and "vote_left" in missing
    partial.write_text('page_titel: "x"\n')
    with pytest.raises(i18n.CatalogError, match="unknown key 'page_titel'"):
        i18n.catalog(path=str(partial))
    partial.write_text('progress: "{done} / {goal} {done.__class__}"\n')  # a format field that reaches into objects
    with pytest.raises(i18n.CatalogError, match="progress must keep the placeholders"):
        i18n.catalog(path=str(partial))


def test_overlap_gives_pairs_to_a_second_person_for_agreement(tmp_path):
    answers, questions = _mt_bench()
    store = Store(str(tmp_path / "arena.sqlite"))
    store.load(read_campaign(answers, [questions]), "fi")
    store.invite(4)
    rng = random.Random(3)
    for _ in range(15):
        for pid in range(1, 5):
            shown = store.assign(pid, rng, overlap=0.3)
            assert store.vote(pid, shown.id, "left" if shown.left_model < shown.right_model else "right", None) == "stored"
    summary = summarise(store.vote_rows(), rounds=0)
    shared = summary["human_agreement"]
    # 60 votes on 240 pairs: without overlap no pair gets a second vote; with 0.3 about a quarter do
    assert 8 <= shared["pairs_with_several_votes"] <= 25
    assert shared["percent_agreement"] == pytest.approx(1.0)  # everyone prefers the model whose name sorts first
    assert shared["krippendorff_alpha"] is None  # one label only: no disagreement to expect, alpha undefined
    loads = [p["votes"] for p in summary["model_pairs"]]
    assert max(loads) - min(loads) <= 1


def test_criteria_questions_are_asked_stored_and_rated(tmp_path):
    """--criteria language,content: the page asks them (in Finnish), votes store the answers, and
    results rate each criterion on its own. The person here prefers, overall, the model whose name
    sorts first, but the other one's language: the language ratings come out in reverse order."""
    from langmill.arena.app import ArenaSettings, create_app
    from langmill.arena.results import votes_table

    answers, questions = _mt_bench()
    store = Store(str(tmp_path / "arena.sqlite"))
    store.load(read_campaign(answers, [questions]), "fi")
    store.set_setting("criteria", json.dumps(["language", "content"]))
    (_, token), = store.invite(1)
    ui, _ = i18n.catalog("fi")
    client = create_app(store, ArenaSettings(ui=ui, ui_lang="fi", criteria=store.criteria, rate_per_minute=1000)).test_client()
    assert client.get(f"/join/{token}").status_code == 303
    for k in range(12):
        page = client.get("/vote").get_data(as_text=True)
        assert "Kieli: oikeaa ja luontevaa" in page and "Sisältö: oikea, kattava ja hyödyllinen" in page
        form = dict(re.findall(r'name="(csrf|assignment)" value="([^"]*)"', page))
        shown = store.open_assignment(1)
        first = "left" if shown.left_model < shown.right_model else "right"
        other = "right" if first == "left" else "left"
        if k == 0:  # an answer that is not A, equal or B is refused, and nothing is stored
            assert client.post("/vote", data={**form, "choice": first, "aspect_language": "both_bad"}).status_code == 400
        fields = {**form, "choice": first, "aspect_language": other, **({"aspect_content": "tie"} if k % 2 else {})}
        assert client.post("/vote", data=fields).status_code == 303
    rows = store.vote_rows()
    assert len(rows) == 12 and sum("content" in r["aspects"] for r in rows) == 6
    summary = summarise(rows, rounds=0)
    overall = [r["model"] for r in summary["ratings"]]
    language = summary["criteria"]["language"]
    assert overall == sorted(overall)  # names sorting first won overall
    assert sorted(language["ratings"], key=language["ratings"].get, reverse=True) == overall[::-1]
    assert language["votes"] == 12 and language["same_as_overall"] == 0.0 and summary["criteria"]["content"]["votes"] == 6
    exported = votes_table(store).to_pylist()
    asked = [json.loads(r["aspects"]) for r in exported]
    assert asked[0].keys() == {"language"} and asked[1].keys() == {"language", "content"} and asked[1]["content"] == "tie"
    assert all((a["language"] == "left") == (r["choice"] == "right") for a, r in zip(asked, exported))  # always the other side


def test_a_judge_of_other_models_is_named_in_a_warning(voted, tmp_path):
    folder = _judge_folder(tmp_path, [("81", "writing", "my-model", "baseline", "a")])
    done = run_langmill("arena", "results", "--db", voted.url.removeprefix("sqlite:///"), "--out", tmp_path / "out", "--judge", folder, "--bootstrap", "0")
    assert done.returncode == 0, done.stderr
    assert "warning: no vote is on a pair judge judge-7b judged: it compared baseline, my-model; people voted on" in done.stderr


def test_a_database_of_other_tables_is_refused_not_altered(tmp_path):
    import sqlite3

    def tables(db):
        with sqlite3.connect(db) as conn:
            return {name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
                    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    other, older = tmp_path / "other.sqlite", tmp_path / "older.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (id INTEGER PRIMARY KEY)")
    with sqlite3.connect(older) as conn:
        conn.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE votes (id INTEGER PRIMARY KEY, choice TEXT)")
    before = tables(other), tables(older)
    for command in (["status"], ["invite", "--n", "2", "--out", tmp_path / "links.csv"], ["pause"], ["results", "--out", tmp_path / "r"]):
        done = run_langmill("arena", *command, "--db", other)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not an arena database" in done.stderr, (command, done.stderr)
    done = run_langmill("arena", "serve", "--db", older)  # even the command that makes databases leaves it alone
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "table votes has no column assignment_id" in done.stderr and "use a new --db" in done.stderr
    assert (tables(other), tables(older)) == before and not (tmp_path / "links.csv").exists()


def test_an_admin_session_does_not_vote(tmp_path):
    from langmill.arena.app import ArenaSettings, create_app

    answers, questions = _mt_bench()
    store = Store(str(tmp_path / "arena.sqlite"))
    store.load(read_campaign(answers, [questions]), "fi")
    (_, admin), = store.invite(1, role="admin", prefix="admin")
    client = create_app(store, ArenaSettings(ui=i18n.catalog("en")[0])).test_client()
    assert client.get(f"/join/{admin}").headers["Location"].endswith("/admin")
    assert client.get("/vote").headers["Location"].endswith("/admin")  # no pair is assigned to an organiser
    with client.session_transaction() as session:
        csrf = session["csrf"]
    assert client.post("/vote", data={"csrf": csrf, "assignment": "1", "choice": "left"}).status_code == 403
    assert store.counts()["votes"] == 0 and store.open_assignment(1) is None


def test_a_failing_join_logs_no_token(tmp_path, caplog):
    from langmill.arena.app import ArenaSettings, create_app

    answers, questions = _mt_bench()
    store = Store(str(tmp_path / "arena.sqlite"))
    store.load(read_campaign(answers, [questions]), "fi")
    (_, token), = store.invite(1)
    app = create_app(store, ArenaSettings(ui=i18n.catalog("en")[0]))
    store.engine.dispose()
    (tmp_path / "arena.sqlite").unlink()  # the database is gone: joining fails inside the app
    (tmp_path / "arena.sqlite").mkdir()
    with caplog.at_level("ERROR"):
        assert app.test_client().get(f"/join/{token}").status_code == 500
    assert "Exception on /join/… [GET]" in caplog.text and token not in caplog.text


def test_two_judges_are_each_compared_with_people(tmp_path):
    one = _judge_folder(tmp_path, [("p1", "writing", "A", "B", "a")], judge="judge-a")
    other = _judge_folder(tmp_path, [("p1", "writing", "A", "B", "b")], judge="judge-b")
    rows = [_row("p1", "A", "B", "left", "writing"), _row("p1", "B", "A", "right", "writing", "p2")]
    summary = summarise(rows, rounds=0, judged=read_judgements([str(one), str(other)]))
    assert {j: v["by_category"]["all"]["agreement"] for j, v in summary["judges"].items()} == {"judge-a": 1.0, "judge-b": 0.0}


def test_preference_rows_need_more_preference_than_indifference():
    from langmill.arena.results import preference_rows

    prompts = {f"q{i}": {"messages": [{"role": "user", "content": "Kysymys?"}], "category": None} for i in range(5)}

    def vote(pid, choice, who):
        return {**_row(pid, "A", "B", choice, None, who), "left_answer": 1, "right_answer": 2}

    rows = [vote("q0", "left", "p1"), vote("q0", "tie", "p2"), vote("q0", "tie", "p3"), vote("q0", "both_bad", "p4"),  # 1 against 3: tie
            vote("q1", "left", "p1"), vote("q1", "tie", "p2"),  # 1 against 1: kept
            vote("q2", "left", "p1"), vote("q2", "right", "p2"),  # split
            vote("q3", "both_bad", "p1"), vote("q3", "left", "p2"),  # half both bad
            vote("q4", "right", "p1"), vote("q4", "right", "p2"), vote("q4", "left", "p3")]  # B 2:1
    kept, excluded = preference_rows(rows, prompts, {1: "vastaus A", 2: "vastaus B"}, "fi")
    assert {r["id"].split(":")[0]: r["reason"] for r in excluded} == {"q0": "tie", "q2": "split", "q3": "both_bad"}
    assert [(r["id"].split(":")[0], r["chosen_model"], r["chosen_votes"], r["rejected_votes"]) for r in kept] == [("q1", "A", 1, 0), ("q4", "B", 2, 1)]
    assert kept[1]["chosen"] == [{"role": "assistant", "content": "vastaus B"}] and kept[1]["agreement"] == pytest.approx(2 / 3)


def test_a_reason_that_starts_a_formula_is_not_a_formula_in_the_csv(voted, tmp_path):
    from langmill.arena.results import spreadsheet_safe

    table = pa.table({"reason": ["=HYPERLINK(\"http://x\")", "+1", "hyvä", None, "@SUM(A1)"], "n": [1, 2, 3, 4, 5]})
    assert spreadsheet_safe(table).column("reason").to_pylist() == ["'=HYPERLINK(\"http://x\")", "'+1", "hyvä", None, "'@SUM(A1)"]


def test_cli_input_errors_make_nothing_and_say_one_line(tmp_path):
    answers, questions = _mt_bench()
    db = tmp_path / "never.sqlite"
    done = run_langmill("arena", "serve", answers[0], str(tmp_path / "missing.jsonl"), "--lang", "fi", "--db", db)
    assert done.returncode == 2 and "no such file" in done.stderr and not db.exists()  # bad files leave no database behind
    for url in ("postgresql://someone:secret@127.0.0.1:notaport/x", "postgresql://someone:secret@127.0.0.1:1/x"):
        done = run_langmill("arena", "status", "--db", url)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "secret" not in done.stderr, done.stderr
    arena = tmp_path / "arena.sqlite"
    made = run_langmill("arena", "serve", *answers, "--prompts", questions, "--lang", "fi", "--db", arena, "--host", "256.1.1.1")
    assert made.returncode == 2 and "cannot listen on 256.1.1.1" in made.stderr and made.stderr.strip().splitlines()[-1].startswith("langmill: error")
    done = run_langmill("arena", "invite", "--db", arena, "--n", "3", "--out", tmp_path / "no-such-folder" / "links.csv")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "No such file or directory" in done.stderr
    assert Store(str(arena), create=False).counts()["participants"] == 0  # no token was made without its link


def test_invitations_made_at_the_same_time_have_distinct_labels(tmp_path):
    import subprocess
    import sys

    answers, questions = _mt_bench()
    arena = tmp_path / "arena.sqlite"
    Store(str(arena)).load(read_campaign(answers, [questions]), "fi")
    runs = [subprocess.Popen([sys.executable, "-m", "langmill.cli", "arena", "invite", "--db", str(arena), "--n", "100", "--out",
                              str(tmp_path / f"links{k}.csv")], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in range(3)]
    assert all(run.wait(timeout=120) == 0 for run in runs)
    labels = [line.split(",")[0] for k in range(3) for line in (tmp_path / f"links{k}.csv").read_text().splitlines()[1:]]
    assert len(labels) == len(set(labels)) == 300
