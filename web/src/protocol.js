// verrou.lookup.protocol and verrou.lookup.client, without I/O: the queries, the OPRF inputs,
// buckets and tags, the directory's checks, and one round (request body, then result).
import { ristretto255_oprf } from "@noble/curves/ed25519.js";
import { blake2b } from "@noble/hashes/blake2.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, randomBytes } from "@noble/hashes/utils.js";
import { DOCUMENT_CANONICALISERS } from "./documents.js";
import { canonicalEmail } from "./email.js";
import { InvalidIdentifier } from "./errors.js";
import { localToday, personKeyReadings } from "./names.js";

export const PROTOCOL = "verrou-lookup/1";
export const SUITE = "ristretto255-SHA512";
export const PERSON_LOOKUP_PREFIX = "first|";
export const MAX_BUCKET_BITS = 16;
export const TAG_BYTES = 8;
export const STORED_TAG_BYTES = 14;
/** verrou.identifiers.kinds.KIND_VERSIONS for the kinds the browser asks about. The tests
 * compare every lookup input with Python's, so a version bump there fails them here. */
export const KIND_VERSIONS = {
  email: 2,
  person: 2,
  cni: 1,
  passport: 1,
  driving_licence: 1,
  residence_permit: 1,
};

const encoder = new TextEncoder();
const utf8 = (text) => encoder.encode(text);

/** A thing to ask about: kind and canonical values (a person has one per family-name reading;
 * any found counts). It holds plaintext identifiers: never log it. */
export function emailQuery(raw) {
  return { kind: "email", canonicals: [canonicalEmail(raw)] };
}

/** ``person_query``: the person's ``first`` keys. */
export function personQuery(familyName, givenNames, birthDate, today = localToday()) {
  const keys = personKeyReadings({ familyNames: [familyName], givenNames, birthDate }, today);
  return { kind: "person", canonicals: keys.filter((key) => key.startsWith(PERSON_LOOKUP_PREFIX)) };
}

/** ``document_query``: a document by type (a key of DOCUMENT_CANONICALISERS) and number. */
export function documentQuery(documentType, number) {
  const kind = String(documentType).trim().toLowerCase();
  const canonicaliser = Object.hasOwn(DOCUMENT_CANONICALISERS, kind) ? DOCUMENT_CANONICALISERS[kind] : null;
  if (canonicaliser === null) {
    throw new InvalidIdentifier(
      "document",
      "type must be one of " + Object.keys(DOCUMENT_CANONICALISERS).join(", "),
      "document_kind",
    );
  }
  return { kind, canonicals: [canonicaliser(number)] };
}

/** ``lookup_input``: the OPRF input, protocol, kind and canonicaliser version framed. */
export function lookupInput(kind, canonical) {
  if (!Object.hasOwn(KIND_VERSIONS, kind)) throw new Error("not a kind the browser asks about");
  return utf8(`${PROTOCOL}\x1f${kind}\x1f${KIND_VERSIONS[kind]}\x1f${canonical}`);
}

/** ``full_bucket``: the first 16 bits of SHA-256("verrou-bucket/1" 0x1f ‖ input). */
export function fullBucket(value) {
  const digest = sha256(concatBytes(utf8("verrou-bucket/1\x1f"), value));
  return (digest[0] << 8) | digest[1];
}

/** ``bucket_of``: the bucket of an input when the server serves ``bits``-bit buckets. */
export function bucketOf(value, bits) {
  return fullBucket(value) >> (MAX_BUCKET_BITS - bits);
}

function framedLength(bytes) {
  return Uint8Array.of(bytes.length >> 8, bytes.length & 0xff);
}

/** ``breach_tag``: the stored tag (14 bytes) of a value with OPRF ``output`` in ``breach``. */
export function breachTag(output, breach) {
  const name = utf8(breach);
  const digest = sha512(
    concatBytes(framedLength(output), output, framedLength(name), name, utf8("verrou-tag")),
  );
  return digest.slice(0, STORED_TAG_BYTES);
}

/** ``public_key_id``: "ok-" and 12 hex digits of BLAKE2b(public, person "verrou-ok-id"). */
export function publicKeyId(publicKey) {
  const person = new Uint8Array(16);
  person.set(utf8("verrou-ok-id"));
  return "ok-" + bytesToHex(blake2b(publicKey, { dkLen: 6, personalization: person }));
}

export function fromBase64(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new LookupRefused("the server sent something that is not base64");
  }
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function toBase64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The server's answer cannot be trusted (a key or proof that does not verify, a malformed
 * answer): the result is refused, never read as "not found". */
export class LookupRefused extends Error {
  constructor(reason) {
    super(reason);
    this.name = "LookupRefused";
  }
}

/** ``check_directory``: refuse a directory whose key id is not its public key's, or whose key
 * is not the pinned one (``pins``: ``{publicKey, keyId}``, both optional). */
