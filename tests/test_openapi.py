"""The committed API descriptions are the ones the code generates, and every route is documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

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


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_idempotency_key_is_documented_on_every_post_and_nowhere_else() -> None:
    document = json.loads(openapi_document(published_settings()))
    posts = 0
    for path, method, operation in _operations(document):
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert ("Idempotency-Key" in headers) == (method == "post"), f"{method} {path}"
        if method == "post":
            posts += 1
            conflicts = operation["responses"]["409"]["content"]["application/problem+json"]
            assert "idempotency-key-in-use" in conflicts["examples"], path
            assert "422" in operation["responses"], path
    assert posts > 30


def test_a_replay_of_an_answer_showing_a_secret_is_documented_as_withheld() -> None:
    document = json.loads(openapi_document(published_settings()))
    withheld = {
        operation["operationId"]
        for _, method, operation in _operations(document)
        if method == "post"
        and "idempotent-answer-withheld"
        in operation["responses"]["409"]["content"]["application/problem+json"]["examples"]
    }
    assert withheld == {
        "createClient",
        "rotateClientSecret",
        "createConnector",
        "createWebhookEndpoint",
    }
    for _, _, operation in _operations(document):
        if operation["operationId"] in withheld:
            for status, response in operation["responses"].items():
                assert "Idempotent-Replayed" not in response.get("headers", {}), status


def test_rate_limited_operations_document_429_and_its_headers() -> None:
    document = json.loads(openapi_document(published_settings()))
    assert set(document["components"]["headers"]) >= {
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    }
    limited = 0
    for path, _, operation in _operations(document):
        responses = operation["responses"]
        if path in ("/health", "/ready"):
            assert "429" not in responses, path
            continue
        limited += 1
        assert set(responses["429"]["headers"]) == {
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        }, path
        for status, response in responses.items():
            if status.startswith("2"):
                assert "RateLimit-Remaining" in response["headers"], (path, status)
    assert limited > 100


async def test_served_document_is_the_exported_one(client: httpx.AsyncClient) -> None:
    served = (await client.get("/schema/openapi.json")).json()
    assert served == json.loads(openapi_document(published_settings()))
