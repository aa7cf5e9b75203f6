// Python's text semantics where verrou's canonicalisers rely on them, and the Unicode data they
// read (from tables.generated.js, written by web/gen_tables.py from the Python side's own data).
import { TABLES } from "./tables.generated.js";

/** The Unicode version of the Python whose data the tables hold. */
export const PYTHON_UNICODE = TABLES.unicode;

function decodeDeltas(text) {
  const codes = [];
  let at = 0;
  if (!text) return codes;
  for (const part of text.split(",")) {
    at += parseInt(part, 36);
    codes.push(at);
  }
  return codes;
}

function decodeRanges(text) {
  const runs = [];
  let at = 0;
  for (const part of text.split(",")) {
    const [gap, length] = part.split(":");
    const start = at + parseInt(gap, 36);
    at = start + parseInt(length, 36);
    runs.push([start, at]);
  }
  return runs;
}

function rangesToSet(runs) {
  const set = new Set();
  for (const [start, end] of runs) for (let c = start; c <= end; c++) set.add(c);
  return set;
}

/** A translate table (code point → text) from its grouped form in the tables. */
export function decodeTable(grouped) {
  const table = new Map();
  for (const text of Object.keys(grouped)) {
    for (const code of decodeDeltas(grouped[text])) table.set(code, text);
  }
  return table;
}

/** Default_Ignorable_Code_Point ∪ Cf, as verrou.identifiers.lookalikes.INVISIBLE. */
export const INVISIBLE = rangesToSet(decodeRanges(TABLES.invisible));
/** The invisible letters drawn as a blank (Hangul fillers): BLANK_LETTERS. */
export const BLANK_LETTERS = new Set(decodeDeltas(TABLES.blankLetters));
const ASSIGNED = decodeRanges(TABLES.assigned);

export function decodeCodeSet(text) {
  return new Set(decodeDeltas(text));
}

/** Python's str.isspace() characters (verrou.identifiers.documents._WHITESPACE). */
const PY_SPACE = new Set(
  Array.from("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000").map(
    (c) => c.codePointAt(0),
  ),
);
for (let c = 0x2000; c < 0x200b; c++) PY_SPACE.add(c);

export function isPySpace(char) {
  return PY_SPACE.has(char.codePointAt(0));
}

/** ``str.isascii()``. */
export function isAscii(text) {
  return /^[\x00-\x7f]*$/.test(text);
}

/** The code points of ``text`` (Python's len and indexing count these, not UTF-16 units). */
export function codePoints(text) {
  return Array.from(text);
}

/** ``str.strip()`` (Python's whitespace, which is not JavaScript's trim()). */
export function pyStrip(text) {
  const chars = codePoints(text);
  let start = 0;
  let end = chars.length;
  while (start < end && isPySpace(chars[start])) start++;
  while (end > start && isPySpace(chars[end - 1])) end--;
  return chars.slice(start, end).join("");
}

/** ``str.split()`` without arguments. */
export function pySplit(text) {
  const out = [];
  let token = "";
  for (const char of text) {
    if (isPySpace(char)) {
      if (token) out.push(token);
      token = "";
    } else token += char;
  }
  if (token) out.push(token);
  return out;
}

/** Python's string order: by code point (JavaScript's default compares UTF-16 units). */
export function compareCodePoints(a, b) {
  const x = codePoints(a);
  const y = codePoints(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** ``text.translate(table)`` with a Map of code point → replacement text (null deletes). */
export function translate(text, table) {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0);
    if (table.has(code)) {
      const replacement = table.get(code);
      if (replacement !== null) out += replacement;
    } else out += char;
  }
  return out;
}

/** ``drop_invisible``: the text without its invisible code points. */
export function dropInvisible(text) {
  if (isAscii(text)) return text;
  let out = "";
  for (const char of text) if (!INVISIBLE.has(char.codePointAt(0))) out += char;
  return out;
}

function assigned(code) {
  let lo = 0;
  let hi = ASSIGNED.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [start, end] = ASSIGNED[mid];
    if (code < start) hi = mid - 1;
    else if (code > end) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Whether every character of ``text`` is one the Python side's Unicode database knows.
 * The browser's Unicode is usually newer: it may case-map or normalise a character that Python
 * leaves alone (or call it a letter where Python sees none), and the canonical text, hence the
 * answer, would differ. For such a text the browser cannot answer exactly, and says so.
 */
export function knownToPython(text) {
  if (isAscii(text)) return true;
  for (const char of text) {
    const code = char.codePointAt(0);
    // The invisible code points (some still unassigned) are dropped on both sides alike.
    if (!assigned(code) && !INVISIBLE.has(code)) return false;
  }
  return true;
}

function decodeCaseMap(encoded) {
  const table = decodeTable(encoded.multi);
  for (const offset of Object.keys(encoded.offsets)) {
    for (const code of decodeDeltas(encoded.offsets[offset])) {
      table.set(code, String.fromCodePoint(code + Number(offset)));
    }
  }
  return table;
}

let upperMap = null;
let lowerMap = null;
const CASED = /\p{Cased}/u;
const CASE_IGNORABLE = /\p{Case_Ignorable}/u;

/** ``str.upper()`` as Python does it (its own mappings, not the browser's newer ones). */
export function pyUpper(text) {
  if (isAscii(text)) return text.toUpperCase();
  upperMap ??= decodeCaseMap(TABLES.upper);
  return translate(text, upperMap);
}

/** ``str.lower()`` as Python does it, with its Final_Sigma rule for capital sigma. */
export function pyLower(text) {
  if (isAscii(text)) return text.toLowerCase();
  lowerMap ??= decodeCaseMap(TABLES.lower);
  const chars = codePoints(text);
  let out = "";
  chars.forEach((char, i) => {
    if (char !== "\u03a3") {
      out += lowerMap.has(char.codePointAt(0)) ? lowerMap.get(char.codePointAt(0)) : char;
      return;
    }
    let j = i - 1;
    while (j >= 0 && CASE_IGNORABLE.test(chars[j])) j--;
    let final = j >= 0 && CASED.test(chars[j]);
    if (final) {
      j = i + 1;
      while (j < chars.length && CASE_IGNORABLE.test(chars[j])) j++;
      final = j === chars.length || !CASED.test(chars[j]);
    }
    out += final ? "\u03c2" : "\u03c3";
  });
  return out;
}
