"""A Python client generated from the committed OpenAPI document keeps every operation.

openapi-python-client (a dev dependency) warns, and leaves the piece out, when a schema name
collides or a response cannot be parsed: any warning fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "openapi" / "openapi.json"
# No formatter run (the check is about content); uploads' files are bytes, as README shows.
CONFIG = """\
post_hooks: []
content_type_overrides:
  text/csv: application/octet-stream
  application/x-ndjson: application/octet-stream
"""
WARNED = re.compile(r"warning|unable to|omitted|skipp|could not", re.IGNORECASE)


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def test_generated_python_client_keeps_every_operation_without_warnings(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    output = tmp_path / "client"
    result = subprocess.run(  # noqa: S603  (our interpreter, fixed arguments)
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(DOCUMENT),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    warned = [line for line in printed.splitlines() if WARNED.search(line)]
    assert not warned, printed

    document = json.loads(DOCUMENT.read_text())
    operation_ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    generated = {module.stem for module in (output / "api").rglob("*.py")}
    assert len(operation_ids) > 100
    dropped = [oid for oid in operation_ids if snake(oid) not in generated]
    assert not dropped, dropped
