"""Writing a split as a Parquet file, a row group at a time (memory stays flat), and the content
digest of the whole dataset.

The digest is a sha256 over every row of every split in order (split name, column name and the
int64 bytes of each value): two preparations with the same digest trained on the same tokens.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from climb.state import file_sha256


class SplitWriter:
    """Streams the rows of one split into `<folder>/<split>.parquet`."""

    def __init__(
        self, folder: Path, split: str, columns: tuple[str, ...], row_group_rows: int, digest: Any
    ) -> None:
        """Open the writer lazily; `digest` is the dataset's running hashlib object."""
        self.path = folder / f"{split}.parquet"
        self.split, self.columns, self.row_group_rows = split, columns, row_group_rows
        self.digest = digest
        self.buffer: dict[str, list[Any]] = {c: [] for c in columns}
        self.rows = 0
        self._writer: Any = None

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (a 1-D integer array or list per column)."""
        import numpy as np

        parts = [self.split.encode() + b"\0"]
        for c in self.columns:
            values = np.asarray(row[c], dtype=np.int64)
            parts += [c.encode(), values.tobytes()]
            self.buffer[c].append(values)
        self.digest.update(b"".join(parts))
        self.rows += 1
        if len(self.buffer[self.columns[0]]) >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer[self.columns[0]]:
            return
        schema = pa.schema([(c, pa.list_(pa.int64())) for c in self.columns])
        arrays = []
        for c in self.columns:
            parts = self.buffer[c]
            offsets = np.zeros(len(parts) + 1, dtype=np.int32)
            np.cumsum([len(p) for p in parts], out=offsets[1:])
            arrays.append(pa.ListArray.from_arrays(offsets, np.concatenate(parts)))
        table = pa.Table.from_arrays(arrays, schema=schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema)
        self._writer.write_table(table)
        self.buffer = {c: [] for c in self.columns}

    def close(self) -> dict[str, Any]:
        """Flush and close; return {file, rows, sha256} (no file is written for an empty split)."""
        self._flush()
        if self._writer is None:
            return {"file": None, "rows": 0, "sha256": None}
        self._writer.close()
        return {"file": self.path.name, "rows": self.rows, "sha256": file_sha256(self.path)}


def new_digest() -> Any:
    """Return the running hash object of a dataset's content digest."""
    return hashlib.sha256()
