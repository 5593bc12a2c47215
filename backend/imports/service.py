"""Bulk imports of profiles, orders and linked-table rows. Services never commit: the request's
unit of work commits an upload; the task commits after each batch this module yields.

An upload is streamed into ``import_chunks`` in the request's transaction together with the job
row and the outbox row of its task: a refused or broken upload leaves nothing behind. The task
reads the file back in batches; each batch's rows, rejections and checkpoint are written in one
transaction, so a job killed midway restarts after its last committed batch and replays nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Collection
from http import HTTPStatus
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import service as billing_service
from backend.core.db import dialect_of, utcnow
from backend.core.errors import Conflict, InvalidInput, LevierError, NotFound
from backend.core.jobs import enqueue
from backend.core.signals import Signal, signals
from backend.core.tenancy import TenantId
from backend.imports import reader, repository, storage, text
from backend.imports.linked_loader import LinkedLoader
from backend.imports.mapping import Targets, parse_mapping
from backend.imports.models import ImportFormat, ImportJob, ImportKind, ImportMode, ImportStatus
from backend.imports.orders_loader import OrderLoader
from backend.imports.profiles_bulk import BulkProfileWriter
from backend.imports.profiles_loader import Outcome, ProfileLoader
from backend.imports.reader import Record
from backend.profiles import attributes as attribute_rules
from backend.profiles.fields import region_of_locale
from backend.profiles.linked import service as linked
from backend.tenancy import service as tenancy_service

RUN_TASK = "imports.run"
MAX_IDEMPOTENCY_KEY = 255

# (session, job): an import ended (succeeded or failed for good), sent in the transaction ending
# it.
IMPORT_FINISHED: Signal[[AsyncSession, ImportJob]] = Signal("import_finished")


async def _finished(session: AsyncSession, job: ImportJob) -> None:
    await signals.send(IMPORT_FINISHED, session, job)


MEDIA_TYPES = {
    "text/csv": ImportFormat.CSV,
    "application/x-ndjson": ImportFormat.NDJSON,
}


class UnsupportedMediaType(LevierError):
    status, slug, title = (
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
    )


class PayloadTooLarge(LevierError):
    status, slug, title = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload-too-large", "Too large"


def format_of(content_type: str | None) -> ImportFormat:
    """The import format a ``Content-Type`` names (415 for any other)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise UnsupportedMediaType(
            f"send the file as {' or '.join(MEDIA_TYPES)}, not {media_type or 'nothing'}"
        )
    return fmt


async def _target_keys(
    session: AsyncSession, kind: ImportKind, linked_table: str | None
) -> Collection[str]:
    """What ``attributes.``/column targets may name: the brand's attributes, or the linked
    table's columns (404 for a table the brand does not have)."""
    if kind is ImportKind.LINKED:
        assert linked_table is not None
        return linked.definitions(await linked.get_table(session, linked_table)).keys()
    return (await attribute_rules.definitions(session)).keys()


async def _hashed(
    stream: AsyncIterator[bytes], digest: Any, max_bytes: int
) -> AsyncIterator[bytes]:
    """The stream, unchanged, feeding ``digest`` on the way when there is one (413 past
    ``max_bytes``)."""
    size = 0
    async for part in stream:
        size += len(part)
        if size > max_bytes:
            raise PayloadTooLarge(f"an import holds at most {max_bytes} bytes")
        if digest is not None:
            digest.update(part)
        yield part


