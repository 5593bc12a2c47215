"""The published API descriptions: OpenAPI (REST) and SDL (GraphQL), generated from the code.

Litestar builds the OpenAPI document from the routes (route docstrings become descriptions);
:func:`finish` then adds what the routes do not state one by one, from the rules that apply to
all of them: ``Idempotency-Key`` where it is honoured, rate limiting (429 and its headers),
examples (``backend/<domain>/examples.py``), the outbound webhooks and the inbound hook's
signature. The served document (``/schema``) and the exported one are the same.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
)
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme
from litestar.routes import HTTPRoute

from backend.audit import examples as audit_examples
from backend.auth import examples as auth_examples
from backend.auth.scopes import BRAND_SCOPES, SCOPES
from backend.billing import examples as billing_examples
from backend.campaigns import examples as campaigns_examples
from backend.config import Settings
from backend.connectors import examples as connectors_examples
from backend.content import examples as content_examples
from backend.core import examples as core_examples
from backend.core.errors import PROBLEM_MEDIA_TYPE, problem_type
from backend.core.idempotency import (
    HANDLED_BY_ROUTE,
    KEY_DESCRIPTION,
    KEY_IGNORED,
    MAX_KEY_LENGTH,
    SHOWS_SECRET,
    AnswerWithheld,
)
from backend.core.ratelimit import EXEMPT_PATHS
from backend.events import examples as events_examples
from backend.imports import examples as imports_examples
from backend.messaging import examples as messaging_examples
from backend.messaging.accounts import examples as messaging_accounts_examples
from backend.messaging.devices import examples as devices_examples
from backend.messaging.tracking import examples as tracking_examples
from backend.profiles import examples as profiles_examples
from backend.programs import examples as programs_examples
from backend.rfm import examples as rfm_examples
from backend.scenarios import examples as scenarios_examples
from backend.segments import examples as segments_examples
from backend.tenancy import examples as tenancy_examples
from backend.triggers import examples as triggers_examples
from backend.webhooks import examples as webhooks_examples

if TYPE_CHECKING:
    from litestar import Litestar, Request

OPENAPI_FILE = "openapi.json"
GRAPHQL_FILE = "schema.graphql"
API_VERSION = "0.1.0"
API_DESCRIPTION = (
    "Levier unifies a brand's customer data, segments it and activates it across channels. "
    "Brand data lives under `/v1/brands/{brand_id}`; a brand out of the caller's reach answers "
    "404. Errors are RFC 9457 problem details. POSTs honour `Idempotency-Key`."
)


# Every domain's examples module (backend/<domain>/examples.py).
EXAMPLE_MODULES: tuple[ModuleType, ...] = (
    audit_examples,
    auth_examples,
    campaigns_examples,
    billing_examples,
    connectors_examples,
    content_examples,
    core_examples,
    devices_examples,
    events_examples,
    imports_examples,
    messaging_accounts_examples,
    messaging_examples,
    profiles_examples,
    programs_examples,
    rfm_examples,
    scenarios_examples,
    segments_examples,
    tenancy_examples,
    tracking_examples,
    triggers_examples,
    webhooks_examples,
)
WRITE_METHODS = ("post", "put", "patch", "delete")
OPERATION_METHODS = ("get", *WRITE_METHODS)
PAGE_CURSOR = "eyJpZCI6IjAxOTM4ZjUyLThhN2ItN2M2ZC05ZTBmLTFhMmIzYzRkNWU2ZiJ9"
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def finish(document: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """The document Litestar generated, completed with what applies across routes."""
    document = copy.deepcopy(document)
    opts = route_opts(app)
    for path, method, operation in operations(document):
        opt = opts.get((path, method), {})
        if opt.get(HANDLED_BY_ROUTE) and opt.get(KEY_DESCRIPTION):
            _document_route_key(operation, str(opt[KEY_DESCRIPTION]))
        elif opt.get(HANDLED_BY_ROUTE):
            _document_upload(operation)
        elif method == "post" and not opt.get(KEY_IGNORED):
            _document_idempotency(operation, shows_secret=bool(opt.get(SHOWS_SECRET)))
        if not rate_limit_exempt(path):
            _document_rate_limit(operation)
    document["components"].setdefault("headers", {}).update(HEADERS)
    _add_examples(document, examples())
    _document_inbound_hook(document)
    document["webhooks"] = outbound_webhooks()
    return document


def examples() -> dict[str, Any]:
    """Each domain's examples (``backend/<domain>/examples.py``), by schema name; a body whose
    schema is not a component is named ``<operationId>.request`` or ``<operationId>.<status>``."""
    merged: dict[str, Any] = {}
    for module in EXAMPLE_MODULES:
        shared = merged.keys() & module.EXAMPLES.keys()
        if shared:
            raise ValueError(f"{module.__name__} gives examples already given: {sorted(shared)}")
        merged.update(module.EXAMPLES)
    return merged


def json_bodies(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The operation's JSON bodies: (``request`` or the 2xx status, media type object)."""
    for media_type, content in (operation.get("requestBody") or {}).get("content", {}).items():
        if _is_json(media_type):
            yield "request", content
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            for media_type, content in (response.get("content") or {}).items():
                if _is_json(media_type):
                    yield status, content


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _add_examples(document: dict[str, Any], known: Mapping[str, Any]) -> None:
    for _, _, operation in operations(document):
        for body, content in json_bodies(operation):
            if "example" in content or "examples" in content:
                continue
            ref = content.get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1] if ref else f"{operation['operationId']}.{body}"
            example = _example(name, document["components"]["schemas"], known)
            if example is not None:
                content["example"] = example


