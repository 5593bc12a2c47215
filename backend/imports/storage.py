"""The uploaded file, kept in the database as ~1 MiB chunks, and read back as lines.

Chunks go through Core inserts (``tenant_id`` stamped here) so a 2 GiB upload never sits in the
session's identity map, nor in memory: at most one chunk is held at a time.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from uuid import UUID

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import dialect_of, postgres_settings
from backend.core.tenancy import TenantId
from backend.imports.models import ImportChunk
from backend.imports.text import UTF8, decode_lines

CHUNK_BYTES = 1 << 20


class TooLarge(Exception):
    """The stream went past the byte limit."""


async def store_stream(
    session: AsyncSession,
    tenant: TenantId,
    import_id: UUID,
    stream: AsyncIterable[bytes],
    limit: int,
) -> tuple[int, int, bytes, int]:
    """Write the stream as chunks of the import; (bytes, chunks, first chunk, lines). Lines are
    counted as the reader splits them: on ``\n``, a last line without one counting too."""
    buffer = bytearray()
    size = seq = lines = 0
    first = b""
    last = b"\n"

    async def flush(data: bytes) -> None:
        nonlocal seq, first
        if seq == 0:
            first = data
        await session.execute(
            insert(ImportChunk).values(tenant_id=tenant, import_id=import_id, seq=seq, data=data)
        )
        seq += 1

    async with postgres_settings(session, await _cheap_compression(session)):
        async for part in stream:
            size += len(part)
            if size > limit:
                raise TooLarge
            if part:
                lines += part.count(b"\n")
                last = part[-1:]
            buffer += part
            while len(buffer) >= CHUNK_BYTES:
                await flush(bytes(buffer[:CHUNK_BYTES]))
                del buffer[:CHUNK_BYTES]
        if buffer:
            await flush(bytes(buffer))
    return size, seq, first, lines + (last != b"\n")


_lz4: bool | None = None  # whether the PostgreSQL server compresses with lz4 (asked once)


async def _cheap_compression(session: AsyncSession) -> dict[str, str]:
    """PostgreSQL settings that store the chunks compressed by lz4 instead of the default pglz:
    pglz took 15 to 30 ms a chunk of CSV, a third of the upload; lz4 compresses about ten
    times faster (a little less tightly), and reads back faster too. Each stored value names
    its own method, so chunks stored either way read back alike. Nothing elsewhere."""
    global _lz4
    if dialect_of(session) != "postgresql":
        return {}
    if _lz4 is None:
        _lz4 = bool(
            await session.scalar(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                    " WHERE name = 'default_toast_compression'"
                )
            )
        )
    return {"default_toast_compression": "lz4"} if _lz4 else {}


async def first_chunk(session: AsyncSession, import_id: UUID) -> bytes:
    """The file's first chunk (where its CSV header is)."""
    data = await session.scalar(
        select(ImportChunk.data).where(ImportChunk.import_id == import_id, ImportChunk.seq == 0)
    )
    return data or b""


async def read_lines(
    session: AsyncSession, import_id: UUID, encoding: str = UTF8
) -> AsyncIterator[list[str]]:
    """The file's lines (line ends kept), a block per chunk; one chunk in memory at a time. A
    line its encoding does not define comes as :class:`~backend.imports.text.Undecodable`."""
    pending = b""
    first = True
    async for data in chunks(session, import_id):
        if first and encoding == UTF8 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        first = False
        block = pending + data
        # Split on "\n" only (as the csv module reads lines); the unfinished tail waits. Every
        # encoding taken is ASCII-compatible, so a byte 0x0a is always a line end.
        cut = block.rfind(b"\n") + 1
        pending = block[cut:]
        lines = decode_lines(block[:cut], encoding)
        if lines:
            yield lines
    if pending:
        yield decode_lines(pending, encoding)


async def purge(session: AsyncSession, import_ids: Sequence[UUID]) -> None:
    """Delete the stored files of these imports."""
    await session.execute(
        delete(ImportChunk)
        .where(ImportChunk.import_id.in_(import_ids))
        .execution_options(synchronize_session=False)
    )


async def chunks(session: AsyncSession, import_id: UUID) -> AsyncIterator[bytes]:
    """The stored file's chunks in order, one in memory at a time."""
    seq = 0
    while True:
        data = await session.scalar(
            select(ImportChunk.data).where(
                ImportChunk.import_id == import_id, ImportChunk.seq == seq
            )
        )
        if data is None:
            return
        yield data
        seq += 1
