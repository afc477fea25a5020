"""The arena's web pages in a real headless Chromium and over plain HTTP, against real
`langmill arena serve` processes: a whole Finnish voting session on real MT-Bench answers (pause,
resume, the results CLI), XSS in model answers and names, CSRF (forged forms from another origin
and another site), the rate limit, security headers, tokens kept out of the log, bad links."""

import csv
import http.server
import json
import re
import sqlite3
import threading
from functools import partial
from pathlib import Path

import httpx
import pytest
import yaml
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from arena_helpers import MODELS, MT_BENCH, REPO, ArenaServer, Participant, free_port, invite, langmill, mt_bench_args
from conftest import write_jsonl

FI = yaml.safe_load((REPO / "langmill" / "arena" / "locales" / "fi.yaml").read_text(encoding="utf-8"))
TITLE = "Kumpi vastaus on parempi?"
WORD = re.compile(r"\w+")


def votes_in(db: Path) -> int:
    """Votes stored, read from the SQLite file read-only (the server keeps running)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]


def is_paused(db: Path) -> bool:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT value FROM settings WHERE key = 'paused'").fetchone()
    return bool(found) and found[0] == "1"


def text_of(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def field(driver, name: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'input[name="{name}"]').get_attribute("value")


def replaced(element) -> bool:
    """Whether the page of `element` is gone. Chromium reports a replaced document either as a stale
    element or, while it swaps documents, as "Node with given id does not belong to the document"."""
    try:
        element.is_enabled()
        return False
    except WebDriverException:
        return True


def click_and_wait(driver, element_id: str) -> None:
    """Click a submit button and wait until the next page has replaced this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 20).until(lambda d: replaced(old))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def similarity(shown: str, source: str) -> float:
    """Jaccard of the word sets: rendered Markdown loses its markup, not its words. Case counts:
    two models' answers to MT-Bench 135 differ mainly in "country" against "Country"."""
    a, b = set(WORD.findall(shown)), set(WORD.findall(source))
    return len(a & b) / max(1, len(a | b))


def start(tmp: Path, name: str, *args) -> tuple[ArenaServer, Path]:
    db = tmp / f"{name}.sqlite"
    server = ArenaServer([*args, "--db", db], log=tmp / f"{name}.log").start()
    return server, db


@pytest.fixture(scope="module")
def fi_arena(tmp_path_factory):
    """One server on real MT-Bench fi answers for the CSRF, header, log and bad-link tests."""
    tmp = tmp_path_factory.mktemp("arena-fi")
    server, db = start(tmp, "fi", *mt_bench_args(), "--lang", "fi")
    yield server, db, tmp
    server.stop()


# --- 1. a whole voting session ----------------------------------------------------------------------


