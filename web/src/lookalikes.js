// verrou.identifiers.lookalikes: invisible code points dropped, non-ASCII look-alikes folded
// (Unicode TR39). The tables are Python's own, generated (web/gen_tables.py), never re-derived.
import { TABLES } from "./tables.generated.js";
import { INVISIBLE, decodeCodeSet, decodeTable, isAscii, translate } from "./unicode.js";

const TABLE_CACHE = new Map();

/** The look-alike translate table of a target: "name", "lower" or "document". */
export function lookalikeTable(target) {
  let table = TABLE_CACHE.get(target);
  if (table === undefined) {
    table = decodeTable(TABLES.lookalikes[target]);
    TABLE_CACHE.set(target, table);
  }
  return table;
}

let ambiguous = null;
/** DOCUMENT_TARGET's look-alikes of both a letter and a digit (ambiguous_lookalikes). */
export function documentAmbiguous() {
  ambiguous ??= decodeCodeSet(TABLES.documentAmbiguous);
  return ambiguous;
}

/** ``fold_lookalikes``: invisible code points dropped, then look-alikes mapped (once). */
export function foldLookalikes(text, target) {
  if (isAscii(text)) return text;
  let visible = "";
  for (const char of text) if (!INVISIBLE.has(char.codePointAt(0))) visible += char;
  return translate(visible, lookalikeTable(target));
}
