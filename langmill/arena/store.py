"""The arena's one database layer (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

    settings      key -> value: campaign language, paused, the session-signing secret
    prompts       id, key (the prompt id of the files), messages (JSON), category
    answers       id, prompt, model, text                 unique (prompt, model)
    pairs         id, prompt, answer_a, answer_b, model_a < model_b
    participants  id, token_hash (sha-256: the token itself is never stored), label, role
    assignments   id, participant, pair, left/right answer (the order shown), shown_at
                  unique (participant, pair): nobody is shown the same pair twice
    votes         id, assignment (unique: a vote cannot be counted twice), participant, pair,
                  prompt key, left/right answer ids and models, choice, aspects (JSON: the answers
                  to --criteria questions, e.g. {"language": "left"}), reason, voted_at, seconds

Every write is one transaction: a server killed mid-vote has stored the vote or not, and the
client's retry of the same form is either stored now or answered "already counted".
Times are seconds since the epoch (UTC), the same in both databases.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

CHOICES = ("left", "right", "tie", "both_bad")
ASPECT_CHOICES = ("left", "tie", "right")  # an answer to one of the campaign's --criteria questions
OPEN_ASSIGNMENT_S = 3600  # a pair shown within the hour and not yet voted counts as a vote coming
MAX_REASON_CHARS = 1000

meta = sa.MetaData()
settings = sa.Table("settings", meta, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
prompts = sa.Table(
    "prompts", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("messages", sa.Text, nullable=False), sa.Column("category", sa.Text))
answers = sa.Table(
    "answers", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("prompt_id", sa.ForeignKey("prompts.id"), nullable=False),
    sa.Column("model", sa.Text, nullable=False), sa.Column("text", sa.Text, nullable=False), sa.UniqueConstraint("prompt_id", "model"))
pairs = sa.Table(
    "pairs", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("prompt_id", sa.ForeignKey("prompts.id"), nullable=False),
    sa.Column("answer_a", sa.ForeignKey("answers.id"), nullable=False), sa.Column("answer_b", sa.ForeignKey("answers.id"), nullable=False),
    sa.Column("model_a", sa.Text, nullable=False), sa.Column("model_b", sa.Text, nullable=False), sa.UniqueConstraint("answer_a", "answer_b"),
    sa.Index("pairs_models", "model_a", "model_b"))
participants = sa.Table(
    "participants", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=False, unique=True), sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False))
assignments = sa.Table(
    "assignments", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("participant_id", sa.ForeignKey("participants.id"), nullable=False),
    sa.Column("pair_id", sa.ForeignKey("pairs.id"), nullable=False), sa.Column("left_answer", sa.ForeignKey("answers.id"), nullable=False),
    sa.Column("right_answer", sa.ForeignKey("answers.id"), nullable=False), sa.Column("shown_at", sa.Float, nullable=False),
    sa.UniqueConstraint("participant_id", "pair_id"), sa.Index("assignments_pair", "pair_id"))
votes = sa.Table(
    "votes", meta, sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("assignment_id", sa.ForeignKey("assignments.id"), nullable=False, unique=True),
    sa.Column("participant_id", sa.ForeignKey("participants.id"), nullable=False), sa.Column("pair_id", sa.ForeignKey("pairs.id"), nullable=False),
    sa.Column("prompt_key", sa.Text, nullable=False), sa.Column("left_answer", sa.Integer, nullable=False), sa.Column("right_answer", sa.Integer, nullable=False),
    sa.Column("left_model", sa.Text, nullable=False), sa.Column("right_model", sa.Text, nullable=False),
    sa.Column("choice", sa.String(16), nullable=False), sa.Column("aspects", sa.Text), sa.Column("reason", sa.Text),
    sa.Column("voted_at", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False), sa.Index("votes_participant_time", "participant_id", "voted_at"))


# The pairs of two models that a participant has not seen, with their load (votes and votes
# coming) and how often the participant has read the pair's prompt already.
CANDIDATES = sa.text(
    "SELECT p.id, p.answer_a, p.answer_b, "
    "SUM(CASE WHEN a.id IS NOT NULL AND (v.id IS NOT NULL OR a.shown_at >= :cutoff) THEN 1 ELSE 0 END) AS load, "
    "(SELECT COUNT(*) FROM assignments mine JOIN pairs q ON q.id = mine.pair_id WHERE mine.participant_id = :pid AND q.prompt_id = p.prompt_id) AS read "
    "FROM pairs p LEFT JOIN assignments a ON a.pair_id = p.id LEFT JOIN votes v ON v.assignment_id = a.id "
    "WHERE p.model_a = :a AND p.model_b = :b AND p.id NOT IN (SELECT pair_id FROM assignments WHERE participant_id = :pid) "
    "GROUP BY p.id, p.answer_a, p.answer_b, p.prompt_id")


class StoreError(Exception):
    """Something the user can fix; the message is one line."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def database_url(db: str) -> str:
    """A SQLAlchemy URL for --db: a URL as it is (postgresql:// uses the psycopg driver), else a
    SQLite file path."""
    if "://" not in db:
        return "sqlite:///" + os.path.abspath(db)
    if db.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a path, or a URL SQLAlchemy cannot parse: hide what looks like a password
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


