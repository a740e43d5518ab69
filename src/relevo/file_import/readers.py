"""Reading rows from files in batches, with how far into the file we are (for progress).

CSV and Parquet are read by pyarrow (fast, streamed); every CSV column is read as text so a
value is never silently re-typed. JSON Lines are read line by line, each line one record.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from relevo.decoding import InvalidInput, parse

Format = Literal["csv", "jsonl", "parquet"]


class FileProblem(Exception):
    """A file that cannot be read at all (as opposed to a bad record inside it)."""


@dataclass
class RowBatch:
    columns: list[str] | None  # None for JSON Lines: each row is a record object
    rows: list[Any]
    position: int  # bytes of the file consumed so far
    size: int  # total bytes of the file


def detect_format(path: Path) -> Format:
    """
    >>> detect_format(Path("x.csv.gz")), detect_format(Path("x.jsonl")), detect_format(Path("y.parquet"))
    ('csv', 'jsonl', 'parquet')
    """
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv", ".txt"):
        return "csv"
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".parquet", ".pq"):
        return "parquet"
    raise FileProblem(
        f"{path.name}: cannot tell the format from its name; pass --format csv|jsonl|parquet"
    )


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """The raw file (for progress) and the stream to read (decompressed if gzip)."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    return raw, (gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw)  # type: ignore[return-value]


def read_batches(path: Path, file_format: Format, batch_rows: int = 20_000) -> Iterator[RowBatch]:
    if not path.is_file():
        raise FileProblem(f"{path}: no such file")
    size = path.stat().st_size
    try:
        if file_format == "parquet":
            yield from _parquet(path, size, batch_rows)
        elif file_format == "csv":
            yield from _csv(path, size)
        else:
            yield from _jsonl(path, size, batch_rows)
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        raise FileProblem(f"{path.name}: {error}") from None


def _csv(path: Path, size: int) -> Iterator[RowBatch]:
    raw, stream = _open(path)
    with raw:
        header = stream.readline().decode("utf-8-sig").rstrip("\r\n")
        stream.seek(0)
        names = next(csv.reader([header]), [])
        if not names:
            raise FileProblem(f"{path.name}: the file is empty; a CSV needs a header line")
        reader = pacsv.open_csv(
            pa.PythonFile(stream, mode="r"),
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,  # an empty cell is "", which the mapping treats as absent
            ),
        )
        for batch in reader:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield RowBatch(names, list(zip(*columns, strict=True)), raw.tell(), size)


def _parquet(path: Path, size: int, batch_rows: int) -> Iterator[RowBatch]:
    parquet = pq.ParquetFile(path)
    total, done = parquet.metadata.num_rows or 1, 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        done += batch.num_rows
        yield RowBatch(
            batch.schema.names, list(zip(*columns, strict=True)), size * done // total, size
        )


def _jsonl(path: Path, size: int, batch_rows: int) -> Iterator[RowBatch]:
    raw, stream = _open(path)
    with raw:
        rows: list[Any] = []
        for line in stream:
            if not line.strip():
                continue
            try:
                rows.append(parse(line))
            except InvalidInput:
                rows.append(msgspec.Raw(line))  # refused by the pipeline, counted, not lost
            if len(rows) >= batch_rows:
                yield RowBatch(None, rows, raw.tell(), size)
                rows = []
        if rows:
            yield RowBatch(None, rows, raw.tell(), size)
