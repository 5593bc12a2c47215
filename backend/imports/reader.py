"""Records of an uploaded file: CSV (a header line, then rows) or NDJSON (an object per line).

Each record carries the number of the line it starts on (1 is the first line of the file, the
CSV header) and its raw text, for rejections. A CSV record may span lines (a quoted newline): a
record ends on a line where the count of ``"`` seen since it began is even. The CSV's delimiter
is the import's (``,`` ``;`` or tab).

A row the database or the rules could not take whole is rejected here, naming its line: bytes
its encoding does not define (:class:`~backend.imports.text.Undecodable`), a NUL character, an
NDJSON value nested deeper than ``MAX_DEPTH``.
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
from backend.imports.text import Undecodable

MAX_RAW = 10_000  # characters of a rejected row kept for the report
MAX_COLUMNS = 500  # columns a CSV header may have (more answers 422 at upload)
MAX_DEPTH = 32  # nesting of an NDJSON row's values (objects and arrays)
NUL = "the row holds a NUL character"
TOO_DEEP = f"the row nests values deeper than {MAX_DEPTH} levels"


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
    # ``<line number><delimiter><line>\n``, and their line numbers (ascending).
    plain: list[str] = field(default_factory=list)
    plain_lines: list[int] = field(default_factory=list)
    delimiter: str = ","

    @property
    def size(self) -> int:
        return len(self.records) + len(self.plain)

    def plain_record(self, line: int) -> Record:
        """The record of a plain line, as the reader would have made it."""
        text = self.plain[bisect.bisect_left(self.plain_lines, line)]
        raw = text.split(self.delimiter, 1)[1].removesuffix("\n")
        return plain_record(self.header, line, raw, self.delimiter)


def plain_record(header: list[str], line_no: int, raw: str, delimiter: str = ",") -> Record:
    """A quote-free CSV line with as many cells as the header: the cells are what lies between
    delimiters (an empty cell is "not given": imports never clear a stored value)."""
    cells = raw.split(delimiter)
    values = {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}
    return Record(line_no, raw[:MAX_RAW], values)


def _depth_or_nul(value: Any, depth: int = 0) -> str | None:
    """Why a decoded NDJSON value cannot be taken (too deep, a NUL in a key or text), if so."""
    if isinstance(value, str):
        return NUL if "\0" in value else None
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\0" in key:
                return NUL
            found = _depth_or_nul(item, depth + 1)
            if found:
                return found
    return None


class RecordReader:
    """Turns lines into records; ``header`` is known once the CSV's first record is read."""

    def __init__(self, fmt: ImportFormat, delimiter: str = ",") -> None:
        self.fmt = fmt
        self.delimiter = delimiter
        self.header: list[str] | None = None if fmt is ImportFormat.CSV else []
        self._pending: list[str] = []
        self._quotes = 0
        self._start = 0
        self._undecodable: str | None = None  # why the open record cannot be read

    @property
    def idle(self) -> bool:
        """No quoted record is open."""
        return not self._pending

    def feed(self, line_no: int, line: str) -> Record | None:
        if self.fmt is ImportFormat.NDJSON:
            return self._json(line_no, line)
        bad = line.reason if isinstance(line, Undecodable) else None
        if not self._pending:
            if self.header is not None and '"' not in line and bad is None:
                return self._plain(line_no, line)
            self._start = line_no
        if self._undecodable is None:
            self._undecodable = bad
        self._pending.append(line)
        self._quotes += line.count('"')
        if self._quotes % 2:
            return None
        lines, self._pending, self._quotes = self._pending, [], 0
        if self._undecodable is not None:
            reason, self._undecodable = self._undecodable, None
            return Record(self._start, "".join(lines).rstrip("\r\n")[:MAX_RAW], {}, reason)
        return self._csv(self._start, lines)

    def finish(self) -> Record | None:
        """A CSV record left open at the end of the file (an unclosed quote)."""
        if not self._pending:
            return None
        raw = "".join(self._pending)[:MAX_RAW]
        self._pending, self._undecodable = [], None
        return Record(self._start, raw, {}, "malformed CSV: a quoted field is never closed")

    def _json(self, line_no: int, line: str) -> Record | None:
        if not line.strip():
            return None
        raw = line.rstrip("\r\n")
        if isinstance(line, Undecodable):
            return Record(line_no, raw[:MAX_RAW], {}, line.reason)
        if "\0" in raw:
            return Record(line_no, raw[:MAX_RAW], {}, NUL)
        try:
            values = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            return Record(line_no, raw[:MAX_RAW], {}, f"malformed JSON: {exc}")
        except RecursionError:  # msgspec's own nesting limit, far past ours
            return Record(line_no, raw[:MAX_RAW], {}, TOO_DEEP)
        if not isinstance(values, dict):
            return Record(line_no, raw[:MAX_RAW], {}, "expected a JSON object")
        reason = _depth_or_nul(values)
        if reason:
            return Record(line_no, raw[:MAX_RAW], {}, reason)
        return Record(line_no, raw[:MAX_RAW], values)

    def _plain(self, line_no: int, line: str) -> Record | None:
        """A line without quotes: its cells are what lies between commas (the csv module's
        reading of it, a good deal faster). Anything unusual goes the csv module's way."""
        raw = line.rstrip("\r\n")
        if "\r" in raw or "\0" in raw or not raw.strip():
            return self._csv(line_no, [line])
        assert self.header is not None
        found = raw.count(self.delimiter) + 1
        if found != len(self.header):
            reason = f"malformed CSV: expected {len(self.header)} columns, found {found}"
            return Record(line_no, raw[:MAX_RAW], {}, reason)
        return plain_record(self.header, line_no, raw, self.delimiter)

    def _csv(self, line_no: int, lines: list[str]) -> Record | None:
        raw = "".join(lines).rstrip("\r\n")
        if not raw.strip():
            return None
        if "\0" in raw:
            return Record(line_no, raw[:MAX_RAW], {}, NUL)
        try:
            cells = next(csv.reader(lines, delimiter=self.delimiter, strict=True))
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


