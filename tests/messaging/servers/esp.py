"""Local HTTP servers speaking SendGrid's v3 Mail Send API and Mailgun's Messages API (on
127.0.0.1): they check authentication and the body as the real APIs do, record each accepted
request, and answer in turn the statuses they are told to."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Esp:
    base_url: str = ""
    api_key: str = ""
    domain: str = "mg.brand.example"
    accepted: list[Any] = field(default_factory=list)  # JSON bodies / form dicts
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _serve(esp: Esp, handler: type[BaseHTTPRequestHandler]) -> Iterator[Esp]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    esp.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield esp
    finally:
        server.shutdown()
        server.server_close()


class _Base(BaseHTTPRequestHandler):
    esp: Esp
    lock = threading.Lock()

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length", "0")))

    def told(self) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            return self.esp.statuses.pop(0) if self.esp.statuses else None

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def sendgrid_server(api_key: str = "SG.test-key") -> Iterator[Esp]:
    esp = Esp(api_key=api_key)

    class Handler(_Base):
        def authorised(self) -> bool:
            if self.headers.get("authorization") == f"Bearer {esp.api_key}":
                return True
            self.answer(
                401,
                {
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, expired, "
                            "or revoked",
                        }
                    ]
                },
            )
            return False

        def do_GET(self) -> None:
            if self.path == "/v3/scopes" and self.authorised():
                self.answer(200, {"scopes": ["mail.send"]})
            elif self.path != "/v3/scopes":
                self.answer(404, {"errors": [{"message": "not found"}]})

        def do_POST(self) -> None:
            raw = self.body()
            if self.path != "/v3/mail/send":
                return self.answer(404, {"errors": [{"message": "not found"}]})
            if not self.authorised():
                return None
            told = self.told()
            if told is not None:
                return self.answer(*told)
            mail = json.loads(raw)
            missing = [
                k for k in ("personalizations", "from", "subject", "content") if k not in mail
            ]
            if missing or not mail["personalizations"][0].get("to"):
                return self.answer(
                    400,
                    {"errors": [{"field": missing[0] if missing else "to", "message": "required"}]},
                )
            with self.lock:
                esp.accepted.append(mail)
                esp.headers.append({k.lower(): v for k, v in self.headers.items()})
            # SendGrid answers 202 with no body and the message id in a header.
            self.send_response(202)
            self.send_header("x-message-id", uuid.uuid4().hex[:22])
            self.send_header("content-length", "0")
            self.end_headers()
            return None

    Handler.esp = esp
    yield from _serve(esp, Handler)


@contextmanager
def mailgun_server(api_key: str = "key-test", domain: str = "mg.brand.example") -> Iterator[Esp]:
    esp = Esp(api_key=api_key, domain=domain)

    class Handler(_Base):
        def authorised(self) -> bool:
            expected = "Basic " + base64.b64encode(f"api:{esp.api_key}".encode()).decode()
            if self.headers.get("authorization") == expected:
                return True
            self.send_response(401)
            self.send_header("content-length", "9")
            self.end_headers()
            self.wfile.write(b"Forbidden")
            return False

        def do_GET(self) -> None:
            if not self.authorised():
                return
            if self.path == f"/v3/domains/{esp.domain}":
                self.answer(200, {"domain": {"name": esp.domain, "state": "active"}})
            else:
                self.answer(404, {"message": "Domain not found"})

        def do_POST(self) -> None:
            raw = self.body()
            if not self.authorised():
                return None
            if self.path != f"/v3/{esp.domain}/messages":
                return self.answer(404, {"message": "Domain not found"})
            told = self.told()
            if told is not None:
                return self.answer(*told)
            if not self.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                return self.answer(400, {"message": "expected a form"})
            form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            for required in ("from", "to", "subject"):
                if not form.get(required):
                    return self.answer(400, {"message": f"'{required}' parameter is missing"})
            with self.lock:
                esp.accepted.append(form)
            message_id = f"<20261203.{uuid.uuid4().hex[:12]}@{esp.domain}>"
            return self.answer(200, {"id": message_id, "message": "Queued. Thank you."})

    Handler.esp = esp
    yield from _serve(esp, Handler)
