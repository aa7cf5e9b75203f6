"""Vectorised string building (numpy byte matrices and pyarrow kernels) and the per-chunk random
draws that let a duplicated person repeat an earlier row's draws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.synth.spec import BoolArray, ByteMatrix, Defect, IntArray

# Zero-padded digits of 0..9999 as ASCII, looked up instead of divided per cell.
_DIGITS4 = np.array([list(f"{i:04d}".encode("ascii")) for i in range(10_000)], dtype=np.uint8)


def _digits(values: npt.NDArray[np.integer[Any]], width: int) -> ByteMatrix:
    """Zero-padded decimal digits of ``values`` as an (n, width) ASCII matrix."""
    v = values.astype(np.int64)
    blocks: list[ByteMatrix] = []
    remaining = width
    while remaining > 0:
        take = min(4, remaining)
        blocks.append(_DIGITS4[v % 10_000][:, 4 - take :])
        v = v // 10_000
        remaining -= take
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks[::-1], axis=1)


def _lit(n: int, text: str) -> ByteMatrix:
    return np.broadcast_to(np.frombuffer(text.encode("ascii"), dtype=np.uint8), (n, len(text)))


def _strings(*parts: ByteMatrix) -> pa.Array:
    """Concatenate fixed-width ASCII matrices column-wise into a pyarrow string array."""
    mat = np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def _take(pool: pa.Array, idx: npt.NDArray[np.integer[Any]]) -> pa.Array:
    return pool.take(pa.array(idx))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def _pick(which: npt.NDArray[np.integer[Any]], *options: pa.Array) -> pa.Array:
    """Element ``i`` of ``options[which[i]]`` (pyarrow's ``choose`` is several times slower)."""
    n = len(which)
    flat = pa.concat_arrays([pa.array(o) if not isinstance(o, pa.Array) else o for o in options])
    return flat.take(pa.array(which.astype(np.int64) * n + np.arange(n, dtype=np.int64)))


def _mask_nulls(values: pa.Array, present: BoolArray) -> pa.Array:
    """Keep values where ``present``, null elsewhere."""
    return pc.if_else(pa.array(present), values, pa.scalar(None, pa.string()))


def _weighted(rng: _Draws, n: int, weights: Sequence[float]) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum())


@dataclass
class _Chunk:
    """One generated chunk: columns (null = blank) and construction facts, local 0-based rows."""

    columns: dict[str, pa.Array]
    ids: IntArray
    broken: list[tuple[int, str, Defect]]  # (row, column, defect)
    malformed: list[tuple[int, Defect]]
    duplicates: list[tuple[int, int, str]]


class _Draws:
    """Random draws for one chunk, where some rows repeat the draws of an earlier row.

    ``source[j]`` is the row whose draws row ``j`` takes (itself for most rows): this is how a
    duplicated person gets the same names, dates, phone and documents, at the cost of indexing
    small numeric arrays instead of copying string columns.
    """

    def __init__(self, rng: np.random.Generator, source: IntArray) -> None:
        self.rng = rng
        self.source = source

    def _map(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values[self.source]

    def random(self, n: int) -> npt.NDArray[np.float64]:
        return self._map(self.rng.random(n))

    def integers(
        self, low: int, high: int, size: int | tuple[int, int], dtype: type = np.int64
    ) -> npt.NDArray[Any]:
        return self._map(self.rng.integers(low, high, size=size, dtype=dtype))

    def choice(self, k: int, size: int, p: npt.NDArray[np.float64]) -> IntArray:
        return self._map(self.rng.choice(k, size=size, p=p).astype(np.int64))

    def geometric(self, p: float, size: int) -> IntArray:
        return self._map(self.rng.geometric(p, size).astype(np.int64))
