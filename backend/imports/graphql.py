"""GraphQL of imports: start one with the file's content inline (the options REST takes as query
parameters and headers are input fields), follow it, page through its rejected rows. Types are
derived from `backend.imports.schemas`; the same services as REST. The CSV of rejected rows
stays REST-only (a file)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from uuid import UUID

import msgspec
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.errors import InvalidInput
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_subscriptions import BrandWatch, ProgressFields, brand_subscription
from backend.core.jobs import actor_of
from backend.core.live import Progress
from backend.core.relay import Connection, Node, parse_id
from backend.imports import service
from backend.imports.models import ImportFormat, ImportKind, ImportMode, ImportStatus
from backend.imports.schemas import ImportOut, ImportUpload, RejectionOut
from backend.imports.text import DelimiterOption, EncodingOption

READ, WRITE = "profiles:read", "profiles:write"  # as REST: imports write profiles' data
graphql_enum(ImportKind)
graphql_enum(ImportFormat)
graphql_enum(ImportMode)
graphql_enum(ImportStatus)
graphql_enum(EncodingOption, "ImportEncoding")
graphql_enum(DelimiterOption, "ImportDelimiter")

_MEDIA_TYPES = {fmt: media_type for media_type, fmt in service.MEDIA_TYPES.items()}
# The bytes a text is sent as: the encoding named, else UTF-8.
_CODECS = {
    EncodingOption.CP1252: "cp1252",
    EncodingOption.LATIN1: "latin-1",
}


async def _load_import(session: AsyncSession, import_id: UUID) -> ImportOut:
    return ImportOut.of(await service.get_import(session, import_id))


@entity_type(ImportOut, name="Import", node=(READ, _load_import))
class ImportType(Node):
    """A bulk import: what was sent, how it was read, and how far its job got."""

    size_bytes: float = strawberry.field(
        description="The file's size (a Float: a file may pass GraphQL's 32-bit Int)."
    )


ENDED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


@strawberry.type(name="ImportProgress")
class ImportProgressType(ProgressFields):
    """How far an import got, in lines of its file (`total` is null for an import stored
    before lines were counted), with the import as it stands."""

    import_: ImportType = strawberry.field(name="import")

    @classmethod
    def of(cls, job: ImportOut, now: dt.datetime) -> ImportProgressType:
        total = job.total_lines
        succeeded = job.status is ImportStatus.SUCCEEDED
        # A succeeded import went through every line (blank ones at the end included).
        done = total if succeeded and total is not None else job.lines_processed
        ended = job.finished_at if job.status in ENDED else None
        progress = Progress(done, total, job.started_at, ended, now)
        return cls(**ProgressFields.values(progress), import_=job)  # type: ignore[arg-type]


@entity_type(RejectionOut, name="ImportRejection")
class ImportRejectionType:
    pass


@input_type(ImportUpload, name="ImportProfilesInput")
class ImportProfilesInput:
    pass


@input_type(ImportUpload, name="ImportOrdersInput")
class ImportOrdersInput:
    pass


@input_type(ImportUpload, name="ImportLinkedRowsInput")
class ImportLinkedRowsInput:
    table: str = strawberry.field(description="The linked table's key.")


async def _single(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _start(
    unit: BrandUnit, kind: ImportKind, given: Any, linked_table: str | None = None
) -> ImportOut:
    """Queue the import of the input's content, as REST queues an uploaded file (the same
    size cap, checks and idempotency)."""
    upload = struct_of(ImportUpload, given)
    codec = _CODECS.get(upload.encoding, "utf-8")
    try:
        body = upload.content.encode(codec)
    except UnicodeEncodeError as exc:
        message = f"a character cannot be sent as {upload.encoding.value}: {exc.reason}"
        raise InvalidInput(
            message, errors=[{"field": "content", "pointer": "/content", "message": message}]
        ) from None
    request = unit.context.request
    settings = request.app.state.settings if request is not None else None
    job, _ = await service.create_import(
        unit.session,
        unit.tenant,
        kind=kind,
        content_type=_MEDIA_TYPES[upload.format],
        mode=upload.mode,
        mapping=None if upload.mapping is None else msgspec.json.encode(upload.mapping).decode(),
        body=_single(body),
        content_length=len(body),
        max_bytes=settings.import_max_bytes if settings is not None else len(body),
        actor=actor_of(unit.context.caller),
        linked_table=linked_table,
        idempotency_key=upload.idempotency_key,
        encoding=upload.encoding,
        delimiter=upload.delimiter,
    )
    return ImportOut.of(job)


@strawberry.type
class ImportsQuery:
    @brand_query(READ, missing_is_null=True)
    async def import_(self, unit: BrandUnit, id: strawberry.ID) -> ImportType | None:
        """An import's status (`QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED`), rows processed,
        created, updated and rejected so far (null when the brand has none with this id)."""
        return await _load_import(unit.session, parse_id(id, "Import"))

    import_.graphql_name = "import"

    @brand_query(READ)
    async def import_rejections(
        self, unit: BrandUnit, id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[ImportRejectionType]:
        """An import's rejected rows in file order: line number (1 is a CSV's header),
        reason, raw row; `totalCount` is the import's rejected count."""
        import_id = parse_id(id, "Import")
        page = unit.page(first, after)
        after_line = 0 if page.after is None else page.after.int
        items, last = await service.list_rejections(unit.session, import_id, after_line, page.limit)

        async def count(session: AsyncSession) -> int:
            return (await service.get_import(session, import_id)).rejected_count

        return unit.connection(
            RejectionOut.many(items),
            None if last is None else "more",
            page,
            key=lambda r: UUID(int=r.line),  # the cursor of a row is its line
            count=count,
        )


@strawberry.type
class ImportsMutation:
    @brand_mutation(WRITE)
    async def import_profiles(self, unit: BrandUnit, input: ImportProfilesInput) -> ImportType:
        """Queue an import of profiles from a CSV (a header line) or NDJSON text: the same
        rules, size cap, options and idempotency as REST's upload (`idempotencyKey` plays the
        `Idempotency-Key` header; `format` the Content-Type)."""
        return await _start(unit, ImportKind.PROFILES, input)

    @brand_mutation(WRITE)
    async def import_orders(self, unit: BrandUnit, input: ImportOrdersInput) -> ImportType:
        """Queue an import of orders (upserted on `orderId`), as REST's upload."""
        return await _start(unit, ImportKind.ORDERS, input)

    @brand_mutation(WRITE)
    async def import_linked_rows(self, unit: BrandUnit, input: ImportLinkedRowsInput) -> ImportType:
        """Queue an import of rows of the linked table `table` (not found when the brand has
        none of that name), as REST's upload."""
        return await _start(unit, ImportKind.LINKED, input, linked_table=input.table)


@strawberry.type
class ImportsSubscription:
    @brand_subscription(READ)
    async def import_progress(
        self, unit: BrandWatch, id: strawberry.ID
    ) -> AsyncGenerator[ImportProgressType, None]:
        """An import's progress: its state now, then each change (read every
        `LEVIER_LIVE_POLL_SECONDS`), until it succeeded or failed — that last message has
        `finished: true`, then the subscription completes."""
        import_id = parse_id(id, "Import")
        async for job in unit.follow(
            lambda session: _load_import(session, import_id),
            finished=lambda job: job.status in ENDED and job.finished_at is not None,
        ):
            yield ImportProgressType.of(job, unit.now())
