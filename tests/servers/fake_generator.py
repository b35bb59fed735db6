"""A real HTTP server on 127.0.0.1 that plays a self-instruct generator behind the OpenAI
chat-completions protocol (stdlib only), as a remote GPU server would: a fixed delay per
answer, at most `parallel` answers in progress at once (the rest wait, as requests queue on a
busy server), and faults on a fixed schedule.

Its reply to a `harness data generate` prompt is the asked JSON, made from the clause in the
prompt (known answers): three pairs whose answer is the clause's first sentence. Faults:
- `fail_every=N`: the server's Nth, 2Nth, ... requests answer 429 (odd multiples) or 500
  (even ones); retried requests then succeed;
- `garbage_words`: a clause holding one of these words gets a reply that is not JSON;
- `key`: requests without `Authorization: Bearer <key>` get 401.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def first_sentence(text: str) -> str:
    m = re.search(r".+?(?:[.?!]|다\.|요\.)(?=\s|$)", " ".join(text.split()))
    return (m.group(0) if m else " ".join(text.split())[:200].rstrip() + ".").strip()


class FakeGenerator:
    def __init__(self, delay: float = 0.0, parallel: int = 4, fail_every: int = 0, garbage_words=(), key: str | None = None):
        self.delay, self.fail_every, self.garbage_words, self.key = delay, fail_every, tuple(garbage_words), key
        self.slots = threading.Semaphore(parallel)
        self.lock = threading.Lock()
        self.count = 0
        self.faults = 0
        self.clauses: list[str] = []  # the clause of every request answered 200
        self.auth_headers: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, payload):
                body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                if self.path.endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "gen", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                auth = self.headers.get("Authorization", "")
                with server.lock:
                    server.count += 1
                    n = server.count
                    server.auth_headers.append(auth)
                if server.key is not None and auth != f"Bearer {server.key}":
                    return self._send(401, {"error": {"message": "invalid api key"}})
                if server.fail_every and n % server.fail_every == 0:
                    with server.lock:
                        server.faults += 1
                    code = 429 if (n // server.fail_every) % 2 else 500
                    return self._send(code, {"error": {"message": f"fault {code}"}})
                with server.slots:
                    time.sleep(server.delay)
                user = body["messages"][-1]["content"]
                clause = user.split("):\n", 1)[-1].strip()
                with server.lock:
                    server.clauses.append(clause)
                if any(w in clause for w in server.garbage_words):
                    text = "Sure! Here are some questions: what is covered? what is not?"
                else:
                    answer = first_sentence(clause)
                    ko = bool(re.search(r"[\uac00-\ud7a3]", clause))
                    q = "이 조항은 무엇을 정합니까?" if ko else "What does this clause say?"
                    text = json.dumps({"pairs": [
                        {"type": "fact", "question": f"{q} ({clause[:30]})", "answer": answer},
                        {"type": "scenario", "question": f"{q} [scenario] ({clause[:30]})", "answer": answer},
                        {"type": "easy", "question": f"{q} [easy] ({clause[:30]})", "answer": answer}]},
                        ensure_ascii=False)
                self._send(200, {"id": "x", "object": "chat.completion", "model": body.get("model"),
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split()),
                                           "total_tokens": 0}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGenerator":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
