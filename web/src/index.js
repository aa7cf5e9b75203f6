// Entry point of src/verrou/web/static/js/lookup.js: the pure functions on
// globalThis.verrouLookup (the tests call them under node), and the form bound when there is a
// document.
import { DOCUMENT_CANONICALISERS } from "./documents.js";
import { canonicalEmail, mailboxAliases } from "./email.js";
import { CannotCheckHere, InvalidIdentifier } from "./errors.js";
import { LookupFailed, RateLimited, Unavailable, runCheck } from "./http.js";
import { foldLookalikes } from "./lookalikes.js";
import { canonicalBirthDate, familyKeys, foldName, givenNameKeys, personKeyReadings, personKeys } from "./names.js";
import * as protocol from "./protocol.js";
import { TABLES } from "./tables.generated.js";
import { PYTHON_UNICODE, knownToPython, pyLower, pyUpper } from "./unicode.js";
import { bindForm, queryFromForm, start } from "./dom.js";

const api = Object.freeze({
  versions: Object.freeze({
    pythonUnicode: PYTHON_UNICODE,
    confusables: TABLES.confusables,
    emailValidator: TABLES.emailValidator,
    build: __VERROU_BUILD__,
  }),
  canonicalEmail,
  mailboxAliases,
  foldName,
  foldLookalikes,
  familyKeys,
  givenNameKeys,
  canonicalBirthDate,
  personKeys,
  personKeyReadings,
  knownToPython,
  pyUpper,
  pyLower,
  documentCanonicalisers: DOCUMENT_CANONICALISERS,
  InvalidIdentifier,
  CannotCheckHere,
  RateLimited,
  Unavailable,
  LookupFailed,
  runCheck,
  bindForm,
  queryFromForm,
  ...protocol,
});

globalThis.verrouLookup = api;

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
