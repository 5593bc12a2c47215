"""Imports of files as spreadsheets and other systems write them: `;` or tab delimiters, cp1252,
latin-1, a byte order mark, gzip; and bad input that ends as a rejected row or a 4xx at upload,
never as a failed job nor a replacement character."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json

import httpx
import pytest
from litestar import Litestar

from tests.factories import make_world
from tests.imports.helpers import NDJSON, imported, profiles, rejections, upload
from tests.profiles.helpers import brand_url, define_attribute

pytestmark = pytest.mark.worker

# Every row names its person twice: once in a plain line (the set-based path on PostgreSQL reads
# those), once in a quoted one (the csv module's path).
NOTES = {
    "cp1252": "5 € \u2013 œuvre",  # €, the en dash and œ are cp1252's own (0x80, 0x96, 0x9c)
    "utf-8": "5 € ✓ 日本",
    "latin-1": "½ ß ÿ",
}


def _file(delimiter: str, encoding: str, *, bom: bool = False) -> bytes:
    d = delimiter
    note = NOTES[encoding]
    text = (
        f"email{d}firstName{d}lastName{d}attributes.note\n"
        f"lea@example.com{d}Léa{d}Dupré{d}{note}\n"
        f'zoe@example.com{d}"Zoé{d} Jr"{d}"Ménard"{d}"{note}"\n'
    )
    data = text.encode(encoding)
    return (codecs.BOM_UTF8 if bom else b"") + data


FILES = [
    # (name, body, options, delimiter and encoding the import reports)
    ("semicolon-cp1252", _file(";", "cp1252"), {}, ";", "cp1252"),
    ("tab-utf8-bom", _file("\t", "utf-8", bom=True), {}, "tab", "utf-8"),
    ("comma-utf8", _file(",", "utf-8"), {}, ",", "utf-8"),
    ("comma-latin1", _file(",", "latin-1"), {"encoding": "latin-1"}, ",", "latin-1"),
    (
        "semicolon-given",
        _file(";", "cp1252"),
        {"delimiter": ";", "encoding": "cp1252"},
        ";",
        "cp1252",
    ),
]


@pytest.mark.parametrize("compression", [None, "magic", "content-encoding"])
@pytest.mark.parametrize(
    ("name", "body", "options", "delimiter", "encoding"), FILES, ids=[f[0] for f in FILES]
)
async def test_real_world_files_import_with_their_accents(
    app: Litestar,
    client: httpx.AsyncClient,
    name: str,
    body: bytes,
    options: dict[str, str],
    delimiter: str,
    encoding: str,
    compression: str | None,
) -> None:
    world = await make_world(app)
    await define_attribute(client, world, key="note", type="text")
    headers = dict(world.manager_a.headers)
    if compression is not None:
        body = gzip.compress(body)
    if compression == "content-encoding":
        headers["content-encoding"] = "gzip"
    result = await imported(app, client, world, body, headers=headers, **options)
    assert (result["status"], result["created"], result["rejected"]) == ("succeeded", 2, 0), name
    assert (result["delimiter"], result["encoding"]) == (delimiter, encoding)
    assert result["compression"] == (None if compression is None else "gzip")
    stored = {p["email"]: p for p in await profiles(client, world)}
    lea, zoe = stored["lea@example.com"], stored["zoe@example.com"]
    assert (lea["firstName"], lea["lastName"]) == ("Léa", "Dupré")
    assert lea["attributes"] == {"note": NOTES[encoding]}
    sep = "\t" if delimiter == "tab" else delimiter
    assert (zoe["firstName"], zoe["lastName"]) == (f"Zoé{sep} Jr", "Ménard")
    assert zoe["attributes"] == {"note": NOTES[encoding]}


async def test_ndjson_in_cp1252_and_gzip_reads_back(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    row = {"email": "lea@example.com", "firstName": "Léa", "lastName": "Dupré"}
    body = gzip.compress((json.dumps(row, ensure_ascii=False) + "\n").encode("cp1252"))
    result = await imported(app, client, world, body, content_type=NDJSON)
    assert (result["created"], result["encoding"], result["compression"]) == (1, "cp1252", "gzip")
    (lea,) = await profiles(client, world)
    assert (lea["firstName"], lea["lastName"]) == ("Léa", "Dupré")


# Bad input ---------------------------------------------------------------------------------------

HEADER = b"email,firstName\n"
GOOD = "lea@example.com,Léa\n".encode()
LAST = "zoe@example.com,Zoé\n".encode()


def _deep(depth: int) -> bytes:
    return b'{"email":"deep@example.com","attributes.x":' + b"[" * depth + b"]" * depth + b"}\n"


REJECTED_ROWS = [
    # (name, body, content type, options, the rejected line, what its reason says)
    # Detected as UTF-8: its good lines' accents outnumber the bad byte.
    ("invalid-utf8", HEADER + GOOD + b"bad@example.com,Z\xe9\n" + LAST, "text/csv", {}, 3, "utf-8"),
    (
        "invalid-utf8-given",
        HEADER + GOOD + b"bad@example.com,Z\xff\n" + LAST,
        "text/csv",
        {"encoding": "utf-8"},
        3,
        "byte 0xff",
    ),
    (
        "cp1252-undefined-byte",
        HEADER
        + "lea@example.com,Léa\n".encode("cp1252")
        + b"bad@example.com,Z\x81\n"
        + b"zoe@example.com,Zoe\n",
        "text/csv",
        {"encoding": "cp1252"},
        3,
        "cp1252",
    ),
    (
        "invalid-utf8-quoted",
        HEADER + GOOD + b'bad@example.com,"Z\xff\nstill"\n' + LAST,
        "text/csv",
        {"encoding": "utf-8"},
        3,
        "utf-8",
    ),
    ("nul-plain", HEADER + GOOD + b"bad@example.com,Z\x00e\n" + LAST, "text/csv", {}, 3, "NUL"),
    ("nul-quoted", HEADER + GOOD + b'bad@example.com,"Z\x00e"\n' + LAST, "text/csv", {}, 3, "NUL"),
    (
        "nul-ndjson-escaped",
        b'{"email":"lea@example.com"}\n{"email":"bad@example.com","firstName":"Z\\u0000"}\n'
        b'{"email":"zoe@example.com"}\n',
        NDJSON,
        {},
        2,
        "NUL",
    ),
    (
        "nul-ndjson-key",
        b'{"email":"lea@example.com"}\n{"email":"bad@example.com","a\\u0000":1}\n'
        b'{"email":"zoe@example.com"}\n',
        NDJSON,
        {},
        2,
        "NUL",
    ),
    (
        "deep-ndjson",
        b'{"email":"lea@example.com"}\n' + _deep(100_000) + b'{"email":"zoe@example.com"}\n',
        NDJSON,
        {},
        2,
        "deeper",
    ),
    (
        "deep-ndjson-within-msgspec",
        b'{"email":"lea@example.com"}\n' + _deep(40) + b'{"email":"zoe@example.com"}\n',
        NDJSON,
        {},
        2,
        "deeper",
    ),
    (
        "invalid-utf8-ndjson",
        '{"email":"lea@example.com","firstName":"Léa"}\n'.encode()
        + b'{"email":"bad@example.com","firstName":"\xff"}\n'
        + '{"email":"zoe@example.com","firstName":"Zoé"}\n'.encode(),
        NDJSON,
        {},
        2,
        "utf-8",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "content_type", "options", "line", "reason"),
    REJECTED_ROWS,
    ids=[case[0] for case in REJECTED_ROWS],
)
async def test_bad_rows_are_rejected_naming_their_line_and_the_rest_imports(
    app: Litestar,
    client: httpx.AsyncClient,
    name: str,
    body: bytes,
    content_type: str,
    options: dict[str, str],
    line: int,
    reason: str,
) -> None:
    world = await make_world(app)
    result = await imported(app, client, world, body, content_type=content_type, **options)
    assert (result["status"], result["created"], result["rejected"]) == ("succeeded", 2, 1), name
    assert result["error"] is None
    (rejected,) = await rejections(client, world, result["id"])
    assert rejected["line"] == line
    assert reason in rejected["reason"]
    assert "\ufffd" not in rejected["raw"]
    stored = {p["email"]: p for p in await profiles(client, world)}
    assert set(stored) == {"lea@example.com", "zoe@example.com"}
    assert not any("\ufffd" in (p["firstName"] or "") for p in stored.values())


REFUSED_UPLOADS = [
    # (name, body, headers, options, status, what the problem says)
    (
        "repeated-header",
        b"email,firstName,email\na@example.com,A,b@example.com\n",
        {},
        {},
        422,
        "email",
    ),
    (
        "repeated-header-semicolon",
        b"email;email\na@example.com;b@example.com\n",
        {},
        {},
        422,
        "more than once",
    ),
    (
        "too-many-columns",
        ",".join(["email"] + [f"c{i}" for i in range(600)]).encode() + b"\n",
        {},
        {},
        422,
        "at most 500",
    ),
    (
        "header-not-utf8",
        b"email,pr\xe9nom\na@example.com,x\n",
        {},
        {"encoding": "utf-8"},
        422,
        "utf-8",
    ),
    ("gzip-bomb", gzip.compress(HEADER + b"\0" * (200 << 20)), {}, {}, 413, "decompresses"),
    ("gzip-cut-short", gzip.compress(HEADER + GOOD * 1000)[:-40], {}, {}, 422, "gzip"),
    ("gzip-announced-not-gzip", HEADER + GOOD, {"content-encoding": "gzip"}, {}, 422, "gzip"),
    ("brotli", HEADER + GOOD, {"content-encoding": "br"}, {}, 415, "br"),
    ("unknown-encoding", HEADER + GOOD, {}, {"encoding": "utf-16"}, 422, ""),
    ("unknown-delimiter", HEADER + GOOD, {}, {"delimiter": "|"}, 422, ""),
]


@pytest.mark.parametrize(
    ("name", "body", "headers", "options", "status", "detail"),
    REFUSED_UPLOADS,
    ids=[case[0] for case in REFUSED_UPLOADS],
)
async def test_unreadable_uploads_are_refused_whole(
    app: Litestar,
    client: httpx.AsyncClient,
    name: str,
    body: bytes,
    headers: dict[str, str],
    options: dict[str, str],
    status: int,
    detail: str,
) -> None:
    world = await make_world(app)
    response = await upload(
        client, world, body, headers={**world.manager_a.headers, **headers}, **options
    )
    assert response.status_code == status, (name, response.text)
    assert detail in (response.json().get("detail") or "")
    listed = await client.get(brand_url(world, "/profiles"), headers=world.viewer_a.headers)
    assert listed.json()["items"] == []


# rejections.csv ---------------------------------------------------------------------------------


async def test_rejections_csv_neutralises_formulas(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    body = '=HYPERLINK("http://x.test"),Léa\n+cmd|calc,x\n@SUM(A1),y\n-2+3,z\n'
    result = await imported(app, client, world, "email,firstName\n" + body)
    assert result["rejected"] == 4
    response = await client.get(
        brand_url(world, f"/imports/{result['id']}/rejections.csv"), headers=world.viewer_a.headers
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["raw"][:2] for row in rows] == ["'=", "'+", "'@", "'-"]
    assert all(not row["reason"].startswith(("=", "+", "-", "@")) for row in rows)
