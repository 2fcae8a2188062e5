"""A scripted JSON-RPC node on a loopback port, for the client's tests without a devnet.

    with FakeNode({"rollup_chainId": 901}) as node:
        RollupClient(node.url).chain_id()          # 901
        node.requests                              # [("rollup_chainId", [])]

A handler is a reply value, a callable (params -> value), or a FakeError
(code, message) to answer a JSON-RPC error. Unknown methods get -32601.
`status`/`body` override the HTTP answer, to test transport errors.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class FakeError:
    code: int
    message: str
    data: Any = None


class FakeNode:
    def __init__(self, methods: dict[str, Any] | None = None) -> None:
        self.methods: dict[str, Any] = dict(methods or {})
        self.requests: list[tuple[str, list[Any]]] = []
        self.raw_answer: tuple[int, bytes] | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=lambda: self._server.serve_forever(poll_interval=0.05), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> FakeNode:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.requests.append((method, params))
        if method not in self.methods:
            return {"error": {"code": -32601, "message": f"method {method!r} not found"}}
        handler = self.methods[method]
        value = handler(params) if callable(handler) else handler
        if isinstance(value, FakeError):
            error: dict[str, Any] = {"code": value.code, "message": value.message}
            if value.data is not None:
                error["data"] = value.data
            return {"error": error}
        return {"result": value}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if node.raw_answer is not None:
                    status, raw = node.raw_answer
                else:
                    request = json.loads(body)
                    reply = {"jsonrpc": "2.0", "id": request["id"], **node.answer(request["method"], request["params"])}
                    status, raw = 200, json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
