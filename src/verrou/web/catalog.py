"""The portal's message catalogs: extract the messages of the templates and the web modules,
update the French catalog with them, and check that every message is translated.

    python -m verrou.web.catalog update [PART]  # messages no part holds yet added to PART.po
    python -m verrou.web.catalog check          # exit 1 naming each untranslated message

Messages are English (the ids); the French is in ``locale/fr/LC_MESSAGES/*.po``, one file per
part of the portal (``messages``, ``citizen``, ``operator``), read together. ``update`` drops
from each file the messages no longer in use. The tests run :func:`untranslated`, so no page
ever shows a message left in English.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from verrou.web.i18n import LANGUAGES

_METHODS = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
_OPTIONS = {
    "templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true"},
    "**.py": {},
}
#: In Python, `gettext(request, message)` (verrou.web.pages): the message is its second argument.
_KEYWORDS = {"_": None, "gettext": (2,), "ngettext": (1, 2), "N_": None}


def _root() -> Path:
    return Path(str(files("verrou.web")))


#: Written into every catalog's header, so that an update changes only what changed.
_STABLE_DATE = datetime(2026, 12, 1, tzinfo=UTC)


def po_path(language: str, part: str = "messages") -> Path:
    return _root() / "locale" / language / "LC_MESSAGES" / f"{part}.po"


def po_paths(language: str) -> list[Path]:
    """Every part of ``language``'s catalog, in a stable order."""
    return sorted(po_path(language).parent.glob("*.po"))


def extracted() -> Catalog:
    """Every message of the portal, with where it is used."""
    catalog = Catalog(project="verrou", charset="utf-8")
    root = _root()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map=_METHODS, options_map=_OPTIONS, keywords=_KEYWORDS
    ):
        if filename.startswith("catalog.py"):
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _read(path: Path, language: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=language, project="verrou", charset="utf-8")
    with path.open("rb") as source:
        return read_po(source, locale=language)


def _write(path: Path, catalog: Catalog) -> None:
    catalog.creation_date = catalog.revision_date = _STABLE_DATE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as sink:
        write_po(sink, catalog, width=100, sort_output=True, include_lineno=False)


def update(part: str = "messages") -> None:
    """Add the messages in use that no part of a language's catalog holds to ``part``, and
    drop from every part the messages no longer in use."""
    template = extracted()
    in_use = {message.id for message in template if message.id}
    for language in LANGUAGES:
        if language == "en":
            continue
        held: set[object] = set()
        for path in po_paths(language):
            catalog = _read(path, language)
            for message in list(catalog):
                if message.id and message.id not in in_use:
                    del catalog[message.id]
            held.update(message.id for message in catalog if message.id)
            _write(path, catalog)
        target_path = po_path(language, part)
        target = _read(target_path, language)
        for message in template:
            if message.id and message.id not in held:
                target.add(message.id, "", message.locations, auto_comments=message.auto_comments)
        _write(target_path, target)


def merged(language: str) -> dict[object, str]:
    """Every translation of ``language``, all parts together (the first part wins)."""
    found: dict[object, str] = {}
    for path in po_paths(language):
        for message in _read(path, language):
            if message.id and message.string and not message.fuzzy:
                found.setdefault(message.id, message.string)  # type: ignore[arg-type]
    return found


def untranslated(language: str = "fr") -> list[str]:
    """The messages in use that ``language``'s catalog leaves untranslated or fuzzy."""
    translated = merged(language)
    return [
        message.id if isinstance(message.id, str) else message.id[0]
        for message in extracted()
        if message.id and message.id not in translated
    ]


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update(*argv[1:2])
        return 0
    if argv[:1] == ["check"]:
        missing = untranslated()
        for message in missing:
            print(f"untranslated: {message!r}")
        return 1 if missing else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
