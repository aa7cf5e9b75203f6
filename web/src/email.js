// verrou.identifiers.contact.canonical_email (version 2), for the addresses whose answer the
// browser can know exactly.
//
// The Python canonicaliser ends with email-validator, which is not ported: the browser answers
// exactly for every address that, once NFKC, invisible code points and look-alikes are folded,
// is ASCII of the common shape (the same shape the Python side's own fast path trusts:
// contact._EMAIL_FAST, tested there to equal email-validator's answer). It refuses an address
// that email-validator surely refuses (no @, two @, blank, whitespace inside, nothing before or
// after the @, a dot first, last or doubled, a domain without a dot, a special-use domain, too
// long). Any other address (a Unicode local part such as "josé@", an internationalised or
// punycode domain, an unusual ASCII shape) is CannotCheckHere: the page says the browser cannot
// check it, never "not found".
import { CannotCheckHere, InvalidIdentifier } from "./errors.js";
import { foldLookalikes } from "./lookalikes.js";
import { TABLES } from "./tables.generated.js";
import {
  codePoints,
  dropInvisible,
  isAscii,
  isPySpace,
  knownToPython,
  pyLower,
  pyStrip,
} from "./unicode.js";

const EMAIL_RAW_MAX = 1024;
const EMAIL_MAX_OCTETS = 254;
const ATEXT = "[a-z0-9!#$%&'*+/=?^_\\x60{|}~-]";
const LABEL = "[a-z0-9](?:-?[a-z0-9])*";
const EMAIL_FAST = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*@(?:${LABEL}\\.)+[a-z]{2,63}$`);
const EMAIL_LONG_LABEL = /@.*[a-z0-9-]{64}/;
const escape = (name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const EMAIL_SPECIAL_USE = new RegExp(
  "[@.](?:" + TABLES.specialUseDomains.map(escape).join("|") + ")$",
);
export const GMAIL_DOMAINS = new Set(["gmail.com", "googlemail.com"]);

function fail(reason) {
  return new InvalidIdentifier("email", reason, "email");
}

function pyAsciiStrip(text) {
  return text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "");
}

/** The common shape, for which the answer is known without email-validator. */
function commonShape(text) {
  return (
    text.length <= EMAIL_MAX_OCTETS &&
    EMAIL_FAST.test(text) &&
    !EMAIL_LONG_LABEL.test(text) &&
    !EMAIL_SPECIAL_USE.test(text)
  );
}

/** ``_mailbox_aliases``: +tag dropped (every domain), Gmail's dots and googlemail.com folded. */
export function mailboxAliases(address) {
  const split = address.lastIndexOf("@");
  let local = address.slice(0, split);
  let domain = address.slice(split + 1);
  const tagged = local.indexOf("+");
  if (tagged > 0 && local.slice(0, tagged).replace(/\.+$/, "")) {
    local = local.slice(0, tagged).replace(/\.+$/, "");
  }
  if (GMAIL_DOMAINS.has(domain)) {
    domain = "gmail.com";
    local = local.replaceAll(".", "");
  }
  return `${local}@${domain}`;
}

function simpleEmail(raw) {
  if (!isAscii(raw)) return null;
  const text = pyAsciiStrip(raw).toLowerCase();
  return commonShape(text) ? mailboxAliases(text) : null;
}

function foldEmailCase(text) {
  for (let i = 0; i < 4; i++) {
    const folded = pyLower(text).normalize("NFKC");
    if (folded === text) break;
    text = folded;
  }
  return text;
}

function foldDomainLookalikes(domain) {
  return domain
    .split(".")
    .map((label) => {
      const folded = foldLookalikes(label, "lower");
      return isAscii(folded) ? folded : dropInvisible(label);
    })
    .join(".");
}

function foldEmailLookalikes(text) {
  text = foldEmailCase(text);
  const at = text.lastIndexOf("@");
  const local = at < 0 ? "" : text.slice(0, at);
  const domain = text.slice(at + 1);
  const sign = at < 0 ? "" : "@";
  return `${foldEmailCase(foldLookalikes(local, "lower"))}${sign}${foldEmailCase(foldDomainLookalikes(domain))}`;
}

/** Refusals email-validator makes whatever else the address holds. */
function surelyInvalid(text) {
  const at = text.lastIndexOf("@");
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (!local) return "nothing before the @";
  if (!domain) return "nothing after the @";
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return "misplaced dot";
  if (domain.startsWith(".") || domain.endsWith(".") || domain.includes("..")) return "misplaced dot";
  if (!domain.includes(".")) return "domain has no dot";
  if (EMAIL_SPECIAL_USE.test(text)) return "domain is a special-use or reserved name";
  if (isAscii(text)) {
    if (/[^a-z0-9.-]/.test(domain)) return "invalid character in the domain";
    if (/[^a-z0-9!#$%&'*+/=?^_`{|}~.-]/.test(local)) return "invalid character before the @";
    if (text.length > EMAIL_MAX_OCTETS) return "address too long";
  }
  return null;
}

/**
 * ``canonical_email``: the canonical address, or InvalidIdentifier / CannotCheckHere (field
 * ``email``); see the module comment for what the browser decides and what it leaves.
 */
export function canonicalEmail(raw) {
  if (codePoints(raw).length > EMAIL_RAW_MAX) throw fail("address too long");
  const simple = simpleEmail(raw);
  if (simple !== null) return simple;
  if (!knownToPython(raw)) {
    throw new CannotCheckHere("email", "a character newer than the server's Unicode data", "email");
  }
  let text = pyStrip(dropInvisible(raw.normalize("NFKC")));
  if (!text) throw fail("empty address");
  if (!text.includes("@")) throw fail("no @ in the address");
  if (text.split("@").length > 2) throw fail("more than one @");
  if (codePoints(text).some(isPySpace)) throw fail("whitespace inside the address");
  text = foldEmailLookalikes(text);
  if (isAscii(text) && commonShape(text)) return mailboxAliases(text);
  const reason = surelyInvalid(text);
  if (reason !== null) throw fail(reason);
  throw new CannotCheckHere("email", "only the server's full validator decides this address", "email");
}
