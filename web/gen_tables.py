"""Write web/src/tables.generated.js: the Unicode data verrou's canonicalisers read, as the
browser's copy of the private check must read it too.

Run from the repository root with verrou importable (the venv, PYTHONPATH=src):

    python web/gen_tables.py

The tables come from the same functions the Python canonicalisers call (never re-derived), so the
browser folds exactly what the server's ingest folded: the invisible code points
(Default_Ignorable_Code_Point and Cf, from the ``regex`` module), the TR39 look-alike tables of
each target (from ``confusable-homoglyphs``), Python's case mappings, the document target's ambiguous look-alikes, the
per-character name fold below U+0250, email-validator's special-use domains, and the code points
Python's Unicode database assigns (a character unknown to it is one the browser, with a newer
Unicode, might normalise differently: the script refuses to answer for it). The output is
deterministic: the same packages give the same bytes. ``--check`` exits 1 when the committed
file differs from a fresh output.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import email_validator

from verrou.identifiers import lookalikes
from verrou.identifiers.names import _LATIN_FOLD  # the table fold_name reads below U+0250

OUTPUT = Path(__file__).resolve().parent / "src" / "tables.generated.js"


def _deltas(code_points: Iterable[int]) -> str:
    """Sorted code points as base-36 gaps joined by commas (compact, ASCII)."""
    previous = 0
    parts = []
    for code in sorted(code_points):
        parts.append(_base36(code - previous))
        previous = code
    return ",".join(parts)


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        value, digit = divmod(value, 36)
        text = digits[digit] + text
        if value == 0:
            return text


def _ranges(code_points: Iterable[int]) -> str:
    """Sorted code points as runs ``start-gap:length`` in base 36, joined by commas."""
    runs: list[list[int]] = []
    for code in sorted(code_points):
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    previous = 0
    parts = []
    for start, end in runs:
        parts.append(f"{_base36(start - previous)}:{_base36(end - start)}")
        previous = end
    return ",".join(parts)


def _by_text(table: Mapping[int, str]) -> dict[str, str]:
    """A translate table grouped by what it maps to: text → its sources (as :func:`_deltas`)."""
    groups: dict[str, list[int]] = {}
    for code, text in table.items():
        groups.setdefault(text, []).append(code)
    return {text: _deltas(codes) for text, codes in sorted(groups.items())}


def _case_map(fold: str) -> dict[str, object]:
    """Python's ``str.upper``/``str.lower`` of every assigned character that it changes:
    single-character mappings grouped by their code point offset, the others by their text.
    The browser's Unicode is newer and maps a few old letters to new ones (Unicode 16 gave
    U+0264 a capital): it must case-fold as Python does, not as it knows."""
    offsets: dict[int, list[int]] = {}
    multi: dict[int, str] = {}
    for code in _assigned():
        char = chr(code)
        mapped = char.upper() if fold == "upper" else char.lower()
        if mapped == char:
            continue
        if len(mapped) == 1:
            offsets.setdefault(ord(mapped) - code, []).append(code)
        else:
            multi[code] = mapped
    return {
        "offsets": {str(offset): _deltas(codes) for offset, codes in sorted(offsets.items())},
        "multi": _by_text(multi),
    }


def _assigned() -> list[int]:
    return [
        code
        for code in range(0x110000)
        if unicodedata.category(chr(code)) not in ("Cn", "Cs", "Co")
    ]


def tables() -> dict[str, object]:
    targets = {
        "name": lookalikes.NAME_TARGET,
        "lower": lookalikes.LOWER_TARGET,
        "document": lookalikes.DOCUMENT_TARGET,
    }
    return {
        "unicode": unicodedata.unidata_version,
        "confusables": importlib.metadata.version("confusable-homoglyphs"),
        "emailValidator": importlib.metadata.version("email-validator"),
        "invisible": _ranges(lookalikes.INVISIBLE),
        "blankLetters": _deltas(lookalikes.BLANK_LETTERS),
        "lookalikes": {
            name: _by_text(lookalikes.lookalike_table(target)) for name, target in targets.items()
        },
        "documentAmbiguous": _deltas(lookalikes.ambiguous_lookalikes(lookalikes.DOCUMENT_TARGET)),
        "latinFold": _by_text(_LATIN_FOLD),
        "specialUseDomains": list(email_validator.SPECIAL_USE_DOMAIN_NAMES),
        "assigned": _ranges(_assigned()),
        "upper": _case_map("upper"),
        "lower": _case_map("lower"),
    }


def render() -> str:
    body = json.dumps(tables(), indent=1, sort_keys=True, ensure_ascii=True)
    return (
        "// Generated by web/gen_tables.py from verrou's Python canonicalisers' data: do not edit.\n"
        "// Rebuild: PYTHONPATH=src python web/gen_tables.py\n"
        f"export const TABLES = {body};\n"
    )


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is not the output of web/gen_tables.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