def test_finnish_voting_session_in_the_browser(browser, tmp_path):
    from langmill.answers import read_answers
    from servers import headless_chrome

    server, db = start(tmp_path, "session", *mt_bench_args(), "--lang", "fi", "--goal", "5")
    try:
        links = tmp_path / "links.csv"
        person, other = invite(db, 2, server.url, links)
        (admin_link,) = invite(db, 1, server.url, links, admin=True)
        questions = {str(json.loads(line)["question_id"]): json.loads(line)["turns"][0]
                     for line in (MT_BENCH / "question_fi.jsonl").read_text(encoding="utf-8").splitlines()}
        answers = {m: read_answers(str(MT_BENCH / "model_answer_fi" / f"{m}.jsonl")).answers for m in MODELS}

        browser.get(person)
        assert browser.current_url == server.url + "/vote"
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fi"
        assert text_of(browser, "h1") == TITLE
        assert "Ääniä: 0/5" in text_of(browser, "#progress")
        assert not browser.find_elements(By.CSS_SELECTOR, "#notice")
        # A reload (and a new visit) shows the same pair until it is voted.
        first = (field(browser, "assignment"), text_of(browser, "#answer-left .text"), text_of(browser, "#answer-right .text"))
        browser.refresh()
        assert (field(browser, "assignment"), text_of(browser, "#answer-left .text"), text_of(browser, "#answer-right .text")) == first
        browser.get(server.url + "/vote")
        assert field(browser, "assignment") == first[0]

        clicks = ["left", "right", "tie", "both_bad", "left", "right"]
        reason = "Vastaus B on selkeämpi <ja> kieliopillisesti oikein."
        shown = []
        for k, choice in enumerate(clicks, 1):
            assignment = field(browser, "assignment")
            left, right = text_of(browser, "#answer-left .text"), text_of(browser, "#answer-right .text")
            assert left.strip() and right.strip() and left != right
            shown.append((text_of(browser, "#prompt .text"), left, right))
            if k == 2:
                browser.find_element(By.ID, "reason").send_keys(reason)
            click_and_wait(browser, f"vote-{choice}")
            assert text_of(browser, "#notice") == FI["stored"]
            assert f"Ääniä: {k}/5" in text_of(browser, "#progress")
            assert field(browser, "assignment") != assignment  # a new pair
            goal_text = FI["goal_reached"].format(goal=5)
            assert (goal_text in browser.find_element(By.TAG_NAME, "main").text) == (k >= 5)
        assert votes_in(db) == len(clicks)

        with headless_chrome(tmp_path / "admin-browser") as admin:
            admin.get(admin_link)
            assert admin.current_url == server.url + "/admin"
            assert text_of(admin, "h1").endswith(f": {len(clicks)} votes")
            assert text_of(admin, "#state") == "running"
            click_and_wait(admin, "pause")
            assert text_of(admin, "#state") == "paused" and is_paused(db)
            assert admin.find_element(By.ID, "pause").text == "Resume voting"

            # The pair already on screen can be voted; the next new one is the pause page.
            browser.get(server.url + "/vote")
            click_and_wait(browser, "vote-tie")
            assert text_of(browser, "#message") == FI["paused"]
            assert text_of(browser, "h1") == TITLE
            late = Participant(other)
            assert late.join() == 303
            paused = late.page()
            assert paused.status_code == 503 and FI["paused"] in paused.text

            click_and_wait(admin, "pause")
            assert text_of(admin, "#state") == "running" and not is_paused(db)
            assert text_of(admin, "h1").endswith(f": {len(clicks) + 1} votes")
        browser.get(server.url + "/vote")
        assert f"Ääniä: {len(clicks) + 1}/5" in text_of(browser, "#progress")
        assert late.page().status_code == 200
    finally:
        server.stop()

    out = tmp_path / "results"
    done = langmill("arena", "results", "--db", db, "--out", out, "--bootstrap", "50")
    assert done.returncode == 0, done.stderr
    cast = len(clicks) + 1
    assert done.stdout.startswith(f"{cast} votes (0 too fast, left out) from 1 participant ")
    rows = list(csv.DictReader(open(out / "votes.csv", encoding="utf-8")))
    assert [r["choice"] for r in rows] == [*clicks, "tie"]
    assert [r["reason"] for r in rows] == ["", reason, "", "", "", "", ""]
    # What the browser showed is what the vote row says was shown: the prompt, and each side's model.
    for (prompt, left, right), row in zip(shown, rows):
        assert similarity(prompt, questions[row["prompt_id"]]) > 0.9
        assert row["left_model"] != row["right_model"]
        for text, model in ((left, row["left_model"]), (right, row["right_model"])):
            scores = {m: similarity(text, answers[m][row["prompt_id"]][0]) for m in MODELS}
            assert max(scores, key=scores.get) == model and scores[model] > 0.3, (model, scores)  # Markdown can merge or drop words of a short answer


# --- 2. XSS -----------------------------------------------------------------------------------------

