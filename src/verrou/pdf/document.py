"""The page every verrou PDF is printed on: fonts, metadata, headings, the QR code, the token.

Reproducible bytes
------------------
The same inputs give the same bytes, so a document can be re-rendered on demand instead of
stored, and a test can pin it. fpdf2 puts three varying things in a file, and each is fixed:

* the creation date (``/CreationDate``, and the file identifier hashes it): set to the moment
  the document is *about* (the report's or attestation's issue time), never "now";
* the producer: a fixed string instead of fpdf2's version banner;
* the file identifier (``/ID``): fpdf2's default is an MD5 of the file's own bytes and that
  creation date, so it is already a function of the content; we keep it (PDF 1.7 section 14.4
  wants one) rather than a random one.

No XMP packet is written (fpdf2 writes one only for PDF/A, and its modification date would be
"now"). Fonts are subset by fontTools deterministically.

The QR code is drawn as filled rectangles from segno's module matrix: vectors, so no image
library is needed, it is sharp at any zoom, and its bytes depend on the URL only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import segno
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode, XPos, YPos
from fpdf.fonts import TTFFont

from verrou.pdf.wording import LANGS, NBSP, Lang, Phrase, moment, ordered
from verrou.signing import b64url_decode

#: Font family name inside the PDF.
FONT: Final = "DejaVu"
#: The fonts shipped as package data (fpdf2 reads a font from a path, so verrou is installed
#: unzipped, as setuptools does).
FONT_DIR: Final = Path(__file__).with_name("fonts")
_FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
#: Fixed ``/Producer`` (fpdf2's own names its version, which would change the bytes on upgrade).
PRODUCER: Final = "verrou"

PAGE_WIDTH: Final = 210.0  # A4, millimetres
MARGIN: Final = 18.0
#: Where the QR code of the verification URL sits on the first page: ``(x, y, side)`` in mm,
#: quiet zone included (top right, beside the title).
QR_BOX: Final = (PAGE_WIDTH - MARGIN - 36.0, MARGIN - 4.0, 36.0)
#: Modules of white around the code (ISO/IEC 18004 asks for four).
QR_QUIET_ZONE: Final = 4

_BODY: Final = 9.5
#: Characters fpdf2 lays out rather than draws.
_LAYOUT_CHARS: Final = frozenset("\n\r\t")
_SECONDARY_GREY: Final = 95
_RULE_GREY: Final = 170


def origin_jwks_url(verify_url: str) -> str:
    """Where the public keys are: ``/.well-known/jwks.json`` on the verification URL's host."""
    parts = urlsplit(verify_url)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}/.well-known/jwks.json"
    return "/.well-known/jwks.json"


