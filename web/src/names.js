// verrou.identifiers.names (folding version 2): name folding, family and given-name keys, birth
// dates, and a person's matching keys, as the Python side computes them.
import { CannotCheckHere, InvalidIdentifier } from "./errors.js";
import { foldLookalikes } from "./lookalikes.js";
import { TABLES } from "./tables.generated.js";
import {
  BLANK_LETTERS,
  compareCodePoints,
  decodeTable,
  isAscii,
  knownToPython,
  pySplit,
  pyUpper,
  pyStrip,
  translate,
} from "./unicode.js";

export const FAMILY_PARTICLES = new Set(
  ("D DA DAL DALLA DAS DE DEGLI DEI DEL DELLA DELLE DELLO DEN DER DES DI DO DOS DU L LA LE LES " +
    "LO TEN TER VAN VOM VON ZU ZUR").split(" "),
);
export const MARRIAGE_MARKERS = new Set(["EPOUSE", "EPSE", "EP", "NEE", "VEUVE", "VVE"]);
const EARLIEST_BIRTH_YEAR = 1880;

const UNDECOMPOSABLE = new Map(
  Object.entries({
    "Œ": "OE", "œ": "OE", "Æ": "AE", "æ": "AE", "ß": "SS", "ẞ": "SS", "Ø": "O", "ø": "O",
    "Ł": "L", "ł": "L", "Đ": "D", "đ": "D", "Ð": "D", "ð": "D", "Þ": "TH", "þ": "TH",
    "Ħ": "H", "ħ": "H", "ı": "I", "Ŧ": "T", "ŧ": "T", "ĸ": "K", "Ŋ": "NG", "ŋ": "NG",
    "ƒ": "F", "Ƒ": "F",
  }).map(([char, text]) => [char.codePointAt(0), text]),
);
// Spacing modifier letters (ʼ ʻ ʹ ...) are apostrophes in names: boundaries.
const MODIFIER_BOUNDARIES = new Map();
for (let c = 0x02b0; c < 0x0300; c++) MODIFIER_BOUNDARIES.set(c, " ");
// Python's [\W_]: not a letter or a number (str.isalnum), or the underscore. Checked against
// Python for every code point its Unicode database assigns (tests/test_web_lookup_js.py).
const NON_TOKEN = /[^\p{L}\p{N}]+/gu;
const MARK = /\p{M}/u;
const ASCII_TOKEN = /[A-Za-z0-9]+/g;
const LATIN_END = 0x250;
let latinFold = null;

function foldCharacters(raw) {
  let text = translate(pyUpper(raw.normalize("NFKC")), UNDECOMPOSABLE);
  text = text.normalize("NFKD");
  let kept = "";
  for (const char of text) if (!MARK.test(char)) kept += char;
  kept = foldLookalikes(translate(kept, MODIFIER_BOUNDARIES), "name");
  return kept.replace(NON_TOKEN, " ");
}

function foldOnce(raw) {
  return pySplit(foldCharacters(raw)).join(" ");
}

function maxCodePoint(text) {
  let max = 0;
  for (const char of text) max = Math.max(max, char.codePointAt(0));
  return max;
}

/** ``fold_tokens_uncached`` (= ``fold_name``): uppercase ASCII-like tokens joined by a space. */
export function foldName(raw) {
  if (isAscii(raw)) return (raw.match(ASCII_TOKEN) || []).join(" ").toUpperCase();
  if (maxCodePoint(raw) < LATIN_END) {
    // Python's own per-character table for this range (names._LATIN_FOLD), generated.
    latinFold ??= decodeTable(TABLES.latinFold);
    return pySplit(translate(raw, latinFold)).join(" ");
  }
  let folded = foldOnce(raw);
  for (let i = 0; i < 3; i++) {
    if (isAscii(folded)) break;
    const again = foldOnce(folded);
    if (again === folded) break;
    folded = again;
  }
  return folded;
}

function familyNameKeys(tokens) {
  let stripped = tokens;
  while (stripped.length > 1 && FAMILY_PARTICLES.has(stripped[0])) stripped = stripped.slice(1);
  const keys = [stripped.join("")];
  const glued = tokens.join("");
  if (glued !== keys[0]) keys.push(glued);
  return keys;
}

