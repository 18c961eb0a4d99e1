"""Two small HTTP servers on 127.0.0.1 for the pretrained-model tests.

`FileServer` serves `.nemo` files like NGC does (GET with Range), and can cut a response short or
fail a number of requests. `HubServer` implements the Hugging Face Hub endpoints that the real
`huggingface_hub` client calls for create_repo, create_branch, validate-yaml, preupload + commit
(regular uploads), model info, tree listing, model search and file resolve/download, with token
checks and private repos. Repos live in memory as commits of {path: bytes}.
"""

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qs, unquote, urlparse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Base:
    handler_cls = None

    def __init__(self):
        self.requests: List[tuple] = []
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port: Optional[int] = None

    def start(self, port: int = 0) -> "_Base":
        owner = self

        class Handler(self.handler_cls):
            server_owner = owner

        self._httpd = _Server(("127.0.0.1", port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner = None

    def log_message(self, *args):  # keep test output quiet
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", headers: Optional[dict] = None, head: bool = False) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: Optional[dict] = None) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


def _range(header: Optional[str], size: int):
    m = re.match(r"bytes=(\d+)-(\d*)$", header or "")
    if not m:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    return start, min(end, size - 1)


# ------------------------------------------------------------------------------------- NGC files
class FileServer(_Base):
    """Serves `files[path] = bytes`. `cut_after[path] = n` makes the next full GET of `path` send
    its headers and only n bytes, then drop the connection (once). `fail_next = k` answers the
    next k requests with 503."""

    def __init__(self):
        super().__init__()
        self.files: Dict[str, bytes] = {}
        self.cut_after: Dict[str, int] = {}
        self.fail_next = 0
        self.handler_cls = _FileHandler

    def add(self, path: str, data: bytes) -> str:
        self.files["/" + path.lstrip("/")] = data
        return self.url + "/" + path.lstrip("/")


class _FileHandler(_Handler):
    def do_GET(self):
        owner: FileServer = self.server_owner
        path = urlparse(self.path).path
        owner.requests.append(("GET", path, self.headers.get("Range")))
        if owner.fail_next > 0:
            owner.fail_next -= 1
            return self._send(503, b"busy")
        data = owner.files.get(path)
        if data is None:
            return self._send(404, b"not found")
        rng = _range(self.headers.get("Range"), len(data))
        if rng is not None:
            start, end = rng
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            chunk = data[start : end + 1]
            return self._send(206, chunk, {"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"})
        cut = owner.cut_after.pop(path, None)
        if cut is not None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, data, {"Accept-Ranges": "bytes"})


# ------------------------------------------------------------------------------------------- Hub
class HubServer(_Base):
    """An in-memory Hugging Face Hub. Writes need a token in `tokens`; private repos are visible
    only with one (otherwise 401 RepoNotFound, as the real Hub answers)."""

    def __init__(self, tokens=("hf_test_token",)):
        super().__init__()
        self.tokens = set(tokens)
        self.repos: Dict[str, dict] = {}
        self.commits: List[dict] = []  # every commit received, for assertions
        self.handler_cls = _HubHandler
        self._n = 0

    def new_sha(self) -> str:
        self._n += 1
        return hashlib.sha1(f"commit-{self._n}-{time.time()}".encode()).hexdigest()

    def create(self, repo_id: str, private: bool = False) -> dict:
        sha = self.new_sha()
        repo = {"private": private, "branches": {"main": sha}, "trees": {sha: {".gitattributes": b"*.nemo filter=lfs\n"}}}
        self.repos[repo_id] = repo
        return repo

    def files(self, repo_id: str, revision: str = "main") -> Dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo["trees"][repo["branches"].get(revision, revision)]


_REPO = r"(?P<repo>[^/]+/[^/]+)"


class _HubHandler(_Handler):
    # ------------------------------------------------------------------ helpers
    @property
    def hub(self) -> HubServer:
        return self.server_owner

    def _token(self) -> Optional[str]:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def _authed(self) -> bool:
        return self._token() in self.hub.tokens

    def _error(self, status: int, message: str, code: Optional[str] = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _repo(self, repo_id: str):
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo["private"] and not self._authed()):
            self._error(401 if not self._authed() else 404, "Repository not found", "RepoNotFound")
            return None
        return repo

    def _tree(self, repo: dict, rev: str):
        rev = unquote(rev)
        sha = repo["branches"].get(rev, rev if rev in repo["trees"] else None)
        if sha is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return None, None
        return sha, repo["trees"][sha]

    def _route(self, method: str):
        parsed = urlparse(self.path)
        path, query = unquote(parsed.path), parse_qs(parsed.query)
        self.hub.requests.append((method, path, self.headers.get("Range")))
        for pattern, handler in self.ROUTES.get(method, []):
            m = re.fullmatch(pattern, path)
            if m:
                return handler(self, query, **m.groupdict())
        self._error(404, f"no route for {method} {path}")

    def do_GET(self):
        self._route("GET")

    def do_HEAD(self):
        self._route("HEAD")

    def do_POST(self):
        self._route("POST")

    # ------------------------------------------------------------------ endpoints
    def create_repo(self, query):
        body = json.loads(self._body() or b"{}")
        if not self._authed():
            return self._error(401, "Invalid credentials in Authorization header")
        repo_id = f"{body.get('organization') or 'user'}/{body['name']}"
        if repo_id in self.hub.repos:  # the real Hub's 409 carries the repo URL, which the client reads
            return self._json(409, {"error": "You already created this model repo", "url": f"{self.hub.url}/{repo_id}"})
        private = body.get("private") or body.get("visibility") == "private"
        self.hub.create(repo_id, private=bool(private))
        self._json(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def validate_yaml(self, query):
        import yaml

        content = json.loads(self._body())["content"]
        errors = []
        if content.startswith("---"):
            try:
                meta = yaml.safe_load(content.split("---", 2)[1]) or {}
            except yaml.YAMLError as e:
                meta, errors = {}, [{"message": f"invalid YAML: {e}"}]
            if not isinstance(meta, dict):
                errors.append({"message": "metadata must be a mapping"})
            else:
                if "library_name" in meta and not isinstance(meta["library_name"], str):
                    errors.append({"message": "library_name must be a string"})
                if "tags" in meta and not (isinstance(meta["tags"], list) and all(isinstance(t, str) for t in meta["tags"])):
                    errors.append({"message": "tags must be a list of strings"})
                if "license" in meta and not isinstance(meta["license"], str):
                    errors.append({"message": "license must be a string"})
        if errors:
            return self._json(400, {"errors": errors}, {"X-Error-Code": "BadRequest"})
        self._json(200, {"errors": [], "warnings": []})

    def create_branch(self, query, repo, branch):
        self._body()
        if not self._authed():
            return self._error(401, "Invalid credentials in Authorization header")
        r = self._repo(repo)
        if r is None:
            return
        if branch in r["branches"]:
            return self._error(409, "Reference already exists")
        r["branches"][branch] = r["branches"]["main"]
        self._json(200, {})

    def preupload(self, query, repo, rev):
        body = json.loads(self._body())
        if not self._authed():
            return self._error(401, "Invalid credentials in Authorization header")
        if self._repo(repo) is None:
            return
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]]
        self._json(200, {"files": files, "commitOid": self.hub.repos[repo]["branches"].get(unquote(rev))})

    def commit(self, query, repo, rev):
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not self._authed():
            return self._error(401, "Invalid credentials in Authorization header")
        r = self._repo(repo)
        if r is None:
            return
        sha, tree = self._tree(r, rev)
        if sha is None:
            return
        tree = dict(tree)
        header = {}
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                tree[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                tree.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                tree = {k: v for k, v in tree.items() if not k.startswith(prefix)}
            else:
                return self._error(400, f"unsupported commit operation {key}")
        new = self.hub.new_sha()
        r["trees"][new] = tree
        r["branches"][unquote(rev)] = new
        self.hub.commits.append({"repo": repo, "revision": unquote(rev), "summary": header.get("summary"), "files": sorted(tree)})
        self._json(200, {"commitUrl": f"{self.hub.url}/{repo}/commit/{new}", "commitOid": new, "success": True, "pullRequestUrl": None})

    def model_info(self, query, repo, rev="main"):
        r = self._repo(repo)
        if r is None:
            return
        sha, tree = self._tree(r, rev)
        if sha is None:
            return
        siblings = [
            {"rfilename": p, "size": len(d), "blobId": hashlib.sha1(d).hexdigest()} if query.get("blobs") else {"rfilename": p}
            for p, d in sorted(tree.items())
        ]
        self._json(200, self._info_json(repo, r, sha, siblings))

    def _info_json(self, repo_id: str, r: dict, sha: str, siblings=None) -> dict:
        card = r["trees"][sha].get("README.md", b"").decode("utf-8", "ignore")
        tags = ["nemo"] if "library_name: nemo" in card else []
        m = re.search(r"^tags:\n((?:- .*\n)+)", card, re.M)
        if m:
            tags += [t[2:].strip() for t in m.group(1).splitlines()]
        info = {
            "_id": repo_id, "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": sha,
            "private": r["private"], "disabled": False, "gated": False, "tags": tags, "downloads": 0, "likes": 0,
            "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
            "library_name": "nemo" if "nemo" in tags else None,
        }
        if siblings is not None:
            info["siblings"] = siblings
        return info

    def list_models(self, query):
        tags = query.get("filter", [])
        author = (query.get("author") or [None])[0]
        search = (query.get("search") or [None])[0]
        limit = int((query.get("limit") or [0])[0]) or None
        out = []
        for repo_id, r in sorted(self.hub.repos.items()):
            if r["private"] and not self._authed():
                continue
            info = self._info_json(repo_id, r, r["branches"]["main"])
            if author and info["author"] != author:
                continue
            if search and search.lower() not in repo_id.lower():
                continue
            if any(t not in info["tags"] for t in tags):
                continue
            out.append(info)
        self._json(200, out[:limit] if limit else out)

    def tree(self, query, repo, rev, path=""):
        r = self._repo(repo)
        if r is None:
            return
        sha, tree = self._tree(r, rev)
        if sha is None:
            return
        prefix = (path or "").strip("/")
        entries = [
            {"type": "file", "oid": hashlib.sha1(d).hexdigest(), "size": len(d), "path": p}
            for p, d in sorted(tree.items())
            if not prefix or p.startswith(prefix + "/")
        ]
        self._json(200, entries)

    def resolve(self, query, repo, rev, path):
        head = self.command == "HEAD"
        r = self._repo(repo)
        if r is None:
            return
        sha, tree = self._tree(r, rev)
        if sha is None:
            return
        if path not in tree:
            return self._error(404, "Entry not found", "EntryNotFound")
        data = tree[path]
        headers = {
            "X-Repo-Commit": sha,
            "ETag": '"' + hashlib.sha256(data).hexdigest() + '"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        rng = _range(self.headers.get("Range"), len(data))
        if rng is not None and not head:
            start, end = rng
            return self._send(206, data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        self._send(200, data if not head else b"", {**headers, "Content-Length": str(len(data))}, head=head)

    ROUTES = {
        "POST": [
            (r"/api/repos/create", create_repo),
            (r"/api/validate-yaml", validate_yaml),
            (rf"/api/models/{_REPO}/branch/(?P<branch>[^/]+)", create_branch),
            (rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)", preupload),
            (rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)", commit),
        ],
        "GET": [
            (r"/api/models", list_models),
            (rf"/api/models/{_REPO}", model_info),
            (rf"/api/models/{_REPO}/revision/(?P<rev>[^/]+)", model_info),
            (rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", tree),
            (rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve),
        ],
        "HEAD": [
            (rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve),
        ],
    }
