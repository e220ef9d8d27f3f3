#!/usr/bin/env python3
"""hf_server.py - a local stand-in for the Hugging Face hub, for the pull tests.

    hf_server.py ROOT --port-file F [--log F] [--cut-after N] [--corrupt] [--lifetime S]
                 [--unsized [--endless]] [--oversize N]

Serves every folder ROOT/ORG/NAME as the repo ORG/NAME at one commit, the way
the hub does (stdlib only; binds 127.0.0.1 on a free port and writes the port
to --port-file once listening):

  GET  /api/models/ORG/NAME/revision/REV   {"id", "sha", "siblings": [{"rfilename"}]}
                                           (REV: main or the commit; else 404)
  HEAD|GET /ORG/NAME/resolve/REV/FILE      *.safetensors are "LFS" files: a 302 to
                                           /lfs/ORG/NAME/FILE carrying X-Linked-Etag
                                           (the quoted sha256) and X-Linked-Size; other
                                           files are served here with a git blob sha1
                                           ETag. Both carry X-Repo-Commit.
  HEAD|GET /lfs/ORG/NAME/FILE              the bytes, ETag the sha256; Range gives 206

--cut-after N closes the connection after N bytes of any LFS body sent
without a Range header (Content-Length still promises the whole file): an
interrupted download whose resume then succeeds. --corrupt flips a byte of
every LFS body. --unsized serves the other (non-LFS) files with neither a
length nor an ETag (the body ends when the connection closes), as a hostile
or broken hub could; --endless then sends spaces after each such file until
the client goes away. --oversize N sends N bytes more in every LFS body than
X-Linked-Size announced (its Content-Length counts them). --log appends one line per request: METHOD PATH range=R auth=A.
The server exits by itself after --lifetime seconds (default 120).
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse


def repo_files(folder):
    out = []
    for base, _, names in os.walk(folder):
        for n in names:
            out.append(os.path.relpath(os.path.join(base, n), folder))
    return sorted(out)


def commit_of(folder):
    h = hashlib.sha1()
    for f in repo_files(folder):
        h.update(f.encode() + b"\0")
        with open(os.path.join(folder, f), "rb") as fp:
            h.update(hashlib.sha1(fp.read()).digest())
    return h.hexdigest()


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub; every reply has a length

    def log_message(self, fmt, *args):
        pass

    def note(self):
        if self.server.opts.log:
            with open(self.server.opts.log, "a") as fp:
                fp.write("%s %s range=%s auth=%s\n" % (self.command, self.path,
                         self.headers.get("Range", "-"), self.headers.get("Authorization", "-")))

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def not_found(self, what):
        body = json.dumps({"error": what}).encode()
        self.reply(404, body, [("Content-Type", "application/json"), ("X-Error-Code", "RepoNotFound")])

    def repo(self, org, name):
        org, name = urllib.parse.unquote(org), urllib.parse.unquote(name)
        folder = os.path.join(self.server.opts.root, org, name)
        if "/" in org + name or org.startswith(".") or name.startswith(".") or not os.path.isdir(folder):
            return None, None
        return folder, commit_of(folder)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        self.note()
        path = urllib.parse.urlsplit(self.path).path
        m = re.fullmatch(r"/api/models/([^/]+)/([^/]+)/revision/([^/]+)", path)
        if m:
            return self.listing(*m.groups())
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self.resolve(*m.groups())
        m = re.fullmatch(r"/lfs/([^/]+)/([^/]+)/(.+)", path)
        if m:
            return self.lfs(*m.groups())
        self.not_found("no such route")

    def listing(self, org, name, rev):
        folder, commit = self.repo(org, name)
        rev = urllib.parse.unquote(rev)
        if not folder or rev not in ("main", commit):
            return self.not_found("Repository not found")
        body = json.dumps({"_id": "0" * 24, "id": "%s/%s" % (org, name), "sha": commit,
                           "private": False,
                           "siblings": [{"rfilename": f} for f in repo_files(folder)]}).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def file_path(self, folder, rel):
        rel = urllib.parse.unquote(rel)
        full = os.path.realpath(os.path.join(folder, rel))
        if not full.startswith(os.path.realpath(folder) + os.sep) or not os.path.isfile(full):
            return None, None
        return full, rel

    def resolve(self, org, name, rev, rel):
        folder, commit = self.repo(org, name)
        if not folder or urllib.parse.unquote(rev) not in ("main", commit):
            return self.not_found("Revision not found")
        full, rel = self.file_path(folder, rel)
        if not full:
            return self.not_found("Entry not found")
        data = open(full, "rb").read()
        if rel.endswith(".safetensors"):
            sha = hashlib.sha256(data).hexdigest()
            host = self.headers.get("Host", "127.0.0.1")
            loc = "http://%s/lfs/%s/%s/%s" % (host, org, name, urllib.parse.quote(rel))
            return self.reply(302, b"", [("Location", loc), ("X-Repo-Commit", commit),
                                         ("X-Linked-Etag", '"%s"' % sha),
                                         ("X-Linked-Size", str(len(data))),
                                         ("ETag", '"%s"' % sha)])
        if self.server.opts.unsized:
            return self.send_unsized(data)
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        self.send_bytes(data, '"%s"' % blob, [("X-Repo-Commit", commit)], lfs=False)

    def send_unsized(self, data):
        """200 without Content-Length or ETag: the body runs to the close."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        try:
            self.wfile.write(data)
            while self.server.opts.endless:
                self.wfile.write(b" " * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def lfs(self, org, name, rel):
        folder, _ = self.repo(org, name)
        full, rel = self.file_path(folder, rel) if folder else (None, None)
        if not full:
            return self.not_found("Entry not found")
        data = open(full, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        if self.server.opts.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if self.server.opts.oversize and self.command == "GET":
            data = data + b"\0" * self.server.opts.oversize
        self.send_bytes(data, '"%s"' % sha, [], lfs=True)

    def send_bytes(self, data, etag, extra, lfs):
        """200 or 206 (Range: bytes=A- or A-B; If-Range with another ETag
        gets the whole file), cut short when asked."""
        total, start, end, code = len(data), 0, len(data) - 1, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and (not if_range or if_range == etag):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else total - 1
            if start >= total or end < start:
                return self.reply(416, b"", [("Content-Range", "bytes */%d" % total)])
            end = min(end, total - 1)
            code = 206
        headers = [("ETag", etag), ("Accept-Ranges", "bytes")] + extra
        if code == 206:
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, total)))
        body = data[start:end + 1]
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = self.server.opts.cut_after
        if lfs and cut is not None and not rng and cut < len(body):
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--cut-after", type=int)
    ap.add_argument("--corrupt", action="store_true")
    ap.add_argument("--unsized", action="store_true")
    ap.add_argument("--endless", action="store_true")
    ap.add_argument("--oversize", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=120)
    opts = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    srv.daemon_threads = True
    srv.opts = opts
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as fp:
        fp.write("%d\n" % srv.server_address[1])
    os.rename(tmp, opts.port_file)  # appears whole, once the socket listens
    threading.Timer(opts.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