@dataclass
class Assignment:
    id: int
    prompt_key: str
    messages: list[dict]
    category: str | None
    left: str  # answer texts, in the order shown
    right: str
    left_model: str  # never shown to participants
    right_model: str


class Store:
    """One campaign's database; thread-safe (one engine, a connection per call)."""

    def __init__(self, db: str, create: bool = True):
        self.url = database_url(db)
        self._pairs_cache: tuple[int, list] | None = None
        self.is_sqlite = self.url.startswith("sqlite")
        shown = db if self.is_sqlite else redacted(self.url)
        try:
            if self.is_sqlite:
                path = self.url.removeprefix("sqlite:///")
                if not create and not os.path.isfile(path):
                    raise StoreError(f"--db {db}: no such arena database (langmill arena serve creates it)")
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.engine = sa.create_engine(self.url, **self._engine_options())
            if self.is_sqlite:
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._check_tables(shown, create)
            if create:
                meta.create_all(self.engine)
                with self.engine.begin() as conn:
                    if conn.execute(sa.select(settings.c.value).where(settings.c.key == "secret")).scalar() is None:
                        _insert_missing(conn, "secret", secrets.token_hex(32))
        except ModuleNotFoundError as err:
            raise StoreError(f"--db {shown}: the driver is not installed ({err.name}); pip install 'langmill[arena]'") from None
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"--db {shown}: {str(getattr(err, 'orig', None) or err).splitlines()[0]}") from None
        except (ValueError, OSError) as err:  # a URL that does not parse, a path that cannot be made
            raise StoreError(f"--db {shown}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None

    def _check_tables(self, shown: str, create: bool) -> None:
        """A database made by other tables (another version of these, or not an arena) is refused
        before anything is written; without `create`, so is one that holds no arena yet."""
        inspector = sa.inspect(self.engine)
        existing = set(inspector.get_table_names())
        if not create and "settings" not in existing:
            raise StoreError(f"--db {shown}: not an arena database (langmill arena serve makes one)")
        for table in meta.sorted_tables:
            if table.name not in existing:
                continue
            found = {c["name"] for c in inspector.get_columns(table.name)}
            missing = [c.name for c in table.columns if c.name not in found]
            if missing:
                raise StoreError(f"--db {shown}: table {table.name} has no column {missing[0]}; "
                                 "it was made by another version of langmill arena (or is not an arena database): use a new --db")

    def _engine_options(self) -> dict:
        if self.is_sqlite:  # a writer waits for another (up to 30 s) instead of failing
            return {"connect_args": {"timeout": 30, "check_same_thread": False}}
        return {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}

    # --- settings -------------------------------------------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()
        return default if value is None else value

    def set_setting(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(settings.update().where(settings.c.key == key).values(value=value)).rowcount == 0:
                conn.execute(settings.insert().values(key=key, value=value))

    @property
    def criteria(self) -> list[str]:
        return json.loads(self.setting("criteria", "[]"))

    @property
    def paused(self) -> bool:
        return self.setting("paused", "0") == "1"

    # --- the campaign ---------------------------------------------------------------------------
    def load(self, campaign, lang: str) -> dict:
        """Adds the campaign's prompts, answers and pairs that are not stored yet; returns counts.
        A stored answer that differs (votes refer to it) or another language is refused."""
        with self.engine.begin() as conn:
            stored_lang = conn.execute(sa.select(settings.c.value).where(settings.c.key == "lang")).scalar()
            if stored_lang and stored_lang != lang:
                raise StoreError(f"this arena database is a campaign in {stored_lang!r}, not {lang!r}")
            if not stored_lang:
                _insert_missing(conn, "lang", lang)
            prompt_ids = dict(conn.execute(sa.select(prompts.c.key, prompts.c.id)).all())
            new_prompts = [{"key": k, "messages": json.dumps(p["messages"], ensure_ascii=False), "category": p["category"]}
                           for k, p in campaign.prompts.items() if k not in prompt_ids]
            if new_prompts:
                conn.execute(prompts.insert(), new_prompts)
                prompt_ids = dict(conn.execute(sa.select(prompts.c.key, prompts.c.id)).all())
            stored = {(m, p): (i, t) for i, m, p, t in conn.execute(sa.select(answers.c.id, answers.c.model, answers.c.prompt_id, answers.c.text))}
            new_answers = []
            for (model, key), text in campaign.answers.items():
                found = stored.get((model, prompt_ids[key]))
                if found is None:
                    new_answers.append({"prompt_id": prompt_ids[key], "model": model, "text": text})
                elif found[1] != text:
                    raise StoreError(f"the database holds another answer of {model} to prompt {key}: answers cannot change once shown; use a new --db")
            if new_answers:
                conn.execute(answers.insert(), new_answers)
            by_prompt: dict[int, list[tuple[str, int]]] = {}
            for i, m, p in conn.execute(sa.select(answers.c.id, answers.c.model, answers.c.prompt_id)):
                by_prompt.setdefault(p, []).append((m, i))
            known = {tuple(r) for r in conn.execute(sa.select(pairs.c.answer_a, pairs.c.answer_b))}
            new_pairs = []
            for prompt_id, found in by_prompt.items():
                found.sort()
                for x in range(len(found)):
                    for y in range(x + 1, len(found)):
                        (ma, a), (mb, b) = found[x], found[y]
                        if (a, b) not in known:
                            new_pairs.append({"prompt_id": prompt_id, "answer_a": a, "answer_b": b, "model_a": ma, "model_b": mb})
            if new_pairs:
                conn.execute(pairs.insert(), new_pairs)
        return {"prompts": len(new_prompts), "answers": len(new_answers), "pairs": len(new_pairs)}

    def counts(self) -> dict:
        with self.engine.connect() as conn:
            one = lambda query: conn.execute(query).scalar() or 0  # noqa: E731
            return {"prompts": one(sa.select(sa.func.count()).select_from(prompts)),
                    "models": one(sa.select(sa.func.count(sa.distinct(answers.c.model)))),
                    "pairs": one(sa.select(sa.func.count()).select_from(pairs)),
                    "participants": one(sa.select(sa.func.count()).select_from(participants).where(participants.c.role == "participant")),
                    "voters": one(sa.select(sa.func.count(sa.distinct(votes.c.participant_id)))),
                    "votes": one(sa.select(sa.func.count()).select_from(votes))}

    def model_pair_votes(self) -> list[tuple[str, str, int]]:
        """Votes per model pair, every pair listed (the admin's view of the balance)."""
        query = sa.text("SELECT p.model_a, p.model_b, COUNT(v.id) FROM pairs p LEFT JOIN votes v ON v.pair_id = p.id "
                        "GROUP BY p.model_a, p.model_b ORDER BY p.model_a, p.model_b")
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    # --- participants ---------------------------------------------------------------------------
    def invite(self, n: int, role: str = "participant", prefix: str = "p") -> list[tuple[str, str]]:
        """n new (label, token); only the tokens' hashes are stored. A label is made from the row's
        own id, so invitations made at the same time never share one."""
        made = []
        with self.engine.begin() as conn:
            for _ in range(n):
                token = secrets.token_urlsafe(24)
                hashed = token_hash(token)
                new_id = conn.execute(participants.insert().values(token_hash=hashed, label=hashed, role=role,
                                                                   created_at=time.time())).inserted_primary_key[0]
                label = f"{prefix}{new_id:04d}"
                conn.execute(participants.update().where(participants.c.id == new_id).values(label=label))
                made.append((label, token))
        return made

    def participant(self, token: str) -> tuple[int, str, str] | None:
        """(id, label, role) of a token, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(participants.c.id, participants.c.label, participants.c.role)
                               .where(participants.c.token_hash == token_hash(token))).first()
        return tuple(row) if row else None

    def role(self, participant_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(participants.c.role).where(participants.c.id == participant_id)).scalar()

    # --- voting ---------------------------------------------------------------------------------
    def votes_of(self, participant_id: int, since: float = 0.0) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(votes)
                                .where(votes.c.participant_id == participant_id, votes.c.voted_at >= since)).scalar() or 0

    def open_assignment(self, participant_id: int) -> Assignment | None:
        """The pair shown to this participant and not voted yet (a reload shows it again)."""
        query = (sa.select(assignments.c.id).select_from(assignments.outerjoin(votes, votes.c.assignment_id == assignments.c.id))
                 .where(assignments.c.participant_id == participant_id, votes.c.id.is_(None)).order_by(assignments.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return self.assignment(found) if found else None

    def assignment(self, assignment_id: int) -> Assignment | None:
        left, right = answers.alias("l"), answers.alias("r")
        query = (sa.select(assignments.c.id, prompts.c.key, prompts.c.messages, prompts.c.category, left.c.text, right.c.text, left.c.model, right.c.model)
                 .select_from(assignments.join(pairs, pairs.c.id == assignments.c.pair_id).join(prompts, prompts.c.id == pairs.c.prompt_id)
                              .join(left, left.c.id == assignments.c.left_answer).join(right, right.c.id == assignments.c.right_answer))
                 .where(assignments.c.id == assignment_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Assignment(row[0], row[1], json.loads(row[2]), row[3], *row[4:])

    def assign(self, participant_id: int, rng: random.Random | None = None, overlap: float = 0.0) -> Assignment | None:
        """A new pair for this participant: the model pair with the fewest votes (pairs shown in
        the last hour and not voted yet count as votes coming) among those where this participant
        has a pair left to see; in it, the pair with the fewest, preferring prompts this
        participant has not read yet; ties broken at random. With probability `overlap`, the pair
        is instead one that others voted on already (the fewest such votes first), so that
        agreement between people can be measured. None when every pair was seen.
        A few small queries, whatever the number of pairs (36,000 for 31 models x 80 prompts)."""
        rng = rng or random.SystemRandom()
        cutoff = time.time() - OPEN_ASSIGNMENT_S
        loads = self._model_pair_loads(cutoff)
        order = sorted(self._model_pairs(), key=lambda pair: (loads.get(pair, 0), rng.random()))
        for model_a, model_b in order:
            for _ in range(3):  # another request of the same participant may take the chosen pair first
                with self.engine.connect() as conn:
                    rows = conn.execute(CANDIDATES, {"cutoff": cutoff, "pid": participant_id, "a": model_a, "b": model_b}).all()
                if not rows:
                    break  # this participant has seen every pair of these two models
                seen_by_others = [r for r in rows if r[3]]
                if seen_by_others and rng.random() < overlap:
                    rows = seen_by_others
                best = min((r[3] or 0, r[4]) for r in rows)
                pair_id, a, b, _, _ = rng.choice([r for r in rows if (r[3] or 0, r[4]) == best])
                left, right = (a, b) if rng.random() < 0.5 else (b, a)
                try:
                    with self.engine.begin() as conn:
                        new_id = conn.execute(assignments.insert().values(participant_id=participant_id, pair_id=pair_id, left_answer=left,
                                                                          right_answer=right, shown_at=time.time())).inserted_primary_key[0]
                except IntegrityError:
                    continue
                return self.assignment(new_id)
        return None

    def _model_pairs(self) -> list[tuple[str, str]]:
        """Every (model_a, model_b); cached until another server process adds pairs (max id grows)."""
        with self.engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(pairs.c.id))).scalar() or 0
            if self._pairs_cache is None or self._pairs_cache[0] != newest:
                self._pairs_cache = (newest, [tuple(r) for r in conn.execute(sa.select(pairs.c.model_a, pairs.c.model_b).distinct())])
        return self._pairs_cache[1]

    def _model_pair_loads(self, cutoff: float) -> dict[tuple[str, str], int]:
        query = sa.text(
            "SELECT p.model_a, p.model_b, COUNT(a.id) FROM pairs p JOIN assignments a ON a.pair_id = p.id "
            "LEFT JOIN votes v ON v.assignment_id = a.id WHERE v.id IS NOT NULL OR a.shown_at >= :cutoff GROUP BY p.model_a, p.model_b")
        with self.engine.connect() as conn:
            return {(a, b): n for a, b, n in conn.execute(query, {"cutoff": cutoff})}

    def vote(self, participant_id: int, assignment_id: int, choice: str, reason: str | None, aspects: dict[str, str] | None = None) -> str:
        """Stores a vote in one transaction: "stored", "already" (this assignment has its vote),
        or "unknown" (no such assignment of this participant)."""
        if choice not in CHOICES or any(v not in ASPECT_CHOICES for v in (aspects or {}).values()):
            raise ValueError(f"choice {choice!r} or aspects {aspects!r} not one of {', '.join(CHOICES)}")
        left, right = answers.alias("l"), answers.alias("r")
        query = (sa.select(assignments.c.pair_id, assignments.c.shown_at, assignments.c.left_answer, assignments.c.right_answer,
                           left.c.model, right.c.model, prompts.c.key)
                 .select_from(assignments.join(left, left.c.id == assignments.c.left_answer).join(right, right.c.id == assignments.c.right_answer)
                              .join(prompts, prompts.c.id == left.c.prompt_id))
                 .where(assignments.c.id == assignment_id, assignments.c.participant_id == participant_id))
        now = time.time()
        try:
            with self.engine.begin() as conn:
                row = conn.execute(query).first()
                if row is None:
                    return "unknown"
                pair_id, shown_at, left_answer, right_answer, left_model, right_model, key = row
                conn.execute(votes.insert().values(
                    assignment_id=assignment_id, participant_id=participant_id, pair_id=pair_id, prompt_key=key, left_answer=left_answer,
                    right_answer=right_answer, left_model=left_model, right_model=right_model, choice=choice,
                    aspects=json.dumps(aspects, sort_keys=True) if aspects else None,
                    reason=(reason or "").strip()[:MAX_REASON_CHARS] or None, voted_at=now, seconds=round(now - shown_at, 3)))
        except IntegrityError:
            return "already"
        return "stored"

    # --- reading the votes ----------------------------------------------------------------------
    def vote_rows(self) -> list[dict]:
        """Every vote with what was shown, in the order they were cast."""
        query = (sa.select(votes.c.id, votes.c.voted_at, votes.c.seconds, participants.c.label.label("participant"), votes.c.prompt_key,
                           prompts.c.category, votes.c.left_model, votes.c.right_model, votes.c.left_answer, votes.c.right_answer,
                           votes.c.choice, votes.c.aspects, votes.c.reason)
                 .select_from(votes.join(participants, participants.c.id == votes.c.participant_id)
                              .join(pairs, pairs.c.id == votes.c.pair_id).join(prompts, prompts.c.id == pairs.c.prompt_id))
                 .order_by(votes.c.voted_at, votes.c.id))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["aspects"] = json.loads(row["aspects"]) if row["aspects"] else {}
        return rows

    def texts(self) -> tuple[dict[str, dict], dict[int, str]]:
        """{prompt key: {"messages", "category"}} and {answer id: text}, for exports."""
        with self.engine.connect() as conn:
            found = {k: {"messages": json.loads(m), "category": c} for k, m, c in conn.execute(sa.select(prompts.c.key, prompts.c.messages, prompts.c.category))}
            texts = dict(conn.execute(sa.select(answers.c.id, answers.c.text)).all())
        return found, texts


def _insert_missing(conn, key: str, value: str) -> None:
    """Inserts a setting unless another process just did (two servers starting on one database)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(settings).values(key=key, value=value).on_conflict_do_nothing())


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL: readers never wait for the writer; synchronous=FULL: a committed vote survives a crash
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
