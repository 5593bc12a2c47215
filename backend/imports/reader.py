"""Records of an uploaded file: CSV (a header line, then rows) or NDJSON (an object per line).

Each record carries the number of the line it starts on (1 is the first line of the file, the
CSV header) and its raw text, for rejections. A CSV record may span lines (a quoted newline): a
record ends on a line where the count of ``"`` seen since it began is even.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.imports.models import ImportFormat
from backend.imports.storage import read_lines

MAX_RAW = 10_000  # characters of a rejected row kept for the report


@dataclass(frozen=True)
class Record:
    line: int
    raw: str
    values: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class Batch:
    records: list[Record]
    lines_done: int  # every line up to this one is consumed once the batch is written
    header: list[str]
    # Plain CSV lines left for the database to read (see ``batches``), each as
    # ``<line number>,<line>\n``, and their line numbers (ascending).
    plain: list[str] = field(default_factory=list)
    plain_lines: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.records) + len(self.plain)

    def plain_record(self, line: int) -> Record:
        """The record of a plain line, as the reader would have made it."""
        text = self.plain[bisect.bisect_left(self.plain_lines, line)]
        return plain_record(self.header, line, text.split(",", 1)[1].removesuffix("\n"))


def plain_record(header: list[str], line_no: int, raw: str) -> Record:
    """A quote-free CSV line with as many cells as the header: the cells are what lies between
    commas (an empty cell is "not given": imports never clear a stored value)."""
    values = {name: cell for name, cell in zip(header, raw.split(","), strict=True) if cell != ""}
    return Record(line_no, raw[:MAX_RAW], values)


class RecordReader:
    """Turns lines into records; ``header`` is known once the CSV's first record is read."""

    def __init__(self, fmt: ImportFormat) -> None:
        self.fmt = fmt
        self.header: list[str] | None = None if fmt is ImportFormat.CSV else []
        self._pending: list[str] = []
        self._quotes = 0
        self._start = 0

    @property
    def idle(self) -> bool:
        """No quoted record is open."""
        return not self._pending

    def feed(self, line_no: int, line: str) -> Record | None:
        if self.fmt is ImportFormat.NDJSON:
            return self._json(line_no, line)
        if not self._pending:
            if self.header is not None and '"' not in line:
                return self._plain(line_no, line)
            self._start = line_no
        self._pending.append(line)
        self._quotes += line.count('"')
        if self._quotes % 2:
            return None
        lines, self._pending, self._quotes = self._pending, [], 0
        return self._csv(self._start, lines)

    def finish(self) -> Record | None:
        """A CSV record left open at the end of the file (an unclosed quote)."""
        if not self._pending:
            return None
        raw = "".join(self._pending)[:MAX_RAW]
        self._pending = []
        return Record(self._start, raw, {}, "malformed CSV: a quoted field is never closed")

    def _json(self, line_no: int, line: str) -> Record | None:
        if not line.strip():
            return None
        raw = line.rstrip("\r\n")
        try:
            values = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            return Record(line_no, raw[:MAX_RAW], {}, f"malformed JSON: {exc}")
        if not isinstance(values, dict):
            return Record(line_no, raw[:MAX_RAW], {}, "expected a JSON object")
        return Record(line_no, raw[:MAX_RAW], values)

    def _plain(self, line_no: int, line: str) -> Record | None:
        """A line without quotes: its cells are what lies between commas (the csv module's
        reading of it, a good deal faster). Anything unusual goes the csv module's way."""
        raw = line.rstrip("\r\n")
        if "\r" in raw or "\0" in raw or not raw.strip():
            return self._csv(line_no, [line])
        assert self.header is not None
        if raw.count(",") != len(self.header) - 1:
            found = raw.count(",") + 1
            reason = f"malformed CSV: expected {len(self.header)} columns, found {found}"
            return Record(line_no, raw[:MAX_RAW], {}, reason)
        return plain_record(self.header, line_no, raw)

    def _csv(self, line_no: int, lines: list[str]) -> Record | None:
        raw = "".join(lines).rstrip("\r\n")
        if not raw.strip():
            return None
        try:
            cells = next(csv.reader(lines, strict=True))
        except (csv.Error, StopIteration) as exc:
            return Record(line_no, raw[:MAX_RAW], {}, f"malformed CSV: {exc}")
        if self.header is None:
            self.header = [cell.strip() for cell in cells]
            return None
        if len(cells) != len(self.header):
            reason = f"malformed CSV: expected {len(self.header)} columns, found {len(cells)}"
            return Record(line_no, raw[:MAX_RAW], {}, reason)
        # An empty cell is "not given": imports never clear a stored value.
        values = {name: cell for name, cell in zip(self.header, cells, strict=True) if cell != ""}
        return Record(line_no, raw[:MAX_RAW], values)


def csv_header(first_chunk: bytes) -> list[str] | None:
    """The header of a CSV upload, read from its first chunk (None when it has no full line)."""
    text = first_chunk.decode("utf-8-sig", errors="replace")
    reader = RecordReader(ImportFormat.CSV)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if not line.endswith("\n") and len(first_chunk) >= (1 << 20):
            return None  # cut by the chunk boundary
        record = reader.feed(number, line)
        if reader.header is not None:
            return reader.header
        if record is not None and record.error:
            return None
    reader.finish()
    return reader.header


async def batches(
    session: AsyncSession,
    import_id: UUID,
    fmt: ImportFormat,
    *,
    skip_lines: int,
    batch_size: int,
    plain: bool = False,
) -> AsyncIterator[Batch]:
    """Batches of at most ``batch_size`` records, past the first ``skip_lines`` lines (the
    checkpoint). The CSV header is read whatever the checkpoint.

    With ``plain``, CSV lines the database can read as they are — no quote, no NUL, no carriage
    return inside, as many cells as the header — are handed over as text (``Batch.plain``)
    instead of records."""
    reader = RecordReader(fmt)
    records: list[Record] = []
    lines: list[str] = []
    numbers: list[int] = []
    commas = -1  # the commas of a plain line; -1 while plain lines are not wanted
    line_no = 0
    async for block in read_lines(session, import_id):
        for line in block:
            line_no += 1
            if line_no <= skip_lines and reader.header is not None:
                continue
            if commas >= 0 and '"' not in line and "\0" not in line and reader.idle:
                raw = line.rstrip("\r\n")
                if raw.count(",") == commas and "\r" not in raw and (commas or raw.strip()):
                    lines.append(f"{line_no},{raw}\n")
                    numbers.append(line_no)
                    if len(lines) + len(records) >= batch_size:
                        yield Batch(records, line_no, reader.header or [], lines, numbers)
                        records, lines, numbers = [], [], []
                    continue
            record = reader.feed(line_no, line)
            if plain and commas < 0 and reader.header is not None:
                commas = len(reader.header) - 1
            if record is None:
                continue
            records.append(record)
            if len(records) + len(lines) >= batch_size:
                yield Batch(records, line_no, reader.header or [], lines, numbers)
                records, lines, numbers = [], [], []
    last = reader.finish()
    if last is not None:
        records.append(last)
    if records or lines or line_no > skip_lines:
        yield Batch(records, line_no, reader.header or [], lines, numbers)
