"""A local stand-in for the part of the Hugging Face Hub HTTP API that `huggingface_hub` uses to
create a repo, read a file and commit files (no test server ships with `huggingface_hub`).

Run by the publish tests on 127.0.0.1 in a thread (stdlib `ThreadingHTTPServer`); point the client
at it with HF_ENDPOINT. It answers:

    POST /api/repos/create                          -> 200 {url}, 409 when the repo exists
    POST /api/validate-yaml                         -> the README's YAML parsed (400 when it does not)
    POST /api/{type}s/{repo}/preupload/{rev}        -> "regular" for every file, with the stored oid
    POST /api/{type}s/{repo}/commit/{rev}           -> NDJSON: header, base64 files, deletions
    GET  /api/{type}s/{repo}/tree/{rev}[/{path}]    -> the stored files (for delete_patterns)
    GET  /api/{type}s/{repo}[/revision/{rev}]       -> repo info (sha, siblings)
    HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path} -> a stored file, 404 when missing

Answering "regular" to preupload keeps the client off LFS and Xet (which would need storage
servers). Every request is recorded with its Authorization header; a route it does not know is
recorded in `unknown` and answered 404, so a test sees what a new client version asks for.
`fail(route, status, message, times)` makes the next requests of a route fail (backoff, quota and
auth tests); `token` (when set) is the only one accepted, anything else is a 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import yaml

REPO = r"(?P<repo>[^/]+/[^/]+)"
API_ROUTES = [  # (method, route name, pattern)
    ("GET", "agent-harnesses", r"/api/agent-harnesses"),  # huggingface_hub's telemetry: an empty registry
    ("POST", "create", r"/api/repos/create"),
    ("POST", "validate-yaml", r"/api/validate-yaml"),
    ("POST", "preupload", rf"/api/(?P<type>model|dataset)s/{REPO}/preupload/(?P<rev>[^/]+)"),
    ("POST", "commit", rf"/api/(?P<type>model|dataset)s/{REPO}/commit/(?P<rev>[^/]+)"),
    ("GET", "tree", rf"/api/(?P<type>model|dataset)s/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?"),
    ("GET", "info", rf"/api/(?P<type>model|dataset)s/{REPO}(?:/revision/(?P<rev>[^/]+))?"),
]
RESOLVE = re.compile(rf"/(?:(?P<prefix>datasets)/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)")


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file: what the Hub reports as a regular file's oid."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=lambda: {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"})
    commits: list[dict] = field(default_factory=list)
    sha: str = field(default_factory=lambda: uuid.uuid4().hex + "00000000")


class HubServer:
    """The server and what it received: `repos[(type, "org/name")]`, `requests`, `unknown`."""

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[dict] = []  # {"method", "path", "route", "authorization"}
        self.unknown: list[str] = []
        self.failures: dict[str, list[tuple[int, str]]] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, route: str, status: int, message: str = "", times: int = 1) -> None:
        """The next `times` requests of `route` ("create", "commit", ...) get `status`."""
        with self.lock:
            self.failures.setdefault(route, []).extend([(status, message)] * times)

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def write_files(self, folder) -> list:
        """Every stored file of every repo under `folder/<type>/<org>/<name>/` (to search them)."""
        import os

        written = []
        for (repo_type, repo_id), repo in self.repos.items():
            for path, data in repo.files.items():
                target = os.path.join(folder, repo_type, repo_id, path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(data)
                written.append(target)
        return written


def _handler(server: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the tests look at server.requests
            pass

        def do_GET(self):
            self._dispatch("GET")

        def do_HEAD(self):
            self._dispatch("HEAD")

        def do_POST(self):
            self._dispatch("POST")

        # --- plumbing --------------------------------------------------------------------------------

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            path, self.query = unquote(url.path), parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            route, match = self._route(method, path)
            with server.lock:
                server.requests.append({"method": method, "path": path, "route": route, "authorization": self.headers.get("Authorization")})
                if route is None:
                    server.unknown.append(f"{method} {self.path}")
                failure = server.failures.get(route or "", [])
                failed = failure.pop(0) if failure else None
            if route is None:
                return self._json(404, {"error": f"unknown route {method} {path}"})
            if failed:
                return self._json(failed[0], {"error": failed[1] or f"failure {failed[0]} injected by the test"})
            if route not in ("validate-yaml", "agent-harnesses") and server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                return self._json(401, {"error": "Invalid credentials in Authorization header"})
            getattr(self, "_" + route.replace("-", "_"))(**match.groupdict())

        def _route(self, method: str, path: str):
            for verb, name, pattern in API_ROUTES:
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    return name, match
            match = RESOLVE.fullmatch(path)
            if match and method in ("GET", "HEAD"):
                return "resolve", match
            return None, None

        def _json(self, status: int, data, headers: dict | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if status >= 400:
                self.send_header("X-Error-Message", data.get("error", "") if isinstance(data, dict) else "")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _repo(self, type: str, repo: str):
            with server.lock:
                found = server.repos.get((type, repo))
            if found is None:
                self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            return found

        def _url(self, type: str, repo: str) -> str:
            return f"{server.url}/{'' if type == 'model' else type + 's/'}{repo}"

        # --- routes ----------------------------------------------------------------------------------

        def _create(self):
            payload = json.loads(self.body)
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else f"user/{payload['name']}"
            with server.lock:
                exists = (repo_type, repo_id) in server.repos
                if not exists:
                    server.repos[(repo_type, repo_id)] = Repo(repo_type, payload.get("visibility") == "private" or bool(payload.get("private")))
            if exists:
                return self._json(409, {"error": "You already created this repo", "url": self._url(repo_type, repo_id)})
            self._json(200, {"url": self._url(repo_type, repo_id), "name": repo_id})

        def _agent_harnesses(self):
            self._json(200, {"standardEnvVars": [], "harnesses": {}})

        def _validate_yaml(self):
            content = json.loads(self.body).get("content", "")
            match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
            try:
                data = yaml.safe_load(match.group(1)) if match else {}
            except yaml.YAMLError as err:
                return self._json(400, {"errors": [{"message": f"YAML: {err}"}], "warnings": []})
            if not isinstance(data, dict):
                return self._json(400, {"errors": [{"message": "metadata is not a mapping"}], "warnings": []})
            self._json(200, {"errors": [], "warnings": []})

        def _preupload(self, type: str, repo: str, rev: str):
            found = self._repo(type, repo)
            if found is None:
                return
            files = json.loads(self.body)["files"]
            answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                       "oid": git_blob_oid(found.files[f["path"]]) if f["path"] in found.files else None} for f in files]
            self._json(200, {"files": answer, "commitOid": found.sha})

        def _commit(self, type: str, repo: str, rev: str):
            found = self._repo(type, repo)
            if found is None:
                return
            header, added, deleted = {}, {}, []
            for line in self.body.splitlines():
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    added[value["path"]] = base64.b64decode(value["content"])
                elif key in ("deletedFile", "deletedFolder"):
                    deleted.append((key, value["path"]))
                else:  # lfsFile never comes: preupload answers "regular"
                    return self._json(400, {"error": f"unsupported commit item {key}"})
            with server.lock:
                for key, path in deleted:
                    for name in [n for n in found.files if n == path or (key == "deletedFolder" and n.startswith(path.rstrip("/") + "/"))]:
                        del found.files[name]
                found.files.update(added)
                found.sha = uuid.uuid4().hex + "00000000"
                found.commits.append({"summary": header.get("summary"), "added": sorted(added), "deleted": [p for _, p in deleted], "sha": found.sha})
            self._json(200, {"commitUrl": f"{self._url(type, repo)}/commit/{found.sha}", "commitOid": found.sha, "pullRequestUrl": None})

        def _tree(self, type: str, repo: str, rev: str, path: str | None):
            found = self._repo(type, repo)
            if found is None:
                return
            prefix = (path or "").strip("/")
            recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
            entries, folders = [], set()
            for name, data in sorted(found.files.items()):
                if prefix and not name.startswith(prefix + "/"):
                    continue
                rest = name[len(prefix) + 1:] if prefix else name
                if "/" in rest and not recursive:
                    folders.add(f"{prefix}/{rest.split('/')[0]}" if prefix else rest.split("/")[0])
                    continue
                entries.append({"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": name})
            entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": folder} for folder in sorted(folders)]
            self._json(200, entries)

        def _info(self, type: str, repo: str, rev: str | None):
            found = self._repo(type, repo)
            if found is None:
                return
            siblings = [{"rfilename": name, "size": len(data)} for name, data in sorted(found.files.items())]
            self._json(200, {"id": repo, "sha": found.sha, "private": found.private, "siblings": siblings, "disabled": False, "gated": False})

        def _resolve(self, prefix: str | None, repo: str, rev: str, path: str):
            found = self._repo("dataset" if prefix else "model", repo)
            if found is None:
                return
            data = found.files.get(path)
            if data is None:
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": found.sha})
            self.send_response(200)
            for key, value in {"Content-Type": "application/octet-stream", "Content-Length": str(len(data)), "ETag": f'"{git_blob_oid(data)}"',
                               "X-Repo-Commit": found.sha}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler
