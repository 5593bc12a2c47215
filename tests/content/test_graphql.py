"""GraphQL of content, read and written through the same services as REST: coupon pools,
snippets, templates, versions (saved, published, rolled back), previews with data and locale,
deletion (archiving); a bad template is an `OperationError` 422 whose `fieldErrors` point at the
problem, nothing stored; another brand finds none of it."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.factories import make_world
from tests.segments.helpers import make_profile
from tests.test_graphql import gql, gql_data

RESULT = """__typename
  ... on OperationError { httpStatus detail fieldErrors { field pointer message } }"""
TEMPLATE_FIELDS = "id uuid key name channel topic currentVersion latestVersion archivedAt"
CREATE_POOL = f"""mutation($brand: ID!, $input: CreateCouponPoolInput!) {{
  createCouponPool(brand: $brand, input: $input) {{ {RESULT}
    ... on CouponPool {{ id uuid }} }} }}"""
ADD_CODES = f"""mutation($brand: ID!, $input: AddCouponsInput!) {{
  addCoupons(brand: $brand, input: $input) {{ {RESULT}
    ... on CouponCodesAdded {{ received added duplicates pool {{ total left }} }} }} }}"""
CREATE_SNIPPET = f"""mutation($brand: ID!, $input: CreateSnippetInput!) {{
  createSnippet(brand: $brand, input: $input) {{ {RESULT} ... on Snippet {{ id uuid key }} }} }}"""
CREATE = f"""mutation($brand: ID!, $input: CreateTemplateInput!) {{
  createTemplate(brand: $brand, input: $input) {{ {RESULT}
    ... on Template {{ {TEMPLATE_FIELDS} }} }} }}"""
SAVE = f"""mutation($brand: ID!, $input: CreateTemplateVersionInput!) {{
  createTemplateVersion(brand: $brand, input: $input) {{ {RESULT}
    ... on TemplateVersion {{ id version pools snippets locales }} }} }}"""
PUBLISH = f"""mutation($brand: ID!, $input: PublishTemplateVersionInput!) {{
  publishTemplateVersion(brand: $brand, input: $input) {{ {RESULT}
    ... on Template {{ currentVersion latestVersion }} }} }}"""
UPDATE = f"""mutation($brand: ID!, $input: UpdateTemplateInput!) {{
  updateTemplate(brand: $brand, input: $input) {{ {RESULT} ... on Template {{ name topic }} }} }}"""
DELETE = f"""mutation($brand: ID!, $input: TemplateIdInput!) {{
  deleteTemplate(brand: $brand, input: $input) {{ {RESULT} ... on Deleted {{ id }} }} }}"""
VERSIONS = "templateVersions(brand: $brand, templateId: $id) { totalCount nodes { id version } }"
READ = f"""query($brand: ID!, $id: ID!, $pool: ID!, $snippet: ID!) {{
  templates(brand: $brand) {{ totalCount nodes {{ uuid }} }}
  template(brand: $brand, id: $id) {{ {TEMPLATE_FIELDS} }}
  {VERSIONS}
  templateVersion(brand: $brand, templateId: $id, version: 1) {{ version variants sms }}
  couponPools(brand: $brand) {{ nodes {{ key total claimed left }} }}
  couponPool(brand: $brand, id: $pool) {{ key left }}
  snippets(brand: $brand) {{ nodes {{ key body }} }}
  snippet(brand: $brand, id: $snippet) {{ key }}
  node(brand: $brand, id: $id) {{ __typename ... on Template {{ key }} }}
}}"""
PREVIEW = """query($brand: ID!, $input: PreviewTemplateInput!) {
  previewTemplate(brand: $brand, input: $input) { version locale channel subject html links } }"""


def _variants(greeting: str) -> dict[str, Any]:
    body = (
        f'<p>{greeting} {{{{ first_name }}}} {{{{ data.n }}}}</p><a href="https://shop.test/'
        '{{ coupon("WELCOME") }}">go</a>{% include "snippet:footer" %}'
    )
    return {"subject": f"{greeting} {{{{ first_name }}}}", "body": body}


async def test_content_over_graphql(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    manager = world.manager_a

    async def write(document: str, input: dict[str, Any], name: str) -> dict[str, Any]:
        data = await gql_data(client, document, manager, {"brand": brand, "input": input})
        result: dict[str, Any] = data[name]
        return result

    pool = await write(CREATE_POOL, {"key": "WELCOME", "name": "Welcome"}, "createCouponPool")
    added = await write(ADD_CODES, {"id": pool["id"], "csv": "code\nW-1\nW-2\nW-1\n"}, "addCoupons")
    assert added == {
        "__typename": "CouponCodesAdded", "received": 3, "added": 2, "duplicates": 1,
        "pool": {"total": 2, "left": 2},
    }  # fmt: skip
    snippet = await write(
        CREATE_SNIPPET, {"key": "footer", "name": "Footer", "body": "<p>Bye</p>"}, "createSnippet"
    )
    created = await write(CREATE, {
        "key": "welcome", "name": "Welcome", "channel": "EMAIL", "topic": "news",
        "defaultLocale": "en", "variants": {"en": _variants("Hi"), "fr": _variants("Salut")},
    }, "createTemplate")  # fmt: skip
    assert created["__typename"] == "Template", created
    assert (created["channel"], created["currentVersion"]) == ("EMAIL", 1)
    template = created["id"]  # the global id; REST's uuid works as well
    saved = await write(SAVE, {
        "templateId": created["uuid"], "variants": {"en": _variants("Hello")}, "publish": False,
    }, "createTemplateVersion")  # fmt: skip
    assert (saved["version"], saved["pools"], saved["snippets"]) == (2, ["WELCOME"], ["footer"])
    published = await write(
        PUBLISH, {"templateId": template, "version": 2}, "publishTemplateVersion"
    )
    assert (published["currentVersion"], published["latestVersion"]) == (2, 2)
    updated = await write(
        UPDATE, {"id": template, "name": "Welcome!", "topic": None}, "updateTemplate"
    )
    assert updated == {"__typename": "Template", "name": "Welcome!", "topic": None}

    read = await gql_data(client, READ, world.viewer_a, {
        "brand": brand, "id": template, "pool": pool["id"], "snippet": snippet["uuid"],
    })  # fmt: skip
    assert read["templates"] == {"totalCount": 1, "nodes": [{"uuid": created["uuid"]}]}
    assert read["template"]["currentVersion"] == 2
    assert read["templateVersions"]["totalCount"] == 2
    assert [v["version"] for v in read["templateVersions"]["nodes"]] == [1, 2]
    assert read["templateVersion"]["variants"]["fr"]["subject"] == "Salut {{ first_name }}"
    assert read["templateVersion"]["sms"] is None
    assert read["couponPools"]["nodes"] == [{"key": "WELCOME", "total": 2, "claimed": 0, "left": 2}]
    assert (read["couponPool"]["key"], read["snippet"]["key"]) == ("WELCOME", "footer")
    assert read["node"] == {"__typename": "Template", "key": "welcome"}

    ada = await make_profile(app, world.brand_a.id, email="a@example.com", first_name="Ada")
    cases = [
        ({}, 2, "en", "Hello Ada"),
        ({"version": 1, "locale": "fr-BE"}, 1, "fr", "Salut Ada"),
    ]
    for extra, version, locale, subject in cases:
        preview = await gql_data(client, PREVIEW, world.viewer_a, {"brand": brand, "input": {
            "templateId": template, "profileId": str(ada), "data": {"n": 7}, **extra,
        }})  # fmt: skip
        shown = preview["previewTemplate"]
        assert (shown["version"], shown["locale"], shown["subject"]) == (version, locale, subject)
        assert "7" in shown["html"]
        assert "<p>Bye</p>" in shown["html"]
        assert shown["links"] == ["https://shop.test/SAMPLE-CODE"]
    missing = await gql(client, PREVIEW, world.viewer_a, {"brand": brand, "input": {
        "templateId": template, "profileId": str(ada),
    }})  # fmt: skip
    assert missing["errors"][0]["extensions"]["status"] == 422
    assert "data.n" in missing["errors"][0]["message"]

    deleted = await write(DELETE, {"id": template}, "deleteTemplate")
    assert deleted == {"__typename": "Deleted", "id": template}
    after = await gql_data(client, READ, world.viewer_a, {
        "brand": brand, "id": template, "pool": pool["id"], "snippet": snippet["id"],
    })  # fmt: skip
    assert after["templates"] == {"totalCount": 0, "nodes": []}
    assert after["template"]["archivedAt"] is not None
    assert after["templateVersions"]["totalCount"] == 2
    refused = await write(PUBLISH, {"templateId": template, "version": 1}, "publishTemplateVersion")
    assert (refused["__typename"], refused["httpStatus"]) == ("OperationError", 409)


async def test_bad_input_is_an_operation_error_naming_the_field_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    brand = str(world.brand_a.id)
    base = {"key": "t", "name": "T", "channel": "SMS", "defaultLocale": "en"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"variants": {"en": {"text": "Hi\n{% if %}"}}}, "/variants/en/text", "Expected"),
        ({"variants": {"en": {"text": "{{ nickname }}"}}}, "/variants/en/text", "nickname"),
        ({"variants": {"en": {"text": "x"}}, "key": "Bad Key"}, "/key", ""),
        ({"variants": {"en": {"text": "x", "subject": "s"}}}, "/variants/en/subject", "subject"),
        ({"variants": {}}, "/variants", ""),
    ]
    for change, pointer, message in cases:
        answer = await gql_data(client, CREATE, world.manager_a, {
            "brand": brand, "input": {**base, **change},
        })  # fmt: skip
        result = answer["createTemplate"]
        assert (result["__typename"], result["httpStatus"]) == ("OperationError", 422), change
        assert any(
            e["pointer"] == pointer and message in e["message"] for e in result["fieldErrors"]
        ), (change, result)
    listed = await gql_data(
        client,
        "query($b: ID!) { templates(brand: $b) { totalCount } }",
        world.viewer_a,
        {"b": brand},
    )
    assert listed["templates"]["totalCount"] == 0


async def test_another_brand_finds_no_content_over_graphql(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    mine, theirs = str(world.brand_a.id), str(world.brand_b.id)
    created = await gql_data(client, CREATE, world.manager_a, {"brand": mine, "input": {
        "key": "s", "name": "S", "channel": "SMS", "variants": {"en": {"text": "Hi"}},
        "defaultLocale": "en",
    }})  # fmt: skip
    template = created["createTemplate"]["id"]
    pool = await gql_data(client, CREATE_POOL, world.manager_a, {
        "brand": mine, "input": {"key": "P", "name": "P"},
    })  # fmt: skip
    snippet = await gql_data(client, CREATE_SNIPPET, world.manager_a, {
        "brand": mine, "input": {"key": "f", "name": "F", "body": "x"},
    })  # fmt: skip
    ids = {
        "id": template,
        "pool": pool["createCouponPool"]["id"],
        "snippet": snippet["createSnippet"]["id"],
    }
    # On its own brand, B finds none of A's objects.
    read = await gql_data(client, READ.replace(VERSIONS, ""), world.owner_b, {
        "brand": theirs, **ids,
    })  # fmt: skip
    assert read["template"] is None
    assert read["templateVersion"] is None
    assert (read["couponPool"], read["snippet"], read["node"]) == (None, None, None)
    assert read["templates"] == {"totalCount": 0, "nodes": []}
    versions = await gql(
        client,
        "query($brand: ID!, $id: ID!) { templateVersions(brand: $brand, templateId: $id) "
        "{ totalCount } }",
        world.owner_b,
        {"brand": theirs, "id": template},
    )
    assert versions["errors"][0]["extensions"]["status"] == 404
    for document, input, name in (
        (UPDATE, {"id": template, "name": "x"}, "updateTemplate"),
        (DELETE, {"id": template}, "deleteTemplate"),
        (PUBLISH, {"templateId": template, "version": 1}, "publishTemplateVersion"),
        (ADD_CODES, {"id": ids["pool"], "codes": ["X"]}, "addCoupons"),
    ):
        answer = await gql_data(client, document, world.owner_b, {"brand": theirs, "input": input})
        assert answer[name]["httpStatus"] == 404, (name, answer)
    # Brand A itself is out of B's reach.
    out = await gql(client, READ, world.owner_b, {"brand": mine, **ids})
    assert out["errors"][0]["extensions"]["status"] == 404
    still = await gql_data(client, READ, world.viewer_a, {"brand": mine, **ids})
    assert still["template"]["name"] == "S"
