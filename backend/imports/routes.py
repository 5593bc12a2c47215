"""REST routes of bulk imports: upload a file (202), follow the job, read its rejected rows.

Under ``/v1/brands/{brand_id}``: the brand guard answers 404 for a brand out of reach, then 403
for a role or scope that falls short (uploads: manager and ``profiles:write``; reads: viewer and
``profiles:read``). The body is streamed into storage, never read whole.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, BrandController
from backend.core.dependencies import DbSession, Tenant
from backend.core.errors import InvalidInput, problem_responses
from backend.core.idempotency import HANDLED_BY_ROUTE
from backend.core.jobs import actor_of
from backend.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from backend.core.spreadsheet import neutralised
from backend.core.tenancy import open_session
from backend.imports import service
from backend.imports.models import ImportKind, ImportMode
from backend.imports.schemas import ImportOut, RejectionOut, RejectionPage
from backend.imports.text import DelimiterOption, EncodingOption

UPLOAD_ERRORS = problem_responses(401, 403, 404, 409, 413, 415, 422)
# Uploads honour `Idempotency-Key` themselves: the file is streamed, never buffered.
UPLOAD_OPT = {HANDLED_BY_ROUTE: True}

Mode = Annotated[
    ImportMode,
    QueryParameter(
        description=(
            "`upsert` (default) creates or updates; `create` rejects rows matching a stored "
            "record; `update` rejects rows matching none."
        )
    ),
]
Encoding = Annotated[
    EncodingOption,
    QueryParameter(
        description=(
            "The file's encoding: `auto` (default) reads UTF-8 (with or without a byte order "
            "mark) when the file's first MiB is valid UTF-8, else cp1252 (Windows/Excel); "
            "`latin-1` only when named. A line with bytes the encoding does not define is "
            "rejected, naming its line."
        )
    ),
]
Delimiter = Annotated[
    DelimiterOption,
    QueryParameter(
        description=(
            "A CSV's delimiter: `auto` (default) detects `,`, `;` or tab from the first lines; "
            "or name it (`,`, `;`, `tab`)."
        )
    ),
]
Mapping = Annotated[
    str | None,
    QueryParameter(
        description=(
            'A JSON object of column → target, e.g. `{"Mail": "email", "Tier": '
            '"attributes.tier", "ERP": "externalIds.erp", "Notes": null}`. Unmapped columns '
            "target their own name (camelCase or snake_case); `null` ignores a column."
        )
    ),
]


def _cursor(line: int | None) -> str | None:
    return None if line is None else base64.urlsafe_b64encode(str(line).encode()).decode()


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not valid", errors=[{"field": "cursor"}]) from None


async def _upload(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    tenant: Tenant,
    kind: ImportKind,
    mode: ImportMode,
    mapping: str | None,
    encoding: EncodingOption,
    delimiter: DelimiterOption,
    linked_table: str | None = None,
) -> Response[ImportOut]:
    settings = request.app.state.settings
    job, created = await service.create_import(
        db_session,
        tenant,
        kind=kind,
        content_type=request.headers.get("content-type"),
        mode=mode,
        mapping=mapping,
        body=request.stream(),
        content_length=request.content_length,
        max_bytes=settings.import_max_bytes,
        actor=actor_of(request.scope.get("user")),
        linked_table=linked_table,
        idempotency_key=request.headers.get("idempotency-key"),
        content_encoding=request.headers.get("content-encoding"),
        encoding=encoding,
        delimiter=delimiter,
    )
    headers = {"Location": f"/v1/brands/{tenant}/imports/{job.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Response(ImportOut.of(job), status_code=HTTP_202_ACCEPTED, headers=headers)


class ImportController(BrandController):
    """Bulk imports of profiles and orders (CSV or NDJSON), run by a background job."""

    path = "/v1/brands/{brand_id:uuid}/imports"
    tags = ["imports"]

    @post(
        "/profiles",
        operation_id="importProfiles",
        summary="Import profiles from a CSV or NDJSON file",
        **needs("profiles:write", opt=UPLOAD_OPT),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # LEVIER_IMPORT_MAX_BYTES applies, counted while streaming
        responses=UPLOAD_ERRORS,
    )
    async def import_profiles(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        mode: Mode = ImportMode.UPSERT,
        mapping: Mapping = None,
        encoding: Encoding = EncodingOption.AUTO,
        delimiter: Delimiter = DelimiterOption.AUTO,
    ) -> Response[ImportOut]:
        """Send the file as the body (`Content-Type: text/csv` with a header line, or
        `application/x-ndjson` with one object per line; anything else answers 415), as it is
        or gzip-compressed (`Content-Encoding: gzip`, or recognised by its first bytes). A CSV
        may be delimited by `,`, `;` or tab and encoded in UTF-8, cp1252 or latin-1 (detected
        unless named: `delimiter`, `encoding`); the import shows what it used. A header
        repeating a column name or past 500 columns answers 422. Answers
        202 with the import and its URL in `Location`; a job then validates each row with the
        profile rules, upserts by identity key (email, phone, `externalIds.<source>`), and keeps
        the valid rows when others fail. Empty cells are "not given": an import never clears a
        stored value. A row whose keys point to several profiles merges them (the older
        survives), as `POST …/profiles?mode=upsert` does. An `Idempotency-Key` header makes a
        retried upload answer the first import (`Idempotent-Replayed: true`), whatever the
        file's size; the same key with another file answers 409."""
        return await _upload(
            request, db_session, tenant, ImportKind.PROFILES, mode, mapping, encoding, delimiter
        )

    @post(
        "/orders",
        operation_id="importOrders",
        summary="Import orders from a CSV or NDJSON file",
        **needs("profiles:write", opt=UPLOAD_OPT),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,
        responses=UPLOAD_ERRORS,
    )
    async def import_orders(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        mode: Mode = ImportMode.UPSERT,
        mapping: Mapping = None,
        encoding: Encoding = EncodingOption.AUTO,
        delimiter: Delimiter = DelimiterOption.AUTO,
    ) -> Response[ImportOut]:
        """Columns `orderId`, `occurredAt`, `amount`, `currency`, `store`, `channel`, and the
        profile as `profileId` or an identity key (`email`, `phone`, `externalIds.<source>`);
        NDJSON rows may carry `lines` (`product`, `category`, `quantity`, `price`), which
        replace the order's lines. Orders are upserted on `orderId`. Answers 202 as for
        profiles."""
        return await _upload(
            request, db_session, tenant, ImportKind.ORDERS, mode, mapping, encoding, delimiter
        )

    @post(
        "/linked/{table:str}",
        operation_id="importLinkedRows",
        summary="Import rows of a linked table from a CSV or NDJSON file",
        **needs("profiles:write", opt=UPLOAD_OPT),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,
        responses=UPLOAD_ERRORS,
    )
    async def import_linked_rows(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        table: FromPath[str],
        mode: Mode = ImportMode.UPSERT,
        mapping: Mapping = None,
        encoding: Encoding = EncodingOption.AUTO,
        delimiter: Delimiter = DelimiterOption.AUTO,
    ) -> Response[ImportOut]:
        """Rows of the linked table `table` (404 if the brand has none of that name). Columns:
        `key` (the row's key in the table, optional), the profile as `profileId` (a merged id
        means its survivor) or an identity key (`email`, `phone`, `externalIds.<source>`), and
        the table's columns by their key (or `values.<column>`). A row whose `key` names a
        stored row updates it (values merged); one without a key always adds a row; `create`
        rejects a stored key, `update` a missing or unknown one. Values are checked against the
        table's typed columns, and every write appends to the row's history. Answers 202 as
        for profiles."""
        return await _upload(
            request,
            db_session,
            tenant,
            ImportKind.LINKED,
            mode,
            mapping,
            encoding,
            delimiter,
            linked_table=table,
        )

    @get(
        "/{import_id:uuid}",
        operation_id="getImport",
        summary="Read an import's status and counts",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def get_import(self, db_session: DbSession, import_id: FromPath[UUID]) -> ImportOut:
        """Status (`queued`, `running`, `succeeded`, `failed`), rows processed, created,
        updated and rejected so far."""
        return ImportOut.of(await service.get_import(db_session, import_id))

    @get(
        "/{import_id:uuid}/rejections",
        operation_id="listImportRejections",
        summary="List an import's rejected rows",
        **needs("profiles:read"),
        responses=READ_ERRORS,
    )
    async def list_rejections(
        self,
        db_session: DbSession,
        import_id: FromPath[UUID],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> RejectionPage:
        """Rejected rows in file order: line number (1 is the CSV header), reason, raw row."""
        items, last = await service.list_rejections(db_session, import_id, _after(cursor), limit)
        return RejectionPage(RejectionOut.many(items), _cursor(last))

    @get(
        "/{import_id:uuid}/rejections.csv",
        operation_id="downloadImportRejections",
        summary="Download an import's rejected rows as CSV",
        **needs("profiles:read"),
        media_type="text/csv",
        responses=READ_ERRORS,
    )
    async def download_rejections(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        tenant: Tenant,
        import_id: FromPath[UUID],
    ) -> Stream:
        """A CSV of `line,reason,raw`, streamed; a cell a spreadsheet would run as a formula
        starts with `'` (OWASP CSV injection)."""
        await service.get_import(db_session, import_id)
        factory = request.app.state.session_factory

        async def rows() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["line", "reason", "raw"])
            async with open_session(factory, tenant) as session:
                async for item in service.iter_rejections(session, import_id):
                    writer.writerow([item.line, neutralised(item.reason), neutralised(item.raw)])
                    if buffer.tell() > 64 * 1024:
                        yield buffer.getvalue()
                        buffer.seek(0)
                        buffer.truncate()
            yield buffer.getvalue()

        return Stream(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="rejections-{import_id}.csv"'},
        )
