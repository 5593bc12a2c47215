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
from pathlib import Path
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

from backend.auth.scopes import BRAND_SCOPES, SCOPES
from backend.config import Settings

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


def finish(document: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """The document Litestar generated, completed with what applies across routes."""
    return copy.deepcopy(document)


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
