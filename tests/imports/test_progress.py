"""An import's progress in lines: the file's lines counted as it is stored (as the reader splits
them), and those the job got through."""

from __future__ import annotations

import gzip

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world, run_jobs
from tests.imports.helpers import CSV, status, upload

HEADER = "email,first_name\n"


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (HEADER + "a@example.com,A\nb@example.com,B\n", 3),
        (HEADER + "a@example.com,A\nb@example.com,B", 3),  # no newline at the end: still a line
        (HEADER + 'a@example.com,"two\nlines"\n', 3),  # a quoted cell over two lines
        (HEADER + "a@example.com,A\n\n\n", 4),  # blank lines count
    ],
)
@pytest.mark.worker
async def test_an_import_counts_its_lines_and_goes_through_them_all(
    app: Litestar, client: httpx.AsyncClient, body: str, lines: int
) -> None:
    world = await make_world(app)
    response = await upload(client, world, body)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert (queued["totalLines"], queued["linesProcessed"]) == (lines, 0)
    await run_jobs(app)
    done = await status(client, world, queued["id"])
    assert done["status"] == "succeeded", done
    assert done["totalLines"] == lines
    assert done["linesProcessed"] == lines  # the checkpoint reaches the last line


async def test_a_compressed_files_lines_are_counted_once_inflated(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = HEADER + "".join(f"p{i}@example.com,P\n" for i in range(999))
    response = await upload(
        client, world, gzip.compress(body.encode()), content_type=CSV,
        headers={**world.manager_a.headers, "content-encoding": "gzip"},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json()["totalLines"] == 1000
