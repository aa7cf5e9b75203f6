// The two ways a value is not asked about. Neither message ever holds the value or a part of it.

/** The value is not a valid identifier of its kind, as verrou's canonicaliser would refuse it.
 * ``field`` names the form field at fault (``email``, ``family_name``, ``document_number``...). */
export class InvalidIdentifier extends Error {
  constructor(kind, reason, field) {
    super(`invalid ${kind}: ${reason}`);
    this.name = "InvalidIdentifier";
    this.kind = kind;
    this.reason = reason;
    this.field = field;
  }
}

/** The browser cannot canonicalise this value exactly as the server did (a shape only the Python
 * side's full validator decides, a character newer than its Unicode data): it must not answer
 * "not found" for it. ``field`` names the form field. */
export class CannotCheckHere extends Error {
  constructor(kind, reason, field) {
    super(`cannot check this ${kind} in the browser: ${reason}`);
    this.name = "CannotCheckHere";
    this.kind = kind;
    this.reason = reason;
    this.field = field;
  }
}
