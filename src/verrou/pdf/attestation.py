"""The exposure attestation as a PDF: which breaches exposed the citizen, frozen or not."""

from __future__ import annotations

from typing import Final

from verrou.pdf.document import QR_BOX, SignedPaper
from verrou.pdf.wording import Lang, Phrase, day, moment
from verrou.registry.reports import ATTESTATION_TYP, Attestation, AttestedBreach, attestation_claims

PAPER: Final = SignedPaper[Attestation](
    claims=attestation_claims,
    typ=ATTESTATION_TYP,
    noun=("attestation", "attestation"),
    title=("Attestation d’exposition", "Exposure attestation"),
    offline_rule=(", refusé après sa date de fin de validité", ", refused once expired"),
)


def _breach_lines(breach: AttestedBreach) -> list[Phrase]:
    classes = ", ".join(breach.data_classes)
    lines: list[Phrase] = [
        (
            f"Données exposées : {classes or 'non précisées'}",
            f"Data exposed: {classes or 'not specified'}",
        )
    ]
    if breach.disclosed is None:
        lines.append(("Pas encore rendue publique", "Not disclosed yet"))
    else:
        disclosed = day(breach.disclosed)
        lines.append((f"Rendue publique le {disclosed[0]}", f"Disclosed on {disclosed[1]}"))
    return lines


def attestation_pdf(
    attestation: Attestation,
    *,
    token: str,
    citizen_name: str,
    verify_url: str,
    lang: Lang = "fr",
) -> bytes:
    """The attestation as a PDF: the breaches, the freeze state, until when it is valid, and
    how to verify it.

    ``token`` is :func:`verrou.registry.reports.sign_attestation` of this very attestation
    (refused with ``ValueError`` otherwise). ``citizen_name`` is printed, never stored. The
    same arguments give the same bytes.
    """
    doc = PAPER.opened(
        attestation,
        token,
        verify_url,
        lang,
        [
            (("Valable jusqu’au", "Valid until"), moment(attestation.expires_at)),
            (("Titulaire", "Holder"), citizen_name),
        ],
    )
    doc.set_y(max(doc.get_y(), QR_BOX[1] + QR_BOX[2] + 2))

    count = len(attestation.breaches)
    doc.heading(("Fuites de données", "Data breaches"))
    if count == 0:
        doc.paragraph(
            (
                "Aucune fuite connue du registre ne contient les données d’identité du titulaire.",
                "No breach known to the registry holds the holder’s identity data.",
            )
        )
    else:
        plural = "s" if count > 1 else ""
        doc.paragraph(
            (
                f"Les données d’identité du titulaire figurent dans {count} fuite{plural} "
                "connue" + plural + " du registre. Elles ne suffisent donc pas, seules, à "
                "prouver son identité.",
                f"The holder’s identity data is in {count} breach{'es' if count > 1 else ''} "
                "known to the registry, so it does not prove their identity on its own.",
            )
        )
        for breach in attestation.breaches:
            doc.item(breach.name, _breach_lines(breach))

    doc.heading(("Gel de l’identité", "Identity freeze"))
    if attestation.frozen:
        doc.paragraph(
            (
                "Identité GELÉE à la date d’émission : toute banque ou tout opérateur qui la "
                "vérifie reçoit un refus.",
                "Identity FROZEN when issued: any bank or operator that checks it is denied.",
            ),
            bold=True,
        )
    else:
        doc.paragraph(
            (
                "Identité non gelée à la date d’émission.",
                "Identity not frozen when issued.",
            )
        )
    return PAPER.closed(doc, token, verify_url)