async def create_import(
    session: AsyncSession,
    tenant: TenantId,
    *,
    kind: ImportKind,
    content_type: str | None,
    mode: ImportMode,
    mapping: str | None,
    body: AsyncIterator[bytes],
    content_length: int | None,
    max_bytes: int,
    actor: str | None,
    linked_table: str | None = None,
    idempotency_key: str | None = None,
    content_encoding: str | None = None,
    encoding: text.EncodingOption = text.EncodingOption.AUTO,
    delimiter: text.DelimiterOption = text.DelimiterOption.AUTO,
) -> tuple[ImportJob, bool]:
    """Store an uploaded file and queue its import (202); answers the job and whether it is
    new. Malformed mapping, unknown targets, an empty body, a wrong content type (415), a body
    above ``max_bytes`` (413, sent or once decompressed) or an unknown linked table (404) refuse
    it whole; so do a broken gzip file, a CSV header that does not decode, repeats a column
    name or has more than ``reader.MAX_COLUMNS`` columns (422).

    The body may be gzip (``Content-Encoding: gzip``, or recognised by its first bytes): it is
    decompressed while streaming. ``encoding`` and ``delimiter`` (a CSV's) are detected from
    the first chunk unless given (see :mod:`backend.imports.text`); the job keeps what it used.

    ``idempotency_key`` (the ``Idempotency-Key`` header) is kept on the job, unique per brand:
    the same key with the same upload (parameters and body, hashed while streaming, never
    buffered) answers the first job; with another upload, 409."""
    fmt = format_of(content_type)
    gzipped = _gzip_announced(content_encoding)
    if content_length is not None and content_length > max_bytes:
        raise PayloadTooLarge(f"an import holds at most {max_bytes} bytes")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters",
            errors=[{"field": "Idempotency-Key"}],
        )
    columns = parse_mapping(mapping)
    targets = Targets(kind, columns, await _target_keys(session, kind, linked_table))
    targets.check([])
    # The upload is hashed only when a retry may have to be recognised (an ``Idempotency-Key``):
    # hashing a large file costs a good part of its upload.
    digest = None
    if idempotency_key is not None:
        digest = hashlib.sha256(
            msgspec.json.encode(
                [
                    kind,
                    linked_table,
                    fmt,
                    mode,
                    sorted(columns.items()),
                    encoding,
                    delimiter,
                    gzipped,
                ]
            )
            + b"\n"
        )
        earlier = await repository.job_by_idempotency_key(session, idempotency_key)
        if earlier is not None:
            async for _ in _hashed(body, digest, max_bytes):
                pass
            if earlier.request_hash != digest.hexdigest():
                raise Conflict(
                    "this Idempotency-Key was used for a different import",
                    errors=[{"field": "Idempotency-Key", "message": "used for another upload"}],
                )
            return earlier, False
    if kind is ImportKind.PROFILES:
        # The plan's profiles, over the brands its account bills: refused once reached (402).
        await billing_service.check_profiles_allowance(session, tenant)
    job = ImportJob(
        kind=kind,
        format=fmt,
        mode=mode,
        status=ImportStatus.QUEUED,
        mapping=columns,
        linked_table=linked_table,
        idempotency_key=idempotency_key,
        created_by=actor,
    )
    session.add(job)
    await session.flush()  # a concurrent upload with the same key fails here (409)
    inflated = text.Gunzip(_hashed(body, digest, max_bytes), announced=gzipped, limit=max_bytes)
    try:
        size, chunks, first, lines = await storage.store_stream(
            session, tenant, job.id, inflated, max_bytes
        )
    except storage.TooLarge:
        raise PayloadTooLarge(f"an import holds at most {max_bytes} bytes") from None
    except text.Inflated:
        raise PayloadTooLarge(
            f"a gzip file decompresses to at most {max_bytes} bytes and {text.MAX_RATIO} times "
            "its size"
        ) from None
    except text.Corrupt:
        raise InvalidInput(
            "the body is not a whole gzip file",
            errors=[{"field": "body", "message": "broken gzip"}],
        ) from None
    job.request_hash = digest.hexdigest() if digest is not None else None
    if not first.strip():
        raise InvalidInput("the file is empty", errors=[{"field": "body", "message": "empty"}])
    job.compression = text.GZIP if inflated.gzip else None
    job.encoding = (
        text.detect_encoding(first, whole=chunks == 1)
        if encoding is text.EncodingOption.AUTO
        else encoding.value
    )
    if fmt is ImportFormat.CSV:
        head, whole = text.head_text(first, job.encoding, whole=chunks == 1)
        job.delimiter = (
            text.detect_delimiter(head)
            if delimiter is text.DelimiterOption.AUTO
            else text.DELIMITERS[delimiter]
        )
        header = _checked_header(reader.csv_header(head, job.delimiter, whole=whole), job.encoding)
        targets.check(header)
    job.size_bytes = size
    job.chunk_count = chunks
    job.total_lines = lines
    await session.flush()
    await enqueue(session, RUN_TASK, import_id=str(job.id))
    return job, True


def _gzip_announced(content_encoding: str | None) -> bool:
    """Whether ``Content-Encoding`` says gzip (415 for another coding)."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return True
    if coding != "identity":
        raise UnsupportedMediaType(f"send the file as it is or gzip-compressed, not {coding}")
    return False


def _checked_header(header: list[str] | None, encoding: str) -> list[str]:
    """The CSV header, if the job can read its columns by name (else 422)."""
    if not header:
        raise InvalidInput(
            f"the CSV file has no header line readable as {encoding} (choose the file's "
            "encoding with `encoding`)",
            errors=[{"field": "body", "message": "no header line"}],
        )
    if len(header) > reader.MAX_COLUMNS:
        raise InvalidInput(
            f"the CSV file has {len(header)} columns; an import takes at most {reader.MAX_COLUMNS}",
            errors=[{"field": "body", "message": "too many columns"}],
        )
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise InvalidInput(
            "the CSV header names a column more than once: " + ", ".join(repeated)[:500],
            errors=[{"field": "body", "message": "repeated column names"}],
        )
    return header


def _header(job: ImportJob, first: bytes) -> list[str] | None:
    """The stored CSV's header (checked at upload)."""
    head, whole = text.head_text(first, job.encoding or text.UTF8, whole=job.chunk_count == 1)
    return reader.csv_header(head, job.delimiter or ",", whole=whole)


