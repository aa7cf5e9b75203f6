"""The exposure attestation as a PDF: which breaches exposed the citizen, frozen or not."""

from __future__ import annotations

from verrou.pdf.document import QR_BOX, Document, origin_jwks_url, token_payload
from verrou.pdf.wording import Lang, Phrase, day, moment
from verrou.registry.reports import (
    ATTESTATION_TYP,
    Attestation,
    AttestedBreach,
    attestation_claims,
)

TITLE: Phrase = ("Attestation d’exposition", "Exposure attestation")


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
    if token_payload(token) != attestation_claims(attestation):
        raise ValueError("the token is not the signed form of this attestation")
    doc = Document.opened(
        lang=lang,
        title=TITLE,
        reference=attestation.id,
        created=attestation.issued_at,
        verify_url=verify_url,
        fields=[
            (("Numéro", "Attestation id"), attestation.id),
            (("Émise le", "Issued at"), moment(attestation.issued_at)),
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

    doc.heading(("Vérifier cette attestation", "How to verify this attestation"))
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
            f"(typ « {ATTESTATION_TYP} »), refusé après sa date de fin de validité. "
            f"Vérifiez-le avec les clés publiques (JWKS) publiées à {jwks_url}.",
            "Offline: the token below is a compact JWS signed with Ed25519 "
            f"(typ “{ATTESTATION_TYP}”), refused once expired. Verify it with the public keys "
            f"(JWKS) at {jwks_url}.",
        )
    )
    doc.signed_token(("Jeton signé", "Signed token"), token)
    return doc.rendered()
