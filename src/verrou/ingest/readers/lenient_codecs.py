"""Lenient text codecs: UTF-8 whose invalid bytes read as cp1252, and cp1252 without errors."""

from __future__ import annotations

import codecs
import encodings.cp1252
import functools
from typing import Any, Final

# pyarrow's CSV transcoder looks codecs up by name and decodes strictly, so the lenient decoders
# are registered as codecs of their own, once, by the first reader that needs one.

_FALLBACK_ERRORS: Final = "verrou-cp1252-fallback"
_UTF8_FALLBACK: Final = "verrou_utf8_cp1252"
_CP1252_LENIENT: Final = "verrou_cp1252"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode bytes that are not UTF-8 as cp1252 (its 5 unassigned bytes become U+FFFD)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    raw = error.object[error.start : error.end]
    return codecs.charmap_decode(raw, "replace", encodings.cp1252.decoding_table)[0], error.end


class _Utf8FallbackDecoder(codecs.BufferedIncrementalDecoder):
    def _buffer_decode(self, data: Any, errors: str, final: bool) -> tuple[str, int]:
        return codecs.utf_8_decode(data, _FALLBACK_ERRORS, final)


class _Cp1252LenientDecoder(codecs.IncrementalDecoder):
    def decode(self, data: Any, final: bool = False) -> str:
        return codecs.charmap_decode(data, "replace", encodings.cp1252.decoding_table)[0]


def _search_codec(name: str) -> codecs.CodecInfo | None:
    if name == _UTF8_FALLBACK:
        return codecs.CodecInfo(
            name=_UTF8_FALLBACK,
            encode=codecs.utf_8_encode,
            decode=lambda data, errors="strict": codecs.utf_8_decode(data, _FALLBACK_ERRORS, True),
            incrementaldecoder=_Utf8FallbackDecoder,
        )
    if name == _CP1252_LENIENT:
        return codecs.CodecInfo(
            name=_CP1252_LENIENT,
            encode=codecs.lookup("cp1252").encode,
            decode=lambda data, errors="strict": codecs.charmap_decode(
                data, "replace", encodings.cp1252.decoding_table
            ),
            incrementaldecoder=_Cp1252LenientDecoder,
        )
    return None


@functools.cache
def register_codecs() -> None:
    """Register the lenient codecs and the cp1252 fallback error handler (once).

    Called by whoever is about to name one of them (to pyarrow, ``codecs.decode`` or
    ``bytes.decode``), so that importing the readers changes no global codec state.
    """
    codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)
    codecs.register(_search_codec)


def _python_codec(encoding: str) -> str:
    """The lenient codec used to decode a dump declared with ``encoding`` (registered)."""
    register_codecs()
    return _CP1252_LENIENT if encoding == "cp1252" else _UTF8_FALLBACK