async def get_import(session: AsyncSession, import_id: UUID) -> ImportJob:
    job = await repository.get_job(session, import_id)
    if job is None:
        raise NotFound("import not found")
    return job


async def list_rejections(
    session: AsyncSession, import_id: UUID, after_line: int, limit: int
) -> tuple[list[Any], int | None]:
    """Rejected rows in line order, and the line to continue after (None on the last page)."""
    await get_import(session, import_id)
    items = await repository.list_rejections(session, import_id, after_line, limit + 1)
    if len(items) > limit:
        return items[:limit], items[limit - 1].line
    return items, None


async def iter_rejections(
    session: AsyncSession, import_id: UUID, page: int = 1000
) -> AsyncIterator[Any]:
    after = 0
    while True:
        items = await repository.list_rejections(session, import_id, after, page)
        for item in items:
            yield item
        if len(items) < page:
            return
        after = items[-1].line


# Running ---------------------------------------------------------------------------------------


async def start(session: AsyncSession, import_id: UUID) -> bool:
    """Mark the job running (another attempt); False when it has nothing left to do."""
    job = await repository.get_job(session, import_id)
    if job is None or job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
        return False
    job.status = ImportStatus.RUNNING
    job.attempts += 1
    if job.started_at is None:
        job.started_at = utcnow()
    await session.flush()
    return True


async def run_batches(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    *,
    batch_size: int,
) -> AsyncIterator[int]:
    """Import the file from its checkpoint; yields after each written batch (its row count),
    for the caller to commit, and once more after marking the job succeeded."""
    if not await repository.hold(session, import_id, None):
        return  # gone, or stopped meanwhile (its file purged)
    job = await get_import(session, import_id)
    fmt, kind, mode, lines_done = job.format, job.kind, job.mode, job.lines_done
    encoding, delimiter = job.encoding or text.UTF8, job.delimiter or ","
    region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
    loader: ProfileLoader | OrderLoader | LinkedLoader
    if kind is ImportKind.LINKED:
        assert job.linked_table is not None
        table = await linked.get_table(session, job.linked_table)
        targets = Targets(kind, job.mapping or {}, linked.definitions(table).keys())
        loader = LinkedLoader(tenant, mode, targets, table, region)
    else:
        definitions = await attribute_rules.definitions(session)
        targets = Targets(kind, job.mapping or {}, definitions)
        if kind is ImportKind.PROFILES:
            loader = ProfileLoader(tenant, mode, targets, definitions, region)
        else:
            loader = OrderLoader(tenant, mode, targets, region)
    if (
        isinstance(loader, ProfileLoader)
        and fmt is ImportFormat.CSV
        and dialect_of(session) == "postgresql"
        and (header := _header(job, await storage.first_chunk(session, import_id)))
        and BulkProfileWriter.wants(loader, header)
    ):
        writer = BulkProfileWriter(loader, header)
        async for written in _run_bulk(
            session, tenant, job, writer, lines_done, batch_size, encoding, delimiter
        ):
            yield written
        return
    # Each batch is checked in a thread while the one before it is written: the CPU-bound row
    # checks overlap the database's work instead of waiting for it.
    # Lines equal to their stored profile (a re-import) are neither checked nor written. Looking
    # for them costs a join per batch: while batches find no stored profile (a file of new
    # people), only every eighth batch looks.
    checking: tuple[reader.Batch, int, asyncio.Future[tuple[list[Any], Outcome]]] | None = None
    busy: set[UUID] | None = set()  # the previous batch's profiles (None: it was not looked at)
    last_updated: int | None = None  # lines of the last written batch that found a profile
    index = 0
    async for batch in reader.batches(
        session,
        import_id,
        fmt,
        skip_lines=lines_done,
        batch_size=batch_size,
        encoding=encoding,
        delimiter=delimiter,
    ):
        records, unchanged = batch.records, 0
        look = last_updated is None or last_updated > 0 or index % 8 == 0
        index += 1
        if not isinstance(loader, ProfileLoader) or not look:
            busy = None
        else:
            skipped, busy = await loader.unchanged(session, records, busy)
            if skipped:
                records = [record for record in records if record.line not in skipped]
                unchanged = len(skipped)
        upcoming = (
            batch,
            unchanged,
            asyncio.ensure_future(asyncio.to_thread(_check, loader, records)),
        )
        if checking is not None:
            written, last_updated = await _write(session, tenant, import_id, loader, *checking)
            yield written
            if not await repository.hold(session, import_id, checking[0].lines_done):
                await upcoming[2]  # a thread cannot be cancelled: let it end
                return
        checking = upcoming
    if checking is not None:
        yield (await _write(session, tenant, import_id, loader, *checking))[0]
        if not await repository.hold(session, import_id, checking[0].lines_done):
            return
    await _succeeded(session, import_id)
    yield 0


