"""Phone numbers in the ranges phonenumbers accepts, written the ways people write them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from verrou.synth.building import _Draws, _lit, _pick, _strings, _weighted
from verrou.synth.pools import _PHONE_RANGES
from verrou.synth.spec import ByteMatrix


def _phones(rng: _Draws, n: int) -> tuple[pa.Array, pa.Array]:
    """Valid French numbers in varied layouts, and their 10-digit national form."""
    ranges = _PHONE_RANGES
    which = _weighted(rng, n, [w for _, _, w in ranges])
    prefix_mat = np.zeros((len(ranges), 9), dtype=np.uint8)
    prefix_len = np.zeros(len(ranges), dtype=np.int64)
    for i, (prefix, _region, _w) in enumerate(ranges):
        prefix_mat[i, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
        prefix_len[i] = len(prefix)
    fixed = np.arange(9)[None, :] < prefix_len[which][:, None]
    free = rng.integers(48, 58, size=(n, 9), dtype=np.uint8)
    nsn = np.where(fixed, prefix_mat[which], free).astype(np.uint8)
    d = np.concatenate([_lit(n, "0"), nsn], axis=1)
    sp, dot = _lit(n, " "), _lit(n, ".")

    def pairs(sep: ByteMatrix) -> pa.Array:
        parts: list[ByteMatrix] = []
        for k in range(5):
            if k:
                parts.append(sep)
            parts.append(d[:, 2 * k : 2 * k + 2])
        return _strings(*parts)

    compact = _strings(d)
    intl_spaced = _strings(
        _lit(n, "+33 "),
        d[:, 1:2],
        *(x for k in range(4) for x in (sp, d[:, 2 + 2 * k : 4 + 2 * k])),
    )
    intl_compact = _strings(_lit(n, "+33"), d[:, 1:])
    overseas = np.array([r != "FR" for _, r, _ in ranges])[which]
    style = _weighted(rng, n, [35, 15, 15, 30, 5])
    # Overseas numbers stay in national format (+33 would make them wrong).
    style = np.where(overseas & (style >= 2), np.where(style == 2, 0, 3), style)
    style = np.where(overseas & (style == 4), 3, style)
    phone = _pick(style, pairs(sp), pairs(dot), intl_spaced, compact, intl_compact)
    return phone, compact