def csv_header(head: str, delimiter: str, *, whole: bool) -> list[str] | None:
    """The header of a CSV upload, read from the text of its first chunk (None when it has no
    full line). ``whole``: that text is the whole file (its last line may lack an end)."""
    reader = RecordReader(ImportFormat.CSV, delimiter)
    for number, line in enumerate(head.splitlines(keepends=True), start=1):
        if not line.endswith("\n") and not whole:
            return None  # cut by the chunk boundary or an undecodable byte
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
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> AsyncIterator[Batch]:
    """Batches of at most ``batch_size`` records, past the first ``skip_lines`` lines (the
    checkpoint). The CSV header is read whatever the checkpoint.

    With ``plain``, CSV lines the database can read as they are — decoded, no quote, no NUL, no
    carriage return inside, as many cells as the header — are handed over as text
    (``Batch.plain``) instead of records."""
    reader = RecordReader(fmt, delimiter)
    d = delimiter
    records: list[Record] = []
    lines: list[str] = []
    numbers: list[int] = []
    commas = -1  # the delimiters of a plain line; -1 while plain lines are not wanted
    line_no = 0
    async for block in read_lines(session, import_id, encoding):
        for line in block:
            line_no += 1
            if line_no <= skip_lines and reader.header is not None:
                continue
            if (
                commas >= 0
                and '"' not in line
                and "\0" not in line
                and reader.idle
                and not isinstance(line, Undecodable)
            ):
                raw = line.rstrip("\r\n")
                if raw.count(d) == commas and "\r" not in raw and (commas or raw.strip()):
                    lines.append(f"{line_no}{d}{raw}\n")
                    numbers.append(line_no)
                    if len(lines) + len(records) >= batch_size:
                        yield Batch(records, line_no, reader.header or [], lines, numbers, d)
                        records, lines, numbers = [], [], []
                    continue
            record = reader.feed(line_no, line)
            if plain and commas < 0 and reader.header is not None:
                commas = len(reader.header) - 1
            if record is None:
                continue
            records.append(record)
            if len(records) + len(lines) >= batch_size:
                yield Batch(records, line_no, reader.header or [], lines, numbers, d)
                records, lines, numbers = [], [], []
    last = reader.finish()
    if last is not None:
        records.append(last)
    if records or lines or line_no > skip_lines:
        yield Batch(records, line_no, reader.header or [], lines, numbers, d)
