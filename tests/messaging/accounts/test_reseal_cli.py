"""`levier reseal-secrets`, and the previous secret keys it reads from the environment (the
resealing itself: tests/messaging/accounts/test_resolution.py)."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from backend.cli import main
from backend.config import Settings, load_settings
from tests.conftest import embedded_only


def test_previous_secret_keys_are_a_comma_separated_list() -> None:
    settings = load_settings({"LEVIER_PREVIOUS_SECRET_KEYS": "first-old-key, second-old-key"})
    assert settings.previous_secret_keys == ("first-old-key", "second-old-key")


@embedded_only
def test_the_command_reseals_every_brand(settings: Settings) -> None:
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("LEVIER_")}
    env["LEVIER_DATABASE_URL"] = settings.database_url
    env["LEVIER_PREVIOUS_SECRET_KEYS"] = "an-old-key"
    result = CliRunner().invoke(main, ["reseal-secrets"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"resealed": 0}
