"""REST: profiles created, read, updated, listed, looked up and deleted; standard fields
normalised; bad input refused naming the field, with nothing half-written."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.factories import make_world, problem
from tests.profiles.helpers import (
    UNKNOWN_ID,
    brand_url,
    create_profile,
    define_attribute,
    fields_of,
    read_profile,
)

# Create and read -------------------------------------------------------------------------------


async def test_create_answers_201_with_the_id_and_normalised_fields(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(
        client,
        world,
        email="  Ada.Lovelace@Example.COM ",
        phone="+32 470 12 34 56",
        firstName="Ada",
        country="be",
        timeZone="Europe/Brussels",
        birthDate="1815-12-10",
        channelAppetency="sms",
    )
    assert created["id"]
    assert created["email"] == "ada.lovelace@example.com"
    assert created["phone"] == "+32470123456"
    assert created["country"] == "BE"
    body = await read_profile(client, world, created["id"])
    assert body["firstName"] == "Ada"
    assert body["birthDate"] == "1815-12-10"
    assert body["channelAppetency"] == "sms"


async def test_phone_without_country_code_is_read_in_the_profile_country(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, phone="0470 12 34 56", country="BE")
    assert created["phone"] == "+32470123456"


async def test_phone_without_country_code_nor_region_is_refused_naming_phone(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)  # brand locale "en": no region to read the number in
    response = await client.post(
        brand_url(world, "/profiles"), json={"phone": "0470123456"}, headers=world.manager_a.headers
    )
    assert fields_of(problem(response, 422)) == ["phone"]


async def test_profile_of_another_brand_answers_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, email="a@example.com")
    response = await client.get(
        f"/v1/brands/{world.brand_b.id}/profiles/{created['id']}", headers=world.owner_b.headers
    )
    problem(response, 404)


async def test_unknown_profile_answers_404(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    problem(
        await client.get(
            brand_url(world, f"/profiles/{UNKNOWN_ID}"), headers=world.viewer_a.headers
        ),
        404,
    )


# Update and delete -----------------------------------------------------------------------------


async def test_patch_changes_given_fields_keeps_absent_ones_and_clears_nulls(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(
        client, world, email="a@example.com", firstName="Ada", lastName="Lovelace"
    )
    response = await client.patch(
        brand_url(world, f"/profiles/{created['id']}"),
        json={"firstName": "Augusta", "lastName": None},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    body = await read_profile(client, world, created["id"])
    assert (body["firstName"], body["lastName"], body["email"]) == (
        "Augusta",
        None,
        "a@example.com",
    )


async def test_patch_to_an_email_held_by_another_profile_answers_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="taken@example.com")
    other = await create_profile(client, world, email="mine@example.com")
    response = await client.patch(
        brand_url(world, f"/profiles/{other['id']}"),
        json={"email": "TAKEN@example.com"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["email"]
    assert (await read_profile(client, world, other["id"]))["email"] == "mine@example.com"


async def test_changed_email_frees_the_old_one(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    first = await create_profile(client, world, email="old@example.com")
    response = await client.patch(
        brand_url(world, f"/profiles/{first['id']}"),
        json={"email": "new@example.com"},
        headers=world.manager_a.headers,
    )
    assert response.status_code == 200, response.text
    await create_profile(client, world, email="old@example.com")


async def test_delete_answers_204_then_404_and_frees_its_keys(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    created = await create_profile(client, world, email="gone@example.com")
    url = brand_url(world, f"/profiles/{created['id']}")
    response = await client.delete(url, headers=world.manager_a.headers)
    assert response.status_code == 204, response.text
    problem(await client.get(url, headers=world.viewer_a.headers), 404)
    await create_profile(client, world, email="gone@example.com")


# List and lookup -------------------------------------------------------------------------------


async def test_list_pages_through_profiles_in_creation_order(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ids = [(await create_profile(client, world, firstName=f"p{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            brand_url(world, "/profiles"), params=params, headers=world.viewer_a.headers
        )
        assert response.status_code == 200, response.text
        seen += [item["id"] for item in response.json()["items"]]
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == ids


async def test_lookup_by_email_phone_and_external_id(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="other@example.com")
    wanted = await create_profile(
        client,
        world,
        email="ada@example.com",
        phone="+32470123456",
        externalIds=[{"source": "erp", "id": "C-42"}],
    )
    for params in (
        {"email": "ADA@example.com"},
        {"phone": "+32 470 123 456"},
        {"externalId": "erp:C-42"},
    ):
        response = await client.get(
            brand_url(world, "/profiles"), params=params, headers=world.viewer_a.headers
        )
        assert response.status_code == 200, response.text
        assert [p["id"] for p in response.json()["items"]] == [wanted["id"]], params
    assert response.json()["items"][0]["externalIds"] == [{"source": "erp", "id": "C-42"}]


async def test_lookup_with_a_malformed_email_answers_422_naming_email(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get(
        brand_url(world, "/profiles"), params={"email": "nope"}, headers=world.viewer_a.headers
    )
    assert fields_of(problem(response, 422)) == ["email"]


# Bad input -------------------------------------------------------------------------------------


async def test_bad_standard_fields_are_all_named(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profiles"),
        json={
            "email": "not-an-address",
            "phone": "+32 12",
            "country": "XX",
            "timeZone": "Mars/Olympus",
            "locale": "english",
        },
        headers=world.manager_a.headers,
    )
    assert sorted(fields_of(problem(response, 422))) == [
        "country",
        "email",
        "locale",
        "phone",
        "timeZone",
    ]


async def test_unknown_body_field_is_named(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profiles"), json={"nickname": "x"}, headers=world.manager_a.headers
    )
    assert fields_of(problem(response, 422)) == ["nickname"]


async def test_wrongly_typed_standard_field_is_named(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"birthDate": "yesterday"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 422)) == ["birthDate"]


async def test_failed_update_leaves_the_profile_as_it_was(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="card", type="text", unique=True)
    await create_profile(client, world, email="holder@example.com", attributes={"card": "C1"})
    created = await create_profile(
        client, world, email="ada@example.com", firstName="Ada", attributes={"card": "C2"}
    )
    before = await read_profile(client, world, created["id"])
    # Valid fields first, then a unique value another profile holds: the whole write is refused.
    response = await client.patch(
        brand_url(world, f"/profiles/{created['id']}"),
        json={"firstName": "Changed", "email": "changed@example.com", "attributes": {"card": "C1"}},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["attributes.card"]
    assert await read_profile(client, world, created["id"]) == before
    # The email it tried to take is still free.
    await create_profile(client, world, email="changed@example.com")


async def test_create_with_a_known_key_answers_409_and_creates_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    await create_profile(client, world, email="ada@example.com")
    response = await client.post(
        brand_url(world, "/profiles"),
        json={"email": "ada@example.com", "firstName": "Dup"},
        headers=world.manager_a.headers,
    )
    assert fields_of(problem(response, 409)) == ["email"]
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert len(listed.json()["items"]) == 1
