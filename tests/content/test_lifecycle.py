"""A template's life over REST: versions saved and listed, published, rolled back; its name and
topic changed (PATCH); deleted, which archives it: gone from the list, refused for new sends,
its versions kept for the messages naming them, its key free again."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.content import service
from backend.content.errors import RenderRefused
from backend.core.ids import new_id
from backend.core.tenancy import TenantId
from tests.content.test_content import post, url
from tests.factories import World, make_world, problem, session_of
from tests.segments.helpers import make_profile


async def _get(client: httpx.AsyncClient, world: World, path: str) -> Any:
    response = await client.get(url(world, path), headers=world.viewer_a.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _sent_text(app: Litestar, world: World, template_id: str, profile: UUID) -> str:
    async with session_of(app, world.brand_a.id) as session:
        rendered = await service.render_for(
            session, TenantId(world.brand_a.id), app.state.settings,
            template_id=UUID(template_id), profile_id=profile, message_id=new_id(),
        )  # fmt: skip
    text: str = getattr(rendered.content, "text", "")
    return f"v{rendered.version}:{text}"


async def test_versions_publish_roll_back_patch_and_archive(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_profile(app, world.brand_a.id, email="a@example.com", locale="en")
    created = await post(client, world, "/templates", {
        "key": "promo", "name": "Promo", "channel": "sms", "topic": "news",
        "defaultLocale": "en", "variants": {"en": {"text": "one"}},
    })  # fmt: skip
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    base = f"/templates/{template_id}"

    # v2 published, v3 saved as a draft.
    for text, publish in (("two", True), ("three", False)):
        saved = await post(client, world, f"{base}/versions", {
            "variants": {"en": {"text": text}}, "publish": publish,
        })  # fmt: skip
        assert saved.status_code == 201, saved.text
    template = await _get(client, world, base)
    assert (template["currentVersion"], template["latestVersion"]) == (2, 3)
    assert await _sent_text(app, world, template_id, ada) == "v2:two"

    listed = await _get(client, world, f"{base}/versions")
    assert [(v["version"], v["variants"]["en"]["text"]) for v in listed["items"]] == [
        (1, "one"), (2, "two"), (3, "three"),
    ]  # fmt: skip
    paged = await client.get(url(world, f"{base}/versions?limit=2"), headers=world.viewer_a.headers)
    assert [v["version"] for v in paged.json()["items"]] == [1, 2]
    assert paged.json()["nextCursor"]

    # Publish the draft, then roll back to v1.
    for number, expected in ((3, "v3:three"), (1, "v1:one")):
        published = await post(client, world, f"{base}/versions/{number}/publish", None)
        assert published.status_code == 200, published.text
        assert published.json()["currentVersion"] == number
        assert await _sent_text(app, world, template_id, ada) == expected
    missing = await post(client, world, f"{base}/versions/9/publish", None)
    assert missing.status_code == 404
    assert (await _get(client, world, base))["currentVersion"] == 1

    # PATCH: name and topic change; `topic: null` clears it; the key and channel are fixed.
    patches: list[tuple[dict[str, Any], int, dict[str, Any]]] = [
        ({"name": "Promo (FR)"}, 200, {"name": "Promo (FR)", "topic": "news"}),
        ({"topic": "deals"}, 200, {"name": "Promo (FR)", "topic": "deals"}),
        ({"topic": None}, 200, {"topic": None}),
        ({"name": ""}, 422, {}),
        ({"key": "other"}, 422, {}),
        ({"channel": "email"}, 422, {}),
    ]
    for body, status, fields in patches:
        patched = await client.patch(url(world, base), json=body, headers=world.manager_a.headers)
        assert patched.status_code == status, (body, patched.text)
        for name, value in fields.items():
            assert patched.json()[name] == value, body
    viewer = await client.patch(
        url(world, base), json={"name": "x"}, headers=world.viewer_a.headers
    )
    assert viewer.status_code == 403

    # Delete archives: versions stay for the ledger, new sends are refused with a reason.
    version_ids = [v["id"] for v in (await _get(client, world, f"{base}/versions"))["items"]]
    for _ in range(2):  # deleting again changes nothing
        deleted = await client.delete(url(world, base), headers=world.manager_a.headers)
        assert deleted.status_code == 204, deleted.text
    assert (await _get(client, world, "/templates"))["items"] == []
    archived = await _get(client, world, base)
    assert archived["archivedAt"] is not None
    kept = await _get(client, world, f"{base}/versions")
    assert [v["id"] for v in kept["items"]] == version_ids
    async with session_of(app, world.brand_a.id) as session:
        assert (await service.version_by_id(session, UUID(version_ids[0]))) is not None
        with pytest.raises(RenderRefused) as refused:
            await service.render_for(
                session, TenantId(world.brand_a.id), app.state.settings,
                template_id=UUID(template_id), profile_id=ada, message_id=new_id(),
            )  # fmt: skip
    assert refused.value.reason == "template-archived"
    assert "promo" in refused.value.detail
    # An archived template no longer changes; its key is free for a new one.
    changes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", base, {"name": "x"}),
        ("POST", f"{base}/versions", {"variants": {"en": {"text": "four"}}}),
        ("POST", f"{base}/versions/2/publish", None),
    ]
    for method, path, payload in changes:
        answer = await client.request(
            method, url(world, path), json=payload, headers=world.manager_a.headers
        )
        assert answer.status_code == 409, (method, path, answer.text)
        assert "archived" in problem(answer, 409)["detail"]
    again = await post(client, world, "/templates", {
        "key": "promo", "name": "Promo", "channel": "email", "defaultLocale": "en",
        "variants": {"en": {"subject": "s", "body": "<p>b</p>"}},
    })  # fmt: skip
    assert again.status_code == 201, again.text
    async with session_of(app, world.brand_a.id) as session:
        by_key = await service.get_template(session, "promo")
    assert str(by_key.id) == again.json()["id"]
    listed_now = await _get(client, world, "/templates")
    assert [t["id"] for t in listed_now["items"]] == [again.json()["id"]]
