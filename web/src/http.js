// verrou.http.lookup: the round carried over fetch, against the server the page came from.
import { LookupRefused, answerable, checkDirectory, concludeRound, roundBody, startRound } from "./protocol.js";

/** The server answered 429: come back after ``seconds``. */
export class RateLimited extends Error {
  constructor(seconds) {
    super(`too many private-check evaluations: retry after ${seconds} s`);
    this.name = "RateLimited";
    this.seconds = seconds;
  }
}

/** The check is not served (404: no OPRF key; 503: registry unreachable; network down). */
export class Unavailable extends Error {
  constructor(reason) {
    super(reason);
    this.name = "Unavailable";
  }
}

/** Any other refusal by the server (its error code, never the value). */
export class LookupFailed extends Error {
  constructor(reason) {
    super(reason);
    this.name = "LookupFailed";
  }
}

class IndexChanged extends Error {}

function retryAfter(response) {
  const header = response.headers.get("retry-after");
  if (header !== null && /^[0-9]+$/.test(header.trim())) return Math.max(1, Number(header.trim()));
  const when = header === null ? NaN : Date.parse(header);
  return Number.isNaN(when) ? 1 : Math.max(1, Math.ceil((when - Date.now()) / 1000));
}

async function answerOf(response) {
  if (response.status === 429) throw new RateLimited(retryAfter(response));
  if (response.status === 404 || response.status === 503) {
    throw new Unavailable(`the private check is not available (HTTP ${response.status})`);
  }
  if (response.status >= 400) {
    let code = `HTTP ${response.status}`;
    try {
      const error = (await response.json()).error;
      if (typeof error.code === "string") code = error.code;
    } catch {
      // the status says enough
    }
    throw new LookupFailed(`the server refused the lookup (${code})`);
  }
  try {
    return await response.json();
  } catch {
    throw new LookupRefused("the server's answer is not JSON");
  }
}

async function send(fetcher, url, init) {
  try {
    return await fetcher(url, { credentials: "same-origin", cache: "no-store", redirect: "error", ...init });
  } catch {
    throw new Unavailable("the server could not be reached");
  }
}

/**
 * Which indexed breaches hold the query's value: ``{found: [...], breaches: [...]}``. Reads the
 * directory at ``endpoint`` (checking its key id; ``pins`` may also pin ``publicKey`` or
 * ``keyId``), blinds, posts, verifies the proof and tests the tags. Asks again once when the
 * index changed its bucket size in between (409).
 */
export async function runCheck(query, { endpoint, fetch: fetcher = globalThis.fetch, pins = {} } = {}) {
  const directory = async () => {
    const document = await answerOf(await send(fetcher, endpoint, { method: "GET", headers: { Accept: "application/json" } }));
    checkDirectory(document, pins);
    return document;
  };
  const once = async (current) => {
    if (!answerable(query, current)) return { found: [], breaches: [...current.breaches] };
    const round = startRound(query, current);
    const response = await send(fetcher, endpoint, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(roundBody(round)),
    });
    if (response.status === 409) throw new IndexChanged();
    return concludeRound(round, await answerOf(response));
  };
  try {
    return await once(await directory());
  } catch (error) {
    if (!(error instanceof IndexChanged)) throw error;
  }
  try {
    return await once(await directory());
  } catch (error) {
    if (error instanceof IndexChanged) throw new LookupFailed("the index keeps changing its bucket size");
    throw error;
  }
}
