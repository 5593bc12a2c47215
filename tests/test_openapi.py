"""The committed API descriptions are the ones the code generates, and every route is documented."""

from __future__ import annotations

import json
from pathlib import Path

from backend.core.openapi import graphql_document, openapi_document, published_settings

ROOT = Path(__file__).resolve().parents[1]
STALE = "stale: run `levier export-openapi` (or `make openapi`) and commit the result"


def test_committed_openapi_is_fresh() -> None:
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert committed == openapi_document(published_settings()), STALE


def test_committed_graphql_schema_is_fresh() -> None:
    committed = (ROOT / "openapi" / "schema.graphql").read_text()
    assert committed == graphql_document(published_settings()), STALE


def test_every_operation_has_an_id_a_summary_and_documented_problems() -> None:
    document = json.loads(openapi_document(published_settings()))
    operation_ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation.get("summary"), where
            operation_ids.append(operation["operationId"])
            problems = [
                status
                for status, response in operation["responses"].items()
                if status.startswith(("4", "5"))
                and "application/problem+json" in response.get("content", {})
            ]
            assert problems, f"{where} documents no problem response"
            if path.startswith("/v1/brands/{brand_id}"):
                assert "404" in problems, where
    assert len(operation_ids) == len(set(operation_ids))


def test_every_operation_has_a_description_from_its_route_docstring() -> None:
    document = json.loads(openapi_document(published_settings()))
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if not operation.get("description", "").strip() or not operation.get("summary", "").strip()
    ]
    assert document["paths"]
    assert not undocumented, f"write a docstring on these routes: {undocumented}"
