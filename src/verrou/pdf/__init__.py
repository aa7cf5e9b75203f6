"""PDFs a citizen hands to a bank: the identity-theft report and the exposure attestation.

Rendered with fpdf2 in an embedded DejaVu Sans (so every letter of a French name renders
anywhere), with the verification URL as a vector QR code and the signed token printed for
offline verification. The same inputs give byte-identical files (see
:mod:`verrou.pdf.document`), so a document is re-rendered on demand rather than stored: the
citizen's name, which is printed, is passed in from their sign-in and never kept.
"""

from verrou.pdf.attestation import attestation_pdf
from verrou.pdf.report import report_pdf
from verrou.pdf.wording import Lang

__all__ = ["Lang", "attestation_pdf", "report_pdf"]
