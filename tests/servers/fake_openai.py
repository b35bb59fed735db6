"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (stdlib only),
with faults on demand: the backend under test talks to it over sockets like to vLLM or TGI.

Its answer is a function of the request only (the last user message's question line, echoed),
so answers are known. `faults` maps a trigger word in the question to a behaviour:
"status:429", "status:500", "status:401", "hang", "nochoices", "notjson"; `fail_times` says
how many times a fault fires before the server answers normally.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, models=("served-base", "v2"), faults: dict[str, str] | None = None, fail_times: int = 10 ** 9,
                 list_models: bool = True):
        self.models, self.faults, self.fail_times, self.list_models = list(models), dict(faults or {}), fail_times, list_models
        self.requests: list[dict] = []  # every chat body received
        self.headers: list[dict] = []
        self.fired: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, payload, headers=None):
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the "hang" fault): nothing to tell it

            def do_GET(self):
                if self.path.endswith("/models") and server.list_models:
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self, body):
                if body.get("model") not in server.models:
                    return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
                question = [line for line in user.splitlines() if line.strip()][-1]
                for word, fault in server.faults.items():
                    if word in question:
                        with server.lock:
                            n = server.fired.get(word, 0)
                            server.fired[word] = n + 1
                        if n < server.fail_times:
                            return self._fault(fault)
                time.sleep(0.05)  # a little work, so concurrency shows
                text = f"[{body['model']}] {question[:60]}"
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split()),
                                           "total_tokens": 0}})

            def _fault(self, fault):
                if fault.startswith("status:"):
                    code = int(fault.split(":")[1])
                    return self._send(code, {"error": {"message": f"fault {code}"}}, {"Retry-After": "0"} if code == 429 else None)
                if fault == "hang":
                    time.sleep(3)
                    return self._send(200, {"choices": []})
                if fault == "nochoices":
                    return self._send(200, {"id": "x", "object": "chat.completion"})
                if fault == "notjson":
                    return self._send(200, b"<html>gateway</html>")
                raise ValueError(fault)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
