"""A local HTTP server (127.0.0.1) speaking Stripe's API as the official ``stripe`` library
calls it, and Stripe's webhook signing scheme.

It reads what the SDK sends — form-encoded bodies and query strings in Stripe's bracket notation
(``line_items[0][price]=…``), ``Authorization: Bearer sk_…``, ``Idempotency-Key`` — and answers
Stripe's JSON objects and error bodies (``{"error": {"type", "message", "code"}}``). It keeps
state: prices (with their products and Billing Meters), customers, checkout and portal sessions,
subscriptions, invoices and meter events. Like Stripe, it replays the stored answer of a POST
whose idempotency key it saw (and refuses the key with other parameters), and refuses a second
meter event with an ``identifier`` it already holds.

Tests drive what Stripe's side does (a customer paying at checkout, a trial ending, an invoice
failing) through methods that change the state and return the events Stripe would send, which
:func:`signed` signs as Stripe does: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed by the endpoint secret>``. Faults are injected per path: an error answer, a
delay past the client's timeout, or a connection dropped after the effect was recorded (Stripe
took the request, the answer was lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SECRET_KEY = "sk_test_levier_local"
WEBHOOK_SECRET = "whsec_levier_local_signing_secret"
IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were first "
    "used with."
)


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation (``a[b][0][c]=v``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


@dataclass
class Fault:
    """What the next request to a path gets instead of its answer."""

    status: int | None = None  # an error answer
    error: dict[str, Any] | None = None
    delay: float = 0.0  # seconds before answering (past the client's timeout: no answer)
    drop: bool = False  # record the effect, then close the connection without answering


@dataclass
class FakeStripe:
    base_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    meters: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    meter_events: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    clock: int = field(default_factory=lambda: int(time.time()))

    def reset(self) -> None:
        with self.lock:
            for table in (
                self.products,
                self.prices,
                self.meters,
                self.customers,
                self.checkout_sessions,
                self.portal_sessions,
                self.subscriptions,
                self.invoices,
                self.idempotent,
                self.faults,
            ):
                table.clear()
            self.meter_events.clear()
            self.requests.clear()
            self.clock = int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):06d}lv"

    def tick(self, seconds: int = 1) -> int:
        """Stripe's clock: events and objects made after this are ``seconds`` later."""
        self.clock += seconds
        return self.clock

    # The catalogue -----------------------------------------------------------------------

    def add_meter(self, event_name: str) -> dict[str, Any]:
        meter = {
            "id": self.new_id("mtr"),
            "object": "billing.meter",
            "event_name": event_name,
            "display_name": event_name,
            "status": "active",
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
            "livemode": False,
        }
        self.meters[meter["id"]] = meter
        return meter

    def add_price(
        self,
        lookup_key: str,
        *,
        name: str,
        amount: int | None = 4900,
        metadata: dict[str, str] | None = None,
        price_metadata: dict[str, str] | None = None,
        meter: str | None = None,
        trial_days: int | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        product = {
            "id": self.new_id("prod"),
            "object": "product",
            "name": name,
            "active": True,
            "metadata": metadata or {},
            "livemode": False,
        }
        self.products[product["id"]] = product
        price = {
            "id": self.new_id("price"),
            "object": "price",
            "active": active,
            "billing_scheme": "per_unit",
            "currency": "eur",
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": price_metadata or {},
            "nickname": None,
            "product": product["id"],
            "recurring": {
                "interval": "month",
                "interval_count": 1,
                "meter": meter,
                "trial_period_days": trial_days,
                "usage_type": "metered" if meter else "licensed",
            },
            "type": "recurring",
            "unit_amount": amount,
            "created": self.clock,
        }
        self.prices[price["id"]] = price
        return price

    def price_by_key(self, lookup_key: str) -> dict[str, Any]:
        return next(p for p in self.prices.values() if p["lookup_key"] == lookup_key)

    # Stripe's side of a subscription ------------------------------------------------------

    def event(self, type_: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """An event as Stripe sends it (a copy of the object as it is now)."""
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": self.clock,
            "data": {"object": json.loads(json.dumps(obj)), **extra},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The customer paid (or started the trial): the subscription exists. Returns the
        events Stripe sends (subscription created, checkout completed)."""
        with self.lock:
            checkout = self.checkout_sessions[session_id]
            data = checkout.get("subscription_data") or {}
            trial_days = int(data["trial_period_days"]) if data.get("trial_period_days") else 0
            now = self.tick()
            items = []
            for item in checkout["line_items"]:
                price = self.prices[item["price"]]
                items.append(
                    {
                        "id": self.new_id("si"),
                        "object": "subscription_item",
                        "price": price,
                        "quantity": int(item["quantity"]) if "quantity" in item else None,
                        "current_period_start": now,
                        "current_period_end": now + 30 * 86400,
                    }
                )
            subscription = {
                "id": self.new_id("sub"),
                "object": "subscription",
                "customer": checkout["customer"],
                "status": "trialing" if trial_days else "active",
                "metadata": data.get("metadata") or {},
                "items": {"object": "list", "data": items, "has_more": False},
                "start_date": now,
                "created": now,
                "trial_start": now if trial_days else None,
                "trial_end": now + trial_days * 86400 if trial_days else None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "livemode": False,
            }
            self.subscriptions[subscription["id"]] = subscription
            checkout.update(status="complete", subscription=subscription["id"])
            return [
                self.event("customer.subscription.created", subscription),
                self.event("checkout.session.completed", checkout),
            ]

    def update_subscription(self, subscription_id: str, **changes: Any) -> dict[str, Any]:
        """Stripe changed the subscription (a trial ended, a payment failed, a cancellation):
        the ``customer.subscription.updated`` (or ``deleted``) event."""
        with self.lock:
            self.tick()
            subscription = self.subscriptions[subscription_id]
            previous = {k: subscription.get(k) for k in changes}
            subscription.update(changes)
            kind = (
                "customer.subscription.deleted"
                if changes.get("status") == "canceled"
                else "customer.subscription.updated"
            )
            return self.event(kind, subscription, previous_attributes=previous)

    def trial_will_end(self, subscription_id: str) -> dict[str, Any]:
        with self.lock:
            self.tick()
            return self.event(
                "customer.subscription.trial_will_end", self.subscriptions[subscription_id]
            )

    def invoice(self, subscription_id: str, *, paid: bool, amount: int = 4900) -> dict[str, Any]:
        """An invoice of the subscription, paid or its payment failed: ``invoice.paid`` or
        ``invoice.payment_failed``."""
        with self.lock:
            now = self.tick()
            subscription = self.subscriptions[subscription_id]
            invoice = {
                "id": self.new_id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "number": f"LV-{len(self.invoices) + 1:04d}",
                "status": "paid" if paid else "open",
                "currency": "eur",
                "total": amount,
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "created": now,
                "period_start": now - 30 * 86400,
                "period_end": now,
                "hosted_invoice_url": f"https://invoice.stripe.test/{now}",
                "invoice_pdf": f"https://invoice.stripe.test/{now}.pdf",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription_id, "metadata": {}},
                },
                "livemode": False,
            }
            self.invoices[invoice["id"]] = invoice
            return self.event("invoice.paid" if paid else "invoice.payment_failed", invoice)

    def fail(self, path: str, fault: Fault) -> None:
        """The next request whose path starts with ``path`` meets ``fault``."""
        with self.lock:
            self.faults.setdefault(path, []).append(fault)

    def requests_to(self, method: str, path: str) -> list[dict[str, Any]]:
        return [params for m, p, params in self.requests if m == method and p == path]

    # Answers -----------------------------------------------------------------------------

    def answer(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, path, params))
            return self._route(method, path, params)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/v1/prices":
            keys = params.get("lookup_keys") or []
            found = [
                self._expanded(p, params)
                for p in self.prices.values()
                if not keys or p["lookup_key"] in keys
            ]
            return 200, _list("/v1/prices", found)
        if method == "GET" and path.startswith("/v1/billing/meters/"):
            meter = self.meters.get(path.rsplit("/", 1)[1])
            return (200, meter) if meter else _missing("billing.meter", path)
        if method == "POST" and path == "/v1/customers":
            customer = {
                "id": self.new_id("cus"),
                "object": "customer",
                "name": params.get("name"),
                "email": params.get("email"),
                "metadata": params.get("metadata") or {},
                "created": self.clock,
                "livemode": False,
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._checkout(params)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if params.get("customer") not in self.customers:
                return _missing("customer", params.get("customer"))
            portal = {
                "id": self.new_id("bps"),
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{next(self.ids)}",
                "created": self.clock,
                "livemode": False,
            }
            self.portal_sessions[portal["id"]] = portal
            return 200, portal
        if method == "GET" and path.startswith("/v1/subscriptions/"):
            subscription = self.subscriptions.get(path.rsplit("/", 1)[1])
            return (200, subscription) if subscription else _missing("subscription", path)
        if method == "GET" and path == "/v1/invoices":
            return 200, self._invoices(params)
        if method == "POST" and path == "/v1/billing/meter_events":
            return self._meter_event(params)
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }

    def _expanded(self, price: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if "data.product" in (params.get("expand") or []):
            return {**price, "product": self.products[price["product"]]}
        return price

    def _checkout(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if params.get("customer") not in self.customers:
            return _missing("customer", params.get("customer"))
        items = params.get("line_items") or []
        for item in items:
            if item.get("price") not in self.prices:
                return _missing("price", item.get("price"))
        for name in ("success_url", "cancel_url"):
            if not str(params.get(name, "")).startswith(("http://", "https://")):
                return 400, _error(f"Invalid URL: {name}", "url_invalid", name)
        checkout = {
            "id": self.new_id("cs_test"),
            "object": "checkout.session",
            "mode": params.get("mode"),
            "customer": params["customer"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "subscription_data": params.get("subscription_data") or {},
            "line_items": items,
            "status": "open",
            "subscription": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.test/c/pay/{next(self.ids)}",
            "expires_at": self.clock + 86400,
            "created": self.clock,
            "livemode": False,
        }
        self.checkout_sessions[checkout["id"]] = checkout
        return 200, {k: v for k, v in checkout.items() if k not in ("line_items",)}

    def _invoices(self, params: dict[str, Any]) -> dict[str, Any]:
        found = sorted(
            (
                i
                for i in self.invoices.values()
                if i["customer"] == params.get("customer")
                and (
                    "subscription" not in params
                    or i["parent"]["subscription_details"]["subscription"] == params["subscription"]
                )
            ),
            key=lambda i: (i["created"], i["id"]),
            reverse=True,
        )
        after = params.get("starting_after")
        if after:
            index = next((n for n, i in enumerate(found) if i["id"] == after), -1)
            found = found[index + 1 :]
        limit = int(params.get("limit", 10))
        page = _list("/v1/invoices", found[:limit])
        page["has_more"] = len(found) > limit
        return page

    def _meter_event(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        identifier = params.get("identifier")
        if identifier and any(e["identifier"] == identifier for e in self.meter_events):
            return 400, _error(f"An event already exists with identifier {identifier}.", None)
        payload = params.get("payload") or {}
        if payload.get("stripe_customer_id") not in self.customers:
            return 400, _error("No customer found for this event.", "resource_missing")
        if not any(m["event_name"] == params.get("event_name") for m in self.meters.values()):
            return 400, _error("No active meter found for this event_name.", None)
        event = {
            "object": "billing.meter_event",
            "created": self.clock,
            "event_name": params["event_name"],
            "identifier": identifier or self.new_id("mev"),
            "livemode": False,
            "payload": payload,
            "timestamp": int(params.get("timestamp") or self.clock),
        }
        self.meter_events.append(event)
        return 200, event

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for prefix, queued in self.faults.items():
                if path.startswith(prefix) and queued:
                    return queued.pop(0)
        return None

    def metered(self, customer: str, event_name: str) -> int:
        """The usage Stripe holds for a customer on a meter (the events' values summed)."""
        return sum(
            int(e["payload"]["value"])
            for e in self.meter_events
            if e["event_name"] == event_name and e["payload"]["stripe_customer_id"] == customer
        )


def _list(url: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": False, "data": data}


def _error(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _missing(kind: str, what: object) -> tuple[int, dict[str, Any]]:
    return 404, _error(f"No such {kind}: '{what}'", "resource_missing")


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    stripe = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _params(self) -> tuple[str, dict[str, Any], bytes]:
            parts = urlsplit(self.path)
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            body = b""
            if self.command == "POST":
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                pairs += parse_qsl(body.decode(), keep_blank_values=True)
            return parts.path, _nest(pairs), body

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", f"req_{next(stripe.ids)}")
            if status >= 400:
                self.send_header("stripe-should-retry", "false")
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            path, params, body = self._params()
            if self.headers.get("authorization") != f"Bearer {SECRET_KEY}":
                self._send(
                    401,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Invalid API Key provided",
                        }
                    },
                )
                return
            fault = stripe.take_fault(path)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.status is not None:
                self._send(fault.status, fault.error or _error("Stripe failed", None))
                return
            key = self.headers.get("idempotency-key")
            digest = hashlib.sha256(body).hexdigest()
            if self.command == "POST" and key:
                with stripe.lock:
                    seen = stripe.idempotent.get(key)
                if seen is not None:
                    if seen[0] != digest:
                        self._send(
                            400,
                            {
                                "error": {
                                    "type": "idempotency_error",
                                    "message": IDEMPOTENCY_MISMATCH,
                                }
                            },
                        )
                        return
                    self._send(seen[1], seen[2])
                    return
            status, answer = stripe.answer(self.command, path, params)
            if self.command == "POST" and key and status < 500:
                with stripe.lock:
                    stripe.idempotent[key] = (digest, status, answer)
            if fault is not None and fault.drop:
                self.close_connection = True
                self.connection.shutdown(2)  # Stripe took it; the answer never arrives
                return
            self._send(status, answer)

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the connection was dropped on purpose
                super().finish()

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stripe.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stripe
    finally:
        server.shutdown()
        server.server_close()
