"""OpenAPI examples of the imports domain."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "ImportOut": {
        "id": "01938f58-7e6f-7a5b-8c4d-3e2f1a0b9c8d",
        "kind": "profiles",
        "mode": "upsert",
        "format": "csv",
        "status": "running",
        "linkedTable": None,
        "compression": None,
        "delimiter": ";",
        "encoding": "utf-8",
        "sizeBytes": 1843221,
        "totalLines": 21345,
        "linesProcessed": 8001,
        "rowsProcessed": 8000,
        "created": 7562,
        "updated": 431,
        "rejected": 7,
        "error": None,
        "createdAt": "2026-11-02T11:05:00Z",
        "startedAt": "2026-11-02T11:05:01Z",
        "finishedAt": None,
        "purgedAt": None,
    },
    "RejectionOut": {
        "line": 42,
        "reason": "email: not a valid e-mail address",
        "raw": "lea.martin@,Léa,Martin,FR",
    },
}

# Files sent to the upload routes, by operation and media type.
UPLOADS: dict[str, dict[str, str]] = {
    "importProfiles": {
        "text/csv": "email;firstName;lastName;country;attributes.loyalty_tier\n"
        "lea.martin@example.com;Léa;Martin;FR;gold\n"
        "hugo.bernard@example.com;Hugo;Bernard;BE;silver\n",
        "application/x-ndjson": '{"email": "lea.martin@example.com", "firstName": "Léa", '
        '"country": "FR", "attributes": {"loyalty_tier": "gold"}}\n',
    },
    "importOrders": {
        "text/csv": "orderId,occurredAt,amount,currency,store,channel,email\n"
        "SHOP-100482,2026-10-30T17:45:00Z,42.80,EUR,paris-opera,store,lea.martin@example.com\n",
        "application/x-ndjson": '{"orderId": "SHOP-100482", "occurredAt": "2026-10-30T17:45:00Z",'
        ' "amount": "42.80", "currency": "EUR", "email": "lea.martin@example.com"}\n',
    },
    "importLinkedRows": {
        "text/csv": "key,email,code,value,expires_on\n"
        "NOEL-5EUR-7Q2K,lea.martin@example.com,NOEL-5EUR-7Q2K,5,2026-12-31\n",
        "application/x-ndjson": '{"key": "NOEL-5EUR-7Q2K", "email": "lea.martin@example.com", '
        '"code": "NOEL-5EUR-7Q2K", "value": 5, "expires_on": "2026-12-31"}\n',
    },
}
