"""The committed API descriptions are the ones the code generates, and every route is documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from litestar import Litestar

from backend.openapi import (
    graphql_document,
    json_bodies,
    openapi_document,
    published_settings,
)
from backend.webhooks.models import WebhookEventType
from tests.factories import make_world
from tests.profiles.helpers import brand_url, create_profile

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
    assert len(operation_ids) > 100, operation_ids  # the walk found the operations
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


# POSTs that ignore the key (KEY_IGNORED): providers' signed callbacks, which carry none.
KEY_IGNORED_POSTS = {"receiveMessagingCallback", "receiveStripeWebhook"}
# Posts whose Idempotency-Key names what they make (not a stored answer): a phrase of its doc.
ROUTE_KEYED = {"sendMessage": "same message", "enterScenario": "journey the first one started"}


def test_idempotency_key_is_documented_on_every_post_and_nowhere_else() -> None:
    document = json.loads(openapi_document(published_settings()))
    posts = 0
    for path, method, operation in _operations(document):
        if operation["operationId"] in KEY_IGNORED_POSTS:
            continue
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert ("Idempotency-Key" in headers) == (method == "post"), f"{method} {path}"
        if method == "post":
            posts += 1
            named = ROUTE_KEYED.get(operation["operationId"])
            if named is not None:  # the key names what the route makes (a message, a journey)
                key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
                assert named in key["description"], path
                continue
            conflicts = operation["responses"]["409"]["content"]["application/problem+json"]
            if "/imports/" in path:  # uploads keep the key on the import: another file is 409
                assert "idempotency-key-reused" in conflicts["examples"], path
                assert "text/csv" in operation["requestBody"]["content"], path
            else:
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
        in operation["responses"]
        .get("409", {})
        .get("content", {})
        .get("application/problem+json", {})
        .get("examples", {})
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


def _closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others: an example with
    a misspelt field fails instead of passing unseen."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {k: _closed(v) for k, v in schema.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # References are `#/components/...`: the components travel in the root schema.
    root = {"allOf": [schema], "components": _closed(document["components"])}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _examples_of(content: dict[str, Any]) -> list[Any]:
    if "example" in content:
        return [content["example"]]
    return [example["value"] for example in content.get("examples", {}).values()]


def test_every_json_body_has_an_example_that_fits_its_schema() -> None:
    document = json.loads(openapi_document(published_settings()))
    missing, wrong, checked = [], [], 0
    for path, method, operation in _operations(document):
        for body, content in json_bodies(operation):
            where = f"{operation['operationId']}.{body} ({method.upper()} {path})"
            found = _examples_of(content)
            if not found:
                missing.append(where)
            for example in found:
                checked += 1
                errors = list(_validator(document, content["schema"]).iter_errors(example))
                wrong += [
                    f"{where}: {error.message} at {list(error.absolute_path)}" for error in errors
                ]
    assert not missing, "no example: " + ", ".join(missing)
    assert not wrong, "\n".join(wrong)
    assert checked > 150


def test_every_outbound_webhook_event_is_documented_with_a_fitting_example() -> None:
    document = json.loads(openapi_document(published_settings()))
    assert set(document["webhooks"]) == {event.value for event in WebhookEventType}
    for event_type, item in document["webhooks"].items():
        content = item["post"]["requestBody"]["content"]["application/json"]
        headers = {p["name"] for p in item["post"]["parameters"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}, event_type
        errors = list(_validator(document, content["schema"]).iter_errors(content["example"]))
        assert not errors, (event_type, [e.message for e in errors])


def test_inbound_hook_documents_its_body_and_both_signature_schemes() -> None:
    document = json.loads(openapi_document(published_settings()))
    operation = document["paths"]["/v1/hooks/{connector_id}"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {
        "X-Qualifio-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    } <= headers
    content = operation["requestBody"]["content"]["application/json"]
    examples = _examples_of(content)
    assert examples
    for example in examples:
        assert not list(_validator(document, content["schema"]).iter_errors(example))


def test_every_upload_documents_both_file_formats_with_an_example() -> None:
    document = json.loads(openapi_document(published_settings()))
    uploads = [
        operation
        for path, method, operation in _operations(document)
        if method == "post" and "/imports/" in path
    ]
    assert len(uploads) == 3
    for operation in uploads:
        content = operation["requestBody"]["content"]
        assert set(content) == {"text/csv", "application/x-ndjson"}, operation["operationId"]
        for media_type, body in content.items():
            assert body["example"].endswith("\n"), (operation["operationId"], media_type)


async def test_webhook_payloads_sent_are_the_documented_ones(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    document = json.loads(openapi_document(published_settings()))
    world = await make_world(app)
    kinds = ["profile.created", "profile.updated", "consent.changed"]
    endpoint = await client.post(
        brand_url(world, "/webhook-endpoints"),
        json={"url": "https://crm.example.com/hooks", "eventTypes": kinds},
        headers=world.manager_a.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    endpoint_url = brand_url(world, f"/webhook-endpoints/{endpoint.json()['id']}")
    profile = await create_profile(
        client,
        world,
        email="ada@example.com",
        firstName="Ada",
        consents=[{"channel": "email", "state": "granted", "source": "form"}],
    )
    changed = await client.patch(
        brand_url(world, f"/profiles/{profile['id']}"),
        json={"lastName": "Lovelace"},
        headers=world.manager_a.headers,
    )
    assert changed.status_code == 200, changed.text
    listed = await client.get(f"{endpoint_url}/deliveries", headers=world.viewer_a.headers)
    seen = set()
    for item in listed.json()["items"]:
        delivery = await client.get(
            f"{endpoint_url}/deliveries/{item['id']}", headers=world.viewer_a.headers
        )
        event_type = delivery.json()["eventType"]
        body = document["webhooks"][event_type]["post"]["requestBody"]["content"]
        schema = body["application/json"]["schema"]["properties"]["data"]
        errors = list(_validator(document, schema).iter_errors(delivery.json()["payload"]))
        assert not errors, (event_type, [e.message for e in errors])
        seen.add(event_type)
    assert seen == set(kinds)