def _example(name: str, schemas: Mapping[str, Any], known: Mapping[str, Any]) -> Any:
    """The example of ``name``; a page (``items`` of a schema with an example, ``nextCursor``)
    is one page of that example."""
    if name in known:
        return copy.deepcopy(known[name])
    properties = schemas.get(name, {}).get("properties", {})
    item_ref = properties.get("items", {}).get("items", {}).get("$ref", "")
    if set(properties) == {"items", "nextCursor"} and item_ref:
        item = _example(item_ref.rsplit("/", 1)[-1], schemas, known)
        if item is not None:
            return {"items": [item], "nextCursor": PAGE_CURSOR}
    return None


def _document_inbound_hook(document: dict[str, Any]) -> None:
    operation = document["paths"].get("/v1/hooks/{connector_id}", {}).get("post")
    if operation is None:
        return
    operation["parameters"].extend(copy.deepcopy(connectors_examples.HOOK_HEADERS))
    schemas = document["components"]["schemas"]
    schemas["QualifioParticipation"] = connectors_examples.QUALIFIO_PARTICIPATION_SCHEMA
    schemas["PartnerPayload"] = connectors_examples.PARTNER_PAYLOAD_SCHEMA
    operation["requestBody"] = {
        "required": True,
        "description": "The partner's body, as sent: the signature covers its raw bytes. "
        "Qualifio sends a participation; a Standard Webhooks source any JSON object.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/QualifioParticipation"},
                        {"$ref": "#/components/schemas/PartnerPayload"},
                    ]
                },
                "examples": copy.deepcopy(connectors_examples.HOOK_BODY_EXAMPLES),
            }
        },
    }


# Standard Webhooks headers of every outbound message (backend/webhooks/sending.py).
_SIGNED_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's id: the same at every attempt and for every endpoint; "
        "deduplicate on it.",
        "schema": {"type": "string", "format": "uuid"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "When this attempt was sent, in Unix seconds: reject old ones.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` '
        "keyed with the endpoint's secret (`whsec_…`, shown once at creation). Any Standard "
        "Webhooks library verifies it.",
        "schema": {"type": "string"},
    },
]


