"""A real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS, implicit TLS or plain, AUTH, and
replies it is told to give; it keeps every message and counts the connections it accepted."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class SmtpSink:
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    # Replies to the next DATA commands, in turn (e.g. "550 5.1.1 No such user"), then 250.
    replies: list[str] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.sink.lock:
            if self.sink.replies:
                return self.sink.replies.pop(0)
            content = envelope.original_content or b""
            self.sink.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), content)
            )
        return "250 2.0.0 OK queued"


class _Counting(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        with self.sink.lock:
            self.sink.connections += 1
        return super().factory()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_sink(
    *,
    security: str = "none",
    tls: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
    port: int | None = None,
    sink: SmtpSink | None = None,
) -> Iterator[SmtpSink]:
    """Serve until the block ends (``security``: ``starttls``, ``tls`` or ``none``)."""
    sink = sink or SmtpSink()
    sink.port = port or sink.port or _free_port()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": sink.port}
    if security == "tls":
        kwargs["ssl_context"] = tls
    elif security == "starttls":
        kwargs["tls_context"] = tls
        kwargs["require_starttls"] = True
    if login is not None:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticate
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = security != "none"
    controller = _Counting(sink, **kwargs)
    controller.start()
    with sink.lock:
        sink.connections = 0  # the controller's own readiness probe is not a client
    try:
        yield sink
    finally:
        controller.stop()
