"""RFC 9497 Appendix A.1 (ristretto255-SHA512): every test vector of the OPRF and VOPRF modes,
and the refusals the protocol requires."""

from __future__ import annotations

import pytest
import rbcl

from verrou.errors import InvalidOprfElement
from verrou.oprf import (
    Client,
    KeyPair,
    Mode,
    Server,
    Suite,
    derive_key_pair,
    deserialize_element,
    deserialize_scalar,
    expand_message_xmd,
)

SEED = bytes.fromhex("a3" * 32)
KEY_INFO = bytes.fromhex("74657374206b6579")  # "test key"
BLIND_1 = "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"
BLIND_2 = "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e"
INPUT_1 = "00"
INPUT_2 = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

# A.1.1: OPRF mode.
OPRF_SK = "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e"
OPRF_VECTORS = [
    (
        INPUT_1,
        BLIND_1,
        "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
        "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
        "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
        "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6",
    ),
    (
        INPUT_2,
        BLIND_1,
        "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
        "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
        "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
        "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73",
    ),
]

# A.1.2: VOPRF mode.
VOPRF_SK = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"
VOPRF_PK = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
OUTPUT_1 = (
    "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
    "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"
)
OUTPUT_2 = (
    "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60"
    "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6"
)
#: (inputs, blinds, blinded elements, evaluated elements, proof, proof random scalar, outputs)
VOPRF_VECTORS = [
    (
        [INPUT_1],
        [BLIND_1],
        ["863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945"],
        ["aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"],
        "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd06"
        "6d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
        BLIND_2,
        [OUTPUT_1],
    ),
    (
        [INPUT_2],
        [BLIND_1],
        ["cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c"],
        ["60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468"],
        "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a"
        "67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
        BLIND_2,
        [OUTPUT_2],
    ),
    (
        [INPUT_1, INPUT_2],
        [BLIND_1, BLIND_2],
        [
            "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
            "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654",
        ],
        [
            "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
            "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a",
        ],
        "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a"
        "5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08",
        "419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c",
        [OUTPUT_1, OUTPUT_2],
    ),
]


def _hex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_expand_message_xmd_matches_rfc_9380() -> None:
    # RFC 9380 K.3, expand_message_xmd(SHA-512): one block and several.
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert expand_message_xmd(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )
    assert expand_message_xmd(b"abc", dst, 0x20).hex() == (
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    )
    assert expand_message_xmd(b"abc", dst, 0x80).hex() == (
        "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
        "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
        "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
        "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"
    )


@pytest.mark.parametrize(
    ("mode", "secret", "public"),
    [
        (Mode.OPRF, OPRF_SK, None),
        (Mode.VOPRF, VOPRF_SK, VOPRF_PK),
    ],
)
def test_derive_key_pair(mode: Mode, secret: str, public: str | None) -> None:
    key = derive_key_pair(SEED, KEY_INFO, mode)
    assert key.secret.hex() == secret
    if public is not None:
        assert key.public.hex() == public
    assert secret not in repr(key)


@pytest.mark.parametrize(("value", "blind", "blinded", "evaluated", "output"), OPRF_VECTORS)
def test_oprf_mode_vectors(
    value: str, blind: str, blinded: str, evaluated: str, output: str
) -> None:
    key = derive_key_pair(SEED, KEY_INFO, Mode.OPRF)
    client = Client(Mode.OPRF)
    item = client.blind(bytes.fromhex(value), bytes.fromhex(blind))
    assert item.element.hex() == blinded
    answer = Server(key, Mode.OPRF).blind_evaluate([item.element])
    assert answer.proof is None
    assert [e.hex() for e in answer.elements] == [evaluated]
    assert [o.hex() for o in client.finalize([item], answer.elements)] == [output]
    assert Server(key, Mode.OPRF).evaluate(bytes.fromhex(value)).hex() == output


@pytest.mark.parametrize(
    ("values", "blinds", "blinded", "evaluated", "proof", "r", "outputs"), VOPRF_VECTORS
)
def test_voprf_mode_vectors(
    values: list[str],
    blinds: list[str],
    blinded: list[str],
    evaluated: list[str],
    proof: str,
    r: str,
    outputs: list[str],
) -> None:
    key = derive_key_pair(SEED, KEY_INFO, Mode.VOPRF)
    client = Client(Mode.VOPRF, key.public)
    items = [
        client.blind(value, blind) for value, blind in zip(_hex(values), _hex(blinds), strict=True)
    ]
    assert [item.element.hex() for item in items] == blinded
    server = Server(key, Mode.VOPRF)
    answer = server.blind_evaluate([item.element for item in items], bytes.fromhex(r))
    assert [e.hex() for e in answer.elements] == evaluated
    assert answer.proof is not None and answer.proof.hex() == proof
    assert [o.hex() for o in client.finalize(items, answer.elements, answer.proof)] == outputs
    assert [server.evaluate(value).hex() for value in _hex(values)] == outputs


def test_a_random_proof_verifies_and_a_forged_one_does_not() -> None:
    key = derive_key_pair(SEED, KEY_INFO)
    client = Client(Mode.VOPRF, key.public)
    items = [client.blind(b"alice@example.fr"), client.blind(b"bob@example.fr")]
    answer = Server(key).blind_evaluate([item.element for item in items])
    assert answer.proof is not None
    outputs = client.finalize(items, answer.elements, answer.proof)
    assert outputs == [
        Server(key).evaluate(b"alice@example.fr"),
        Server(key).evaluate(b"bob@example.fr"),
    ]

    # Another key (a server singling this client out) cannot make a proof for the published one.
    other = KeyPair.from_secret(rbcl.crypto_core_ristretto255_scalar_random())
    forged = Server(other).blind_evaluate([item.element for item in items])
    assert forged.proof is not None
    with pytest.raises(InvalidOprfElement, match="does not verify"):
        client.finalize(items, forged.elements, forged.proof)
    # Elements swapped, or a proof of another batch: refused.
    with pytest.raises(InvalidOprfElement):
        client.finalize(items, answer.elements[::-1], answer.proof)
    with pytest.raises(InvalidOprfElement):
        client.finalize(items, answer.elements, answer.proof[:32] + bytes(32))
    with pytest.raises(InvalidOprfElement):
        client.finalize(items, answer.elements, None)
    with pytest.raises(InvalidOprfElement):
        client.finalize(items[:1], answer.elements)


@pytest.mark.parametrize(
    "data",
    [
        bytes(32),  # the identity
        b"\xff" * 32,  # not canonical
        bytes.fromhex(VOPRF_PK)[:31],  # short
        bytes.fromhex(VOPRF_PK) + b"\x00",  # long
    ],
)
def test_bad_elements_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidOprfElement):
        deserialize_element(data)


def test_scalars_must_be_canonical_and_not_zero() -> None:
    assert deserialize_scalar(bytes.fromhex(VOPRF_SK)) == bytes.fromhex(VOPRF_SK)
    order = bytes.fromhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
    for bad in (bytes(32), order, b"\xff" * 32, bytes(31)):
        with pytest.raises(InvalidOprfElement):
            deserialize_scalar(bad)


def test_context_strings_separate_the_modes() -> None:
    assert Suite(Mode.OPRF).context == b"OPRFV1-\x00-ristretto255-SHA512"
    assert Suite(Mode.VOPRF).context == b"OPRFV1-\x01-ristretto255-SHA512"
    assert Suite(Mode.OPRF).hash_to_group(b"x") != Suite(Mode.VOPRF).hash_to_group(b"x")
