"""The published API descriptions: OpenAPI (REST) and SDL (GraphQL), generated from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from backend.config import Settings

OPENAPI_FILE = "openapi.json"
GRAPHQL_FILE = "schema.graphql"


def openapi_document(settings: Settings) -> str:
    from backend.app import create_app

    app = create_app(settings)
    schema: dict[str, Any] = json.loads(msgspec.json.encode(app.openapi_schema.to_schema()))
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
