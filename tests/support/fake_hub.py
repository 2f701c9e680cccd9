"""A small, real HTTP server that speaks the Hugging Face Hub endpoints huggingface_hub's HfApi
calls to create a repo, read its info and tree, pre-upload, upload LFS objects (batch API, basic
transfer), commit (NDJSON) and download files (resolve). Repos live in memory as a list of
commits, each a full snapshot, so tests can read exactly what every commit contained.

Faults, for the tests: `fail_commits=N` answers the next N commits 500 after reading them (the
LFS objects are already uploaded: the push failed half-way); `drop_commits=N` applies the next N
commits but closes the connection without an answer (the response was lost). Every request is
checked for `Authorization: Bearer <token>`; the server remembers the tokens it saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
REPO = r"(?P<repo>[\w.\-]+/[\w.\-]+)"


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of `data` (what the Hub calls a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, bytes]
    lfs: set[str]


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]


class FakeHub:
    """The server and its state; `start()` returns the endpoint URL, `stop()` shuts it down."""

    def __init__(self, token: str, fail_commits: int = 0, drop_commits: int = 0) -> None:
        self.token = token
        self.fail_commits = fail_commits
        self.drop_commits = drop_commits
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.commit_attempts = 0
        self.lfs_uploads = 0
        self.seen_auth: set[str] = set()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.url = ""

    def start(self) -> str:
        hub = self

        class Handler(HubHandler):
            state = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def new_commit(
        self, repo: Repo, message: str, files: dict[str, bytes], lfs: set[str]
    ) -> Commit:
        oid = hashlib.sha1(f"{repo.repo_id}{len(repo.commits)}{message}".encode()).hexdigest()
        commit = Commit(oid, message, files, lfs)
        repo.commits.append(commit)
        return commit


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # --- plumbing -------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            self.state.seen_auth.add(auth[7:])
        return auth == f"Bearer {self.state.token}"

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _route(self, method: str) -> None:
        path = urlparse(self.path)
        self.state.requests.append((method, path.path))
        routes = [
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("GET", rf"/api/models/{REPO}(/revision/(?P<rev>[^/]+))?", self.repo_info),
            ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", self.preupload),
            ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", self.commit),
            ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?P<sub>/.*)?", self.tree),
            ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_upload),
            ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
            ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, unquote(path.path))
            if verb == method and match:
                handler(match.groupdict(), parse_qs(path.query))
                return
        self._error(404, "NotFound", f"no route for {method} {path.path}")

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    # --- endpoints --------------------------------------------------------------------------
    def create_repo(self, _: dict[str, str], __: Any) -> None:
        body = json.loads(self._body() or b"{}")
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        repo_id = f"{body.get('organization')}/{body['name']}"
        with self.state.lock:
            if repo_id in self.state.repos:
                url = f"{self.state.url}/{repo_id}"
                self._send(409, {"error": "You already created this model repo", "url": url})
                return
            repo = Repo(repo_id, body.get("visibility") == "private")
            self.state.repos[repo_id] = repo
            attrs = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
            self.state.new_commit(repo, "initial commit", {".gitattributes": attrs}, set())
        self._send(200, {"url": f"{self.state.url}/{repo_id}", "name": repo_id})

    def validate_yaml(self, _: dict[str, str], __: Any) -> None:
        content = json.loads(self._body())["content"]
        try:
            if content.startswith("---"):
                yaml.safe_load(content.split("---")[1])
        except yaml.YAMLError as exc:
            self._send(400, {"error": f"invalid YAML: {exc}"})
            return
        self._send(200, {"errors": [], "warnings": []})

    def repo_info(self, g: dict[str, str], __: Any) -> None:
        repo = self._repo(g["repo"])
        if repo:
            siblings = [{"rfilename": p} for p in sorted(repo.head.files)]
            self._send(
                200,
                {
                    "id": repo.repo_id,
                    "private": repo.private,
                    "sha": repo.head.oid,
                    "siblings": siblings,
                },
            )

    def preupload(self, g: dict[str, str], __: Any) -> None:
        files = json.loads(self._body())["files"]
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        repo = self._repo(g["repo"])
        if repo is None:
            return
        out = []
        for f in files:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10_000
            old = repo.head.files.get(f["path"])
            oid = None
            if old is not None:
                oid = hashlib.sha256(old).hexdigest() if lfs else git_blob_oid(old)
            out.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._send(200, {"files": out})

    def lfs_batch(self, g: dict[str, str], __: Any) -> None:
        body = json.loads(self._body())
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        objects = []
        for obj in body["objects"]:
            item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs:
                href = f"{self.state.url}/lfs-upload/{obj['oid']}"
                item["actions"] = {"upload": {"href": href, "header": {}}}
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, g: dict[str, str], __: Any) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != g["oid"]:
            self._send(400, {"error": "sha256 mismatch"})
            return
        with self.state.lock:
            self.state.lfs[g["oid"]] = data
            self.state.lfs_uploads += 1
        self._send(200, b"")

    def commit(self, g: dict[str, str], __: Any) -> None:
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        repo = self._repo(g["repo"])
        if repo is None:
            return
        with self.state.lock:
            self.state.commit_attempts += 1
            if self.state.fail_commits > 0:
                self.state.fail_commits -= 1
                self._send(500, {"error": "Internal Error - we're working hard to fix this"})
                return
            header = next(x["value"] for x in lines if x["key"] == "header")
            if header.get("parentCommit") and header["parentCommit"] != repo.head.oid:
                self._send(
                    412, {"error": "A commit has happened since. Please refresh and try again."}
                )
                return
            files, lfs = dict(repo.head.files), set(repo.head.lfs)
            for item in lines:
                v = item["value"]
                if item["key"] == "file":
                    files[v["path"]] = base64.b64decode(v["content"])
                    lfs.discard(v["path"])
                elif item["key"] == "lfsFile":
                    if v["oid"] not in self.state.lfs:
                        self._send(400, {"error": f"LFS object {v['oid']} was never uploaded"})
                        return
                    files[v["path"]] = self.state.lfs[v["oid"]]
                    lfs.add(v["path"])
                elif item["key"] == "deletedFile":
                    files.pop(v["path"], None)
                    lfs.discard(v["path"])
            commit = self.state.new_commit(repo, header["summary"], files, lfs)
            if self.state.drop_commits > 0:
                self.state.drop_commits -= 1
                self.close_connection = True  # applied, but the answer never arrives
                return
        url = f"{self.state.url}/{repo.repo_id}/commit/{commit.oid}"
        self._send(200, {"commitUrl": url, "commitOid": commit.oid, "success": True})

    def tree(self, g: dict[str, str], __: Any) -> None:
        repo = self._repo(g["repo"])
        if repo is None:
            return
        entries = []
        for p, data in sorted(repo.head.files.items()):
            entry: dict[str, Any] = {
                "type": "file",
                "oid": git_blob_oid(data),
                "size": len(data),
                "path": p,
            }
            if p in repo.head.lfs:
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            entries.append(entry)
        self._send(200, entries)

    def resolve(self, g: dict[str, str], __: Any) -> None:
        repo = self._repo(g["repo"])
        if repo is None:
            return
        commit = next((c for c in repo.commits if c.oid == g["rev"]), repo.head)
        data = commit.files.get(g["file"])
        if data is None:
            self._error(404, "EntryNotFound", "Entry not found")
            return
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{git_blob_oid(data)}"'}
        if g["file"] in commit.lfs:
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        self._send(200, data, headers)