export function checkDirectory(directory, pins = {}) {
  if (directory === null || typeof directory !== "object") {
    throw new LookupRefused("the server's directory is not a JSON object");
  }
  if (directory.protocol !== PROTOCOL || directory.suite !== SUITE || directory.mode !== "VOPRF") {
    throw new LookupRefused("the server speaks another protocol");
  }
  const publicKey = fromBase64(directory.public_key);
  if (publicKeyId(publicKey) !== directory.key_id) {
    throw new LookupRefused("the server's key id is not its public key's");
  }
  if (pins.publicKey && toBase64(pins.publicKey) !== directory.public_key) {
    throw new LookupRefused("the server's public key is not the pinned one");
  }
  if (pins.keyId && pins.keyId !== directory.key_id) {
    throw new LookupRefused("the server's key id is not the pinned one");
  }
  const bits = directory.bucket_bits;
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_BUCKET_BITS) {
    throw new LookupRefused("the server's bucket size is out of range");
  }
  if (!Array.isArray(directory.breaches) || !Array.isArray(directory.kinds)) {
    throw new LookupRefused("the server's directory lists no breaches or kinds");
  }
  return publicKey;
}

// --- the OPRF client (RFC 9497 VOPRF, ristretto255-SHA512: @noble/curves' implementation) ---

const voprf = ristretto255_oprf.voprf;

/** ``Blind(input)``; ``rng`` (n → n bytes) is given only by tests replaying the RFC vectors. */
export function blind(input, rng = randomBytes) {
  const { blind: scalar, blinded } = voprf.blind(input, rng);
  return { input, blind: scalar, blinded };
}

/**
 * ``Finalize`` of a batch: the outputs, once the batch proof verifies against ``publicKey``
 * (LookupRefused otherwise, and for an evaluated element that is not a ristretto255 element).
 */
export function finalize(items, evaluated, proof, publicKey) {
  if (evaluated.length !== items.length) {
    throw new LookupRefused("the server evaluated another number of elements than sent");
  }
  try {
    return voprf.finalizeBatch(
      items.map((item, i) => ({ input: item.input, blind: item.blind, blinded: item.blinded, evaluated: evaluated[i] })),
      publicKey,
      proof,
    );
  } catch {
    throw new LookupRefused("the server's proof does not verify against its public key");
  }
}

// --- one round ---------------------------------------------------------------------------------

/** Whether the server can answer the query at all (``not_asked``): a kind it does not index, or
 * a person without a ``first`` key, is found nowhere without asking. */
export function answerable(query, directory) {
  return directory.kinds.includes(query.kind) && query.canonicals.length > 0;
}

/** ``LookupRound.start``: blind every distinct input of the query under the directory's key. */
export function startRound(query, directory, rng = randomBytes) {
  const publicKey = checkDirectory(directory);
  const bits = directory.bucket_bits;
  const inputs = [];
  const seen = new Set();
  for (const canonical of query.canonicals) {
    const input = lookupInput(query.kind, canonical);
    const key = toBase64(input);
    if (!seen.has(key)) {
      seen.add(key);
      inputs.push(input);
    }
  }
  if (Number.isInteger(directory.max_elements) && inputs.length > directory.max_elements) {
    throw new LookupRefused("more values to ask than the server takes at once");
  }
  return {
    kind: query.kind,
    publicKey,
    bits,
    breaches: [...directory.breaches],
    blinded: inputs.map((input) => blind(input, rng)),
    buckets: inputs.map((input) => bucketOf(input, bits)),
  };
}

/** ``LookupRound.body``: the JSON body of ``POST /v1/lookup``. */
export function roundBody(round) {
  return {
    kind: round.kind,
    bucket_bits: round.bits,
    queries: round.blinded.map((item, i) => ({ bucket: round.buckets[i], element: toBase64(item.blinded) })),
  };
}

function tagSet(packed) {
  const set = new Set();
  for (let i = 0; i + TAG_BYTES <= packed.length; i += TAG_BYTES) {
    set.add(bytesToHex(packed.subarray(i, i + TAG_BYTES)));
  }
  return set;
}

/** ``LookupRound.conclude``: the breaches that hold the value, once the proof verifies. */
export function concludeRound(round, answer) {
  if (answer === null || typeof answer !== "object" || !Array.isArray(answer.evaluated) || !Array.isArray(answer.tags)) {
    throw new LookupRefused("the server's answer is not a lookup answer");
  }
  const outputs = finalize(
    round.blinded,
    answer.evaluated.map(fromBase64),
    fromBase64(answer.proof),
    round.publicKey,
  );
  const tags = answer.tags.map((packed) => tagSet(fromBase64(packed)));
  if (tags.length !== outputs.length) {
    throw new LookupRefused("the server answered another number of buckets than asked");
  }
  const found = round.breaches.filter((breach) =>
    outputs.some((output, i) => tags[i].has(bytesToHex(breachTag(output, breach).subarray(0, TAG_BYTES)))),
  );
  return { found, breaches: round.breaches };
}