async def _succeeded(session: AsyncSession, import_id: UUID) -> None:
    job = await get_import(session, import_id)
    job.status = ImportStatus.SUCCEEDED
    job.finished_at = utcnow()
    await session.flush()
    await _finished(session, job)


async def _run_bulk(
    session: AsyncSession,
    tenant: TenantId,
    job: ImportJob,
    writer: BulkProfileWriter,
    lines_done: int,
    batch_size: int,
    encoding: str,
    delimiter: str,
) -> AsyncIterator[int]:
    """``run_batches`` for a CSV of profiles on PostgreSQL: the database reads and writes the
    plain lines set-based (``profiles_bulk``), the loader takes the rest."""
    import_id = job.id
    async for batch in reader.batches(
        session,
        import_id,
        ImportFormat.CSV,
        skip_lines=lines_done,
        batch_size=batch_size,
        plain=True,
        encoding=encoding,
        delimiter=delimiter,
    ):
        outcome = await writer.write(session, batch)
        await _record(session, tenant, import_id, batch, outcome)
        yield batch.size
        if not await repository.hold(session, import_id, batch.lines_done):
            return
    await _succeeded(session, import_id)
    yield 0


def _check(
    loader: ProfileLoader | OrderLoader | LinkedLoader, records: list[Record]
) -> tuple[list[Any], Outcome]:
    """The batch's valid rows, and the outcome holding the rejected ones."""
    outcome = Outcome()
    valid: list[Any] = []
    for record in records:
        checked = loader.validate(record)
        if isinstance(checked, str):
            outcome.reject(record.line, checked, record.raw)
        else:
            valid.append(checked)
    return valid, outcome


async def _write(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    loader: ProfileLoader | OrderLoader | LinkedLoader,
    batch: reader.Batch,
    unchanged: int,
    checked: asyncio.Future[tuple[list[Any], Outcome]],
) -> tuple[int, int]:
    """Write a checked batch with its rejections and checkpoint; its record count, and how many
    of its lines found a stored profile."""
    valid, outcome = await checked
    outcome.updated += unchanged
    await loader.write(session, valid, outcome)
    await _record(session, tenant, import_id, batch, outcome)
    return len(batch.records), outcome.updated


async def _record(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    batch: reader.Batch,
    outcome: Outcome,
) -> None:
    """A written batch's rejections and checkpoint, in its transaction."""
    await repository.add_rejections(session, tenant, import_id, outcome.rejections)
    await repository.record_progress(
        session,
        import_id,
        lines_done=batch.lines_done,
        rows=batch.size,
        created=outcome.created,
        updated=outcome.updated,
        rejected=len(outcome.rejections),
    )


def failure_reason(exc: BaseException) -> str:
    """What an import's ``error`` says of an exception: its kind, never its text — a database
    error's message quotes the SQL, its parameters and the values of the file (the log keeps
    the whole exception)."""
    if isinstance(exc, LevierError):
        return f"the import stopped: {exc.title.lower()} ({exc.slug})"
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        state = f", SQLSTATE {code}" if isinstance(code, str) and code.isalnum() else ""
        return f"the import stopped on a database error ({type(exc).__name__}{state})"
    return f"the import stopped on an unexpected error ({type(exc).__name__})"


async def stop(session: AsyncSession, job: ImportJob, reason: str) -> None:
    """End a queued or running job as failed, for ``reason`` (a run in progress stops at its
    next batch: it no longer holds the job)."""
    job.status = ImportStatus.FAILED
    job.error = reason
    job.finished_at = utcnow()
    await session.flush()
    await _finished(session, job)


async def record_failure(
    session: AsyncSession, import_id: UUID, error: BaseException, *, final: bool
) -> None:
    """Note why an attempt failed (see :func:`failure_reason`); the last attempt marks the job
    failed (and finished)."""
    job = await get_import(session, import_id)
    job.error = failure_reason(error)
    if final:
        job.status = ImportStatus.FAILED
        job.finished_at = utcnow()
    await session.flush()
    if final:
        await _finished(session, job)
