#!/usr/bin/env python3
"""Independent check of keylink's device-linking known-answer vectors.

This is a second implementation of docs/protocol.md section 16 (device
linking), written from the document alone -- sections 16.2 (the link code),
16.3 (frames and payloads), 16.4 (key schedule) and 16.5 (messages), with the
sections they lean on: 1 (conventions), 3.3 (labels), 7.2 (public-key
checks), 7.3-7.4 (signature contexts), 9.1 (protobuf rules), 13.2 (device
names), 13.9 (head encoding) and 15.3 (frames) -- and the field numbers of
proto/keylink/v1/link.proto.  It never reads the Rust sources.  It reads every
`tests/vectors/link/*.json` file (located relative to this script), recomputes
each vector from its inputs and compares the outputs byte for byte with
`expected`, or the error class with `expected_error`.

What comes from where:

* `cryptography`: X25519, Ed25519 signing and verification, HKDF-SHA256,
  HMAC-SHA256 and ChaCha20-Poly1305; `hashlib` for SHA-256; `base64` for the
  RFC 4648 base32 alphabet.  Each is first checked against a published vector
  (RFC 7748, RFC 8032, RFC 5869, RFC 4231, RFC 8439, RFC 4648).
* Written here: the X25519 Montgomery ladder used only for the low-order test
  of docs 7.2 step 5 (checked against RFC 7748 and against `cryptography`),
  the orders of the low-order points (derived by x-only doubling), Ed25519
  point decoding for the docs 7.2 checks of the join request's keys, protobuf
  encoding and decoding (docs 9.1 rules), the link code's payload, checksum,
  text and its parser (every rule of docs 16.2, in order), the transcript
  hash, the key schedule, confirmation MACs, SAS and sealed frames.
* Shared with check_key_vectors.py, in independent_common.py beside this
  file and written the same way: the White_Space list, the field constants,
  Ed25519 point addition and encoding, protobuf varints, the file checks of
  docs 11.1 and the report.

Kinds:

* `link_code_parse`: parse `inputs.text` (docs 16.2 rules 1-6; rule 7, the
  expiry against a clock, is the scanner's separate step and is not applied);
  outputs `payload` (hex) and `text` (the canonical re-encoding), or the error
  class.  Every accepted code is re-encoded and re-parsed to the same payload.
* `link_handshake`: build the code from the inputs, run both sides of the
  handshake (scanner hello, shower check and confirmation, scanner check), the
  new device's sealed `JoinRequest` (counter 0) and the existing device's
  opening and checking of it; outputs `code_text`, `hello`, `shower_confirm`,
  `join` and `sas`.  With `inputs.hello`, that hello is delivered to the shower
  and the shower's refusal class is the outcome.

Extra checks beyond the vectors: the code built for a handshake parses back
to itself; the shower accepts the scanner's hello and the scanner the
shower's confirmation; both compute the same SAS; the join opens with the new
device's direction key at counter 0 and with nothing else tried (the other
direction's key, counter 1); its keys pass docs 7.2 and its signature
verifies; each file has the members and types of docs 11.1.

Output: one line per kind, `kind: N checked, M not independently checked`
(`self_test` counts the published-vector checks), then exactly
`N passed, M failed`.  The exit status is 0 only when nothing failed.

Requires Python 3.11 or later and `cryptography` (tested with 50.0.2).

Usage: python3 check_link_vectors.py [--vectors DIR] [--verbose]
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import struct
import sys
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The code shared with check_key_vectors.py is in independent_common.py, beside this
# file.  Put this file's folder first on the module path, so that the import works
# from any working directory (and under `python -I`, which leaves it off), and write
# no __pycache__ into the source tree.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
from independent_common import (  # noqa: E402 - needs the module path set above
    ED_D,
    FIELD_P,
    SQRT_M1,
    WHITE_SPACE,
    CheckFailure,
    EdPoint,
    Outcome,
    ProtocolError,
    _decode_varint,
    _ed_add,
    _h,
    _inv,
    ed_encode,
    encode_varint,
    require,
    schema_problems,
    judge,
)
from independent_common import main as common_main  # noqa: E402

# ---------------------------------------------------------------------------
# Constants of docs/protocol.md
# ---------------------------------------------------------------------------

# Section 3.3: labels.
LABEL_CODE_CHECKSUM = b"keylink/v1/link/code-checksum"
LABEL_TRANSCRIPT = b"keylink/v1/link/transcript"
LABEL_CONFIRM_SCANNER = b"keylink/v1/link/confirm-scanner"
LABEL_CONFIRM_SHOWER = b"keylink/v1/link/confirm-shower"
LABEL_SEAL_SCANNER = b"keylink/v1/link/seal-scanner"
LABEL_SEAL_SHOWER = b"keylink/v1/link/seal-shower"
LABEL_SAS = b"keylink/v1/link/sas"
LABEL_AAD_LINK = b"keylink/v1/aad/link"
SIG_CONTEXT_LINK = b"keylink/v1/sig/link"  # section 7.4
# Lengths stated in the table of section 3.3, checked at start-up.
LABEL_LENGTHS = {
    LABEL_CODE_CHECKSUM: 29, LABEL_TRANSCRIPT: 26, LABEL_CONFIRM_SCANNER: 31, LABEL_CONFIRM_SHOWER: 30,
    LABEL_SEAL_SCANNER: 28, LABEL_SEAL_SHOWER: 27, LABEL_SAS: 19, LABEL_AAD_LINK: 19, SIG_CONTEXT_LINK: 19,
}

# Section 16.2.
CODE_PREFIX = "keylink-link:"
CODE_VERSION = 1
CODE_MAX_TEXT_BYTES = 400
FLAG_EXISTING_SHOWS = 0x01
FLAG_DIRECT = 0x02
KNOWN_FLAGS = FLAG_EXISTING_SHOWS | FLAG_DIRECT
CHECKSUM_LEN = 4
FINGERPRINT_LEN = 32
CHANNEL_ID_LEN = 16
SHARE_LEN = 32
LINK_SECRET_LEN = 16
BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
DROPPED_IN_CODE = frozenset(" -\t\r\n")  # "spaces, hyphens, tabs and line breaks"

# Section 16.3 and 15.3.
LINK_FRAME_MAX = 65536
LINK_VERSION = 1
CONFIRM_LEN = 32
HEAD_LEN = 41  # section 13.9: 0x01 || u64be(sequence) || entry hash

# Section 13.2: device names.
NAME_MAX_BYTES = 64
INVISIBLE_FORMATTING = frozenset(
    [0x061C, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF]
)

# Protobuf field numbers (proto/keylink/v1/link.proto).
FRAME_VERSION, FRAME_HELLO, FRAME_CONFIRM, FRAME_SEALED, FRAME_ABORT = 1, 10, 11, 12, 13
HELLO_EPHEMERAL, HELLO_CONFIRM = 1, 2
CONFIRM_CONFIRM = 1
SEALED_CIPHERTEXT = 1
ABORT_REASON = 1
PAYLOAD_VERSION, PAYLOAD_JOIN, PAYLOAD_WELCOME, PAYLOAD_ACK = 1, 10, 11, 12
JOIN_SIGNING_KEY, JOIN_AGREEMENT_KEY, JOIN_NAME, JOIN_SIGNATURE, JOIN_KNOWN_HEAD = 1, 2, 3, 4, 5

# ---------------------------------------------------------------------------
# Primitives, through `cryptography` (docs section 1.2)
# ---------------------------------------------------------------------------

RAW_PUBLIC = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sha256(data: bytes) -> bytes:
    """FIPS 180-4 SHA-256."""
    return hashlib.sha256(data).digest()


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF(ikm, salt, info, L) with SHA-256 (RFC 5869, docs section 1.2)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104)."""
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def chacha_seal(key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439): ciphertext || tag."""
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def chacha_open(key: bytes, nonce: bytes, aad: bytes, sealed: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439) decryption; raises InvalidTag."""
    return ChaCha20Poly1305(key).decrypt(nonce, sealed, aad)


