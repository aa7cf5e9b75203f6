// verrou.identifiers.documents: the French document numbers the browser asks about (the
// document kinds of verrou.registry.policy.DOCUMENT_KINDS), ported exactly.
import { CannotCheckHere, InvalidIdentifier } from "./errors.js";
import { documentAmbiguous, foldLookalikes } from "./lookalikes.js";
import { INVISIBLE, codePoints, isAscii, knownToPython, pyUpper } from "./unicode.js";

export const MAX_RAW_LENGTH = 200;
const LONGEST_CANONICAL = 34;
const AMBIGUOUS_REASON = "look-alike character that could be read as a letter or as a digit";
const WHITESPACE =
  "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" +
  "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const SEPARATORS =
  "-./_\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad\u200b\u200c\u200d\u2060\ufeff";
const STRIP = new Set([...INVISIBLE, ...codePoints(WHITESPACE + SEPARATORS).map((c) => c.codePointAt(0))]);
const ASCII_STRIP = new Set(codePoints(WHITESPACE + SEPARATORS).filter(isAscii));

const ALNUM = /^[A-Z0-9]+$/;
const CNI_OLD = /^[0-9]{4}[A-Z0-9]{3}[0-9]{5}$/;
const BOOK = /^[0-9]{2}[A-Z]{2}[0-9]{5}$/;
const LICENCE_PAPER = /^[0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}$/;
const MONTHS = new Set(Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, "0")));
const LICENCE_DEPARTMENTS = new Set(["2A", "2B", "97"]);
for (let d = 1; d < 96; d++) LICENCE_DEPARTMENTS.add(String(d).padStart(2, "0"));

function fail(kind, reason) {
  return new InvalidIdentifier(kind, reason, "document_number");
}

function asciiUpper(text) {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

function normalise(kind, raw) {
  if (typeof raw !== "string") throw fail(kind, "not text");
  if (codePoints(raw).length > MAX_RAW_LENGTH) {
    throw fail(kind, `longer than ${MAX_RAW_LENGTH} characters`);
  }
  let text;
  if (isAscii(raw)) {
    text = asciiUpper(codePoints(raw).filter((c) => !ASCII_STRIP.has(c)).join(""));
  } else {
    if (!knownToPython(raw)) {
      throw new CannotCheckHere(kind, "a character newer than the server's Unicode data", "document_number");
    }
    const chars = codePoints(raw.normalize("NFKC")).filter((c) => !STRIP.has(c.codePointAt(0)));
    text = pyUpper(chars.join(""));
    const ambiguous = documentAmbiguous();
    if (codePoints(text).length <= LONGEST_CANONICAL && codePoints(text).some((c) => ambiguous.has(c.codePointAt(0)))) {
      throw fail(kind, AMBIGUOUS_REASON);
    }
    text = pyUpper(foldLookalikes(text, "document"));
  }
  if (!text) throw fail(kind, "empty");
  return text;
}

function requireAlnum(kind, text) {
  if (!ALNUM.test(text)) {
    throw fail(kind, "contains characters other than letters A-Z and digits 0-9");
  }
}

function checkDated(kind, text, shape, wrongShape) {
  if (!shape.test(text)) throw fail(kind, wrongShape);
  const month = text.slice(2, 4);
  if (!MONTHS.has(month)) throw fail(kind, `month ${month} is not 01-12`);
}

function booklet(kind, text) {
  if (!BOOK.test(text)) throw fail(kind, "expected 2 digits, 2 letters, then 5 digits");
  return text;
}

/** ``canonical_cni``: 9 letters or digits (CNIe), or the old 12-character number. */
export function canonicalCni(raw) {
  const text = normalise("cni", raw);
  const length = codePoints(text).length;
  if (length === 9) {
    requireAlnum("cni", text);
    return text;
  }
  if (length === 12) {
    checkDated("cni", text, CNI_OLD, "a 12-character CNI is 4 digits, 3 letters or digits, then 5 digits");
    return text;
  }
  throw fail("cni", `expected 9 or 12 characters, got ${length}`);
}

/** ``canonical_passport``: 2 digits, 2 letters, 5 digits. */
export function canonicalPassport(raw) {
  const text = normalise("passport", raw);
  const length = codePoints(text).length;
  if (length !== 9) throw fail("passport", `expected 9 characters, got ${length}`);
  return booklet("passport", text);
}

/** ``canonical_driving_licence``: the EU card (passport shape) or the old paper licence. */
export function canonicalDrivingLicence(raw) {
  const kind = "driving_licence";
  const text = normalise(kind, raw);
  const length = codePoints(text).length;
  if (length === 9) return booklet(kind, text);
  if (length === 12) {
    checkDated(kind, text, LICENCE_PAPER, "a 12-character licence is 4 digits, a department (digits, 2A or 2B), 6 digits");
    const department = text.slice(4, 6);
    if (!LICENCE_DEPARTMENTS.has(department)) {
      throw fail(kind, `department ${department} did not issue licences`);
    }
    return text;
  }
  throw fail(kind, `expected 9 or 12 characters, got ${length}`);
}

/** ``canonical_residence_permit``: 9 or 10 letters or digits (format treated as opaque). */
export function canonicalResidencePermit(raw) {
  const kind = "residence_permit";
  const text = normalise(kind, raw);
  const length = codePoints(text).length;
  if (!(length >= 9 && length <= 10)) throw fail(kind, `expected 9 or 10 characters, got ${length}`);
  requireAlnum(kind, text);
  return text;
}

/** The document kinds (verrou.registry.policy.DOCUMENT_KINDS) and their canonicalisers. */
export const DOCUMENT_CANONICALISERS = {
  cni: canonicalCni,
  passport: canonicalPassport,
  driving_licence: canonicalDrivingLicence,
  residence_permit: canonicalResidencePermit,
};
