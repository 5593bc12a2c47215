"""Every REST operation has its GraphQL counterpart, found by name.

The naming convention (follow it when adding a GraphQL field for an operation):

- ``GET`` ``list<Xs>`` ↔ Query ``<xs>`` (``listSegments`` ↔ ``segments``);
- ``GET`` ``get<X>`` ↔ Query ``<x>`` (``getSegment`` ↔ ``segment``);
- any other ``GET`` ↔ Query field of the same name;
- any write (``POST``/``PUT``/``PATCH``/``DELETE``) ↔ Mutation field of the same name
  (``createSegment``, ``deleteSegment``, ``replayConnectorDelivery``), except the few writes
  that only read, listed in ``READ_ONLY_WRITES`` with their Query field.

REST-only operations (``REST_ONLY``): files served as bytes, inbound hooks, the OAuth and sign-in
protocol endpoints, health. Run this module (``python -m tests.test_graphql_parity``) to print
the operations still missing, grouped by tag.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import build_schema

from backend.openapi import graphql_document, openapi_document, published_settings

READS = {"get"}
WRITES = {"post", "put", "patch", "delete"}

# Operations that stay REST-only, each for a reason a GraphQL field cannot serve.
REST_ONLY = {
    "downloadProfileExport": "a file served as bytes (text/csv)",
    "downloadImportRejections": "a file served as bytes (text/csv)",
    "receiveHook": "an inbound hook: partners post signed bodies to it",
    "receiveInboundSms": "an inbound hook: Twilio posts signed forms to it",
    "receiveMessagingCallback": "an inbound hook: providers post signed delivery reports to it",
    "receiveStripeWebhook": "an inbound hook: Stripe posts signed events to it",
    "health": "liveness probe",
    "ready": "readiness probe",
}
# Protocol endpoints, whatever their operation: OAuth 2 and the sign-in pages.
REST_ONLY_PATH_PREFIXES = ("/oauth/", "/auth/", "/sign-in", "/metrics")

# Writes by HTTP method that only read: their counterpart is a Query field.
READ_ONLY_WRITES = {"previewSegment": "previewSegment", "previewTemplate": "previewTemplate"}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    tag: str

    @property
    def reads(self) -> bool:
        return self.method in READS or self.operation_id in READ_ONLY_WRITES

    @property
    def counterpart(self) -> tuple[str, str]:
        """The GraphQL root (``Query``/``Mutation``) and field the convention names."""
        name = self.operation_id
        if self.operation_id in READ_ONLY_WRITES:
            return "Query", READ_ONLY_WRITES[self.operation_id]
        if not self.reads:
            return "Mutation", name
        for prefix in ("list", "get"):
            rest = name.removeprefix(prefix)
            if rest != name and rest[:1].isupper():
                return "Query", rest[0].lower() + rest[1:]
        return "Query", name


@cache
def operations() -> tuple[Operation, ...]:
    document: dict[str, Any] = json.loads(openapi_document(published_settings()))
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in READS | WRITES:
                continue
            tags = operation.get("tags") or ["untagged"]
            found.append(Operation(operation["operationId"], method, path, tags[0]))
    return tuple(sorted(found, key=lambda op: (op.tag, op.operation_id)))


@cache
def graphql_fields() -> dict[str, frozenset[str]]:
    schema = build_schema(graphql_document(published_settings()))
    assert schema.query_type is not None
    assert schema.mutation_type is not None
    return {
        "Query": frozenset(schema.query_type.fields),
        "Mutation": frozenset(schema.mutation_type.fields),
    }


def rest_only(operation: Operation) -> bool:
    return operation.operation_id in REST_ONLY or operation.path.startswith(REST_ONLY_PATH_PREFIXES)


def missing_by_tag() -> dict[str, list[str]]:
    """The operations without their GraphQL counterpart: tag → ``operationId → Root.field``."""
    fields = graphql_fields()
    missing: dict[str, list[str]] = defaultdict(list)
    for operation in operations():
        if rest_only(operation):
            continue
        root, field = operation.counterpart
        if field not in fields[root]:
            missing[operation.tag].append(
                f"{operation.operation_id} ({operation.method.upper()} {operation.path})"
                f" -> {root}.{field}"
            )
    return dict(missing)


def describe(missing: dict[str, list[str]]) -> str:
    lines = []
    for tag, entries in sorted(missing.items()):
        lines.append(f"[{tag}] {len(entries)}")
        lines.extend(f"  {entry}" for entry in entries)
    total = sum(len(entries) for entries in missing.values())
    return f"{total} operations without a GraphQL counterpart\n" + "\n".join(lines)


def test_the_walk_sees_the_operations_and_both_roots() -> None:
    assert len(operations()) > 100
    fields = graphql_fields()
    assert fields["Query"]
    assert fields["Mutation"]


def test_rest_only_operations_exist() -> None:
    # An allow-list entry for an operation that is gone would hide a future one of that name.
    ids = {operation.operation_id for operation in operations()}
    assert set(REST_ONLY) <= ids
    assert set(READ_ONLY_WRITES) <= ids


def test_every_rest_operation_has_a_graphql_counterpart() -> None:
    missing = missing_by_tag()
    assert not missing, describe(missing)


def test_graphql_counterparts_are_queries_for_reads_and_mutations_for_writes() -> None:
    fields = graphql_fields()
    misplaced = []
    for operation in operations():
        if rest_only(operation):
            continue
        root, field = operation.counterpart
        other = "Mutation" if root == "Query" else "Query"
        if field in fields[other] and field not in fields[root]:
            misplaced.append(f"{operation.operation_id}: {other}.{field} should be {root}.{field}")
    assert not misplaced, "\n".join(misplaced)


if __name__ == "__main__":
    print(describe(missing_by_tag()))
