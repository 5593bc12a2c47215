"""A local Twilio: the Messages API and the account resource, with HTTP basic auth, Twilio's
error JSON, and status callbacks POSTed to the message's StatusCallback URL signed exactly as
Twilio signs them (``RequestValidator.compute_signature``). It can also send an inbound message
to a webhook URL, signed the same way."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
from twilio.request_validator import RequestValidator

from tests.messaging.servers.threaded import Answer, Request, serve

E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class Callback:
    url: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the callback URL answered


@dataclass
class LocalTwilio:
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    base_url: str = ""
    unsubscribed: set[str] = field(default_factory=set)  # recipients who sent STOP (21610)
    undeliverable: dict[str, str] = field(default_factory=dict)  # number -> ErrorCode
    statuses: list[int] = field(default_factory=list)  # forced answers in turn (429, 503…)
    messages: list[dict[str, str]] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def post_signed(self, url: str, params: dict[str, str], *, signature: str | None = None) -> int:
        """POST form parameters to ``url`` as Twilio does (what a callback URL answered)."""
        headers = {"X-Twilio-Signature": signature or self.sign(url, params)}
        response = httpx.post(url, data=params, headers=headers, timeout=10)
        with self._lock:
            self.callbacks.append(
                Callback(
                    url,
                    dict(response.request.headers),
                    response.request.content,
                    response.status_code,
                )
            )
        return response.status_code

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def handle(self, request: Request) -> Answer:
        account = f"/2010-04-01/Accounts/{self.account_sid}"
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            forced = self.statuses.pop(0) if self.statuses else None
        if forced:
            return _error(forced, 20429 if forced == 429 else 20500, "Try again")
        if request.method == "GET" and request.path == f"{account}.json":
            return Answer(200, json.dumps({"sid": self.account_sid, "status": "active"}).encode())
        if request.method != "POST" or request.path != f"{account}/Messages.json":
            return _error(404, 20404, "The requested resource was not found")
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        to = form.get("To", "")
        if not E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21602, "Message body and a sender are required.")
        sid = "SM" + secrets.token_hex(16)
        with self._lock:
            self.messages.append({**form, "Sid": sid})
        if form.get("StatusCallback"):
            threading.Thread(target=self._report, args=(form, sid), daemon=True).start()
        answer = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "price": None,
            "uri": f"{account}/Messages/{sid}.json",
        }
        return Answer(201, json.dumps(answer).encode(), (("content-type", "application/json"),))

    def _report(self, form: dict[str, str], sid: str) -> None:
        """Twilio's status callbacks: sent, then delivered or undelivered with its ErrorCode."""
        common = {
            "AccountSid": self.account_sid,
            "MessageSid": sid,
            "SmsSid": sid,
            "To": form["To"],
            "From": form.get("From", ""),
            "ApiVersion": "2010-04-01",
        }
        self.post_signed(
            form["StatusCallback"], {**common, "MessageStatus": "sent", "SmsStatus": "sent"}
        )
        code = self.undeliverable.get(form["To"])
        final = (
            {"MessageStatus": "undelivered", "ErrorCode": code}
            if code
            else {"MessageStatus": "delivered"}
        )
        self.post_signed(form["StatusCallback"], {**common, **final})

    def inbound(
        self,
        url: str,
        *,
        sender: str,
        to: str,
        body: str,
        sid: str | None = None,
        signature: str | None = None,
    ) -> int:
        """A person's message to the account's number, POSTed to the incoming-message webhook."""
        params = {
            "MessageSid": sid or "SM" + secrets.token_hex(16),
            "AccountSid": self.account_sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        return self.post_signed(url, params, signature=signature)


def _error(status: int, code: int, message: str) -> Answer:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Answer(status, json.dumps(body).encode(), (("content-type", "application/json"),))


@contextmanager
def local_twilio() -> Iterator[LocalTwilio]:
    twilio = LocalTwilio()
    with serve(twilio.handle) as base_url:
        twilio.base_url = base_url
        yield twilio
