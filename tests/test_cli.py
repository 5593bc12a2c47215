"""The ``levier`` command: one JSON object on stdout, or a JSON error on stderr and a non-zero exit.

The commands call ``asyncio.run`` themselves, so these tests are plain functions; they still run on
both stacks through the (async) ``settings`` fixture, which pytest-asyncio resolves for them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from backend.app import create_app
from backend.cli import DEMO_EMAIL, main
from backend.config import Settings
from tests.factories import serving

Env = dict[str, str | None]


@pytest.fixture
def cli_env(settings: Settings) -> Env:
    """The ``LEVIER_*`` variables that point the command at this test's database (and broker)."""
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["LEVIER_REDIS_URL"] = settings.redis_url
        env["LEVIER_REDIS_NAMESPACE"] = settings.redis_namespace
    return env


def invoke(env: Env, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def output(result: Result) -> dict[str, Any]:
    """The single JSON object a successful command prints."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


def error(result: Result, code: int = 1) -> dict[str, Any]:
    """The JSON error a failed command prints on stderr (and nothing on stdout)."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    payload: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    assert set(payload) == {"error", "detail"}
    return payload


def create_agency(env: Env, name: str = "Acme") -> str:
    agency_id: str = output(invoke(env, "agency", "create", "--name", name))["id"]
    return agency_id


def create_brand(env: Env, agency_id: str, name: str = "Shop") -> str:
    brand_id: str = output(invoke(env, "brand", "create", "--agency", agency_id, "--name", name))[
        "id"
    ]
    return brand_id


def api_get(settings: Settings, path: str, token: str) -> httpx.Response:
    """One GET against the app on the same database, from this synchronous test."""

    async def call() -> httpx.Response:
        async with serving(create_app(settings)) as client:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            await response.aread()
            return response

    return asyncio.run(call())


# Agencies and brands --------------------------------------------------------------------------


def test_agency_create_prints_its_id(cli_env: Env) -> None:
    result = invoke(cli_env, "agency", "create", "--name", "Acme")
    payload = output(result)
    assert set(payload) == {"id"}
    assert len(payload["id"]) == 36
    assert result.stderr == ""


def test_agency_create_with_empty_name_is_invalid_input(cli_env: Env) -> None:
    assert error(invoke(cli_env, "agency", "create", "--name", ""))["error"] == "invalid-input"


def test_brand_create_prints_its_id(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    payload = output(invoke(cli_env, "brand", "create", "--agency", agency_id, "--name", "Shop"))
    assert set(payload) == {"id"}
    assert payload["id"] != agency_id


def test_brand_create_in_unknown_agency_is_not_found(cli_env: Env) -> None:
    result = invoke(
        cli_env,
        "brand",
        "create",
        "--agency",
        "00000000-0000-0000-0000-000000000000",
        "--name",
        "Orphan",
    )
    assert error(result)["error"] == "not-found"


def test_brand_create_with_unknown_time_zone_is_invalid_input(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    result = invoke(
        cli_env, "brand", "create", "--agency", agency_id, "--name", "X", "--time-zone", "Mars/Base"
    )
    assert error(result)["error"] == "invalid-input"


# Users and tokens -----------------------------------------------------------------------------


def test_brand_role_without_brand_is_invalid_input(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    result = invoke(
        cli_env,
        "user",
        "create",
        "--agency",
        agency_id,
        "--email",
        "viewer@acme.test",
        "--password",
        "a-long-enough-password",
        "--role",
        "brand_viewer",
    )
    payload = error(result)
    assert payload["error"] == "invalid-input"
    assert "brand" in payload["detail"]


def test_user_create_prints_its_id(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    result = invoke(
        cli_env,
        "user",
        "create",
        "--agency",
        agency_id,
        "--email",
        "admin@acme.test",
        "--password",
        "a-long-enough-password",
        "--role",
        "agency_admin",
    )
    assert set(output(result)) == {"id"}


def test_created_admin_reaches_the_agency_with_an_issued_token(
    cli_env: Env, settings: Settings
) -> None:
    agency_id = create_agency(cli_env)
    user_id = output(
        invoke(
            cli_env,
            "user",
            "create",
            "--agency",
            agency_id,
            "--email",
            "admin@acme.test",
            "--password",
            "a-long-enough-password",
            "--role",
            "agency_admin",
        )
    )["id"]
    issued = output(invoke(cli_env, "token", "create", "--user", user_id))
    assert set(issued) == {"access_token", "expires_at"}
    response = api_get(settings, f"/v1/agencies/{agency_id}/members", issued["access_token"])
    assert response.status_code == 200, response.text
    members = response.json()["items"]
    assert [(m["userId"], m["email"], m["role"]) for m in members] == [
        (user_id, "admin@acme.test", "admin")
    ]


def test_created_brand_viewer_reaches_only_the_given_brand(
    cli_env: Env, settings: Settings
) -> None:
    agency_id = create_agency(cli_env)
    shown = create_brand(cli_env, agency_id, "Shown")
    create_brand(cli_env, agency_id, "Hidden")
    user_id = output(
        invoke(
            cli_env,
            "user",
            "create",
            "--agency",
            agency_id,
            "--email",
            "viewer@acme.test",
            "--password",
            "a-long-enough-password",
            "--role",
            "brand_viewer",
            "--brand",
            shown,
        )
    )["id"]
    token = output(invoke(cli_env, "token", "create", "--user", user_id))["access_token"]
    response = api_get(settings, "/v1/brands", token)
    assert [b["id"] for b in response.json()["items"]] == [shown]


def test_user_create_with_brand_of_another_agency_is_not_found(cli_env: Env) -> None:
    other_brand = create_brand(cli_env, create_agency(cli_env, "Other"))
    agency_id = create_agency(cli_env)
    result = invoke(
        cli_env,
        "user",
        "create",
        "--agency",
        agency_id,
        "--email",
        "m@acme.test",
        "--password",
        "a-long-enough-password",
        "--role",
        "brand_manager",
        "--brand",
        other_brand,
    )
    assert error(result)["error"] == "not-found"


def test_user_create_with_taken_email_is_conflict(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    args = (
        "user",
        "create",
        "--agency",
        agency_id,
        "--email",
        "twice@acme.test",
        "--password",
        "a-long-enough-password",
        "--role",
        "agency_owner",
    )
    output(invoke(cli_env, *args))
    assert error(invoke(cli_env, *args))["error"] == "conflict"


def test_user_create_with_unknown_role_is_refused(cli_env: Env) -> None:
    result = invoke(
        cli_env,
        "user",
        "create",
        "--agency",
        "00000000-0000-0000-0000-000000000000",
        "--email",
        "x@acme.test",
        "--password",
        "a-long-enough-password",
        "--role",
        "superuser",
    )
    assert result.exit_code != 0
    assert result.stdout == ""


def test_token_create_for_unknown_user_is_not_found(cli_env: Env) -> None:
    result = invoke(cli_env, "token", "create", "--user", "00000000-0000-0000-0000-000000000000")
    assert error(result)["error"] == "not-found"


# Demo -----------------------------------------------------------------------------------------


def test_demo_prints_ids_credentials_and_a_token(cli_env: Env, settings: Settings) -> None:
    demo = output(invoke(cli_env, "demo"))
    assert demo["email"] == DEMO_EMAIL
    response = api_get(settings, f"/v1/brands/{demo['brand_id']}", demo["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["agencyId"] == demo["agency_id"]
    assert demo["spa_client_id"]
    assert demo["spa_redirect_uri"].startswith("http://127.0.0.1")


def test_demo_again_reuses_the_data_with_a_fresh_token(cli_env: Env) -> None:
    first = output(invoke(cli_env, "demo"))
    second = output(invoke(cli_env, "demo"))
    keys = ("agency_id", "brand_id", "user_id", "spa_client_id")
    assert [second[k] for k in keys] == [first[k] for k in keys]
    assert second["access_token"] != first["access_token"]


def test_demo_is_refused_in_production() -> None:
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env |= {
        "LEVIER_ENV": "production",
        "LEVIER_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        "LEVIER_SECRET_KEY": "s" * 40,
        "LEVIER_PUBLIC_URL": "https://levier.example.test",
    }
    assert error(invoke(env, "demo"))["error"] == "refused"


# Settings, migrations, schemas ----------------------------------------------------------------


def test_invalid_settings_exit_with_status_2() -> None:
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = "postgresql://levier@127.0.0.1/levier"
    result = invoke(env, "agency", "create", "--name", "Acme")
    assert error(result, 2)["error"] == "invalid-settings"


def test_serving_with_several_processes_needs_a_shared_broker(tmp_path: Path) -> None:
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    result = invoke(env, "serve", "--workers", "2")
    assert "LEVIER_REDIS_URL" in error(result, 2)["detail"]


def test_migrate_builds_a_fresh_database(tmp_path: Path) -> None:
    env: Env = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert output(invoke(env, "migrate")) == {"migrated": "head"}
    assert set(output(invoke(env, "agency", "create", "--name", "Acme"))) == {"id"}


def test_export_openapi_writes_both_documents(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    payload = output(invoke({}, "export-openapi", "--out", str(out)))
    assert payload == {
        "openapi": str(out / "openapi.json"),
        "graphql": str(out / "schema.graphql"),
    }
    document = json.loads((out / "openapi.json").read_text())
    assert document["info"]["title"] == "Levier API"
    assert "/v1/agencies" in document["paths"]
    assert "type Query" in (out / "schema.graphql").read_text()


def test_exporting_twice_in_one_process_gives_the_same_documents(tmp_path: Path) -> None:
    # The documents must depend on the code only (they are committed and diffed in review).
    output(invoke({}, "export-openapi", "--out", str(tmp_path / "one")))
    output(invoke({}, "export-openapi", "--out", str(tmp_path / "two")))
    for name in ("openapi.json", "schema.graphql"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


# The installed console script -----------------------------------------------------------------


def test_installed_levier_script_creates_an_agency(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "levier.db"
    shutil.copy(sqlite_template, database)
    script = Path(sys.executable).parent / "levier"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    completed = subprocess.run(  # noqa: S603  (our own console script)
        [str(script), "agency", "create", "--name", "X"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    payload = json.loads(completed.stdout)
    assert set(payload) == {"id"}


def test_client_create_prints_the_id_and_the_secret_once(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    brand_id = create_brand(cli_env, agency_id)
    created = output(
        invoke(
            cli_env,
            "client", "create", "--agency", agency_id, "--name", "ERP", "--brand", brand_id,
            "--scopes", "profiles:write events:write",
        )
    )  # fmt: skip
    assert set(created) == {"client_id", "client_secret"}
    assert created["client_secret"].startswith("lvr_cs_")


def test_client_create_public_has_no_secret(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    created = output(
        invoke(
            cli_env,
            "client", "create", "--agency", agency_id, "--name", "SPA", "--public",
            "--redirect-uri", "https://app.example.test/callback", "--first-party",
        )
    )  # fmt: skip
    assert created["client_secret"] is None


def test_client_create_with_an_unknown_scope_fails_clearly(cli_env: Env) -> None:
    agency_id = create_agency(cli_env)
    failure = error(
        invoke(cli_env, "client", "create", "--agency", agency_id, "--name", "X", "--scopes", "a:b")
    )
    assert "a:b" in failure["detail"]
