"""The arena's web app (Flask, server-rendered; no JavaScript at all).

    GET  /join/<token>   an invitation (or the admin) link: signs the browser in, then /vote or /admin
    GET  /vote           the open pair of this participant, or a new one (arena.store.Store.assign)
    POST /vote           a vote: CSRF token, the shown assignment, a choice, an optional reason
    GET  /admin          progress, votes per model pair, live ratings, pause / resume, exports
    POST /admin/pause    pause or resume the campaign
    GET  /admin/votes.csv, /admin/votes.parquet

Safety: every model output goes through Jinja's autoescaping, or through Markdown with raw HTML
turned off, images dropped and links checked (markdown-it); a Content-Security-Policy without any
script source is the second wall. The session cookie is signed, HttpOnly and SameSite=Lax, and
every POST carries the session's CSRF token. Tokens are never logged (waitress logs no requests;
the token in /join is swapped for the cookie at once) and no page sends a Referer.
"""

from __future__ import annotations

import hmac
import io
import secrets
import time
from dataclasses import dataclass, field

from flask import Flask, Response, abort, redirect, render_template, request, session, url_for
from markupsafe import Markup

from langmill.arena.store import ASPECT_CHOICES, CHOICES, MAX_REASON_CHARS, Store

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


class ArenaFlask(Flask):
    def log_exception(self, exc_info) -> None:
        # Flask's own line names the path, and /join/<token> would put a token in the log.
        path = "/join/…" if request.path.startswith("/join/") else request.path
        self.logger.error("Exception on %s [%s]", path, request.method, exc_info=exc_info)


@dataclass
class ArenaSettings:
    goal: int = 20  # votes per participant shown as the progress goal
    rate_per_minute: int = 12  # votes per participant per minute before 429
    markdown: bool = True
    secure_cookies: bool = False  # behind an HTTPS proxy
    ui: dict | None = None  # the interface texts (i18n.catalog)
    ui_lang: str = "en"
    lang: str = ""
    live_rounds: int = 200  # bootstrap rounds of the admin page's live ratings
    overlap: float = 0.1  # share of new pairs that others voted on already (agreement between people)
    criteria: list[str] = field(default_factory=list)  # optional questions besides the overall vote ("language", "content")


