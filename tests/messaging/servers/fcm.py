"""A local Firebase Cloud Messaging: Google's OAuth 2 token endpoint, which verifies the
service account's signed JWT assertion (RS256 with the account's key, ``iss`` its email, ``aud``
the token URI, the messaging scope, not expired) and issues bearers; and HTTP v1
``messages:send``, which checks the bearer and the project and answers FCM's error shapes
(``UNREGISTERED`` for a dead token, ``INVALID_ARGUMENT`` for a malformed one)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.messaging.servers.threaded import Answer, Request, serve

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@dataclass
class LocalFcm:
    project_id: str = "levier-test"
    client_email: str = "sender@levier-test.iam.gserviceaccount.com"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    base_url: str = ""
    bearers: dict[str, float] = field(default_factory=dict)  # token -> expiry
    exchanges: int = 0
    dead: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def service_account(self) -> dict[str, str]:
        """The JSON file a Firebase console hands out, pointing at this token endpoint."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
        }

    def _refuse(
        self, status: int, grpc_status: str, message: str, code: str | None = None
    ) -> Answer:
        with self._lock:
            self.refused.append(code or grpc_status)
        error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
        if code:
            error["details"] = [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
            ]
        return Answer(
            status, json.dumps({"error": error}).encode(), (("content-type", "application/json"),)
        )

    def _token(self, request: Request) -> Answer:
        form = dict(parse_qsl(request.body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Answer(400, b'{"error": "unsupported_grant_type"}')
        public = RSAKey.import_key(
            self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        try:
            token = jwt.decode(form.get("assertion", ""), public, algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            return Answer(
                400, json.dumps({"error": "invalid_grant", "error_description": repr(exc)}).encode()
            )
        claims = token.claims
        now = time.time()
        if (
            claims.get("iss") != self.client_email
            or claims.get("aud") != self.token_uri
            or SCOPE not in str(claims.get("scope", "")).split()
            or not claims.get("iat", now + 1) <= now < claims.get("exp", 0)
        ):
            return Answer(400, b'{"error": "invalid_grant", "error_description": "claims"}')
        bearer = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self.bearers[bearer] = now + 3600
            self.exchanges += 1
        body = {"access_token": bearer, "expires_in": 3599, "token_type": "Bearer"}
        return Answer(200, json.dumps(body).encode(), (("content-type", "application/json"),))

    def _send(self, request: Request) -> Answer:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.bearers.get(bearer, 0) < time.time():
            return self._refuse(401, "UNAUTHENTICATED", "Request had invalid authentication")
        if request.path != f"/v1/projects/{self.project_id}/messages:send":
            return self._refuse(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
        body = json.loads(request.body)
        message = body.get("message", {})
        token = message.get("token")
        if body.get("validate_only"):
            return Answer(
                200, json.dumps({"name": f"projects/{self.project_id}/messages/fake"}).encode()
            )
        if not isinstance(token, str) or len(token) < 100:
            return self._refuse(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
            )
        if token in self.dead:
            return self._refuse(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        name = f"projects/{self.project_id}/messages/0:{secrets.randbelow(10**16)}"
        with self._lock:
            self.sent.append(message)
        return Answer(
            200, json.dumps({"name": name}).encode(), (("content-type", "application/json"),)
        )

    def handle(self, request: Request) -> Answer:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        if request.method == "POST":
            return self._send(request)
        return Answer(404, b"")


def device_token() -> str:
    """A registration token shaped like FCM's (about 160 characters)."""
    return secrets.token_urlsafe(16)[:22] + ":APA91b" + secrets.token_urlsafe(100)[:134]


@contextmanager
def local_fcm() -> Iterator[LocalFcm]:
    fcm = LocalFcm()
    with serve(fcm.handle) as base_url:
        fcm.base_url = base_url
        yield fcm