EVIL = ("Tässä vastaus.\n\n<script>window.__xss = 1</script>\n\n<img src=x onerror=\"window.__xss = 2\">\n\n"
        "<svg onload=\"window.__xss=3\"><circle r=\"5\"/></svg>\n\n[click](javascript:window.__xss=4)\n\n"
        "<a href=\"javascript:window.__xss=5\">raaka linkki</a> ja <javascript:window.__xss=6> ja [iso](JAVASCRIPT:window.__xss=7)\n\n"
        "[turvallinen](https://example.org/ohje)")
EVIL_NAME = "m<b>x"
EVIL_REASON = "<script>window.__xss = 8</script> perustelu"


@pytest.fixture(scope="module")
def xss_arenas(tmp_path_factory):
    """Two servers on one hostile campaign: Markdown (the default) and --plain-text."""
    tmp = tmp_path_factory.mktemp("arena-xss")
    prompts = write_jsonl(tmp / "prompts.jsonl", [{"id": f"q{i}", "prompt": f"Kysymys {i}: <b>lihavoitu</b>?"} for i in (1, 2)])
    evil = write_jsonl(tmp / "evil.jsonl", [{"id": f"q{i}", "completion": EVIL} for i in (1, 2)])
    good = write_jsonl(tmp / "good.jsonl", [{"id": f"q{i}", "completion": f"Tavallinen vastaus {i}, **lihavoitu** sana."} for i in (1, 2)])
    found = {}
    try:
        for kind, extra in (("markdown", []), ("plain", ["--plain-text"])):
            found[kind] = start(tmp, kind, f"{EVIL_NAME}={evil}", f"good={good}", "--prompts", prompts, "--lang", "fi", *extra)
        yield found, tmp
    finally:
        for server, _ in found.values():
            server.stop()


def assert_nothing_runs(driver, kind: str) -> None:
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    for side in ("left", "right"):
        section = driver.find_element(By.ID, f"answer-{side}")
        assert not section.find_elements(By.CSS_SELECTOR, "script, img, svg, iframe, object, embed"), (kind, side)
        for a in section.find_elements(By.TAG_NAME, "a"):
            assert not (a.get_attribute("href") or "").lower().startswith("javascript:"), (kind, a.get_attribute("outerHTML"))
    assert not driver.find_elements(By.CSS_SELECTOR, "main script, main img, main svg")
    assert not driver.find_elements(By.CSS_SELECTOR, "#prompt b")  # the prompt's <b> is text too


@pytest.mark.parametrize("kind", ["markdown", "plain"])
def test_hostile_answers_and_names_are_shown_as_text(browser, xss_arenas, kind):
    arenas, tmp = xss_arenas
    server, db = arenas[kind]
    links = tmp / f"links-{kind}.csv"
    (link,) = invite(db, 1, server.url, links)
    (admin_link,) = invite(db, 1, server.url, links, admin=True)
    browser.get(link)
    assert "Internal Server Error" not in browser.title, f"the vote page crashed (500); see {server.log}"
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "<script>window.__xss = 1</script>" in body and "<b>lihavoitu</b>" in body
    assert_nothing_runs(browser, kind)
    anchors = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".answers a")]
    if kind == "markdown":
        assert anchors == ["https://example.org/ohje"]  # only the safe link became a link
        assert browser.find_element(By.CSS_SELECTOR, ".answers a").get_attribute("rel") == "nofollow noopener noreferrer"
        assert "[click](javascript:window.__xss=4)" in body
    else:
        assert anchors == [] and "[turvallinen](https://example.org/ohje)" in body
    for text in ("click", "raaka linkki", "iso"):  # whatever carries the words: clicking it runs nothing
        for element in browser.find_elements(By.XPATH, f"//section[contains(@class,'answer')]//*[contains(text(), '{text}')]"):
            element.click()
    assert browser.current_url.startswith(server.url) and browser.execute_script("return typeof window.__xss") == "undefined"

    browser.find_element(By.ID, "reason").send_keys(EVIL_REASON)
    click_and_wait(browser, "vote-left")
    assert text_of(browser, "#notice") == FI["stored"]
    assert_nothing_runs(browser, kind)

    # The admin page and report.html show the hostile model name as text.
    browser.get(admin_link)
    assert EVIL_NAME in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.CSS_SELECTOR, "main b, main script")
    assert browser.execute_script("return typeof window.__xss") == "undefined"
    csv_text = httpx.get(server.url + "/admin/votes.csv", cookies={"arena": browser.get_cookie("arena")["value"]}).text
    assert EVIL_REASON in csv_text and EVIL_NAME in csv_text
    out = tmp / f"results-{kind}"
    done = langmill("arena", "results", "--db", db, "--out", out, "--bootstrap", "20")
    assert done.returncode == 0, done.stderr
    report = (out / "report.html").read_text(encoding="utf-8")
    assert EVIL_NAME not in report and "m&lt;b&gt;x" in report
    assert EVIL_REASON in (out / "votes.csv").read_text(encoding="utf-8")
    browser.get((out / "report.html").as_uri())
    assert EVIL_NAME in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "b") and browser.execute_script("return typeof window.__xss") == "undefined"


