"""GDPR: erasure removes the person and keeps their identifiers only as hashes on a suppression
list that refuses them until new consent; the access export holds everything on one person."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.tenancy import TenantId
from backend.profiles import gdpr
from backend.profiles.models import LinkedRow, Order, Profile, ProfileIdentity, Suppression
from tests.factories import World, make_world, problem, session_of
from tests.profiles.helpers import (
    add_row,
    brand_url,
    create_profile,
    define_table,
    fields_of,
    record_consent,
)

ADA = {
    "email": "ada@example.com",
    "phone": "+32470123456",
    "externalIds": [{"source": "erp", "id": "A-1"}],
}


async def _ada_with_everything(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    ada = await create_profile(client, world, **ADA)
    await record_consent(client, world, ada["id"], state="granted", channel="email")
    order = await client.post(
        brand_url(world, f"/profiles/{ada['id']}/orders"),
        json={
            "orderId": "W-1",
            "occurredAt": "2026-01-01T10:00:00Z",
            "amount": "12.50",
            "currency": "EUR",
            "lines": [{"product": "bread", "quantity": "1", "price": "12.50"}],
        },
        headers=world.manager_a.headers,
    )
    assert order.status_code == 201, order.text
    await define_table(client, world, key="coupons", columns=[{"key": "code", "type": "text"}])
    await add_row(client, world, "coupons", profileId=ada["id"], values={"code": "A"})
    return ada


async def _erase(client: httpx.AsyncClient, world: World, profile_id: str) -> httpx.Response:
    return await client.post(
        brand_url(world, f"/profiles/{profile_id}/erase"),
        json={"reason": "request by email"},
        headers=world.manager_a.headers,
    )


async def _count(app: Litestar, world: World, model: Any) -> int:
    async with session_of(app, world.brand_a.id) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_erasure_deletes_the_profile_and_everything_it_has(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await _ada_with_everything(client, world)
    response = await _erase(client, world, ada["id"])
    assert response.status_code == 200, response.text
    assert response.json()["suppressedKeys"] == 3
    for model in (Profile, ProfileIdentity, Order, LinkedRow):
        assert await _count(app, world, model) == 0, model.__name__
    gone = await client.get(
        brand_url(world, f"/profiles/{ada['id']}"), headers=world.viewer_a.headers
    )
    problem(gone, 404)


async def test_erasure_keeps_identifiers_only_as_hashes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    async with session_of(app, world.brand_a.id) as session:
        rows = (await session.scalars(select(Suppression))).all()
    assert sorted(r.kind for r in rows) == ["email", "external:erp", "phone"]
    plain = {hashlib.sha256(v.encode()).hexdigest() for v in ("ada@example.com", "A-1")}
    for row in rows:
        assert len(row.hash) == 64
        assert row.hash not in plain  # keyed, not a bare digest anyone can recompute
        assert row.reason == "request by email"


async def test_suppressed_answers_the_erased_keys_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    async with session_of(app, world.brand_a.id) as session:
        found = await gdpr.suppressed(
            session,
            [("email", "ada@example.com"), ("email", "bob@example.com"), ("external:erp", "A-1")],
        )
    assert found == {("email", "ada@example.com"), ("external:erp", "A-1")}


async def test_suppressed_answers_for_a_whole_import_batch_of_keys(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    keys = [("email", f"person{i}@example.com") for i in range(20_000)]
    async with session_of(app, world.brand_a.id) as session:
        found = await gdpr.suppressed(session, [*keys, ("email", "ada@example.com")])
    assert found == {("email", "ada@example.com")}


async def test_suppression_is_per_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    async with session_of(app, TenantId(world.brand_b.id)) as session:
        assert await gdpr.suppressed(session, [("email", "ada@example.com")]) == set()


async def test_an_erased_identifier_cannot_come_back_without_new_consent(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"email": "Ada@Example.com", "firstName": "Ada"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["email"]
    assert await _count(app, world, Profile) == 0


async def test_a_granted_consent_brings_the_person_back_and_lifts_the_suppression(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    again = await create_profile(
        client,
        world,
        email="ada@example.com",
        consents=[{"state": "granted", "channel": "email", "source": "signup-form"}],
    )
    consents = await client.get(
        brand_url(world, f"/profiles/{again['id']}/consents"), headers=world.viewer_a.headers
    )
    assert [c["state"] for c in consents.json()["items"]] == ["granted"]
    async with session_of(app, world.brand_a.id) as session:
        left = await gdpr.suppressed(
            session, [("email", "ada@example.com"), ("phone", "+32470123456")]
        )
    assert left == {("phone", "+32470123456")}


async def test_a_denied_consent_does_not_lift_the_suppression(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    await _erase(client, world, ada["id"])
    response = await client.post(
        brand_url(world, "/profiles"),
        json={
            "phone": "+32470123456",
            "consents": [{"state": "denied", "channel": "sms", "source": "call-centre"}],
        },
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["phone"]


async def test_erasing_a_merged_id_redirects_to_the_survivor(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="ada@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    response = await _erase(client, world, newer["id"])
    assert response.status_code == 308
    assert older["id"] in response.headers["location"]


async def test_erasure_forgets_the_merge_history_and_the_merged_keys(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="ada@example.com")
    newer = await create_profile(client, world, phone="+32470123456")
    await client.post(
        brand_url(world, f"/profiles/{older['id']}/merge"),
        json={"otherId": newer["id"]},
        headers=world.manager_a.headers,
    )
    response = await _erase(client, world, older["id"])
    assert response.json()["suppressedKeys"] == 2
    merged = await client.get(
        brand_url(world, f"/profiles/{newer['id']}"), headers=world.viewer_a.headers
    )
    problem(merged, 404)


async def test_the_access_export_holds_everything_on_the_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await _ada_with_everything(client, world)
    response = await client.get(
        brand_url(world, f"/profiles/{ada['id']}/gdpr-export"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"]["email"] == "ada@example.com"
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("email", "ada@example.com"),
        ("phone", "+32470123456"),
        ("external:erp", "A-1"),
    }
    assert [c["state"] for c in body["consents"]] == ["granted"]
    assert [o["orderId"] for o in body["orders"]] == ["W-1"]
    assert body["orders"][0]["lines"][0]["product"] == "bread"
    assert [(r["table"], r["values"]) for r in body["linkedRows"]] == [("coupons", {"code": "A"})]
    assert [v["operation"] for v in body["linkedRows"][0]["history"]] == ["created"]
    assert body["merges"] == []


async def test_an_update_cannot_give_a_profile_an_erased_identifier(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await create_profile(client, world, **ADA)
    bob = await create_profile(client, world, email="bob@example.com", firstName="Bob")
    await _erase(client, world, ada["id"])
    for change, field in (
        ({"email": "ADA@example.com"}, "email"),
        ({"phone": "+32 470 12 34 56"}, "phone"),
        ({"externalIds": [{"source": "erp", "id": "A-1"}]}, "externalIds"),
    ):
        response = await client.patch(
            brand_url(world, f"/profiles/{bob['id']}"),
            json={**change, "firstName": "Robert"},
            headers=world.manager_a.headers,
        )
        assert fields_of(problem(response, 409)) == [field]
    kept = await client.get(
        brand_url(world, f"/profiles/{bob['id']}"), headers=world.viewer_a.headers
    )
    assert (kept.json()["email"], kept.json()["firstName"]) == ("bob@example.com", "Bob")
    # Keeping one's own identifiers while changing others is no reuse.
    fine = await client.patch(
        brand_url(world, f"/profiles/{bob['id']}"),
        json={"email": "bob@example.com", "firstName": "Robert"},
        headers=world.manager_a.headers,
    )
    assert fine.status_code == 200, fine.text
