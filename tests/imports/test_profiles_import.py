"""Profile imports: CSV and NDJSON, upsert by any identity key, modes, partial failure with
rejections, merges, unique attributes."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.exc import IntegrityError

from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from backend.imports import repository, staging
from tests.factories import make_world, session_of
from tests.imports.helpers import NDJSON, imported, ndjson, profiles, rejections
from tests.profiles.helpers import brand_url, create_profile, define_attribute

pytestmark = pytest.mark.worker

HEADER = "email,phone,firstName,last_name,country,attributes.tier\n"


async def test_csv_import_creates_profiles(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["gold", "silver"])
    body = HEADER + "Ada@Example.com,0470 12 34 56,Ada,Lovelace,BE,gold\nbob@example.com,,Bob,,,\n"
    result = await imported(app, client, world, body)
    assert (result["status"], result["rowsProcessed"]) == ("succeeded", 2)
    assert (result["created"], result["updated"], result["rejected"]) == (2, 0, 0)
    assert result["finishedAt"] is not None
    stored = {p["email"]: p for p in await profiles(client, world)}
    ada = stored["ada@example.com"]
    assert (ada["phone"], ada["firstName"], ada["lastName"]) == ("+32470123456", "Ada", "Lovelace")
    assert ada["attributes"] == {"tier": "gold"}
    assert stored["bob@example.com"]["phone"] is None


async def test_ndjson_import_creates_profiles_with_typed_attributes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="points", type="number")
    await define_attribute(client, world, key="vip", type="boolean")
    body = ndjson(
        {"email": "ada@example.com", "birthDate": "1990-12-10", "attributes.points": 12},
        {"email": "bob@example.com", "attributes.vip": True, "externalIds.erp": "E-1"},
    )
    result = await imported(app, client, world, body, content_type=NDJSON)
    assert (result["created"], result["rejected"]) == (2, 0)
    stored = {p["email"]: p for p in await profiles(client, world)}
    assert stored["ada@example.com"]["birthDate"] == "1990-12-10"
    assert stored["ada@example.com"]["attributes"] == {"points": 12}
    assert stored["bob@example.com"]["externalIds"] == [{"source": "erp", "id": "E-1"}]


async def test_upsert_updates_profiles_found_by_email_phone_or_external_id(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    by_email = await create_profile(client, world, email="ada@example.com", firstName="A")
    by_phone = await create_profile(client, world, phone="+32470123456", firstName="B")
    by_erp = await create_profile(client, world, externalIds=[{"source": "erp", "id": "9"}])
    body = (
        "email,phone,externalIds.erp,firstName\n"
        "ada@example.com,,,Ada\n"
        ",+32 470 12 34 56,,Bea\n"
        "cy@example.com,,9,Cy\n"
    )
    result = await imported(app, client, world, body)
    assert (result["created"], result["updated"], result["rejected"]) == (0, 3, 0)
    stored = {p["id"]: p for p in await profiles(client, world)}
    assert len(stored) == 3
    assert stored[by_email["id"]]["firstName"] == "Ada"
    assert stored[by_phone["id"]]["firstName"] == "Bea"
    assert (stored[by_erp["id"]]["firstName"], stored[by_erp["id"]]["email"]) == (
        "Cy",
        "cy@example.com",
    )


async def test_update_keeps_stored_values_of_empty_cells_and_merges_attributes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="text")
    await define_attribute(client, world, key="store_code", type="text")
    created = await create_profile(
        client, world, email="ada@example.com", lastName="Lovelace", attributes={"tier": "gold"}
    )
    body = "email,lastName,firstName,attributes.store_code\nada@example.com,,Ada,S1\n"
    await imported(app, client, world, body)
    (stored,) = await profiles(client, world)
    assert stored["id"] == created["id"]
    assert (stored["firstName"], stored["lastName"]) == ("Ada", "Lovelace")
    assert stored["attributes"] == {"tier": "gold", "store_code": "S1"}


async def test_changing_an_email_releases_the_old_key(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(
        client, world, email="old@example.com", externalIds=[{"source": "erp", "id": "1"}]
    )
    await imported(app, client, world, "externalIds.erp,email\n1,new@example.com\n")
    result = await imported(app, client, world, "email,firstName\nold@example.com,Other\n")
    assert result["created"] == 1  # the old address now belongs to nobody


async def test_create_mode_rejects_rows_of_known_profiles(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    body = "email\nada@example.com\nbob@example.com\n"
    result = await imported(app, client, world, body, mode="create")
    assert (result["created"], result["updated"], result["rejected"]) == (1, 0, 1)
    (rejection,) = await rejections(client, world, result["id"])
    assert rejection["line"] == 2
    assert "belongs to an existing profile" in rejection["reason"]


async def test_update_mode_rejects_rows_of_unknown_profiles(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    body = "email,firstName\nada@example.com,Ada\nbob@example.com,Bob\n"
    result = await imported(app, client, world, body, mode="update")
    assert (result["created"], result["updated"], result["rejected"]) == (0, 1, 1)
    (rejection,) = await rejections(client, world, result["id"])
    assert (rejection["line"], rejection["reason"]) == (3, "no profile has these identity keys")
    assert len(await profiles(client, world)) == 1


async def test_import_keeps_valid_rows_when_some_fail(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="points", type="number")
    await define_attribute(client, world, key="tier", type="enum", options=["gold", "silver"])
    body = (
        "email,phone,attributes.points,attributes.tier\n"
        "ok1@example.com,,1,gold\n"
        "not-an-email,,,\n"
        "ok2@example.com,12,,\n"
        "ok3@example.com,,many,\n"
        "ok4@example.com,,,bronze\n"
        'ok5@example.com,"+3247"0,,\n'
        "ok6@example.com,,,,extra\n"
        "ok7@example.com,,2,silver\n"
    )
    result = await imported(app, client, world, body)
    assert (result["created"], result["rejected"], result["rowsProcessed"]) == (2, 6, 8)
    found = {
        (r["line"], r["reason"].split(":")[0])
        for r in await rejections(client, world, result["id"])
    }
    assert found == {
        (3, "email"),
        (4, "phone"),
        (5, "attributes.points"),
        (6, "attributes.tier"),
        (7, "malformed CSV"),
        (8, "malformed CSV"),
    }
    assert {p["email"] for p in await profiles(client, world)} == {
        "ok1@example.com",
        "ok7@example.com",
    }


async def test_rejections_download_as_csv(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    result = await imported(app, client, world, "email\nnope\nok@example.com\n")
    response = await client.get(
        brand_url(world, f"/imports/{result['id']}/rejections.csv"),
        headers=world.viewer_a.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == [
        "line,reason,raw",
        "2,email: not a valid email address,nope",
    ]


async def test_rejections_are_paginated(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    result = await imported(app, client, world, "email\n" + "bad\n" * 5)
    url = brand_url(world, f"/imports/{result['id']}/rejections")
    first = (await client.get(url, params={"limit": 3}, headers=world.viewer_a.headers)).json()
    second = (
        await client.get(
            url, params={"limit": 3, "cursor": first["nextCursor"]}, headers=world.viewer_a.headers
        )
    ).json()
    assert [r["line"] for r in first["items"] + second["items"]] == [2, 3, 4, 5, 6]
    assert second["nextCursor"] is None


async def test_a_row_joining_two_profiles_merges_them_into_the_older(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    older = await create_profile(client, world, email="ada@example.com")
    await create_profile(client, world, phone="+32470123456")
    body = "email,phone,firstName\nada@example.com,+32470123456,Ada\n"
    result = await imported(app, client, world, body)
    assert (result["updated"], result["rejected"]) == (1, 0)
    (survivor,) = await profiles(client, world)
    assert (survivor["id"], survivor["phone"], survivor["firstName"]) == (
        older["id"],
        "+32470123456",
        "Ada",
    )


async def test_rows_sharing_a_key_in_one_file_make_one_profile(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = "email,firstName,lastName\nada@example.com,Ada,\nada@example.com,,Lovelace\n"
    result = await imported(app, client, world, body)
    assert (result["created"], result["updated"]) == (1, 1)
    (stored,) = await profiles(client, world)
    assert (stored["firstName"], stored["lastName"]) == ("Ada", "Lovelace")


async def test_unique_attribute_values_stay_unique(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="card", type="text", unique=True)
    await create_profile(client, world, email="ada@example.com", attributes={"card": "C1"})
    body = "email,attributes.card\nbob@example.com,C1\ncy@example.com,C2\ndee@example.com,C2\n"
    result = await imported(app, client, world, body)
    assert (result["created"], result["rejected"]) == (1, 2)
    reasons = {r["line"]: r["reason"] for r in await rejections(client, world, result["id"])}
    assert reasons == {
        2: "attributes.card: value already taken",
        4: "attributes.card: value already taken",
    }


async def test_required_attribute_missing_rejects_new_profiles_only(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    await define_attribute(client, world, key="tier", type="text", required=True, default=None)
    result = await imported(
        app, client, world, "email,firstName\nada@example.com,A\nbob@example.com,B\n"
    )
    assert (result["updated"], result["rejected"]) == (1, 1)


async def test_mapping_renames_and_ignores_columns(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = "Mail,Given,Notes\nada@example.com,Ada,whatever\n"
    mapping = '{"Mail": "email", "Given": "firstName", "Notes": null}'
    result = await imported(app, client, world, body, mapping=mapping)
    assert (result["created"], result["rejected"]) == (1, 0)
    (stored,) = await profiles(client, world)
    assert (stored["email"], stored["firstName"]) == ("ada@example.com", "Ada")


async def test_an_import_cannot_bring_back_an_erased_person(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="tier", type="enum", options=["gold", "silver"])
    ada = await create_profile(client, world, email="ada@example.com", firstName="Ada")
    erased = await client.post(
        brand_url(world, f"/profiles/{ada['id']}/erase"), headers=world.manager_a.headers
    )
    assert erased.status_code == 200, erased.text
    result = await imported(
        app, client, world, HEADER + "ada@example.com,,Ada,,,\nbob@example.com,,Bob,,,\n"
    )
    assert (result["created"], result["rejected"]) == (1, 1)
    [rejection] = await rejections(client, world, result["id"])
    assert rejection["line"] == 2
    assert "erased" in rejection["reason"]
    assert [p["email"] for p in await profiles(client, world)] == ["bob@example.com"]


async def test_update_rows_cannot_give_a_profile_an_erased_identifier(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    gone = await create_profile(client, world, email="gone@example.com")
    erased = await client.post(
        brand_url(world, f"/profiles/{gone['id']}/erase"), headers=world.manager_a.headers
    )
    assert erased.status_code == 200, erased.text
    await create_profile(
        client, world, email="kept@example.com", externalIds=[{"source": "erp", "id": "K"}]
    )
    body = "externalIds.erp,email,firstName\nK,gone@example.com,Kim\nK,,Kim\n"
    for mode in ("update", "upsert"):
        result = await imported(app, client, world, body, mode=mode)
        assert (result["updated"], result["rejected"]) == (1, 1), mode
        (rejection,) = await rejections(client, world, result["id"])
        assert rejection["line"] == 2
        assert "erased person" in rejection["reason"]
    (kept,) = await profiles(client, world)
    assert (kept["email"], kept["firstName"]) == ("kept@example.com", "Kim")


async def test_quoted_and_plain_lines_sharing_a_key_keep_file_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    # On PostgreSQL plain lines are read by the database and quoted ones by the csv module: a
    # key they share still makes one profile, written in file order.
    world = await make_world(app)
    body = (
        "email,firstName,lastName\n"
        'ada@example.com,"Ada, the first",\n'
        "ada@example.com,,Lovelace\n"
        'ada@example.com,Ada,"Byron"\n'
        "bob@example.com,Bob,\n"
    )
    result = await imported(app, client, world, body)
    assert (result["created"], result["updated"], result["rejected"]) == (2, 2, 0)
    stored = {p["email"]: p for p in await profiles(client, world)}
    assert (stored["ada@example.com"]["firstName"], stored["ada@example.com"]["lastName"]) == (
        "Ada",
        "Byron",
    )


async def test_cells_are_normalised_and_checked_as_in_any_write(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="since", type="date")
    await define_attribute(client, world, key="points", type="number")
    head = "email,phone,firstName,birthDate,country,timeZone,channelAppetency,"
    body = (
        head + "attributes.since,attributes.points\n"
        "ADA@Example.COM,0470 12 34 56, Ada ,1990-12-10,be, Europe/Paris ,sms,2020-02-29,007\n"
        "bob@example.com,+32470123457,Bob,2023-02-29,BE,UTC,sms,2020-01-01,12\n"
        "cy@example.com,+32470123458,Cy,1990-01-01,BE,UTC,sms,2021-02-29,1.5\n"
        "dee@example.com,+1,Dee,1990-01-01,BE,UTC,sms,2021-01-01,3\n"
        "eve@example.com,+32470123459,Eve,1990-01-01,XX,UTC,sms,2021-01-01,3\n"
        "fay@example.com,+32470123460,Fay,1990-01-01,BE,Mars/Olympus,sms,2021-01-01,3\n"
        "gus@example.com,+32470123461,Gus,1990-01-01,BE,UTC,fax,2021-01-01,3\n"
    )
    result = await imported(app, client, world, body)
    assert (result["created"], result["rejected"]) == (1, 6)
    reasons = {r["line"]: r["reason"] for r in await rejections(client, world, result["id"])}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert "birthDate" in reasons[3]
    assert "attributes.since" in reasons[4]
    assert "phone" in reasons[5]
    assert "country" in reasons[6]
    assert "timeZone" in reasons[7]
    assert "channelAppetency" in reasons[8]
    (ada,) = await profiles(client, world)
    assert (ada["email"], ada["phone"], ada["firstName"], ada["country"], ada["timeZone"]) == (
        "ada@example.com",
        "+32470123456",
        "Ada",
        "BE",
        "Europe/Paris",
    )
    assert ada["attributes"] == {"since": "2020-02-29", "points": 7}
    assert UUID(ada["id"]).version == 7  # time-ordered, as every id the platform makes


async def test_a_key_claimed_since_it_was_found_unheld_fails_the_write(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """The set-based path inserts the keys it found unheld plainly: a profile claiming one in
    the meantime makes the batch fail (and the job retry it), never writes a second owner nor
    a new profile without its key."""
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    staged = new_id()
    async with session_of(app, world.brand_a.id) as session:
        await repository.stage_profile_tables(session)
        await staging.load(
            session,
            repository.STAGED_PROFILES,
            [{"profile_id": staged, "is_new": True, "email": "ada@example.com", "attributes": {}}],
        )
        await staging.load(
            session,
            repository.STAGED_KEYS,
            [{"kind": "email", "value": "ada@example.com", "profile_id": staged}],
        )
        with pytest.raises(IntegrityError):
            await repository.write_staged_profiles(
                session,
                TenantId(world.brand_a.id),
                updates=False,
                new_keys={"email"},
                claims=False,
                unheld=True,
            )
        await session.rollback()
    assert [p["email"] for p in await profiles(client, world)] == ["ada@example.com"]