/** ``family_keys``: the keys of one family-name field (at most 4), empty when blank. */
export function familyKeys(raw) {
  const tokens = foldName(raw).split(" ").filter(Boolean);
  let names = [];
  for (let at = 0; at < tokens.length; at++) {
    if (MARRIAGE_MARKERS.has(tokens[at])) {
      names = [tokens.slice(0, at), tokens.slice(at + 1)].filter((part) => part.length);
      break;
    }
  }
  if (!names.length && tokens.length) names = [tokens];
  const keys = [];
  for (const name of names) {
    for (const key of familyNameKeys(name)) if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

/** ``given_name_keys``: [all tokens sorted and glued, first token], or null when blank. */
export function givenNameKeys(raw) {
  const tokens = foldName(raw).split(" ").filter(Boolean);
  if (!tokens.length) return null;
  return [[...tokens].sort(compareCodePoints).join(""), tokens[0]];
}

const TIME =
  "(?:[T ](?<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\\.[0-9]+)?)?)(?<zone>Z|[+-][0-9]{2}:?[0-9]{2})?)?";
const YEAR_FIRST = new RegExp(
  "^(?<y>[0-9]{4})(?<s>[-/])(?<m>[0-9]{1,2})\\k<s>(?<d>[0-9]{1,2})" + TIME + "$",
);
const DAY_FIRST = /^(?<d>[0-9]{1,2})(?<s>[/.-])(?<m>[0-9]{1,2})\k<s>(?<y>[0-9]{4})$/;
const COMPACT = /^(?<y>[0-9]{4})(?<m>[0-9]{2})(?<d>[0-9]{2})$/;
const MIDNIGHT = /^00:00(?::00(?:\.0+)?)?$/;
const ENGLISH_MONTHS = [
  "January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December",
];
const NO_DATE = "birth date: missing";
const FUTURE = "birth date: is in the future";

function daysIn(year, month) {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function parseBirthDate(raw) {
  const text = pyStrip(raw.normalize("NFKC"));
  if (!foldName(text)) return NO_DATE;
  const match = YEAR_FIRST.exec(text) || COMPACT.exec(text) || DAY_FIRST.exec(text);
  if (match === null) {
    return "birth date: format not recognised (expected DD/MM/YYYY or YYYY-MM-DD)";
  }
  const groups = match.groups;
  if (groups.time !== undefined && !MIDNIGHT.test(groups.time)) {
    return "birth date: has a time of day other than midnight (time-zone shifted?)";
  }
  const zone = groups.zone;
  if (zone !== undefined && !["Z", "+00:00", "+0000", "-00:00", "-0000"].includes(zone)) {
    return "birth date: has a time zone other than UTC (time-zone shifted?)";
  }
  const year = Number(groups.y);
  const month = Number(groups.m);
  const day = Number(groups.d);
  if (!(month >= 1 && month <= 12)) return `birth date: month ${month} does not exist`;
  if (day < 1) return "birth date: day 0 does not exist";
  if (year < EARLIEST_BIRTH_YEAR) return `birth date: year is before ${EARLIEST_BIRTH_YEAR}`;
  if (day > daysIn(year, month)) {
    if (month === 2 && day === 29) {
      return "birth date: day 29 is not valid in February of a non-leap year";
    }
    return `birth date: day ${day} is not valid in ${ENGLISH_MONTHS[month - 1]}`;
  }
  const pad = (n, w) => String(n).padStart(w, "0");
  return `ok:${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** Today's date where the browser is, as ``YYYY-MM-DD`` (Python's date.today()). */
export function localToday() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** ``canonical_birth_date``: ISO date, or InvalidIdentifier (field ``birth_date``). */
export function canonicalBirthDate(raw, today = localToday()) {
  const result = parseBirthDate(raw);
  if (!result.startsWith("ok:")) throw new InvalidIdentifier("person", result, "birth_date");
  const iso = result.slice(3);
  if (iso > today) throw new InvalidIdentifier("person", FUTURE, "birth_date");
  return iso;
}

function refuseUnknown(parts) {
  const fields = [
    ["family_name", parts.familyNames.join("")],
    ["given_names", parts.givenNames],
    ["birth_date", parts.birthDate],
  ];
  for (const [field, text] of fields) {
    if (!knownToPython(text)) {
      throw new CannotCheckHere("person", "a character newer than the server's Unicode data", field);
    }
  }
}

/** ``person_keys`` without a birth place (the browser does not ask for one). */
export function personKeys(parts, today = localToday()) {
  const families = [];
  for (const raw of parts.familyNames) {
    for (const key of familyKeys(raw)) if (!families.includes(key)) families.push(key);
  }
  if (!families.length) throw new InvalidIdentifier("person", "no family name", "family_name");
  const given = givenNameKeys(parts.givenNames);
  if (given === null) throw new InvalidIdentifier("person", "no given name", "given_names");
  const birth = canonicalBirthDate(parts.birthDate, today);
  const [full, first] = given;
  const keys = [];
  for (const family of families) {
    keys.push(`full|${family}|${full}|${birth}`);
    keys.push(`first|${family}|${first}|${birth}`);
  }
  return keys;
}

function hasBlankLetter(text) {
  if (isAscii(text)) return false;
  for (const char of text) if (BLANK_LETTERS.has(char.codePointAt(0))) return true;
  return false;
}

function blankLettersAsSpaces(text) {
  let out = "";
  for (const char of text) out += BLANK_LETTERS.has(char.codePointAt(0)) ? " " : char;
  return out;
}

/**
 * ``person_key_readings``: the keys under both readings of a Hangul filler (a blank between two
 * names, or nothing inside one). ``parts`` is ``{familyNames: [...], givenNames, birthDate}``.
 */
export function personKeyReadings(parts, today = localToday()) {
  refuseUnknown(parts);
  const keys = personKeys(parts, today);
  const texts = [...parts.familyNames, parts.givenNames];
  if (!texts.some(hasBlankLetter)) return keys;
  const spaced = {
    familyNames: parts.familyNames.map(blankLettersAsSpaces),
    givenNames: blankLettersAsSpaces(parts.givenNames),
    birthDate: parts.birthDate,
  };
  return keys.concat(personKeys(spaced, today).filter((key) => !keys.includes(key)));
}