def outbound_webhooks() -> dict[str, Any]:
    """The OpenAPI ``webhooks`` section: one entry per event type an endpoint may subscribe to."""
    found: dict[str, Any] = {}
    for event_type, event in webhooks_examples.EVENTS.items():
        found[event_type.value] = {
            "post": {
                "operationId": "on_" + event_type.value.replace(".", "_"),
                "summary": event.summary,
                "description": (
                    f"{event.description} Posted as JSON to every enabled endpoint subscribed "
                    "to it, signed as Standard Webhooks. A 2xx answer within the timeout ends "
                    "the delivery; anything else is retried with backoff, and an endpoint "
                    "failing too many times in a row is disabled (`webhook_endpoint.disabled`). "
                    "Deliveries of one endpoint arrive in order."
                ),
                "tags": ["webhooks"],
                "security": [],
                "parameters": copy.deepcopy(_SIGNED_HEADERS),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "timestamp", "data"],
                                "properties": {
                                    "type": {"type": "string", "const": event_type.value},
                                    "timestamp": {
                                        "type": "string",
                                        "format": "date-time",
                                        "description": "When the event was recorded.",
                                    },
                                    "data": event.data_schema,
                                },
                            },
                            "example": {
                                "type": event_type.value,
                                "timestamp": "2026-11-02T10:01:06.998000+00:00",
                                "data": event.data_example,
                            },
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received: the delivery succeeded."},
                    "default": {"description": "Any other answer, or none: retried later."},
                },
            }
        }
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every operation of the document: path, lower-case method, operation object."""
    for path, item in document["paths"].items():
        for method in OPERATION_METHODS:
            if method in item:
                yield path, method, item[method]


def route_opts(app: Litestar) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Each route handler's ``opt`` by (path as in the document, lower-case method)."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    found[(route.path_format, method.lower())] = handler.opt
    return found


def rate_limit_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith("/schema/")


# Response headers, referenced from the responses that carry them.
HEADERS: dict[str, Any] = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds until a request is counted out of the window and another one "
        "may be sent.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed in the window of the tightest limit that applies (per "
        "caller, or per brand shared by everyone working on it).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in that window.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until a request is counted out of that window.",
        "schema": {"type": "integer", "minimum": 1},
    },
}
_RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _problem(operation: dict[str, Any], status: int, description: str) -> dict[str, Any]:
    """The operation's problem response for ``status``, added when it was not listed."""
    response: dict[str, Any] = operation["responses"].setdefault(
        str(status), {"description": description}
    )
    content = response.setdefault("content", {}).setdefault(
        PROBLEM_MEDIA_TYPE, {"schema": PROBLEM_SCHEMA}
    )
    content.setdefault("examples", {})
    return response


def _problem_example(status: int, slug: str, title: str, detail: str) -> dict[str, Any]:
    return {
        "summary": title,
        "value": {
            "type": problem_type(slug),
            "title": title,
            "status": status,
            "detail": detail,
            "instance": "/v1/brands/01a20d85-e2eb-78a6-aa55-b28d88104b43/segments",
            "request_id": "01a20d86365f789f894683f4079fae4a",
        },
    }


def _document_idempotency(operation: dict[str, Any], *, shows_secret: bool) -> None:
    replay = (
        "this answer shows a secret once, so it is never kept: the effect still happens once, "
        "and a retry answers 409 `idempotent-answer-withheld`"
        if shows_secret
        else "a retry answers the first answer again, with `Idempotent-Replayed: true`"
    )
    operation.setdefault("parameters", []).append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Makes the request safe to retry: the same key with the same request is done "
                f"once ({replay}). The same key with another request answers 422; while the "
                "first request runs, 409. Keys are scoped to the credentials that sent them and "
                "expire after `LEVIER_IDEMPOTENCY_TTL_HOURS`; server errors are not kept."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "example": "3f0c8a4e-6d1b-4c1e-9a57-2b8e0f5d7c91",
        }
    )
    if not shows_secret:
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                response.setdefault("headers", {}).update(_header_refs("Idempotent-Replayed"))
    conflict = _problem(operation, 409, "Conflict")["content"][PROBLEM_MEDIA_TYPE]["examples"]
    conflict["idempotency-key-in-use"] = _problem_example(
        409, "conflict", "Conflict", "a request with this Idempotency-Key is still running"
    )
    if shows_secret:
        conflict["idempotent-answer-withheld"] = _problem_example(
            409,
            AnswerWithheld.slug,
            AnswerWithheld.title,
            "the answer to this Idempotency-Key showed a secret and is not kept",
        )
    mismatch = _problem(operation, 422, "Unprocessable Entity")
    mismatch["content"][PROBLEM_MEDIA_TYPE]["examples"]["idempotency-key-reused"] = (
        _problem_example(
            422,
            "invalid-input",
            "Unprocessable Entity",
            "this Idempotency-Key was used for a different request",
        )
    )


def _document_route_key(operation: dict[str, Any], description: str) -> None:
    """A route that honours ``Idempotency-Key`` itself, as its ``KEY_DESCRIPTION`` says."""
    operation.setdefault("parameters", []).append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "example": "order-1042-confirmation",
        }
    )