# --- 3. CSRF ------------------------------------------------------------------------------------------


def test_votes_need_the_session_token(fi_arena):
    server, db, tmp = fi_arena
    person = Participant(invite(db, 1, server.url, tmp / "csrf.csv")[0])
    assert person.join() == 303
    page = person.page()
    form = Participant.form(page.text)
    assert set(form) == {"csrf", "assignment"}
    before = votes_in(db)
    missing = person.client.post(server.url + "/vote", data={"assignment": form["assignment"], "choice": "left"})
    wrong = person.post({**form, "csrf": form["csrf"][:-2] + "xx"}, "left")
    for answer in (missing, wrong):
        assert answer.status_code == 403 and FI["expired"] in answer.text
    assert votes_in(db) == before
    # Another participant's token is no good either.
    stranger = Participant(invite(db, 1, server.url, tmp / "csrf.csv")[0])
    stranger.join()
    stolen = Participant.form(stranger.page().text)["csrf"]
    assert person.post({**form, "csrf": stolen}, "left").status_code == 403
    assert votes_in(db) == before
    assert person.post(form, "left").status_code == 303 and votes_in(db) == before + 1


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site-other-origin", "cross-site"])
def test_forged_form_from_another_origin_stores_nothing(browser, fi_arena, tmp_path, host):
    server, db, tmp = fi_arena
    (link,) = invite(db, 1, server.url, tmp / "forged.csv")
    browser.get(link)
    assignment = field(browser, "assignment")  # the attacker guesses it right
    (tmp_path / "evil.html").write_text(
        f'<!doctype html><form id="f" method="post" action="{server.url}/vote">'
        f'<input name="assignment" value="{assignment}"><input name="choice" value="left">'
        '<input name="csrf" value="guessed"><input name="reason" value="forged"></form>'
        '<script>document.getElementById("f").submit()</script>', encoding="utf-8")
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_Quiet, directory=str(tmp_path)))
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    before = votes_in(db)
    try:
        browser.get(f"http://{host}:{evil.server_address[1]}/evil.html")
        WebDriverWait(browser, 20).until(lambda d: d.current_url.startswith(server.url) and d.find_elements(By.ID, "message"))
        # The form lands on the arena's refusal: the wrong token (same site), or no cookie at all
        # (SameSite=Lax keeps it off a cross-site POST).
        message = text_of(browser, "#message")
        assert browser.current_url == server.url + "/vote"
        assert message == (FI["expired"] if host == "127.0.0.1" else FI["need_link"])
    finally:
        evil.shutdown()
        evil.server_close()
    assert votes_in(db) == before
    browser.get(server.url + "/vote")  # the participant's session is intact, the pair still open
    assert field(browser, "assignment") == assignment and "Ääniä: 0/20" in text_of(browser, "#progress")