def x25519_public(secret: bytes) -> bytes:
    """X25519(secret, 9) through `cryptography`."""
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(*RAW_PUBLIC)


def x25519_shared(secret: bytes, public: bytes) -> bytes:
    """X25519(secret, public) through `cryptography`; an all-zero result is `low_order_share`."""
    try:
        shared = X25519PrivateKey.from_private_bytes(secret).exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as err:  # cryptography refuses an all-zero shared secret
        raise ProtocolError("low_order_share", "X25519 result is all zero") from err
    if shared == bytes(32):
        raise ProtocolError("low_order_share", "X25519 result is all zero")
    return shared


def ed25519_public(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed, through `cryptography`."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*RAW_PUBLIC)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    """Pure Ed25519 (RFC 8032) through `cryptography`."""
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Pure Ed25519 verification through `cryptography`."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------------------
# Curve25519 arithmetic written here: the low-order test and key checks (docs 7.2)
# ---------------------------------------------------------------------------

MONT_A = 486662


def x25519_ladder(scalar: bytes, u_bytes: bytes) -> bytes:
    """The X25519 function of RFC 7748 section 5, written out (clamps, masks bit 255)."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    n = int.from_bytes(k, "little")
    x1 = (int.from_bytes(u_bytes, "little") & ((1 << 255) - 1)) % FIELD_P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in range(254, -1, -1):
        bit = (n >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % FIELD_P, (x2 - z2) % FIELD_P
        aa, bb = a * a % FIELD_P, b * b % FIELD_P
        e = (aa - bb) % FIELD_P
        c, d = (x3 + z3) % FIELD_P, (x3 - z3) % FIELD_P
        da, cb = d * a % FIELD_P, c * b % FIELD_P
        x3 = (da + cb) ** 2 % FIELD_P
        z3 = x1 * (da - cb) ** 2 % FIELD_P
        x2 = aa * bb % FIELD_P
        z2 = e * (aa + 121665 * e) % FIELD_P
    if swap:
        x2, z2 = x3, z3
    return (x2 * _inv(z2) % FIELD_P).to_bytes(32, "little")


def x25519_is_canonical(u: bytes) -> bool:
    """Docs 7.2 step 4: 32 bytes, bit 255 clear, u < p read little-endian."""
    n = int.from_bytes(u, "little")
    return len(u) == 32 and not n >> 255 and n < FIELD_P


def x25519_is_low_order(u: bytes) -> bool:
    """Docs 7.2 step 5: X25519(0x55 * 32, u) is 32 zero bytes."""
    return x25519_ladder(bytes([0x55]) * 32, u) == bytes(32)


def check_share(share: bytes) -> None:
    """Docs 16.2 rule 6 and 16.4: a share must be canonical and not of low order."""
    if not x25519_is_canonical(share):
        raise ProtocolError("low_order_share", "share not canonically encoded")
    if x25519_is_low_order(share):
        raise ProtocolError("low_order_share", "share of low order")


def mont_x_double(u: int | None) -> int | None:
    """x([2]P) from x(P) on Curve25519 (or its twist); None stands for the point at infinity."""
    if u is None:
        return None
    den = 4 * u * (u * u + MONT_A * u + 1) % FIELD_P
    if den == 0:
        return None
    return (u * u - 1) ** 2 * _inv(den) % FIELD_P


# Canonical u-coordinates of low order: 0 (order 2), 1 and p - 1 (order 4, one on the
# curve and one on the twist) and the two points of order 8 on the curve.  The
# self-test derives each order by doubling, and checks that the docs 7.2 test
# refuses exactly these among them and their neighbours.
LOW_ORDER_U = (
    0,
    1,
    FIELD_P - 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
)

# Ed25519 points (docs 7.2 steps 1-3); EdPoint, _ed_add and ed_encode are in
# independent_common.py.

def ed_decode(encoded: bytes) -> EdPoint | None:
    """RFC 8032 5.1.3 decoding, reducing y mod p (so second encodings decode; see ed_encode)."""
    if len(encoded) != 32:
        return None
    n = int.from_bytes(encoded, "little")
    sign, y = n >> 255, (n & ((1 << 255) - 1)) % FIELD_P
    x2 = (y * y - 1) * _inv(ED_D * y * y + 1) % FIELD_P
    x = pow(x2, (FIELD_P + 3) // 8, FIELD_P)
    if (x * x - x2) % FIELD_P:
        x = x * SQRT_M1 % FIELD_P
    if (x * x - x2) % FIELD_P:
        return None
    if x & 1 != sign:
        x = (FIELD_P - x) % FIELD_P
    return (x, y, 1, x * y % FIELD_P)


def ed_is_small_order(point: EdPoint) -> bool:
    """True when [8]P is the identity."""
    for _ in range(3):
        point = _ed_add(point, point)
    return point[0] % FIELD_P == 0 and (point[1] - point[2]) % FIELD_P == 0


def check_device_public_keys(signing_key: bytes, agreement_key: bytes) -> None:
    """Docs 7.2, steps 1-5 in order (classes of docs 10.1)."""
    point = ed_decode(signing_key)
    if point is None or ed_encode(point) != signing_key or ed_is_small_order(point):
        raise ProtocolError("invalid_public_key", "Ed25519 key")
    if not x25519_is_canonical(agreement_key):
        raise ProtocolError("invalid_public_key", "X25519 key not canonical")
    if x25519_is_low_order(agreement_key):
        raise ProtocolError("non_contributory", "X25519 key of low order")


def check_device_name(name: str) -> None:
    """Docs 13.2: 1-64 bytes of UTF-8, no Cc character, no invisible formatting character."""
    size = len(name.encode("utf-8"))
    if not 1 <= size <= NAME_MAX_BYTES:
        raise ProtocolError("bad_name", f"{size} bytes")
    for ch in name:
        c = ord(ch)
        if c <= 0x1F or 0x7F <= c <= 0x9F or c in INVISIBLE_FORMATTING:
            raise ProtocolError("bad_name", f"U+{c:04X}")


# ---------------------------------------------------------------------------
# Protobuf (docs section 9.1), written by hand
# ---------------------------------------------------------------------------


def pb_uint(number: int, value: int) -> bytes:
    """A varint field; omitted when 0 (proto3 default)."""
    return encode_varint(number << 3 | 0) + encode_varint(value) if value else b""


def pb_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited bytes or string field; omitted when empty (proto3 default)."""
    return encode_varint(number << 3 | 2) + encode_varint(len(value)) + value if value else b""


def pb_message(number: int, encoded: bytes) -> bytes:
    """A oneof member holding a message: always written once set, even when empty."""
    return encode_varint(number << 3 | 2) + encode_varint(len(encoded)) + encoded


def _read_value(data: bytes, pos: int, number: int, wire_type: int) -> tuple[int | bytes | None, int]:
    """One field value: varints give an int, fixed and length-delimited fields bytes, groups None."""
    if wire_type == 0:
        return _decode_varint(data, pos)
    if wire_type in (1, 5):
        size = 8 if wire_type == 1 else 4
        if pos + size > len(data):
            raise ProtocolError("decode", "truncated fixed field")
        return data[pos : pos + size], pos + size
    if wire_type == 2:
        length, pos = _decode_varint(data, pos)
        if pos + length > len(data):
            raise ProtocolError("decode", "truncated length-delimited field")
        return data[pos : pos + length], pos + length
    if wire_type == 3:
        while True:
            if pos >= len(data):
                raise ProtocolError("decode", "unterminated group")
            key, pos = _decode_varint(data, pos)
            inner_number, inner_type = key >> 3, key & 7
            if inner_number == 0:
                raise ProtocolError("decode", "field number 0")
            if inner_type == 4:
                if inner_number != number:
                    raise ProtocolError("decode", "mismatched end group")
                return None, pos
            _, pos = _read_value(data, pos, inner_number, inner_type)
    raise ProtocolError("decode", f"wire type {wire_type}")


def decode_message(data: bytes, scalars: dict[int, int], oneof: frozenset[int] = frozenset()) -> tuple[dict[int, int | bytes], tuple[int, bytes] | None]:
    """Decode one message as docs 9.1 says: unknown fields skipped, the last occurrence wins.

    `scalars` maps the known non-oneof field numbers to their wire types; `oneof`
    holds the numbers of a oneof whose members are all messages.  Returns the
    scalar fields and the oneof member set last (number, encoded message); a
    member repeated with no other member in between is merged, as protobuf
    merges a repeated message field (the encodings are concatenated).
    """
    fields: dict[int, int | bytes] = {}
    body: tuple[int, bytes] | None = None
    pos = 0
    while pos < len(data):
        key, pos = _decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number >= 1 << 29:
            raise ProtocolError("decode", "bad field number")
        expected_type = 2 if number in oneof else scalars.get(number)
        if expected_type is not None and expected_type != wire_type:
            raise ProtocolError("decode", f"field {number} has wire type {wire_type}")
        value, pos = _read_value(data, pos, number, wire_type)
        if number in oneof:
            assert isinstance(value, bytes)
            body = (number, body[1] + value) if body is not None and body[0] == number else (number, value)
        elif number in scalars and value is not None:
            fields[number] = value
    return fields, body


def as_uint32(value: int | bytes) -> int:
    """A uint32 field keeps the low 32 bits of its varint (docs 9.1)."""
    require(isinstance(value, int), "a varint field decoded to bytes")
    return value & 0xFFFFFFFF  # type: ignore[operator]


# ---------------------------------------------------------------------------
# The link code (docs section 16.2)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LinkCode:
    """The fields of a version-1 code payload."""

    existing_shows: bool
    ip: bytes  # 4 or 16 bytes, network order
    port: int
    fingerprint: bytes
    channel: bytes | None  # relay: 16 bytes; direct: None
    share: bytes  # the shower's ephemeral X25519 public key
    link_secret: bytes
    expiry: int

    @property
    def direct(self) -> bool:
        """Flag bit 1."""
        return self.channel is None


def encode_payload(code: LinkCode) -> bytes:
    """The payload table of docs 16.2, field by field."""
    flags = (FLAG_EXISTING_SHOWS if code.existing_shows else 0) | (FLAG_DIRECT if code.direct else 0)
    family = {4: 4, 16: 6}[len(code.ip)]
    out = bytes([CODE_VERSION, flags, family]) + code.ip + struct.pack(">H", code.port) + code.fingerprint
    if code.channel is not None:
        out += code.channel
    return out + code.share + code.link_secret + struct.pack(">I", code.expiry)


def code_checksum(payload: bytes) -> bytes:
    """SHA-256("keylink/v1/link/code-checksum" || payload)[0..4]."""
    return sha256(LABEL_CODE_CHECKSUM + payload)[:CHECKSUM_LEN]


def code_text(payload: bytes) -> str:
    """"keylink-link:" || base32(payload || checksum), RFC 4648 alphabet, upper case, no padding."""
    return CODE_PREFIX + base64.b32encode(payload + code_checksum(payload)).decode("ascii").rstrip("=")


def _base32_decode(body: str) -> bytes:
    """Unpadded RFC 4648 base32 of characters already in the alphabet.

    An impossible length (1, 3 or 6 characters past a multiple of 8) fails, and
    so do non-zero unused bits in the last character: docs 16.2 rule 3 only
    says "Base32 decoding must succeed"; this reads it as strict decoding (the
    text is then the one canonical encoding of its bytes).
    """
    if len(body) % 8 in (1, 3, 6):
        raise ProtocolError("bad_character", "impossible base32 length")
    padded = body + "=" * (-len(body) % 8)
    try:
        data = base64.b32decode(padded, casefold=False)
    except ValueError as err:  # binascii.Error
        raise ProtocolError("bad_character", f"base32: {err}") from err
    if base64.b32encode(data).decode("ascii").rstrip("=") != body:
        raise ProtocolError("bad_character", "non-zero unused bits in the last base32 character")
    return data


def parse_code_text(text: str) -> tuple[bytes, LinkCode]:
    """Docs 16.2 "Parsing", rules 1-6 in order; returns (payload, fields)."""
    # 1. Trim surrounding white space; over 400 bytes is too_long.
    start, end = 0, len(text)
    while start < end and ord(text[start]) in WHITE_SPACE:
        start += 1
    while end > start and ord(text[end - 1]) in WHITE_SPACE:
        end -= 1
    raw = text[start:end].encode("utf-8")
    if len(raw) > CODE_MAX_TEXT_BYTES:
        raise ProtocolError("too_long", f"{len(raw)} bytes")
    # 2. The prefix, without regard to ASCII case (bytes.lower() maps only A-Z).
    prefix = CODE_PREFIX.encode("ascii")
    if raw[: len(prefix)].lower() != prefix:
        raise ProtocolError("not_a_link_code")
    rest = raw[len(prefix) :].decode("utf-8")
    # 3. Drop spaces, hyphens, tabs and line breaks; upper-case ASCII letters; the alphabet only.
    body = []
    for ch in rest:
        if ch in DROPPED_IN_CODE:
            continue
        if "a" <= ch <= "z":
            ch = chr(ord(ch) - 32)
        if ch not in BASE32_ALPHABET:
            raise ProtocolError("bad_character", repr(ch))
        body.append(ch)
    data = _base32_decode("".join(body))
    # 4. At least 5 bytes; the checksum before any field is read.
    if len(data) < CHECKSUM_LEN + 1:
        raise ProtocolError("truncated", f"{len(data)} bytes")
    payload, checksum = data[:-CHECKSUM_LEN], data[-CHECKSUM_LEN:]
    if not hmac.compare_digest(checksum, code_checksum(payload)):
        raise ProtocolError("checksum")
    # 5. Version, flags, family, every field present, nothing after the expiry.
    if payload[0] != CODE_VERSION:
        raise ProtocolError("unsupported_version", str(payload[0]))
    if len(payload) < 2:
        raise ProtocolError("truncated", "flags")
    flags = payload[1]
    if flags & ~KNOWN_FLAGS:
        raise ProtocolError("malformed", f"flags {flags:#04x}")
    if len(payload) < 3:
        raise ProtocolError("truncated", "address family")
    family = payload[2]
    if family not in (4, 6):
        raise ProtocolError("malformed", f"address family {family}")
    ip_len = 4 if family == 4 else 16
    direct = bool(flags & FLAG_DIRECT)
    total = 3 + ip_len + 2 + FINGERPRINT_LEN + (0 if direct else CHANNEL_ID_LEN) + SHARE_LEN + LINK_SECRET_LEN + 4
    if len(payload) < total:
        raise ProtocolError("truncated", f"{len(payload)} of {total} bytes")
    if len(payload) > total:
        raise ProtocolError("trailing_data", f"{len(payload) - total} bytes")
    pos = 3
    ip = payload[pos : pos + ip_len]
    pos += ip_len
    (port,) = struct.unpack(">H", payload[pos : pos + 2])
    pos += 2
    fingerprint = payload[pos : pos + FINGERPRINT_LEN]
    pos += FINGERPRINT_LEN
    channel = None
    if not direct:
        channel = payload[pos : pos + CHANNEL_ID_LEN]
        pos += CHANNEL_ID_LEN
    share = payload[pos : pos + SHARE_LEN]
    pos += SHARE_LEN
    link_secret = payload[pos : pos + LINK_SECRET_LEN]
    pos += LINK_SECRET_LEN
    (expiry,) = struct.unpack(">I", payload[pos : pos + 4])
    # 6. Address not unspecified or multicast, port not 0; the share canonical and not of low order.
    unspecified = ip == bytes(ip_len)
    multicast = (ip[0] & 0xF0 == 0xE0) if family == 4 else ip[0] == 0xFF
    if unspecified or multicast or port == 0:
        raise ProtocolError("bad_address")
    check_share(share)
    code = LinkCode(bool(flags & FLAG_EXISTING_SHOWS), ip, port, fingerprint, channel, share, link_secret, expiry)
    return payload, code


# ---------------------------------------------------------------------------
# Key schedule (docs section 16.4)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Session:
    """What both ends derive from the code, the binding and the scanner's share."""

    th: bytes
    k_cc: bytes
    k_cs: bytes
    k_sc: bytes
    k_ss: bytes
    k_sas: bytes

    @property
    def confirm_scanner(self) -> bytes:
        """HMAC-SHA256(K_cc, TH)."""
        return hmac_sha256(self.k_cc, self.th)

    @property
    def confirm_shower(self) -> bytes:
        """HMAC-SHA256(K_cs, TH)."""
        return hmac_sha256(self.k_cs, self.th)

    @property
    def sas(self) -> str:
        """u64be^-1(K_sas[0..8]) mod 1000000, six digits (no space between the groups)."""
        return f"{int.from_bytes(self.k_sas[:8], 'big') % 1_000_000:06d}"


def binding_for(code: LinkCode, exporter: bytes | None) -> bytes:
    """relay: 0x01; direct: 0x02 || X (the 32-byte TLS exporter)."""
    if code.direct:
        require(exporter is not None and len(exporter) == 32, "a direct code needs a 32-byte exporter")
        return b"\x02" + exporter  # type: ignore[operator]
    require(exporter is None, "a relay code has no exporter")
    return b"\x01"


def transcript_hash(payload: bytes, binding: bytes, scanner_share: bytes) -> bytes:
    """TH = SHA-256("keylink/v1/link/transcript" || u16be(len(payload)) || payload || binding || E_C)."""
    return sha256(LABEL_TRANSCRIPT + struct.pack(">H", len(payload)) + payload + binding + scanner_share)


def derive_session(payload: bytes, binding: bytes, link_secret: bytes, scanner_share: bytes, shared: bytes) -> Session:
    """The five keys K_L = HKDF(salt = link secret, IKM = Z, info = L || TH, 32)."""
    if shared == bytes(32):
        raise ProtocolError("low_order_share", "Z is all zero")
    th = transcript_hash(payload, binding, scanner_share)
    keys = [hkdf(shared, link_secret, label + th) for label in
            (LABEL_CONFIRM_SCANNER, LABEL_CONFIRM_SHOWER, LABEL_SEAL_SCANNER, LABEL_SEAL_SHOWER, LABEL_SAS)]
    return Session(th, *keys)


def link_nonce(counter: int) -> bytes:
    """0x00000000 || u64be(counter)."""
    return bytes(4) + struct.pack(">Q", counter)


def seal_link(key: bytes, th: bytes, counter: int, plaintext: bytes) -> bytes:
    """A LinkSealed ciphertext (docs 16.4 "Sealed frames")."""
    return chacha_seal(key, link_nonce(counter), LABEL_AAD_LINK + th, plaintext)


def open_link(key: bytes, th: bytes, counter: int, ciphertext: bytes) -> bytes:
    """Open a LinkSealed ciphertext; a failure is a protocol failure."""
    try:
        return chacha_open(key, link_nonce(counter), LABEL_AAD_LINK + th, ciphertext)
    except InvalidTag as err:
        raise ProtocolError("protocol", "sealed frame does not open") from err


# ---------------------------------------------------------------------------
# Frames and payloads (docs section 16.3, link.proto)
# ---------------------------------------------------------------------------


def frame(body_number: int, body: bytes) -> bytes:
    """LinkFrame { version = 1, <body> }."""
    return pb_uint(FRAME_VERSION, LINK_VERSION) + pb_message(body_number, body)


def encode_hello(ephemeral: bytes, confirm: bytes) -> bytes:
    """LinkFrame ScannerHello."""
    return frame(FRAME_HELLO, pb_bytes(HELLO_EPHEMERAL, ephemeral) + pb_bytes(HELLO_CONFIRM, confirm))


def encode_shower_confirm(confirm: bytes) -> bytes:
    """LinkFrame ShowerConfirm."""
    return frame(FRAME_CONFIRM, pb_bytes(CONFIRM_CONFIRM, confirm))


def encode_sealed(ciphertext: bytes) -> bytes:
    """LinkFrame LinkSealed."""
    return frame(FRAME_SEALED, pb_bytes(SEALED_CIPHERTEXT, ciphertext))


def encode_join_payload(signing_key: bytes, agreement_key: bytes, name: str, signature: bytes, known_head: bytes) -> bytes:
    """LinkPayload { version = 1, JoinRequest }."""
    join = (
        pb_bytes(JOIN_SIGNING_KEY, signing_key)
        + pb_bytes(JOIN_AGREEMENT_KEY, agreement_key)
        + pb_bytes(JOIN_NAME, name.encode("utf-8"))
        + pb_bytes(JOIN_SIGNATURE, signature)
        + pb_bytes(JOIN_KNOWN_HEAD, known_head)
    )
    return pb_uint(PAYLOAD_VERSION, LINK_VERSION) + pb_message(PAYLOAD_JOIN, join)


LINK_FRAME_BODIES = frozenset({FRAME_HELLO, FRAME_CONFIRM, FRAME_SEALED, FRAME_ABORT})


def decode_link_frame(data: bytes, want: int) -> dict[int, int | bytes]:
    """Decode a LinkFrame that must be version 1 with body `want`; returns the body's fields.

    Another version is `unsupported_version` (§1.5, §16.3); anything else --
    over 65536 bytes, not protobuf, another body, a field of the wrong wire
    type -- is `malformed` here.
    """
    if len(data) > LINK_FRAME_MAX:
        raise ProtocolError("malformed", "frame over 65536 bytes")
    try:
        fields, body = decode_message(data, {FRAME_VERSION: 0}, LINK_FRAME_BODIES)
        if as_uint32(fields.get(FRAME_VERSION, 0)) != LINK_VERSION:
            raise ProtocolError("unsupported_version", f"frame version {fields.get(FRAME_VERSION, 0)}")
        if body is None or body[0] != want:
            raise ProtocolError("malformed", f"frame body {body[0] if body else None}, wanted {want}")
        inner = {
            FRAME_HELLO: {HELLO_EPHEMERAL: 2, HELLO_CONFIRM: 2},
            FRAME_CONFIRM: {CONFIRM_CONFIRM: 2},
            FRAME_SEALED: {SEALED_CIPHERTEXT: 2},
            FRAME_ABORT: {ABORT_REASON: 0},
        }[want]
        body_fields, _ = decode_message(body[1], inner)
    except ProtocolError as err:
        if err.cls == "decode":
            raise ProtocolError("malformed", str(err)) from err
        raise
    return body_fields


def field_bytes(fields: dict[int, int | bytes], number: int, length: int | None = None, name: str = "") -> bytes:
    """An absent bytes field is empty; a fixed-length field of another length is malformed."""
    value = fields.get(number, b"")
    require(isinstance(value, bytes), "a bytes field decoded to an int")
    if length is not None and len(value) != length:  # type: ignore[arg-type]
        raise ProtocolError("malformed", f"{name or number} is {len(value)} bytes, not {length}")  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# The two ends of the handshake (docs section 16.5)
# ---------------------------------------------------------------------------


def shower_receive_hello(hello: bytes, payload: bytes, code: LinkCode, binding: bytes, shower_secret: bytes) -> Session:
    """Step 2: decode the hello, check the share, derive, check confirm_scanner."""
    fields = decode_link_frame(hello, FRAME_HELLO)
    scanner_share = field_bytes(fields, HELLO_EPHEMERAL, SHARE_LEN, "ephemeral")
    confirm = field_bytes(fields, HELLO_CONFIRM, CONFIRM_LEN, "confirm")
    check_share(scanner_share)
    session = derive_session(payload, binding, code.link_secret, scanner_share, x25519_shared(shower_secret, scanner_share))
    if not hmac.compare_digest(confirm, session.confirm_scanner):
        raise ProtocolError("confirmation_failed")
    return session


def scanner_receive_confirm(frame_bytes: bytes, session: Session) -> None:
    """Step 3: check confirm_shower."""
    fields = decode_link_frame(frame_bytes, FRAME_CONFIRM)
    if not hmac.compare_digest(field_bytes(fields, CONFIRM_CONFIRM, CONFIRM_LEN, "confirm"), session.confirm_shower):
        raise ProtocolError("confirmation_failed")


def join_signed_message(th: bytes, signing_key: bytes, agreement_key: bytes, name: str) -> bytes:
    """"keylink/v1/sig/link" || 0x00 || TH || signing_key || agreement_key || name (docs 7.3, 16.5)."""
    return SIG_CONTEXT_LINK + b"\x00" + th + signing_key + agreement_key + name.encode("utf-8")


def existing_receive_join(join_frame: bytes, key: bytes, th: bytes, counter: int = 0) -> tuple[bytes, bytes, str]:
    """Step 5 up to the person's approval: open (the first frame: counter 0), decode, check keys, name, signature."""
    fields = decode_link_frame(join_frame, FRAME_SEALED)
    ciphertext = field_bytes(fields, SEALED_CIPHERTEXT)
    if not ciphertext:
        raise ProtocolError("malformed", "empty ciphertext")
    plaintext = open_link(key, th, counter, ciphertext)
    top, body = decode_message(plaintext, {PAYLOAD_VERSION: 0}, frozenset({PAYLOAD_JOIN, PAYLOAD_WELCOME, PAYLOAD_ACK}))
    if as_uint32(top.get(PAYLOAD_VERSION, 0)) != LINK_VERSION or body is None or body[0] != PAYLOAD_JOIN:
        raise ProtocolError("malformed", "not a version-1 JoinRequest")
    join, _ = decode_message(body[1], {JOIN_SIGNING_KEY: 2, JOIN_AGREEMENT_KEY: 2, JOIN_NAME: 2, JOIN_SIGNATURE: 2, JOIN_KNOWN_HEAD: 2})
    signing_key = field_bytes(join, JOIN_SIGNING_KEY, 32, "signing_key")
    agreement_key = field_bytes(join, JOIN_AGREEMENT_KEY, 32, "agreement_key")
    signature = field_bytes(join, JOIN_SIGNATURE, 64, "signature")
    known_head = field_bytes(join, JOIN_KNOWN_HEAD)
    if known_head and (len(known_head) != HEAD_LEN or known_head[0] != 1):
        raise ProtocolError("malformed", "known_head")
    try:
        name = field_bytes(join, JOIN_NAME).decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError("malformed", "name is not UTF-8") from err
    check_device_name(name)
    check_device_public_keys(signing_key, agreement_key)
    if not ed25519_verify(signing_key, join_signed_message(th, signing_key, agreement_key, name), signature):
        raise ProtocolError("bad_signature")
    return signing_key, agreement_key, name


# ---------------------------------------------------------------------------
# Evaluation of the vector kinds
# ---------------------------------------------------------------------------


class Inputs:
    """Typed access to a vector's `inputs` object."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        """Whether the input is present."""
        return name in self.raw

    def text(self, name: str) -> str:
        """A UTF-8 text input."""
        value = self.raw[name]
        if not isinstance(value, str):
            raise CheckFailure(f"input {name} is not a string")
        return value

    def hex(self, name: str, length: int | None = None) -> bytes:
        """A hexadecimal input, optionally of a fixed length."""
        value = bytes.fromhex(self.text(name))
        if length is not None and len(value) != length:
            raise CheckFailure(f"input {name} is {len(value)} bytes, not {length}")
        return value

    def num(self, name: str) -> int:
        """A JSON unsigned integer input."""
        value = self.raw[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckFailure(f"input {name} is not an unsigned integer")
        return value


def eval_link_code_parse(i: Inputs) -> dict[str, str]:
    """Parse (docs 16.2 rules 1-6); re-encode and re-parse an accepted code."""
    payload, code = parse_code_text(i.text("text"))
    require(encode_payload(code) == payload, "re-encoding the parsed fields gives another payload")
    text = code_text(payload)
    require(parse_code_text(text)[0] == payload, "the canonical text does not parse to the same payload")
    return {"payload": payload.hex(), "text": text}


def eval_link_handshake(i: Inputs) -> dict[str, str]:
    """Build the code, run the handshake on both sides, seal and open the join request."""
    shower = i.text("shower")
    require(shower in ("new", "existing"), f"shower is {shower!r}")
    require(i.has("channel") != i.has("exporter"), "exactly one of channel (relay) and exporter (direct)")
    ip = ipaddress.ip_address(i.text("ip")).packed
    shower_secret = i.hex("shower_ephemeral_secret", 32)
    scanner_secret = i.hex("scanner_ephemeral_secret", 32)
    shower_share = x25519_public(shower_secret)
    require(shower_share == x25519_ladder(shower_secret, (9).to_bytes(32, "little")), "X25519: cryptography and the ladder disagree")
    code = LinkCode(
        existing_shows=shower == "existing",
        ip=ip,
        port=i.num("port"),
        fingerprint=i.hex("fingerprint", FINGERPRINT_LEN),
        channel=i.hex("channel", CHANNEL_ID_LEN) if i.has("channel") else None,
        share=shower_share,
        link_secret=i.hex("link_secret", LINK_SECRET_LEN),
        expiry=i.num("expiry"),
    )
    payload = encode_payload(code)
    text = code_text(payload)
    require(parse_code_text(text) == (payload, code), "the code built here does not parse back to itself")
    binding = binding_for(code, i.hex("exporter", 32) if i.has("exporter") else None)

    if i.has("hello"):  # a given hello, delivered to the shower: its verdict is the outcome
        shower_receive_hello(i.hex("hello"), payload, code, binding, shower_secret)
        return {"code_text": text, "shower_accepted_hello": "true"}

    # Step 1: the scanner (it has parsed the code above).
    scanner_share = x25519_public(scanner_secret)
    check_share(code.share)
    scanner = derive_session(payload, binding, code.link_secret, scanner_share, x25519_shared(scanner_secret, code.share))
    hello = encode_hello(scanner_share, scanner.confirm_scanner)
    # Step 2: the shower.
    shower_session = shower_receive_hello(hello, payload, code, binding, shower_secret)
    require(shower_session == scanner, "the two ends derive different keys")
    shower_confirm = encode_shower_confirm(shower_session.confirm_shower)
    # Step 3: the scanner.
    scanner_receive_confirm(shower_confirm, scanner)
    require(scanner.sas == shower_session.sas, "the two ends show different SAS")
    # Step 4: the new device's sealed JoinRequest, its first sealed frame (counter 0).
    signing_seed = i.hex("new_signing_seed", 32)
    signing_key = ed25519_public(signing_seed)
    agreement_key = x25519_public(i.hex("new_agreement_secret", 32))
    name = i.text("new_name")
    signature = ed25519_sign(signing_seed, join_signed_message(scanner.th, signing_key, agreement_key, name))
    plaintext = encode_join_payload(signing_key, agreement_key, name, signature, b"")
    new_key, other_key = (scanner.k_ss, scanner.k_sc) if shower == "new" else (scanner.k_sc, scanner.k_ss)
    join = encode_sealed(seal_link(new_key, scanner.th, 0, plaintext))
    # Step 5: the existing device opens and checks it; nothing else opens it.
    require(existing_receive_join(join, new_key, scanner.th) == (signing_key, agreement_key, name), "join request round trip")
    for key, counter in ((other_key, 0), (new_key, 1)):
        try:
            existing_receive_join(join, key, scanner.th, counter)
        except ProtocolError:
            continue
        raise CheckFailure("the join request opened with the wrong key or counter")
    return {
        "code_text": text,
        "hello": hello.hex(),
        "shower_confirm": shower_confirm.hex(),
        "join": join.hex(),
        "sas": scanner.sas,
    }


EVALUATORS: dict[str, Callable[[Inputs], dict[str, str]]] = {
    "link_code_parse": eval_link_code_parse,
    "link_handshake": eval_link_handshake,
}

# ---------------------------------------------------------------------------
# Self-tests against published vectors
# ---------------------------------------------------------------------------


def selftest_labels() -> None:
    """The label lengths of docs 3.3."""
    for label, length in LABEL_LENGTHS.items():
        require(len(label) == length, f"{label!r} is {len(label)} bytes, the table says {length}")


def selftest_sha256() -> None:
    """FIPS 180-4 / NIST example: SHA-256("abc")."""
    require(sha256(b"abc") == _h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "SHA-256(abc)")


def selftest_hkdf() -> None:
    """RFC 5869 A.1 (test case 1) and A.3 (empty salt and info)."""
    okm = hkdf(bytes([0x0B]) * 22, _h("000102030405060708090a0b0c"), _h("f0f1f2f3f4f5f6f7f8f9"), 42)
    require(okm == _h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"), "A.1 OKM")
    okm = hkdf(bytes([0x0B]) * 22, b"", b"", 42)
    require(okm == _h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"), "A.3 OKM")


def selftest_hmac() -> None:
    """RFC 4231 test cases 1 and 2 (HMAC-SHA256)."""
    require(hmac_sha256(bytes([0x0B]) * 20, b"Hi There") == _h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"), "case 1")
    require(hmac_sha256(b"Jefe", b"what do ya want for nothing?") == _h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"), "case 2")


def selftest_chacha20poly1305() -> None:
    """RFC 8439 section 2.8.2: seal, open, and a tampered tag refused."""
    key = _h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    nonce = _h("070000004041424344454647")
    aad = _h("50515253c0c1c2c3c4c5c6c7")
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
        b"sunscreen would be it."
    )
    expected = _h(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116"
        "1ae10b594f09e26a7e902ecbd0600691"  # tag
    )
    require(chacha_seal(key, nonce, aad, plaintext) == expected, "ciphertext and tag")
    require(chacha_open(key, nonce, aad, expected) == plaintext, "decryption")
    try:
        chacha_open(key, nonce, aad, expected[:-1] + bytes([expected[-1] ^ 1]))
    except InvalidTag:
        return
    raise CheckFailure("a tampered tag was accepted")


def selftest_x25519() -> None:
    """RFC 7748 5.2 (first vector, ladder) and 6.1 (both ways, ladder and cryptography)."""
    scalar = _h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = _h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    require(x25519_ladder(scalar, u) == _h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"), "5.2 first vector")
    alice = _h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = _h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_pub = _h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    bob_pub = _h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    nine = (9).to_bytes(32, "little")
    require(x25519_public(alice) == alice_pub == x25519_ladder(alice, nine), "6.1 Alice's public key")
    require(x25519_public(bob) == bob_pub == x25519_ladder(bob, nine), "6.1 Bob's public key")
    shared = _h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    require(x25519_shared(alice, bob_pub) == shared == x25519_shared(bob, alice_pub), "6.1 shared (cryptography)")
    require(x25519_ladder(alice, bob_pub) == shared, "6.1 shared (ladder)")


def selftest_low_order() -> None:
    """The low-order points: orders derived by doubling; the docs 7.2 test refuses exactly them.

    Also: their non-canonical encodings (u + p, bit 255 set) are refused as not
    canonical, and `cryptography` refuses each of them with an all-zero result.
    """
    orders = {}
    for u in LOW_ORDER_U:
        point, order = u, 1
        while point is not None:
            point, order = mont_x_double(point), order * 2
            require(order <= 8, f"u = {u} is not of order dividing 8")
        orders[u] = order
    require(sorted(orders.values()) == [2, 4, 4, 8, 8], f"orders {sorted(orders.values())}")
    for u in LOW_ORDER_U:
        enc = u.to_bytes(32, "little")
        require(x25519_is_canonical(enc) and x25519_is_low_order(enc), f"u = {u} not refused as low order")
        try:
            x25519_shared(bytes([0x55]) * 32, enc)
        except ProtocolError:
            pass
        else:
            raise CheckFailure(f"cryptography accepted low-order u = {u}")
        for variant in (u + FIELD_P, u | 1 << 255):
            if variant < 1 << 256:
                require(not x25519_is_canonical(variant.to_bytes(32, "little")), f"{variant:#x} taken as canonical")
        for neighbour in (u + 2, u + 3):  # not low order (none of the listed u is 2 or 3 from another)
            if neighbour < FIELD_P:
                require(not x25519_is_low_order(neighbour.to_bytes(32, "little")), f"u = {neighbour} taken as low order")
    require(not x25519_is_low_order((9).to_bytes(32, "little")), "the base point taken as low order")


def selftest_ed25519() -> None:
    """RFC 8032 section 7.1 TEST 1: public key, signature, verification, point decoding."""
    seed = _h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = _h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = _h(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    require(ed25519_public(seed) == public, "public key")
    require(ed25519_sign(seed, b"") == signature, "signature")
    require(ed25519_verify(public, b"", signature), "verification")
    require(not ed25519_verify(public, b"\x00", signature), "a signature verified for another message")
    point = ed_decode(public)
    require(point is not None and ed_encode(point) == public and not ed_is_small_order(point), "point decoding")
    identity = (1).to_bytes(32, "little")
    point = ed_decode(identity)
    require(point is not None and ed_is_small_order(point), "the identity is of small order")


def selftest_base32() -> None:
    """RFC 4648 section 10 (base32, padding stripped) through the decoder used for codes."""
    cases = {b"": "", b"f": "MY", b"fo": "MZXQ", b"foo": "MZXW6", b"foob": "MZXW6YQ", b"fooba": "MZXW6YTB", b"foobar": "MZXW6YTBOI"}
    for data, text in cases.items():
        require(base64.b32encode(data).decode("ascii").rstrip("=") == text, f"encode {data!r}")
        require(_base32_decode(text) == data, f"decode {text!r}")
    for bad in ("M", "MZX", "MZXW6Y", "MZ"):  # impossible lengths; "MZ" ends in non-zero unused bits
        try:
            _base32_decode(bad)
        except ProtocolError:
            continue
        raise CheckFailure(f"{bad!r} decoded")


def selftest_protobuf() -> None:
    """Encoder against hand-written bytes; decoder rules of docs 9.1 (last wins, unknown skipped, merge)."""
    require(encode_varint(300) == b"\xac\x02", "varint 300")
    require(pb_uint(1, 0) == b"" and pb_bytes(2, b"") == b"", "defaults omitted")
    require(frame(FRAME_CONFIRM, pb_bytes(1, b"\xaa")) == _h("0801 5a03 0a01aa"), "frame")
    data = _h("0802 0801 f80100 5203 0a0101 5203 0a0102 5202 1200")  # version twice, field 31, hello thrice
    fields, body = decode_message(data, {1: 0}, LINK_FRAME_BODIES)
    require(fields == {1: 1} and body == (10, _h("0a0101 0a0102 1200")), f"decoded {fields} {body}")
    require(decode_message(body[1], {1: 2, 2: 2})[0] == {1: b"\x02", 2: b""}, "merged hello")


SELF_TESTS: list[tuple[str, Callable[[], None]]] = [
    ("label lengths of docs 3.3", selftest_labels),
    ("SHA-256, FIPS 180-4 example", selftest_sha256),
    ("HKDF-SHA256, RFC 5869 A.1 and A.3", selftest_hkdf),
    ("HMAC-SHA256, RFC 4231 cases 1 and 2", selftest_hmac),
    ("ChaCha20-Poly1305, RFC 8439 2.8.2", selftest_chacha20poly1305),
    ("X25519, RFC 7748 5.2 and 6.1", selftest_x25519),
    ("X25519 low-order points, docs 7.2", selftest_low_order),
    ("Ed25519, RFC 8032 7.1 TEST 1", selftest_ed25519),
    ("base32, RFC 4648 section 10", selftest_base32),
    ("protobuf encoding and decoding, docs 9.1", selftest_protobuf),
]

# ---------------------------------------------------------------------------
# Vector files (docs section 11.1) and the report
# ---------------------------------------------------------------------------

INTEGER_INPUTS = {"port", "expiry"}
TEXT_INPUTS = {"text", "ip", "shower", "new_name"}
TEXT_OUTPUTS = {"text", "code_text", "sas"}


def check_vector(path: Path) -> tuple[str, Outcome]:
    """Evaluate one vector file; returns its kind and outcome."""
    try:
        vector = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return "?", Outcome("failed", f"unreadable: {err}")
    kind = vector.get("kind", "?") if isinstance(vector, dict) else "?"
    problems = schema_problems(
        path, vector, integer_inputs=INTEGER_INPUTS, text_inputs=TEXT_INPUTS, text_outputs=TEXT_OUTPUTS
    )
    if problems:
        return str(kind), Outcome("failed", "; ".join(problems))
    evaluator = EVALUATORS.get(kind)
    if evaluator is None:
        return kind, Outcome("unchecked", f"kind {kind!r} is not re-implemented")
    try:
        outputs = evaluator(Inputs(vector["inputs"]))
        error = None
    except ProtocolError as err:
        outputs, error = {}, err
    except Exception as err:  # noqa: BLE001 - any other exception is a failure of this vector
        return kind, Outcome("failed", f"{type(err).__name__}: {err}")
    return judge(kind, vector, outputs, error)


def default_vector_dir() -> Path:
    """tests/vectors/link, found from this script's own location."""
    return Path(__file__).resolve().parent.parent / "vectors" / "link"


def main(argv: list[str] | None = None) -> int:
    """Check every vector, print the per-kind report and the closing line."""
    return common_main(
        argv, description=__doc__.split("\n\n")[0], default_vectors=default_vector_dir(),
        check_vector=check_vector, self_tests=SELF_TESTS,
    )


if __name__ == "__main__":
    sys.exit(main())
