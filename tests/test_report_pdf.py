"""The report and attestation PDFs, read back with poppler-utils as a bank's software would.

poppler-utils (pdftotext, pdftoppm, pdffonts, pdfinfo) is required: without it these tests fail
with a message saying so, rather than skip, so CI cannot go green without having read a PDF.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from verrou.pdf import attestation_pdf, report_pdf
from verrou.pdf.document import QR_BOX, QR_QUIET_ZONE
from verrou.pdf.wording import FRAUD_PHRASES, VERDICT_PHRASES
from verrou.registry.policy import Verdict
from verrou.registry.reports import (
    Attestation,
    AttestedBreach,
    DeclaredFraud,
    DisputedCheck,
    FraudCode,
    Report,
    ReportFreeze,
    new_attestation,
    sign_attestation,
    sign_report,
    verify_attestation_token,
    verify_report_token,
)
from verrou.signing import SigningKey, public_jwks

# A fixed key, so that another process signs the very same token (Ed25519 is deterministic).
KEY = SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
JWKS = public_jwks([KEY])
NAME = "Chloé Lefèvre-Cœur — test"
ISSUED = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)  # 11:30 in Paris (summer time)
NOTE = b"NOTE-SCELLEE-DU-CITOYEN"
REPORT = Report(
    id="rpt-00112233445566778899aabbccddeeff",
    issued_at=ISSUED,
    citizen_ref="cit-7f3e9a",
    disputed=(
        DisputedCheck(
            "chk_0123456789abcdef01234567",
            "rp-banque",
            "Banque Exemple",
            datetime(2026, 3, 30, 14, 5, tzinfo=UTC),
            "step_up",
        ),
    ),
    declared=(
        DeclaredFraud(
            "rp-tel", "Télécom Œuvre", date(2026, 3, 1), date(2026, 3, 15), "phone_contract", NOTE
        ),
        DeclaredFraud(None, None, date(2026, 3, 20), None, "credit_taken"),
    ),
    freeze=ReportFreeze(keys=3, since=ISSUED),
)
REPORT_URL = f"https://verrou.example/v1/reports/{REPORT.id}/verify"
ATTESTATION = Attestation(
    id="att-00112233445566778899aabbccddeeff",
    issued_at=ISSUED,
    expires_at=ISSUED + timedelta(days=90),
    citizen_ref="cit-7f3e9a",
    breaches=(AttestedBreach("ants-2026", ("names", "emails", "birth_dates"), date(2026, 3, 10)),),
    frozen=True,
)
ATTESTATION_URL = f"https://verrou.example/v1/attestations/{ATTESTATION.id}/verify"


def _poppler(tool: str, *args: str | Path) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not installed: the PDF tests need poppler-utils "
            "(pdftotext, pdftoppm, pdffonts, pdfinfo), e.g. `apt-get install poppler-utils`",
            pytrace=False,
        )
    done = subprocess.run([path, *map(str, args)], check=True, capture_output=True, timeout=60)
    return done.stdout.decode("utf-8")


@dataclass(frozen=True)
class Rendered:
    path: Path
    data: bytes
    token: str

    def text(self) -> str:
        return _poppler("pdftotext", "-layout", "-enc", "UTF-8", self.path, "-")

    def page_png(self, page: int) -> Image.Image:
        prefix = self.path.with_suffix("")
        _poppler(
            "pdftoppm", "-r", "100", "-png", "-f", str(page), "-l", str(page), self.path, prefix
        )
        [png] = self.path.parent.glob(f"{prefix.name}-*{page}.png")
        return Image.open(png).convert("L")


def _write(directory: Path, name: str, data: bytes, token: str) -> Rendered:
    path = directory / name
    path.write_bytes(data)
    return Rendered(path, data, token)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    token = sign_report(REPORT, KEY)
    data = report_pdf(REPORT, token=token, citizen_name=NAME, verify_url=REPORT_URL)
    return _write(tmp_path_factory.mktemp("report"), "report.pdf", data, token)


@pytest.fixture(scope="module")
def attestation(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    token = sign_attestation(ATTESTATION, KEY)
    data = attestation_pdf(ATTESTATION, token=token, citizen_name=NAME, verify_url=ATTESTATION_URL)
    return _write(tmp_path_factory.mktemp("attestation"), "attestation.pdf", data, token)


def _one_line(text: str) -> str:
    """pdftotext output with runs of spaces (layout columns) and no-break spaces collapsed."""
    return re.sub(r"[ \u00a0]+", " ", text)


def _printed_token(text: str) -> str:
    """The token as a reader would copy it: the lines after the heading, joined."""
    after = text.split("Signed token", 1)[1]
    lines = []
    for line in after.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"[A-Za-z0-9_.-]+", stripped):
            lines.append(stripped)
        elif lines:
            break
    return "".join(lines)


# -- report ------------------------------------------------------------------------------------


def test_the_report_says_what_was_declared(report: Rendered) -> None:
    text = report.text()
    flat = _one_line(text)
    assert NAME in text  # exactly: é, è, œ, the em dash
    for expected in (
        "Déclaration d’usurpation d’identité",
        "Identity-theft report",
        REPORT.id,
        "2 avril 2026 à 11:30 (heure de Paris)",  # issued_at, Europe/Paris
        "2 April 2026, 11:30 Paris time",
        "Banque Exemple",
        "30 mars 2026 à 16:05",
        "vérification renforcée",
        "chk_0123456789abcdef01234567",
        "Abonnement téléphonique souscrit à mon nom — Télécom Œuvre",
        "Du 1er mars 2026 au 15 mars 2026",
        "From 1 March 2026 to 15 March 2026",
        "Crédit souscrit à mon nom",
        "Depuis le 20 mars 2026",
        "Organisme non identifié",
        "sur 3 clés d’identité",
        "motif : usurpation d’identité",
        REPORT_URL,
        "https://verrou.example/.well-known/jwks.json",
        "« verrou-report+jwt »",
    ):
        assert expected in flat, expected
    assert "RETIRÉE" not in flat


def test_nothing_private_is_printed_or_in_the_metadata(report: Rendered) -> None:
    text = report.text()
    for secret in ("NOTE-SCELLEE", "cit-7f3e9a"):
        assert secret not in text
        assert secret.encode() not in report.data
    info = _poppler("pdfinfo", report.path)
    assert "Chloé" not in info
    assert "Lefèvre" not in info


def test_the_printed_token_verifies_offline(report: Rendered) -> None:
    printed = _printed_token(report.text())
    assert printed == report.token
    assert verify_report_token(printed, JWKS)["jti"] == REPORT.id


def test_same_inputs_give_the_same_bytes(report: Rendered) -> None:
    again = report_pdf(REPORT, token=report.token, citizen_name=NAME, verify_url=REPORT_URL)
    assert again == report.data
    other = report_pdf(REPORT, token=report.token, citizen_name="Zoé", verify_url=REPORT_URL)
    assert other != report.data


def test_the_bytes_do_not_depend_on_the_process(report: Rendered) -> None:
    # A fresh interpreter with another hash seed: set and dict order, object ids, font caches.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_report_pdf as t; "
        "sys.stdout.buffer.write(t.report_pdf(t.REPORT, token=t.sign_report(t.REPORT, t.KEY), "
        "citizen_name=t.NAME, verify_url=t.REPORT_URL))"
    )
    for seed in ("0", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
            timeout=120,
        )
        assert done.stdout == report.data


def test_the_dates_in_the_file_are_the_reports_not_now(report: Rendered) -> None:
    info = _poppler("pdfinfo", "-isodates", report.path)
    assert re.search(r"CreationDate:\s+2026-04-02T09:30:00(Z|\+00)", info), info
    assert re.search(r"Producer:\s+verrou\n", info), info
    assert b"/ModDate" not in report.data
    assert b"/Metadata" not in report.data  # no XMP packet, whose dates fpdf2 takes from now
    today = datetime.now(UTC).strftime("D:%Y%m%d").encode()
    assert today == b"D:20260402" or today not in report.data
    assert re.search(rb"/ID \[<[0-9A-F]{32}><[0-9A-F]{32}>\]", report.data)


def test_fonts_are_embedded(report: Rendered, attestation: Rendered) -> None:
    for document in (report, attestation):
        rows = _poppler("pdffonts", document.path).splitlines()[2:]
        assert rows
        for row in rows:
            name, *_, emb, sub, uni, _obj, _gen = row.split()
            assert "DejaVuSans" in name
            assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def _assert_qr_matches(image: Image.Image, url: str) -> None:
    """Every module of the drawn code, sampled at its centre at 100 dpi, is segno's module
    for ``url``, and the quiet zone around it is white."""
    matrix = segno.make_qr(url, error="m").matrix
    x, y, side = QR_BOX
    px = 100 / 25.4
    module = side / (len(matrix) + 2 * QR_QUIET_ZONE)
    mismatches = 0
    dark = 0
    for row, modules in enumerate(matrix):
        for column, expected in enumerate(modules):
            centre = (
                round((x + (QR_QUIET_ZONE + column + 0.5) * module) * px),
                round((y + (QR_QUIET_ZONE + row + 0.5) * module) * px),
            )
            is_dark = image.getpixel(centre) < 128  # type: ignore[operator]
            dark += is_dark
            mismatches += is_dark != bool(expected)
    assert mismatches == 0
    assert 0.3 < dark / len(matrix) ** 2 < 0.7  # a QR code, not a blank or a black square
    quiet = image.crop(
        (round(x * px) + 1, round(y * px) + 1, round((x + side) * px) - 1, round(y * px) + 3)
    )
    darkest, _ = quiet.getextrema()
    assert darkest > 200  # type: ignore[operator]


def test_the_first_page_renders_with_the_qr_code_of_the_verify_url(report: Rendered) -> None:
    image = report.page_png(1)
    assert image.width == 827 and image.height in (1169, 1170)  # A4 at 100 dpi
    _assert_qr_matches(image, REPORT_URL)


def test_a_withdrawn_report_says_so(tmp_path: Path) -> None:
    withdrawn = replace(REPORT, status="withdrawn", withdrawn_at=ISSUED + timedelta(days=3))
    token = sign_report(withdrawn, KEY)
    data = report_pdf(withdrawn, token=token, citizen_name=NAME, verify_url=REPORT_URL)
    flat = _one_line(_write(tmp_path, "withdrawn.pdf", data, token).text())
    assert "Déclaration RETIRÉE par son auteur le 5 avril 2026" in flat
    assert "Report WITHDRAWN by its author on 5 April 2026" in flat


def test_the_report_in_english_leads_with_english(tmp_path: Path) -> None:
    token = sign_report(REPORT, KEY)
    data = report_pdf(REPORT, token=token, citizen_name=NAME, verify_url=REPORT_URL, lang="en")
    text = _write(tmp_path, "en.pdf", data, token).text()
    assert text.index("Identity-theft report") < text.index("Déclaration d’usurpation")
    assert text.index("Disputed checks") < text.index("Vérifications contestées")


def test_an_unknown_language_is_refused() -> None:
    token = sign_report(REPORT, KEY)
    with pytest.raises(ValueError, match="lang"):
        report_pdf(REPORT, token=token, citizen_name=NAME, verify_url=REPORT_URL, lang="de")  # type: ignore[arg-type]


def test_a_token_of_another_record_is_refused() -> None:
    other = replace(REPORT, freeze=ReportFreeze(keys=1, since=ISSUED))
    with pytest.raises(ValueError, match="not the signed form"):
        report_pdf(REPORT, token=sign_report(other, KEY), citizen_name=NAME, verify_url=REPORT_URL)
    with pytest.raises(ValueError, match="not the signed form"):
        attestation_pdf(
            ATTESTATION,
            token=sign_report(REPORT, KEY),
            citizen_name=NAME,
            verify_url=ATTESTATION_URL,
        )


def test_every_code_and_verdict_has_words() -> None:
    assert set(FRAUD_PHRASES) == set(get_args(FraudCode))
    assert set(VERDICT_PHRASES) == {verdict.value for verdict in Verdict}


# -- attestation -------------------------------------------------------------------------------


def test_the_attestation_says_which_breaches_and_until_when(attestation: Rendered) -> None:
    text = attestation.text()
    flat = _one_line(text)
    assert NAME in text
    for expected in (
        "Attestation d’exposition",
        "Exposure attestation",
        ATTESTATION.id,
        "ants-2026",
        "names, emails, birth_dates",
        "Rendue publique le 10 mars 2026",
        "Disclosed on 10 March 2026",
        "1er juillet 2026 à 11:30 (heure de Paris)",  # valid until
        "1 July 2026, 11:30 Paris time",
        "Identité GELÉE",
        "Identity FROZEN",
        ATTESTATION_URL,
        "https://verrou.example/.well-known/jwks.json",
    ):
        assert expected in flat, expected


def test_the_attestation_token_verifies_offline_until_it_expires(attestation: Rendered) -> None:
    printed = _printed_token(attestation.text())
    assert printed == attestation.token
    verify_attestation_token(printed, JWKS, ISSUED + timedelta(days=89))
    with pytest.raises(Exception, match="expired"):
        verify_attestation_token(printed, JWKS, ISSUED + timedelta(days=90))


def test_the_attestation_is_reproducible_and_has_its_qr_code(attestation: Rendered) -> None:
    again = attestation_pdf(
        ATTESTATION, token=attestation.token, citizen_name=NAME, verify_url=ATTESTATION_URL
    )
    assert again == attestation.data
    _assert_qr_matches(attestation.page_png(1), ATTESTATION_URL)


def test_an_attestation_without_breaches_or_freeze(tmp_path: Path) -> None:
    clean = new_attestation(citizen_ref="cit-1", breaches=(), frozen=False, issued_at=ISSUED)
    token = sign_attestation(clean, KEY)
    data = attestation_pdf(clean, token=token, citizen_name=NAME, verify_url=ATTESTATION_URL)
    flat = _one_line(_write(tmp_path, "clean.pdf", data, token).text())
    assert "Aucune fuite connue" in flat
    assert "Identité non gelée" in flat


def test_a_name_the_font_cannot_print_is_refused_without_quoting_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # fpdf2 would draw nothing for these and log them: part of a name in the logs.
    token = sign_report(REPORT, KEY)
    with pytest.raises(ValueError, match="2 character") as raised:
        report_pdf(REPORT, token=token, citizen_name="Chloé 王明", verify_url=REPORT_URL)
    assert "王" not in str(raised.value)
    assert "王" not in caplog.text
