"""The browser's private exposure check (src/verrou/web/static/js/lookup.js, built from web/):
the committed bundle run under node, against verrou's Python canonicalisers, its RFC 9497
implementation and a real server on loopback. A value the browser canonicalises differently
from the server would be asked under another name and come back "not found": every vector
here compares the two sides."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from test_lookup import ABSENT, PEOPLE, serving_lookups
from test_oprf import KEY_INFO, SEED, VOPRF_PK, VOPRF_VECTORS
from verrou.errors import InvalidIdentifier
from verrou.identifiers import canonical
from verrou.identifiers.kinds import Kind
from verrou.identifiers.lookalikes import INVISIBLE, lookalike_sources
from verrou.identifiers.names import fold_tokens_uncached
from verrou.keys import FingerprintKey
from verrou.lookup.client import document_query, email_query, person_query
from verrou.lookup.protocol import (
    OprfKey,
    breach_tag,
    bucket_of,
    full_bucket,
    lookup_input,
    public_key_id,
)
from verrou.oprf import Mode, Server, derive_key_pair
from verrou.registry.policy import DOCUMENT_KINDS

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "src" / "verrou" / "web" / "static" / "js" / "lookup.js"
WEB = ROOT / "web"
NODE = shutil.which("node")


# Loads the bundle, then answers each call of the JSON on stdin; bytes travel as hex.
DRIVER = r"""
const bundle = process.argv[1];
require(bundle);
const v = globalThis.verrouLookup;
const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (h) => Uint8Array.from(Buffer.from(h, "hex"));
// An rng whose bytes make @noble/curves' randomScalar return `scalar` (hex, little-endian):
// it maps 48 bytes to (n mod (order - 1)) + 1, so give it scalar - 1.
function fixedScalars(scalars) {
  const queue = scalars.map((s) => BigInt("0x" + Buffer.from(unhex(s)).reverse().toString("hex")));
  return (length) => {
    let n = queue.shift() - 1n;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) { out[i] = Number(n & 0xffn); n >>= 8n; }
    return out;
  };
}
function refusal(error) {
  const message = error.message;
  if (error instanceof v.InvalidIdentifier) return { invalid: error.field, message };
  if (error instanceof v.CannotCheckHere) return { unsupported: error.field, message };
  if (error instanceof v.LookupRefused) return { refused: error.message };
  return { crashed: String(error && error.stack || error) };
}
const ops = {
  canonical([kind, raw]) {
    if (kind === "email") return v.canonicalEmail(raw);
    return v.documentQuery(kind, raw).canonicals[0];
  },
  person([family, given, born, today]) {
    return v.personQuery(family, given, born, today).canonicals;
  },
  fold([raws]) { return raws.map((raw) => v.foldName(raw)); },
  cases([raws]) { return raws.map((raw) => [v.pyUpper(raw), v.pyLower(raw)]); },
  input([kind, canonical, bits]) {
    const value = v.lookupInput(kind, canonical);
    return [hex(value), v.fullBucket(value), v.bucketOf(value, bits)];
  },
  tag([output, breach]) { return hex(v.breachTag(unhex(output), breach)); },
  keyId([publicKey]) { return v.publicKeyId(unhex(publicKey)); },
  blind([inputs, scalars]) {
    const rng = scalars ? fixedScalars(scalars) : undefined;
    return inputs.map((input) => {
      const item = v.blind(unhex(input), rng);
      return { input, blind: hex(item.blind), blinded: hex(item.blinded) };
    });
  },
  finalize([items, evaluated, proof, publicKey]) {
    const blinded = items.map((i) => ({
      input: unhex(i.input), blind: unhex(i.blind), blinded: unhex(i.blinded),
    }));
    return v.finalize(blinded, evaluated.map(unhex), unhex(proof), unhex(publicKey)).map(hex);
  },
  async check([endpoint, kind, args, pins]) {
    const query = kind === "email" ? v.emailQuery(...args)
      : kind === "person" ? v.personQuery(...args) : v.documentQuery(...args);
    const pinned = pins ? { keyId: pins.keyId } : {};
    return await v.runCheck(query, { endpoint, pins: pinned });
  },
};
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const results = [];
  for (const [op, args] of JSON.parse(input)) {
    try {
      results.push({ ok: await ops[op](args) });
    } catch (error) {
      results.push(refusal(error));
    }
  }
  process.stdout.write(JSON.stringify(results));
});
"""


def run_js(calls: list[tuple[str, Any]], timeout: float = 60) -> list[dict[str, Any]]:
    """Each call's ``{"ok": value}`` or its refusal, from the committed bundle under node."""
    if NODE is None:
        pytest.skip("node is not installed: the browser bundle cannot run")
    done = subprocess.run(
        [NODE, "-e", DRIVER, str(BUNDLE)],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    crashes = [r for r in results if "crashed" in r]
    assert not crashes, crashes[:3]
    return results


def python_canonical(kind: str, raw: str) -> str | None:
    """Python's canonical text, or None when its canonicaliser refuses the value."""
    try:
        if kind == "email":
            return canonical(Kind.EMAIL, raw)
        return canonical(DOCUMENT_KINDS[kind], raw)
    except InvalidIdentifier:
        return None


def assert_same_as_python(kind: str, raws: list[str]) -> dict[str, int]:
    """Every answer of the browser is Python's: the same canonical text, or a refusal of a
    value Python refuses too; ``unsupported`` (the browser says it cannot check it) is the only
    way to differ, and it never answers "not found". Returns the tally of outcomes."""
    results = run_js([("canonical", (kind, raw)) for raw in raws])
    tally = {"same": 0, "invalid": 0, "unsupported": 0}
    for raw, result in zip(raws, results, strict=True):
        expected = python_canonical(kind, raw)
        if "ok" in result:
            assert result["ok"] == expected, (kind, ascii(raw))
            tally["same"] += 1
        elif "invalid" in result:
            assert expected is None, (kind, ascii(raw), "refused by the browser only")
            if len(raw.strip()) >= 4:  # a refusal never quotes the value
                assert raw.strip() not in result["message"]
            tally["invalid"] += 1
        else:
            assert "unsupported" in result, result
            tally["unsupported"] += 1
    return tally


# --- canonical forms ------------------------------------------------------------------------


def _lookalikes_of(char: str) -> list[str]:
    return [source for source, proto in lookalike_sources().items() if proto == char]


LOOKALIKES = {letter: _lookalikes_of(letter) for letter in "abcdeijklmnopstuxyzABCEHIKMOPTX"}
FILLERS = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3164", "\u180e", "\u034f"]


def disguise(rng: random.Random, text: str, rate: float = 0.3) -> str:
    """``text`` with some letters swapped for their look-alikes and invisible fillers slipped in."""
    out = []
    for char in text:
        choices = LOOKALIKES.get(char)
        if choices and rng.random() < rate:
            char = rng.choice(choices)
        out.append(char)
        if rng.random() < rate / 3:
            out.append(rng.choice(FILLERS))
    return "".join(out)


def test_emails_canonicalise_as_in_python() -> None:
    fake = Faker("fr_FR")
    fake.seed_instance(9497)
    rng = random.Random(9497)
    raws: list[str] = []
    for _ in range(150):
        address = fake.email()
        local, domain = address.split("@")
        raws += [
            address,
            address.upper(),
            f"  {local.title()}+{fake.word()}@{domain.upper()}\u00a0",
            f"{'.'.join(local)}@gmail.com",
            f"{local}+x.y@GoogleMail.com",
            disguise(rng, address),
            unicodedata.normalize("NFKC", address).translate({0x61: "\uff41", 0x40: "\uff20"}),
        ]
    tally = assert_same_as_python("email", raws)
    # Faker's addresses, their cases, tags, Gmail dots, full-width and look-alike letters are
    # all answered; only a look-alike Python keeps as a non-Latin letter may leave one aside.
    assert tally["same"] >= 0.95 * len(raws), tally


def test_invalid_emails_are_refused_in_both_and_the_rest_is_never_guessed() -> None:
    refused = [
        "",
        "   ",
        "jean.dupont",
        "jean@@example.fr",
        "jean@dupont@example.fr",
        "jean dupont@example.fr",
        "@example.fr",
        "jean@",
        ".jean@example.fr",
        "jean.@example.fr",
        "jean..dupont@example.fr",
        "jean@example..fr",
        "jean@example",
        "jean@localhost",
        "jean@exemple.test",
        "jean@exa_mple.fr",
        "jean,dupont@example.fr",
        "j" * 250 + "@example.fr",
        "x" * 1100,
    ]
    results = run_js([("canonical", ("email", raw)) for raw in refused])
    for raw, result in zip(refused, results, strict=True):
        assert python_canonical("email", raw) is None, ascii(raw)
        assert result.get("invalid") == "email", (ascii(raw), result)
    # What only email-validator decides is left to the server's own client, never answered.
    unsure = ["josé@orange.fr", "jean@café.fr", "jean@xn--caf-dma.fr", "jean@a--b.fr"]
    results = run_js([("canonical", ("email", raw)) for raw in unsure])
    assert all(result.get("unsupported") == "email" for result in results), results
    assert all(python_canonical("email", raw) is not None for raw in unsure)


def test_email_lookalikes_and_invisible_characters_fold_as_in_python() -> None:
    """One look-alike of each kind (every TR39 source whose prototype is a letter or digit)
    inside an address, and every invisible code point Python drops, in either part."""
    sources = sorted(c for c, proto in lookalike_sources().items() if proto.isascii())
    invisible = sorted(INVISIBLE)[::7]
    raws = [f"je{c}n@exemple.fr" for c in sources] + [f"jean@ex{c}mple.fr" for c in sources[::5]]
    raws += [f"je{chr(c)}an@exem{chr(c)}ple.fr" for c in invisible]
    tally = assert_same_as_python("email", raws)
    assert tally["same"] >= 0.5 * len(raws), tally


def test_document_numbers_canonicalise_as_in_python() -> None:
    rng = random.Random(12)
    numbers = {
        "cni": ["X4RTBPFW4", "970675K00277", "x4rt bpfw4", "9706-75K-00277", "971375K00277"],
        "passport": ["12AB34567", "12 ab 34567", "12-AB-345.67", "1 2AB34567", "12A834567"],
        "driving_licence": [
            "13AA00002",
            "13 aa 00002",
            "850175123456",
            "85012A123456",
            "850100123456",
        ],
        "residence_permit": ["AB12345678", "ab 1234 5678", "AB1234567", "AB123456789X"],
    }
    for kind, values in numbers.items():
        raws = list(values)
        for value in values:
            raws += [
                disguise(rng, value, 0.5),
                f"\u00a0{value}\u2009",
                value.replace("0", "\uff10"),
            ]
            raws += [value[:4] + "\u041e" + value[5:], value[:2] + "\u0399" + value[3:]]  # О, Ι
        raws += ["", "   ", "12AB3456", "X" * 300, "12AB34567\u0663"]
        tally = assert_same_as_python(kind, raws)
        assert tally["unsupported"] == 0, (kind, tally)
        assert tally["same"] and tally["invalid"], (kind, tally)


def test_document_numbers_with_every_lookalike_and_invisible_code_point() -> None:
    sources = sorted(lookalike_sources())
    raws = [f"12AB{c}4567" for c in sources] + [f"X4RT{chr(c)}BPFW4" for c in sorted(INVISIBLE)]
    tally = assert_same_as_python("passport", raws[: len(sources)])
    assert tally["same"] and tally["invalid"], tally
    tally = assert_same_as_python("cni", raws[len(sources) :])
    assert tally["same"] == len(INVISIBLE), tally


def test_name_folding_equals_python_for_every_code_point_python_knows() -> None:
    """fold_name of every assigned character alone and between two letters: the name pipeline
    (NFKC, case, marks, look-alikes, boundaries) character by character, exhaustively."""
    known = [
        chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")
    ]
    raws = known + [f"a{c}b" for c in known[::3]]
    (result,) = run_js([("fold", (raws,))])
    folded = result["ok"]
    wrong = [
        (hex(ord(raw[0] if len(raw) == 1 else raw[1])), got, fold_tokens_uncached(raw))
        for raw, got in zip(raws, folded, strict=True)
        if got != fold_tokens_uncached(raw)
    ]
    assert not wrong, (len(wrong), wrong[:10])


def test_case_mappings_are_pythons_not_the_browsers_newer_ones() -> None:
    known = [
        chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")
    ]
    sigmas = ["ΣΑΣ", "ΑΣ", "Σ", "ΑΣ.", "ΑΣ'Α", "Α'Σ", "ΑΣ Β", "ΟΔΥΣΣΕΥΣ"]
    raws = known + sigmas
    (result,) = run_js([("cases", (raws,))])
    wrong = [
        (hex(ord(raw[0])), got)
        for raw, got in zip(raws, result["ok"], strict=True)
        if got != [raw.upper(), raw.lower()]
    ]
    assert not wrong, (len(wrong), wrong[:10])


def test_emails_with_a_sample_of_every_script_fold_as_in_python() -> None:
    """An address holding one of every 9th character Python knows: the browser answers as
    Python does, refuses only what Python refuses, or says it cannot check (a Unicode local
    part, which only email-validator decides: most of these)."""
    known = [
        chr(c)
        for c in range(0xA0, 0x110000)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")
    ]
    tally = assert_same_as_python("email", [f"je{c}an@exemple.fr" for c in known[::9]])
    assert tally["same"] > 300 and tally["invalid"] > 10, tally


def _python_person(family: str, given: str, born: str) -> list[str] | None:
    try:
        return list(person_query(family, given, born).canonicals)
    except InvalidIdentifier:
        return None


def test_person_keys_equal_python_for_french_names() -> None:
    fake = Faker("fr_FR")
    fake.seed_instance(2026)
    rng = random.Random(2026)
    today = date.today().isoformat()
    cases: list[tuple[str, str, str]] = []
    for _ in range(150):
        family = fake.last_name()
        given = " ".join(fake.first_name() for _ in range(rng.randint(1, 3)))
        born = fake.date_of_birth(minimum_age=18, maximum_age=95)
        particle = rng.choice(["", "de ", "de La ", "d’", "D'", "Le ", "van der "])
        cases += [
            (family, given, born.isoformat()),
            (particle + family.upper(), given.lower(), born.strftime("%d/%m/%Y")),
            (
                f"{family} épouse {fake.last_name()}",
                given.replace(" ", "-"),
                born.strftime("%d.%m.%Y"),
            ),
            (disguise(rng, family), disguise(rng, given), born.strftime("%Y%m%d")),
            (f"  {family}-{fake.last_name()}  ", given.replace(" ", "\u3164"), born.isoformat()),
            (family.replace("e", "\u0435"), f"{given}ʼ{fake.first_name()}", born.isoformat()),
        ]
    cases += [
        ("", "Jean", "1980-05-17"),
        ("Dupont", "  ", "1980-05-17"),
        ("Dupont", "Jean", ""),
        ("Dupont", "Jean", "31/02/1990"),
        ("Dupont", "Jean", "29/02/1991"),
        ("Dupont", "Jean", "1870-01-01"),
        ("Dupont", "Jean", "2999-01-01"),
        ("Dupont", "Jean", "1980-13-01"),
        ("Dupont", "Jean", "1980-05-17T10:00:00"),
        ("Dupont", "Jean", "17 mai 1980"),
        ("Ep", "Née", "1980-05-17"),
        ("Nguyễn", "Thị Mai", "1992-03-30"),
    ]
    results = run_js([("person", (f, g, b, today)) for f, g, b in cases])
    fields = set()
    for case, result in zip(cases, results, strict=True):
        expected = _python_person(*case)
        if "ok" in result:
            assert result["ok"] == expected, ascii(case)
        else:
            assert expected is None and "invalid" in result, (ascii(case), result)
            fields.add(result["invalid"])
    assert fields == {"family_name", "given_names", "birth_date"}


def test_lookup_inputs_buckets_and_tags_equal_python() -> None:
    values = [
        ("email", "jean.dupont@example.fr"),
        ("person", "first|DUPONT|JEAN|1980-05-17"),
        ("cni", "X4RTBPFW4"),
        ("passport", "12AB34567"),
        ("driving_licence", "13AA00002"),
        ("residence_permit", "AB12345678"),
        ("person", "first|NGUYEN|THI|1992-03-30"),
    ]
    calls = [("input", (kind, value, bits)) for kind, value in values for bits in (0, 7, 16)]
    results = iter(run_js(calls))
    for kind, value in values:
        python_input = lookup_input(Kind(kind), value)
        for bits in (0, 7, 16):
            got_input, got_full, got_bucket = next(results)["ok"]
            assert bytes.fromhex(got_input) == python_input
            assert got_full == full_bucket(python_input)
            assert got_bucket == bucket_of(python_input, bits)
    output = bytes(range(64))
    tags = run_js([("tag", (output.hex(), breach)) for breach in ("ants-2026", "fuite-été")])
    assert [t["ok"] for t in tags] == [
        breach_tag(output, b).hex() for b in ("ants-2026", "fuite-été")
    ]
    key = OprfKey.from_seed(bytes(range(32)))
    (key_id,) = run_js([("keyId", (key.public.hex(),))])
    assert key_id["ok"] == public_key_id(key.public) == key.key_id


# --- the OPRF client ---------------------------------------------------------------------------


def test_rfc_9497_voprf_vectors() -> None:
    calls: list[tuple[str, Any]] = []
    for values, blinds, _, _, _, _, _ in VOPRF_VECTORS:
        calls.append(("blind", (values, blinds)))
    blinded_results = run_js(calls)
    finalize_calls: list[tuple[str, Any]] = []
    for (_, _, blinded, evaluated, proof, _, _), result in zip(
        VOPRF_VECTORS, blinded_results, strict=True
    ):
        items = result["ok"]
        assert [item["blinded"] for item in items] == blinded
        finalize_calls.append(("finalize", (items, evaluated, proof, VOPRF_PK)))
    for vector, result in zip(VOPRF_VECTORS, run_js(finalize_calls), strict=True):
        assert result["ok"] == vector[6]
    assert derive_key_pair(SEED, KEY_INFO, Mode.VOPRF).public.hex() == VOPRF_PK


def test_a_python_evaluation_finalises_to_pythons_output_and_a_tampered_proof_is_refused() -> None:
    key = OprfKey.from_seed(bytes(range(1, 33)))
    inputs = [
        lookup_input(Kind.EMAIL, "jean.dupont@example.fr"),
        lookup_input(Kind.CNI, "X4RTBPFW4"),
    ]
    (blinded,) = run_js([("blind", ([i.hex() for i in inputs], None))])
    items = blinded["ok"]
    server = Server(key)
    answer = server.blind_evaluate([bytes.fromhex(item["blinded"]) for item in items])
    assert answer.proof is not None
    evaluated = [e.hex() for e in answer.elements]
    proof = answer.proof.hex()
    tampered = (bytes([answer.proof[0] ^ 1]) + answer.proof[1:]).hex()
    other = OprfKey.from_seed(bytes(range(2, 34)))
    forged = Server(other).blind_evaluate([bytes.fromhex(item["blinded"]) for item in items])
    assert forged.proof is not None
    results = run_js(
        [
            ("finalize", (items, evaluated, proof, key.public.hex())),
            ("finalize", (items, evaluated, tampered, key.public.hex())),
            ("finalize", (items, evaluated[::-1], proof, key.public.hex())),
            (
                "finalize",
                (items, [e.hex() for e in forged.elements], forged.proof.hex(), key.public.hex()),
            ),
            ("finalize", (items, evaluated, proof, other.public.hex())),
            ("finalize", (items, evaluated[:1], proof, key.public.hex())),
        ]
    )
    assert results[0]["ok"] == [server.evaluate(value).hex() for value in inputs]
    assert all("refused" in result for result in results[1:]), results[1:]


# --- against a real server ---------------------------------------------------------------------


@pytest.fixture
def lookup_url(
    sqlite_url: str, fingerprint_key: FingerprintKey, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """verrou on loopback with :data:`test_lookup.PEOPLE` indexed: (endpoint, key id)."""
    key = OprfKey.from_seed(bytes(range(100, 132)))
    with serving_lookups(sqlite_url, fingerprint_key, tmp_path, key) as running:
        yield f"{running.url}/v1/lookup", key.key_id


def test_the_browser_finds_a_leaked_email_and_person_and_not_an_unknown_email(
    lookup_url: tuple[str, str],
) -> None:
    endpoint, key_id = lookup_url
    family, given, _, email, *_, passport, _, _ = PEOPLE[1]
    today = date.today().isoformat()
    checks: list[tuple[str, Any]] = [
        ("check", (endpoint, "email", [PEOPLE[0][3]], None)),
        (
            "check",
            (endpoint, "email", [PEOPLE[0][3].upper().replace("@", "+alerte@")], {"keyId": key_id}),
        ),
        ("check", (endpoint, "email", [ABSENT[3]], None)),
        ("check", (endpoint, "person", [family.upper(), given.lower(), "02/11/1975", today], None)),
        ("check", (endpoint, "person", [ABSENT[0], ABSENT[1], ABSENT[2], today], None)),
        ("check", (endpoint, "document", ["passport", passport.lower()], None)),
        ("check", (endpoint, "email", [email], {"keyId": "ok-000000000000"})),
    ]
    results = run_js(checks)
    found = {"found": ["ants-2026"], "breaches": ["ants-2026"]}
    assert results[0]["ok"] == results[1]["ok"] == found
    assert results[2]["ok"] == {"found": [], "breaches": ["ants-2026"]}
    assert results[3]["ok"] == found
    assert results[4]["ok"]["found"] == []
    assert results[5]["ok"] == found
    assert "pinned" in results[6]["refused"]  # a server with another key is not believed
    # The Python client agrees on each.
    assert email_query(PEOPLE[0][3]).canonicals == (PEOPLE[0][3],)
    assert document_query("passport", passport.lower()).canonicals == (passport,)
    assert person_query(family.upper(), given.lower(), "02/11/1975").canonicals


# --- the bundle and its tables are what their sources give ------------------------------------


def test_the_unicode_tables_are_a_fresh_output_of_gen_tables() -> None:
    done = subprocess.run(
        [sys.executable, str(WEB / "gen_tables.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(NODE is None, reason="node is not installed: nothing can build the bundle")
@pytest.mark.skipif(
    not (WEB / "node_modules" / "esbuild").exists(),
    reason="web/node_modules is not installed (cd web && npm ci): no fresh build to compare",
)
def test_the_committed_bundle_is_a_fresh_build(tmp_path: Path) -> None:
    assert NODE is not None
    fresh = tmp_path / "lookup.js"
    subprocess.run(
        [NODE, str(WEB / "build.mjs"), "--out", str(fresh)], check=True, capture_output=True
    )
    assert fresh.read_bytes() == BUNDLE.read_bytes(), "rebuild: cd web && npm ci && npm run build"
    text = BUNDLE.read_text(encoding="ascii")
    assert text.startswith(
        "/* verrou private exposure check: generated by web/build.mjs, do not edit."
    )
    assert "eval(" not in text and "new Function" not in text
