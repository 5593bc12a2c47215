"""A local push service (RFC 8030) holding browser subscriptions: it checks the VAPID
Authorization header (RFC 8292: an ES256 JWT signed by the application server's key, ``aud``
this service's origin, ``exp`` within 24 hours, a ``sub`` contact) and DECRYPTS each aes128gcm
payload (RFC 8291) with the subscription's private key and auth secret, as the browser would.
A subscription marked gone answers 410."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.messaging.servers.threaded import Answer, Request, serve


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_vapid_key() -> str:
    """A VAPID private key as ``web-push generate-vapid-keys`` prints it (raw, base64url)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@dataclass
class Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    def as_json(self) -> dict[str, Any]:
        """The browser's ``PushSubscription.toJSON()``."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }


@dataclass
class Delivered:
    subscription: str
    payload: dict[str, Any]  # the decrypted message
    headers: dict[str, str]
    vapid_claims: dict[str, Any]


@dataclass
class LocalPushService:
    application_server_key: str  # the public key the subscriptions were made with (base64url)
    base_url: str = ""
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    delivered: list[Delivered] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self) -> Subscription:
        sub_id = secrets.token_urlsafe(12)
        subscription = Subscription(
            sub_id,
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
            f"{self.base_url}/push/{sub_id}",
        )
        self.subscriptions[sub_id] = subscription
        return subscription

    def _vapid_problem(self, authorization: str) -> tuple[str | None, dict[str, Any]]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return "not a vapid authorization", {}
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if parts.get("k") != self.application_server_key:
            return "k is not the application server key", {}
        token = parts.get("t", "")
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(unb64url(header_b64))
            claims = json.loads(unb64url(claims_b64))
            signature = unb64url(signature_b64)
            public = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), unb64url(parts["k"])
            )
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except (ValueError, KeyError, InvalidSignature) as exc:
            return f"the JWT does not verify: {exc!r}", {}
        if header.get("alg") != "ES256":
            return "alg is not ES256", claims
        if claims.get("aud") != self.base_url:
            return f"aud {claims.get('aud')!r} is not {self.base_url!r}", claims
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            return "exp out of range", claims
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            return "no sub contact", claims
        return None, claims

    def handle(self, request: Request) -> Answer:
        sub_id = request.path.removeprefix("/push/")
        subscription = self.subscriptions.get(sub_id)
        if request.method != "POST" or subscription is None:
            return Answer(404, b"no such subscription")
        problem, claims = self._vapid_problem(request.headers.get("authorization", ""))
        if problem:
            with self._lock:
                self.refused.append(problem)
            return Answer(401 if "verify" in problem else 403, problem.encode())
        if sub_id in self.gone:
            return Answer(410, b"push subscription has unsubscribed or expired")
        if request.headers.get("content-encoding") != "aes128gcm" or "ttl" not in request.headers:
            return Answer(400, b"aes128gcm content and a TTL are required")
        try:
            plain = http_ece.decrypt(
                request.body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception as exc:  # http_ece raises its own and cryptography's errors
            return Answer(400, f"payload does not decrypt: {exc!r}".encode())
        with self._lock:
            self.delivered.append(Delivered(sub_id, json.loads(plain), request.headers, claims))
        return Answer(201, b"", (("location", f"{self.base_url}/message/{secrets.token_hex(8)}"),))


@contextmanager
def local_push_service(application_server_key: str) -> Iterator[LocalPushService]:
    service = LocalPushService(application_server_key)
    with serve(service.handle) as base_url:
        service.base_url = base_url
        yield service