def test_admin_actions_need_the_admin_and_the_token(fi_arena):
    server, db, tmp = fi_arena
    (admin_link,) = invite(db, 1, server.url, tmp / "admin.csv", admin=True)
    admin = httpx.Client(timeout=30)
    assert admin.get(admin_link).status_code == 303
    page = admin.get(server.url + "/admin")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    for data in ({"paused": "1"}, {"paused": "1", "csrf": "nope"}):
        assert admin.post(server.url + "/admin/pause", data=data).status_code == 403
        assert not is_paused(db)
    person = Participant(invite(db, 1, server.url, tmp / "admin.csv")[0])
    person.join()
    person_token = Participant.form(person.page().text)["csrf"]
    assert person.client.get(server.url + "/admin").status_code == 403
    assert person.client.get(server.url + "/admin/votes.csv").status_code == 403
    assert person.client.post(server.url + "/admin/pause", data={"paused": "1", "csrf": person_token}).status_code == 403
    assert not is_paused(db)
    assert httpx.get(server.url + "/admin").status_code == 403  # no session at all
    # With its token the admin can pause (and resume, for the other tests).
    assert admin.post(server.url + "/admin/pause", data={"paused": "1", "csrf": token}).status_code == 303 and is_paused(db)
    assert admin.post(server.url + "/admin/pause", data={"paused": "0", "csrf": token}).status_code == 303 and not is_paused(db)


# --- 4. rate limit ------------------------------------------------------------------------------------


def test_rate_limit_refuses_the_fourth_vote_in_a_minute(tmp_path):
    server, db = start(tmp_path, "rate", *mt_bench_args(), "--lang", "fi", "--rate-limit", "3")
    try:
        person = Participant(invite(db, 1, server.url, tmp_path / "links.csv")[0])
        person.join()
        for k in range(3):
            assert person.post(Participant.form(person.page().text), "tie").status_code == 303
        assert votes_in(db) == 3
        form = Participant.form(person.page().text)
        refused = person.post(form, "left")
        assert refused.status_code == 429 and FI["rate_limited"] in refused.text
        assert votes_in(db) == 3
        assert Participant.form(person.page().text)["assignment"] == form["assignment"]  # the pair waits
    finally:
        server.stop()


# --- 5. headers and the log ---------------------------------------------------------------------------


def test_security_headers_and_no_token_in_the_log(fi_arena):
    server, db, tmp = fi_arena
    links = tmp / "headers.csv"
    people = [Participant(link) for link in invite(db, 2, server.url, links)]
    invite(db, 1, server.url, links, admin=True)
    responses = [httpx.get(server.url + "/"), httpx.get(server.url + "/join/nonsense")]
    for person in people:
        joined = person.client.get(person.link)
        assert joined.status_code == 303
        cookie = joined.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "arena=" in cookie
        page = person.page()
        responses.append(page)
        responses.append(person.post(Participant.form(page.text), "right", reason="hyvä"))
    for r in responses:
        csp = r.headers["content-security-policy"]
        assert "script-src" not in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "serving http://127.0.0.1" in log
    tokens = [row["link"].rsplit("/join/", 1)[1] for path in tmp.glob("*.csv") for row in csv.DictReader(open(path))]
    assert len(tokens) >= 3
    assert not [t for t in tokens if t in log]


# --- 6. bad links -------------------------------------------------------------------------------------


def test_bad_links_get_a_clear_finnish_page(browser, fi_arena):
    server, _, _ = fi_arena
    bad = httpx.get(server.url + "/join/Xq3v9mJc0pLw2sTt6yZb4nHa")
    assert bad.status_code == 403 and FI["invalid_link"] in bad.text and "arena=" not in bad.headers.get("set-cookie", "")
    bare = httpx.get(server.url + "/vote")
    assert bare.status_code == 403 and FI["need_link"] in bare.text
    browser.get(server.url + "/join/Xq3v9mJc0pLw2sTt6yZb4nHa")
    assert text_of(browser, "h1") == TITLE and text_of(browser, "#message") == FI["invalid_link"]
    browser.get(server.url + "/vote")
    assert text_of(browser, "#message") == FI["need_link"]
