"""The identity-theft report as a PDF the citizen hands to a bank, a telco or the police."""

from __future__ import annotations

from typing import Final

from verrou.pdf.document import QR_BOX, SignedPaper
from verrou.pdf.wording import (
    FRAUD_PHRASES,
    VERDICT_PHRASES,
    Lang,
    Phrase,
    day,
    day_of,
    moment,
    pick,
)
from verrou.registry.reports import REPORT_TYP, DeclaredFraud, DisputedCheck, Report, report_claims

PAPER: Final = SignedPaper[Report](
    claims=report_claims,
    typ=REPORT_TYP,
    noun=("déclaration", "report"),
    title=("Déclaration d’usurpation d’identité", "Identity-theft report"),
)


def _check_lines(check: DisputedCheck) -> list[Phrase]:
    when = moment(check.checked_at)
    verdict = VERDICT_PHRASES[check.verdict]
    return [
        (
            f"Vérification de mon identité le {when[0]}, que je n’ai pas demandée ; "
            f"résultat : {verdict[0]}.",
            f"Identity check on {when[1]} that I did not ask for; verdict: {verdict[1]}.",
        ),
        (f"Référence de la vérification : {check.check_id}", f"Check id: {check.check_id}"),
    ]


def _fraud_head(fraud: DeclaredFraud, lang: Lang) -> str:
    what = pick(FRAUD_PHRASES[fraud.what], lang)
    if fraud.relying_party_name is None:
        return what
    return f"{what} — {fraud.relying_party_name}"


def _fraud_lines(fraud: DeclaredFraud) -> list[Phrase]:
    started = day(fraud.started)
    if fraud.ended is None:
        period: Phrase = (f"Depuis le {started[0]}", f"Since {started[1]}")
    else:
        ended = day(fraud.ended)
        period = (f"Du {started[0]} au {ended[0]}", f"From {started[1]} to {ended[1]}")
    lines = [period]
    if fraud.relying_party_name is None:
        lines.append(("Organisme non identifié", "Organisation not identified"))
    return lines


def report_pdf(
    report: Report, *, token: str, citizen_name: str, verify_url: str, lang: Lang = "fr"
) -> bytes:
    """The report as a PDF: what was declared, the freeze placed, and how to verify it.

    ``token`` is :func:`verrou.registry.reports.sign_report` of this very report (refused with
    ``ValueError`` otherwise: the paper must say what its signature says). ``citizen_name`` is
    the name from the citizen's sign-in, printed and never stored; ``verify_url`` the page a
    bank opens (also drawn as a QR code). The same arguments give the same bytes.
    """
    doc = PAPER.opened(
        report, token, verify_url, lang, [(("Déclarant", "Declared by"), citizen_name)]
    )
    if report.withdrawn_at is not None:
        when = day_of(report.withdrawn_at)
        with doc.banner():
            doc.paragraph(
                (
                    f"Déclaration RETIRÉE par son auteur le {when[0]} : elle n’est plus valable.",
                    f"Report WITHDRAWN by its author on {when[1]}: it is no longer valid.",
                ),
                bold=True,
            )
    doc.set_y(max(doc.get_y(), QR_BOX[1] + QR_BOX[2] + 2))
    doc.paragraph(
        (
            "Je déclare que mon identité a été utilisée sans mon accord, comme suit.",
            "I declare that my identity was used without my consent, as follows.",
        )
    )

    if report.disputed:
        doc.heading(("Vérifications contestées", "Disputed checks"))
        for check in report.disputed:
            doc.item(check.relying_party_name, _check_lines(check))
    if report.declared:
        doc.heading(("Fraudes déclarées", "Declared frauds"))
        for fraud in report.declared:
            doc.item(_fraud_head(fraud, lang), _fraud_lines(fraud))

    freeze = report.freeze
    since = moment(freeze.since)
    keys = freeze.keys
    doc.heading(("Gel placé", "Freeze placed"))
    doc.paragraph(
        (
            f"Mon identité est gelée depuis le {since[0]}, sur {keys} clé{'s' if keys > 1 else ''}"
            " d’identité, par cette déclaration (motif : usurpation d’identité). Toute banque "
            "ou tout opérateur qui vérifie cette identité reçoit un refus.",
            f"My identity has been frozen since {since[1]}, on {keys} identity "
            f"key{'s' if keys > 1 else ''}, by this report (reason: identity theft). Any bank "
            "or operator that checks this identity is denied.",
        )
    )
    return PAPER.closed(doc, token, verify_url)
