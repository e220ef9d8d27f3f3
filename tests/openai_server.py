#!/usr/bin/env python3
"""openai_server.py - a local stand-in for an OpenAI-compatible server
(vLLM, llama-server, ollama), for the remote-model tests.

    openai_server.py --port-file F [--log F] [--lifetime S]

Binds 127.0.0.1 on a free port (stdlib only), writes the port to
--port-file once listening, and exits by itself after --lifetime seconds
(default 60). The requested model name picks the behaviour:

  GET  /v1/models             {"data": [{"id": "echo"}, ...]} ("echo" first)
  POST /v1/chat/completions   by "model":
    echo          streams "You said: TEXT" (TEXT: the last user message) in
                  pieces of 4 characters, finish_reason "stop" (or "length"
                  when max_tokens is below the piece count: that many
                  pieces); logprobs (each piece -0.1) when asked; "stop"
                  strings cut the text before their first occurrence
    unsure        as echo, every logprob -3.0 (probability 0.05)
    nolog         as echo, never any logprobs
    plain         one JSON body, not a stream
    fail-401      401 with a JSON error that echoes the Authorization header
    fail-500      500 with a text body
    malformed     a stream whose second event is not JSON
    truncated     a stream that ends after one piece, without [DONE]
    stream-error  a stream whose second event is {"error": {...}}
    stall         one piece, then silence for 30 s
    slow          a piece every 0.1 s, 300 of them
  Any other model is a 404 with a JSON error.

--log appends one JSON line per request: {"path", "auth", "body"}.
"""
import argparse
import http.server
import json
import os
import sys
import threading
import time

MODELS = ["echo", "unsure", "nolog", "plain", "fail-401", "fail-500", "malformed",
          "truncated", "stream-error", "stall", "slow"]


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def note(self, body):
        if self.server.opts.log:
            with open(self.server.opts.log, "a") as fp:
                fp.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                     "body": body}) + "\n")

    def reply(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.note(None)
        if self.path.rstrip("/") == "/v1/models":
            return self.reply(200, json.dumps({"object": "list", "data": [
                {"id": m, "object": "model"} for m in MODELS]}))
        self.reply(404, json.dumps({"error": {"message": "no route %s" % self.path}}))

    def event(self, obj):
        data = obj if isinstance(obj, str) else json.dumps(obj)
        line = ("data: %s\n\n" % data).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def chunk(self, text, logprob=None, finish=None):
        choice = {"index": 0, "delta": {"content": text} if text is not None else {},
                  "finish_reason": finish}
        if logprob is not None:
            choice["logprobs"] = {"content": [{"token": text, "logprob": logprob}]}
        return {"object": "chat.completion.chunk", "choices": [choice]}

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            req = json.loads(raw)
        except ValueError:
            self.note(raw.decode("utf-8", "replace"))
            return self.reply(400, json.dumps({"error": {"message": "body is not JSON"}}))
        self.note(req)
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.reply(404, json.dumps({"error": {"message": "no route %s" % self.path}}))
        model = req.get("model")
        if model == "fail-401":
            return self.reply(401, json.dumps({"error": {
                "message": "invalid key in '%s'" % self.headers.get("Authorization")}}))
        if model == "fail-500":
            return self.reply(500, "upstream exploded", "text/plain")
        if model not in MODELS:
            return self.reply(404, json.dumps({"error": {"message": "model '%s' not found" % model}}))
        user = [m["content"] for m in req.get("messages", []) if m.get("role") == "user"]
        text = "You said: " + (user[-1] if user else "")
        for s in req.get("stop") or []:
            if s in text:
                text = text[:text.index(s)]
        pieces = [text[i:i + 4] for i in range(0, len(text), 4)]
        finish = "stop"
        mt = req.get("max_tokens")
        if mt is not None and mt < len(pieces):
            pieces, finish = pieces[:mt], "length"
        want_lp = req.get("logprobs") and model != "nolog"
        lp = (-3.0 if model == "unsure" else -0.1) if want_lp else None
        if model == "plain":
            msg = {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": finish,
                   "message": {"role": "assistant", "content": "".join(pieces)}}]}
            return self.reply(200, json.dumps(msg))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if model == "slow":
                for i in range(300):
                    self.event(self.chunk("tick "))
                    time.sleep(0.1)
            elif model == "stall":
                self.event(self.chunk(pieces[0]))
                time.sleep(30)
            elif model in ("malformed", "truncated", "stream-error"):
                self.event(self.chunk(pieces[0]))
                if model == "malformed":
                    self.event("{\"choices\": [{\"delta\": {\"content\": \"x\"")
                elif model == "stream-error":
                    self.event({"error": {"message": "the model is overloaded"}})
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True
                return
            else:
                for p in pieces:
                    self.event(self.chunk(p, lp))
                self.event(self.chunk(None, None, finish))
                self.event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=60)
    opts = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    srv.daemon_threads = True
    srv.opts = opts
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as fp:
        fp.write("%d\n" % srv.server_address[1])
    os.rename(tmp, opts.port_file)
    threading.Timer(opts.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
