"""README screenshots of the arena: docs/arena-vote.png (the voting page) and docs/arena-admin.png
(the admin page with ratings and the win-rate matrix). Starts a real `langmill arena serve` on
MT-Bench fi answers of three models in a temp folder, casts about 30 votes over HTTP from three
participants, then photographs the pages in Debian's headless Chromium.

    .venv/bin/python scripts/arena_screenshots.py
"""

import random
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test helpers start the server and drive the browser

from arena_helpers import ArenaServer, Participant, invite, mt_bench_args  # noqa: E402
from servers import headless_chrome  # noqa: E402

ANSWER = re.compile(r'id="answer-(left|right)">.*?<div class="text">(.*?)</div></section>', re.S)


def choose(page: str, rng: random.Random) -> str:
    """A plausible voter: mostly the longer answer, sometimes a tie or both bad."""
    sides = dict(ANSWER.findall(page))
    roll = rng.random()
    if roll < 0.12:
        return "tie"
    if roll < 0.2:
        return "both_bad"
    longer = "left" if len(sides.get("left", "")) >= len(sides.get("right", "")) else "right"
    return longer if roll < 0.85 else {"left": "right", "right": "left"}[longer]


def main() -> None:
    rng = random.Random(7)
    docs = REPO / "docs"
    with tempfile.TemporaryDirectory(prefix="arena-shots-") as tmp:
        tmp = Path(tmp)
        db = tmp / "arena.sqlite"
        server = ArenaServer([*mt_bench_args(), "--lang", "fi", "--db", db, "--criteria", "language,content"], log=tmp / "serve.log").start()
        try:
            links = tmp / "links.csv"
            people = [Participant(link) for link in invite(db, 3, server.url, links)]
            (admin_link,) = invite(db, 1, server.url, links, admin=True)
            reasons = ["Selkeämpi ja sujuvampaa suomea.", "Vastaus A keksii faktoja.", ""]
            for person in people:
                assert person.join() == 303
                for _ in range(10):  # under the default 12 votes a minute
                    page = person.page().text
                    done = person.post(Participant.form(page), choose(page, rng), reason=rng.choice(reasons))
                    assert done.status_code == 303, done.status_code
            with headless_chrome(tmp / "browser") as driver:
                driver.set_window_size(1280, 1100)
                driver.get(people[0].link)
                driver.save_screenshot(str(docs / "arena-vote.png"))
                driver.get(admin_link)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1280, min(max(height + 200, 1100), 3000))  # + the window frame
                driver.save_screenshot(str(docs / "arena-admin.png"))
        finally:
            server.stop()
    for name in ("arena-vote.png", "arena-admin.png"):
        print(f"{docs / name}: {(docs / name).stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