def token_payload(token: str) -> Any:
    """The payload of a compact JWS, decoded *without* verifying it.

    Only used to check that a document prints the token of the record it shows; verification
    is the reader's job (:mod:`verrou.registry.reports`).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("token is not a compact JWS")
    return json.loads(b64url_decode(parts[1]))


class Document(FPDF):
    """An A4 page in DejaVu Sans with verrou's header line and a numbered footer."""

    def __init__(self, *, lang: Lang, title: str, reference: str, created: datetime) -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)}")
        super().__init__(orientation="P", unit="mm", format="A4")
        self.lang_code: Lang = lang
        self.reference = reference
        for style, name in _FONT_FILES.items():
            self.add_font(FONT, style, FONT_DIR / name)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 4)
        # Metadata says what the document is, never whose: no name in a file's properties,
        # where search indexers and mail gateways read it.
        self.set_lang(lang)
        self.set_title(title)
        self.set_author("verrou")
        self.set_creator("verrou")
        self.set_producer(PRODUCER)
        self.set_creation_date(created)
        self.add_page()

    def normalize_text(self, text: str) -> str:
        """Refuse text the embedded font cannot draw (``ValueError``, naming no character).

        fpdf2 would print such a character as nothing and log a warning that quotes it: a
        document with a name silently shortened, and part of that name in the logs. Names from
        a French sign-in are in Latin script, which DejaVu Sans covers entirely.
        """
        font = self.current_font
        if isinstance(font, TTFFont):
            missing = sum(
                1 for char in set(text) if char not in _LAYOUT_CHARS and ord(char) not in font.cmap
            )
            if missing:
                raise ValueError(
                    f"the text holds {missing} character(s) the document's font cannot print"
                )
        return super().normalize_text(text)

    # --- page furniture ------------------------------------------------------------------

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT, "", 7)
        self.set_text_color(_SECONDARY_GREY)
        self.cell(0, 4, f"verrou — {self.reference} — {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    @classmethod
    def opened(
        cls,
        *,
        lang: Lang,
        title: Phrase,
        reference: str,
        created: datetime,
        verify_url: str,
        fields: Sequence[tuple[Phrase, str | Phrase]],
    ) -> Document:
        """A document as each one opens: the QR code of ``verify_url`` at the top right, the
        title and the first fields beside it."""
        doc = cls(lang=lang, title=title[0], reference=reference, created=created)
        text_width = QR_BOX[0] - doc.l_margin - 4
        doc.qr_code(verify_url)
        doc.title_block(title, text_width)
        doc.fields(fields, text_width)
        return doc

    def title_block(self, title: Phrase, width: float) -> None:
        """The title in the document's language, bold, and in the other one below."""
        first, second = ordered(title, self.lang_code)
        self.set_font(FONT, "B", 16)
        self.multi_cell(width, 7.5, first, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 11)
        self.set_text_color(_SECONDARY_GREY)
        self.multi_cell(width, 6, second, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(3)

    def fields(self, rows: Sequence[tuple[Phrase, str | Phrase]], width: float) -> None:
        """Label / value rows: the label in both languages; the value as given, or in both
        languages when it is a phrase (a date)."""
        label_width = 36.0
        for label, value in rows:
            y = self.get_y()
            self._two_lines(ordered(label, self.lang_code), label_width, bold=True)
            bottom = self.get_y()
            self.set_xy(MARGIN + label_width, y)
            if isinstance(value, str):
                self.set_font(FONT, "", _BODY)
                self.multi_cell(width - label_width, 4.6, value, align="L", new_x=XPos.LMARGIN)
            else:
                self._two_lines(ordered(value, self.lang_code), width - label_width, x=True)
            self.set_y(max(bottom, self.get_y()) + 1.2)

    def _two_lines(
        self, text: Phrase, width: float, *, bold: bool = False, x: bool = False
    ) -> None:
        left = self.get_x() if x else MARGIN
        self.set_font(FONT, "B" if bold else "", _BODY)
        self.multi_cell(width, 4.6, text[0], align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(left)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(_SECONDARY_GREY)
        self.multi_cell(width, 3.6, text[1], align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)

    def heading(self, text: Phrase) -> None:
        """A section heading with a rule above it."""
        self.ln(2)
        if self.will_page_break(16):
            self.add_page()
        y = self.get_y()
        self.set_draw_color(_RULE_GREY)
        self.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
        self.ln(2)
        first, second = ordered(text, self.lang_code)
        self.set_font(FONT, "B", 11.5)
        self.cell(0, 6, first, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 8.5)
        self.set_text_color(_SECONDARY_GREY)
        self.cell(0, 4.5, second, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(1.5)

    def paragraph(self, text: Phrase, *, indent: float = 0.0, bold: bool = False) -> None:
        """A statement in the document's language, then its translation in grey."""
        first, second = ordered(text, self.lang_code)
        width = PAGE_WIDTH - 2 * MARGIN - indent
        self.set_x(MARGIN + indent)
        self.set_font(FONT, "B" if bold else "", _BODY)
        self.multi_cell(width, 4.6, first, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(MARGIN + indent)
        self.set_font(FONT, "", 8)
        self.set_text_color(_SECONDARY_GREY)
        self.multi_cell(width, 4, second, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(1)

    def item(self, head: str, lines: Sequence[Phrase]) -> None:
        """One entry of a list: a bold line, then statements, kept on one page when it fits."""
        if self.will_page_break(8 + 9 * len(lines)):
            self.add_page()
        self.set_font(FONT, "B", _BODY)
        self.multi_cell(0, 5, f"•{NBSP}{head}", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for line in lines:
            self.paragraph(line, indent=4.0)

    @contextmanager
    def banner(self) -> Iterator[None]:
        """Red bold text, for what a reader must not miss (a withdrawn report)."""
        self.set_text_color(170, 0, 0)
        try:
            yield
        finally:
            self.set_text_color(0)

    # --- verification --------------------------------------------------------------------

    def qr_code(self, data: str, box: tuple[float, float, float] = QR_BOX) -> None:
        """``data`` as a QR code in ``box`` (x, y, side in mm, quiet zone included).

        A regular QR code (never Micro QR, which many phone readers do not scan), error level
        M at least; each row's runs of dark modules become one rectangle, so the file stays
        small and there are no hairline gaps between modules of a run.
        """
        x, y, side = box
        code = segno.make_qr(data, error="m")
        matrix = code.matrix
        module = side / (len(matrix) + 2 * QR_QUIET_ZONE)
        left = x + QR_QUIET_ZONE * module
        top = y + QR_QUIET_ZONE * module
        self.set_fill_color(255)
        self.rect(x, y, side, side, style="F")
        self.set_fill_color(0)
        for row_index, row in enumerate(matrix):
            start: int | None = None
            for column, dark in enumerate([*row, 0]):
                if dark and start is None:
                    start = column
                elif not dark and start is not None:
                    self.rect(
                        left + start * module,
                        top + row_index * module,
                        (column - start) * module,
                        module,
                        style="F",
                    )
                    start = None

    def signed_token(self, heading: Phrase, token: str) -> None:
        """The compact JWS under ``heading``, in small print wrapped at any character, so that
        it can be copied (or typed) and verified offline: join the lines, drop the breaks.

        Kept on one page: a footer in the middle of a token would be copied with it.
        """
        self.set_font(FONT, "", 6)
        height = self.multi_cell(
            0, 2.8, token, wrapmode=WrapMode.CHAR, dry_run=True, output=MethodReturnValue.HEIGHT
        )
        if self.will_page_break(cast(float, height) + 20):  # output=HEIGHT returns a float
            self.add_page()
        self.heading(heading)
        self.set_font(FONT, "", 6)
        self.multi_cell(
            0,
            2.8,
            token,
            align="L",
            wrapmode=WrapMode.CHAR,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def rendered(self) -> bytes:
        """The finished file."""
        return bytes(self.output())


class Issued(Protocol):
    """A signed record a document prints: its id and when it was issued."""

    @property
    def id(self) -> str: ...
    @property
    def issued_at(self) -> datetime: ...


_R = TypeVar("_R", bound=Issued)

#: A document's first fields after its id and issue time: label, value.
Fields = Sequence[tuple[Phrase, str | Phrase]]


@dataclass(frozen=True)
class SignedPaper(Generic[_R]):
    """How one kind of signed record is printed around its own content: opened with its QR
    code, title, id and issue time, and closed with how to verify it and its signed token.
    Declared once a kind, so the report and the attestation frame their content alike."""

    claims: Callable[[_R], Mapping[str, Any]]  # what its token signs
    typ: str  # its token's JOSE ``typ``
    #: What the texts call the record: in French a feminine noun (« cette déclaration »).
    noun: Phrase
    title: Phrase
    #: What offline verification checks besides the signature, after the ``typ``.
    offline_rule: Phrase = ("", "")

    def opened(
        self, record: _R, token: str, verify_url: str, lang: Lang, fields: Fields
    ) -> Document:
        """The document of ``record``, opened; ``ValueError`` unless ``token`` is its signed
        form (the paper must say what its signature says)."""
        if token_payload(token) != self.claims(record):
            raise ValueError(f"the token is not the signed form of this {self.noun[1]}")
        return Document.opened(
            lang=lang,
            title=self.title,
            reference=record.id,
            created=record.issued_at,
            verify_url=verify_url,
            fields=[
                (("Numéro", f"{self.noun[1].capitalize()} id"), record.id),
                (("Émise le", "Issued at"), moment(record.issued_at)),
                *fields,
            ],
        )

    def closed(self, doc: Document, token: str, verify_url: str) -> bytes:
        """How to verify the document (its URL, then offline: the JWKS), its token; the bytes."""
        doc.heading((f"Vérifier cette {self.noun[0]}", f"How to verify this {self.noun[1]}"))
        doc.paragraph(
            (
                f"Scannez le code QR ou ouvrez : {verify_url}",
                f"Scan the QR code or open: {verify_url}",
            )
        )
        jwks_url = origin_jwks_url(verify_url)
        doc.paragraph(
            (
                "Hors ligne : le jeton ci-dessous est un JWS compact signé en Ed25519 "
                f"(typ « {self.typ} »){self.offline_rule[0]}. Vérifiez-le avec les clés "
                f"publiques (JWKS) publiées à {jwks_url}.",
                "Offline: the token below is a compact JWS signed with Ed25519 "
                f"(typ “{self.typ}”){self.offline_rule[1]}. Verify it with the public keys "
                f"(JWKS) at {jwks_url}.",
            )
        )
        doc.signed_token(("Jeton signé", "Signed token"), token)
        return doc.rendered()