def _markdown():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").disable("image")

    def link_open(self, tokens, idx, options, env):  # model-written links: no referrer, no opener
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return self.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def create_app(store: Store, settings: ArenaSettings, on_vote=None) -> Flask:
    app = ArenaFlask(__name__)
    app.config.update(SECRET_KEY=store.setting("secret"), SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies, SESSION_COOKIE_NAME="arena", PERMANENT_SESSION_LIFETIME=90 * 86400,
                      MAX_CONTENT_LENGTH=64 * 1024)
    md = _markdown() if settings.markdown else None
    ui = settings.ui or {}

    def show(text: str) -> Markup:
        """Model output as HTML that cannot run anything: escaped, or markdown without raw HTML."""
        if md is None:
            return Markup('<div class="plain">') + text + Markup("</div>")  # Markup + str escapes the str
        return Markup(md.render(text))

    def t(key: str, **values) -> str:
        return ui.get(key, key).format(**values) if values else ui.get(key, key)

    def criterion(name: str) -> str:  # a criterion's question: its translation, else its name
        return ui.get(f"criterion_{name}", name.replace("_", " "))

    app.jinja_env.globals.update(t=t, show=show, criterion=criterion, ui_lang=settings.ui_lang, choices=CHOICES, aspect_choices=ASPECT_CHOICES)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    def page(key: str, status: int = 200):
        return render_template("message.html", message=t(key)), status

    def who() -> tuple[int, str] | None:
        pid = session.get("pid")
        if not isinstance(pid, int):
            return None
        role = store.role(pid)
        return (pid, role) if role else None

    def csrf_ok() -> bool:
        sent, expected = request.form.get("csrf", ""), session.get("csrf", "")
        return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())

    @app.get("/")
    def index():
        found = who()
        if found is None:
            return page("need_link", 403)
        return redirect(url_for("admin" if found[1] == "admin" else "vote"))

    @app.get("/join/<token>")
    def join(token: str):
        found = store.participant(token)
        if found is None:
            return page("invalid_link", 403)
        session.clear()
        session.permanent = True
        session.update(pid=found[0], csrf=secrets.token_urlsafe(24))
        return redirect(url_for("admin" if found[2] == "admin" else "vote"), 303)

    @app.get("/vote")
    def vote():
        found = who()
        if found is None:
            return page("need_link", 403)
        if found[1] != "participant":  # organisers look at the campaign; their votes would count as people's
            return redirect(url_for("admin"))
        pid = found[0]
        notice = {"stored": "stored", "already": "already", "expired": "expired"}.get(request.args.get("n", ""))
        shown = store.open_assignment(pid)
        if shown is None:
            if store.paused:
                return page("paused", 503)
            shown = store.assign(pid, overlap=settings.overlap)
            if shown is None:
                return page("seen_all")
        done = store.votes_of(pid)
        return render_template("vote.html", a=shown, done=done, goal=settings.goal, notice=notice, csrf=session.get("csrf"),
                               max_reason=MAX_REASON_CHARS, criteria=settings.criteria)

    @app.post("/vote")
    def cast():
        found = who()
        if found is None:
            return page("need_link", 403)
        if not csrf_ok():
            return page("expired", 403)
        if found[1] != "participant":
            abort(403)
        pid = found[0]
        choice, reason = request.form.get("choice", ""), request.form.get("reason") or None
        try:
            assignment = int(request.form.get("assignment", ""))
        except ValueError:
            abort(400)
        aspects = {name: request.form[f"aspect_{name}"] for name in settings.criteria if request.form.get(f"aspect_{name}")}
        if choice not in CHOICES or (reason and len(reason) > MAX_REASON_CHARS) or any(v not in ASPECT_CHOICES for v in aspects.values()):
            abort(400)
        if store.votes_of(pid, since=time.time() - 60) >= settings.rate_per_minute:
            return page("rate_limited", 429)
        result = store.vote(pid, assignment, choice, reason, aspects)
        if result == "unknown":
            abort(400)
        if result == "stored" and on_vote is not None:
            on_vote()
        return redirect(url_for("vote", n=result), 303)

    def admin_only() -> int:
        found = who()
        if found is None or found[1] != "admin":
            abort(403)
        return found[0]

    @app.get("/admin")
    def admin():
        admin_only()
        from langmill.arena.results import live_summary

        return render_template("admin.html", counts=store.counts(), paused=store.paused, balance=store.model_pair_votes(),
                               live=Markup(live_summary(store, rounds=settings.live_rounds)), csrf=session.get("csrf"), lang=settings.lang)

    @app.post("/admin/pause")
    def pause():
        admin_only()
        if not csrf_ok():
            abort(403)
        store.set_setting("paused", "1" if request.form.get("paused") == "1" else "0")
        return redirect(url_for("admin"), 303)

    @app.get("/admin/votes.<kind>")
    def export(kind: str):
        admin_only()
        from langmill.arena.results import spreadsheet_safe, votes_table

        table = votes_table(store)
        buffer = io.BytesIO()
        if kind == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(spreadsheet_safe(table), buffer)
            mimetype = "text/csv"
        elif kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, buffer, compression="zstd")
            mimetype = "application/vnd.apache.parquet"
        else:
            abort(404)
        return Response(buffer.getvalue(), mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename=votes.{kind}"})

    @app.errorhandler(400)
    def bad_request(_err):
        return render_template("message.html", message="Bad request."), 400

    @app.errorhandler(403)
    def forbidden(_err):
        return render_template("message.html", message="Forbidden."), 403

    return app