def _document_upload(operation: dict[str, Any]) -> None:
    """A bulk upload: the file is the body, and the route honours ``Idempotency-Key`` itself."""
    files = imports_examples.UPLOADS.get(operation["operationId"], {})
    operation["requestBody"] = {
        "required": True,
        "description": "The file, streamed: CSV with a header line or NDJSON, optionally "
        "gzip-compressed (`Content-Encoding: gzip`).",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}, "example": example}
            for media_type, example in files.items()
        },
    }
    operation.setdefault("parameters", []).append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Makes the upload safe to retry, whatever the file's size: the same key with the "
                "same upload (parameters and body) answers the first import, with "
                "`Idempotent-Replayed: true`; with another upload, 409. Kept on the import, "
                "unique in the brand."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "example": "upload-2026-11-02-customers-fr",
        }
    )
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(_header_refs("Idempotent-Replayed"))
    conflict = _problem(operation, 409, "Conflict")["content"][PROBLEM_MEDIA_TYPE]["examples"]
    conflict["idempotency-key-reused"] = _problem_example(
        409, "conflict", "Conflict", "this Idempotency-Key was used for a different import"
    )


def _document_rate_limit(operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if not status.startswith(("4", "5")):
            response.setdefault("headers", {}).update(_header_refs(*_RATE_LIMIT_HEADERS))
    limited = _problem(operation, 429, "Too Many Requests")
    limited["description"] = (
        "Too many requests: the caller's budget (or the brand's, shared by everyone working on "
        "it) is spent. Retry after `Retry-After` seconds."
    )
    limited["headers"] = _header_refs("Retry-After", *_RATE_LIMIT_HEADERS)
    limited["content"][PROBLEM_MEDIA_TYPE]["examples"]["rate-limited"] = _problem_example(
        429,
        "rate-limited",
        "Too Many Requests",
        "too many requests for this caller (at most 1200 per 1 minute); retry in 12 s",
    )


class _Finishing:
    """A render plugin showing the finished document (computed once per application)."""

    _finished: dict[str, Any] | None = None

    def finished(self, request: Request[Any, Any, Any], raw: dict[str, Any]) -> dict[str, Any]:
        if self._finished is None:
            self._finished = finish(msgspec.to_builtins(raw), request.app)
        return self._finished


class _Json(_Finishing, JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


class _Redoc(_Finishing, RedocRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


class _Swagger(_Finishing, SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


class _Stoplight(_Finishing, StoplightRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


class _Rapidoc(_Finishing, RapidocRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finished(request, openapi_schema))


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Levier API",
        version=API_VERSION,
        description=API_DESCRIPTION,
        path="/schema",
        use_handler_docstrings=True,
        # Redoc first: it answers /schema itself, as before.
        render_plugins=[_Redoc(), _Json(), _Swagger(), _Stoplight(), _Rapidoc()],
        components=Components(
            security_schemes={
                "oauth2": SecurityScheme(
                    type="oauth2",
                    description=(
                        "OAuth 2: authorization code with PKCE (S256) for SPAs, client "
                        "credentials for partners. Each operation names the scope it needs."
                    ),
                    flows=OAuthFlows(
                        authorization_code=OAuthFlow(
                            authorization_url="/oauth/authorize",
                            token_url="/oauth/token",  # noqa: S106  (a path, not a secret)
                            refresh_url="/oauth/token",
                            scopes=dict(SCOPES),
                        ),
                        client_credentials=OAuthFlow(
                            token_url="/oauth/token",  # noqa: S106
                            scopes=dict(BRAND_SCOPES),
                        ),
                    ),
                ),
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description=(
                        "A personal access token (`levier token create`), with the same scopes."
                    ),
                ),
            }
        ),
    )


def openapi_document(settings: Settings) -> str:
    from backend.app import create_app

    app = create_app(settings)
    generated: dict[str, Any] = json.loads(msgspec.json.encode(app.openapi_schema.to_schema()))
    schema = finish(generated, app)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def graphql_document(settings: Settings) -> str:
    from backend.graphql import schema_sdl

    return schema_sdl(settings)


def published_settings() -> Settings:
    """Documents depend on code only, not on the machine that exports them."""
    return Settings(database_url="sqlite+aiosqlite:///:memory:")


def write_schemas(folder: Path) -> tuple[Path, Path]:
    published = published_settings()
    folder.mkdir(parents=True, exist_ok=True)
    openapi_path = folder / OPENAPI_FILE
    graphql_path = folder / GRAPHQL_FILE
    openapi_path.write_text(openapi_document(published))
    graphql_path.write_text(graphql_document(published))
    return openapi_path, graphql_path
