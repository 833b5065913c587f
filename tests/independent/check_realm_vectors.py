#!/usr/bin/env python3
"""Independent check of keylink's realm known-answer vectors.

This is a second implementation of docs/protocol.md section 19 (realms:
guess-limited password recovery), written from the document alone --
sections 19.2 (the OPRF and its threshold form), 19.3 (the registration
descriptor and its commitment), 19.4 (the key schedule), 19.5 (the admin
signature), 19.6 (the register request and the realm's checks), 19.7 (the
per-realm guess limit g) and 19.11 (the vector kinds), with the sections they
lean on: 1 (conventions), 3.2-3.3 (derivations and labels), 6.1-6.6 and 6.10
(the version-2 wrap, its sealing, parsing, opening and ceiling) and 7.2-7.5
(Ed25519 keys, signature contexts, strict verification) -- and the public
standards the document names: RFC 9497 (OPRF, VOPRF mode, suite
ristretto255-SHA512), RFC 9496 (ristretto255) and RFC 9380
(expand_message_xmd, hash_to_ristretto255).  It never reads the Rust sources.
It reads every `tests/vectors/realm/*.json` file (located relative to this
script), recomputes each vector from its inputs and compares the outputs
byte for byte with `expected`, or the error class with `expected_error`.

What comes from where:

* Written here: expand_message_xmd with SHA-512 (RFC 9380 section 5.3.1),
  ristretto255 decoding, encoding, equality and the one-way map (RFC 9496
  section 4) over the Edwards arithmetic below, hash_to_ristretto255 and the
  VOPRF's Blind / BlindEvaluate / Finalize (RFC 9497 sections 3.3.1 and 4.1,
  mode 0x01), Lagrange coefficients at zero, the descriptor, register
  request and version-2 wrap formats, the key schedule and the realm's
  checks.  Each primitive is first checked against a published vector
  (RFC 9496 A.1 and A.2, RFC 9497 A.1.2.1).
* Reused from check_key_vectors.py (beside this file, itself written from
  the document): HKDF-SHA256, XChaCha20-Poly1305 (through `cryptography`),
  Ed25519 scalar multiplication and point decoding, strict verification
  (docs 7.5) and the signed bytes of docs 7.3 with its context set; its
  HKDF, XChaCha20-Poly1305 and Ed25519 self-tests are run here again.
* Shared through independent_common.py: the error types, the field
  constants, Edwards point addition and encoding, the file checks of docs
  11.1 and the report.

Kinds (docs 19.11):

* `realm_oprf`: blind (64 bytes reduced mod l, zero refused with `oprf`),
  HashToGroup, then with `key` (a canonical nonzero scalar, else `bad_key`)
  the public key and RFC 9497 Evaluate; or with `indices` and `share_<i>`
  (index zero, repeated or above 16 -> `bad_index`; a share that is not a
  canonical nonzero scalar -> `bad_key`) each realm's evaluated element, the
  Lagrange combination at zero, unblinding and Finalize.
* `realm_descriptor`: parse (docs 19.3), outputs the commitment, k, n and
  g (`per_realm`).
* `realm_key_schedule`: RealmKEK and the unlock tag (docs 19.4), the
  194-byte version-2 wrap (docs 6.10, sealed as 6.3), parsed (6.4) and
  opened (6.5) again.
* `realm_register_check`: parse the "KLRQ" request (docs 19.6), then the
  realm's checks in the document's order: slot exists (`bad_index`), names
  this realm (`wrong_realm`), canonical nonzero share (`bad_key`), share * G
  equals the slot's public share (`share_mismatch`), the admin signature
  over docs 19.5's register message verifies (`not_authorized`).

Choices the document leaves open (each vector has a single fault, so none of
them decides a vector's outcome today):

* The order of the realm_oprf refusals is docs 19.11's: the blind (`oprf`),
  the input (`oprf`), the key or each share (`bad_key`), then the indices as
  a set (`bad_index`).
* The descriptor's refusals are listed in 19.3 without an order; this checks
  them in byte order (magic, version, suite, length of the fixed part,
  threshold, policy, length of the slots, trailing bytes, then each slot's
  element, then duplicate realm ids), as docs 1.5 rule 2 and 6.4 do for the
  wrap.
* The register request's own structure has no table: a short request is
  `truncated`, another magic `bad_magic`, another version
  `unsupported_version`, a descriptor length over 1076 and a has-previous
  byte other than 0 or 1 `malformed`, leftovers `trailing_bytes`; the
  embedded descriptor is parsed as docs 19.3 before the rest.
* realm_key_schedule does not say which Argon2id floor applies: like the
  `password_wrap` kind of docs 11.2 (vectors use m = 64 KiB, t = 1) the
  floor is not checked when sealing, and the wrap is reopened under the
  policy that accepts weak parameters; the ceiling is checked (docs 6.6).
  Argon2id itself is not run (`stretched` is an input), so its own minimums
  (`kdf`) are not applied either.
* An admin public key that fails docs 7.2 makes the signature not verify,
  so it is `not_authorized` like any other failure of docs 7.5.

Not checked: DLEQ proofs (the vectors pin elements and outputs, not proofs,
docs 19.11); the previous signature of a re-registration and the rules of
docs 19.5 that need a realm's stored record.

Extra checks beyond the vectors: every threshold output equals the
`oprf_single_key` vector's (docs 19.11), the used shares interpolate to that
vector's key and every other share given lies on the same polynomial; a
`key` output is computed both as Evaluate and through blind, evaluate,
unblind; the public shares of an accepted descriptor re-encode to their
bytes; every version-2 wrap reopens to its root key and no change of the low
bit of any one of its 194 bytes parses and opens; each file has the members
and types of docs 11.1.

Output: one line per kind, `kind: N checked, M not independently checked`
(`self_test` counts the published-vector checks), then exactly
`N passed, M failed`.  The exit status is 0 only when nothing failed.

Requires Python 3.11 or later and `cryptography` (tested with 50.0.2).

Usage: python3 check_realm_vectors.py [--vectors DIR] [--verbose]
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag

# The shared code is in independent_common.py and check_key_vectors.py, beside this
# file.  Put this file's folder first on the module path, so that the import works
# from any working directory (and under `python -I`, which leaves it off), and write
# no __pycache__ into the source tree.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
from check_key_vectors import (  # noqa: E402 - needs the module path set above
    ED_BASE,
    GROUP_L,
    Inputs,
    _ed_mul,
    above_ceiling,
    hkdf,
    selftest_ed25519,
    selftest_hkdf,
    selftest_xchacha20poly1305,
    signed_bytes,
    verify_strict,
    xchacha20poly1305_decrypt,
    xchacha20poly1305_encrypt,
)
from independent_common import (  # noqa: E402
    ED_D,
    ED_IDENTITY,
    FIELD_P,
    SQRT_M1,
    CheckFailure,
    EdPoint,
    Outcome,
    ProtocolError,
    _ed_add,
    _h,
    require,
    schema_problems,
    judge,
)
from independent_common import main as common_main  # noqa: E402

# ---------------------------------------------------------------------------
# Constants of docs/protocol.md
# ---------------------------------------------------------------------------

# Section 3.3: labels.
LABEL_REALM_REGISTRATION = b"keylink/v1/realm-registration"
LABEL_REALM_KEK = b"keylink/v1/realm-kek"
LABEL_REALM_UNLOCK_TAG = b"keylink/v1/realm-unlock-tag"
LABEL_WRAP_KEY = b"keylink/v1/wrap-key"
LABEL_WRAP_COMMITMENT = b"keylink/v1/wrap-commitment"
CONTEXT_REALM_ADMIN = "keylink/v1/sig/realm-admin"

# Section 19.2: the suite.
OPRF_CONTEXT = b"OPRFV1-\x01-ristretto255-SHA512"
HASH_TO_GROUP_DST = b"HashToGroup-" + OPRF_CONTEXT
OPRF_MAX_INPUT = 65535

# Section 19.3: the descriptor.
DESCRIPTOR_MAGIC = b"KLRD"
DESCRIPTOR_VERSION = 1
DESCRIPTOR_SUITE = 1
DESCRIPTOR_FIXED_LEN = 52
SLOT_LEN = 64
MAX_N = 16
MAX_ATTEMPTS = 100

# Section 19.6: the register request.
REQUEST_MAGIC = b"KLRQ"
REQUEST_VERSION = 1
MAX_DESCRIPTOR_LEN = DESCRIPTOR_FIXED_LEN + SLOT_LEN * MAX_N  # 1076

# Sections 6.1 and 6.10: the version-2 wrap.
WRAP_MAGIC = b"KLWR"
WRAP_V2 = 2
KDF_REALM = 3
WRAP_V2_LEN = 194
HEADER_V2_LEN = 114
ACCOUNT_ID_LEN = 16
ROOT_KEY_LEN = 32

# ---------------------------------------------------------------------------
# expand_message_xmd with SHA-512 (RFC 9380 section 5.3.1)
# ---------------------------------------------------------------------------


def expand_message_xmd_sha512(msg: bytes, dst: bytes, length: int) -> bytes:
    """expand_message_xmd(msg, DST, len_in_bytes) with H = SHA-512 (b = 64, s = 128 bytes)."""
    ell = -(-length // 64)
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd: length or DST too long")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(128) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha512(msg_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, blocks[-1]))
        blocks.append(hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())
    return b"".join(blocks)[:length]


# ---------------------------------------------------------------------------
# ristretto255 (RFC 9496 section 4) over the Edwards points of independent_common
# ---------------------------------------------------------------------------


def _is_negative(x: int) -> bool:
    """RFC 9496 IS_NEGATIVE: the low bit of the canonical encoding."""
    return (x % FIELD_P) & 1 == 1


def _ct_abs(x: int) -> int:
    """RFC 9496 CT_ABS (not constant time here: public data only)."""
    x %= FIELD_P
    return FIELD_P - x if _is_negative(x) else x


# RFC 9496 section 4.1, as the decimal values printed there (a = -1).  The RFC
# fixes which square root each is: SQRT_AD_MINUS_ONE is the odd ("negative")
# root of a*d - 1, INVSQRT_A_MINUS_D the even one of 1/(a - d).
# selftest_ristretto_constants checks each against its definition.
SQRT_AD_MINUS_ONE = 25063068953384623474111414158702152701244531502492656460079210482610430750235
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
ONE_MINUS_D_SQ = 1159843021668779879193775521855586647937357759715417654439879720876111806838
D_MINUS_ONE_SQ = 40440834346308536858101042469323190826248399146238708352240133220865137265952


def sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    """RFC 9496 section 4.2 SQRT_RATIO_M1: (was_square, the non-negative root of u/v or of i*u/v)."""
    u %= FIELD_P
    v %= FIELD_P
    v3 = v * v % FIELD_P * v % FIELD_P
    v7 = v3 * v3 % FIELD_P * v % FIELD_P
    r = u * v3 % FIELD_P * pow(u * v7 % FIELD_P, (FIELD_P - 5) // 8, FIELD_P) % FIELD_P
    check = v * r % FIELD_P * r % FIELD_P
    correct_sign = check == u
    flipped_sign = check == (-u) % FIELD_P
    flipped_sign_i = check == (-u) * SQRT_M1 % FIELD_P
    if flipped_sign or flipped_sign_i:
        r = r * SQRT_M1 % FIELD_P
    return correct_sign or flipped_sign, _ct_abs(r)


def ristretto_decode(encoded: bytes) -> EdPoint | None:
    """RFC 9496 section 4.3.1; None for an invalid encoding."""
    if len(encoded) != 32:
        return None
    s = int.from_bytes(encoded, "little")
    if s >= FIELD_P or _is_negative(s):
        return None
    ss = s * s % FIELD_P
    u1 = (1 - ss) % FIELD_P
    u2 = (1 + ss) % FIELD_P
    u2_sqr = u2 * u2 % FIELD_P
    v = (-(ED_D * u1 % FIELD_P * u1) - u2_sqr) % FIELD_P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr)
    den_x = invsqrt * u2 % FIELD_P
    den_y = invsqrt * den_x % FIELD_P * v % FIELD_P
    x = _ct_abs(2 * s * den_x)
    y = u1 * den_y % FIELD_P
    t = x * y % FIELD_P
    if not was_square or _is_negative(t) or y == 0:
        return None
    return (x, y, 1, t)


def ristretto_encode(point: EdPoint) -> bytes:
    """RFC 9496 section 4.3.2: the canonical 32-byte encoding of the point's class."""
    x0, y0, z0, t0 = (c % FIELD_P for c in point)
    u1 = (z0 + y0) * (z0 - y0) % FIELD_P
    u2 = x0 * y0 % FIELD_P
    _, invsqrt = sqrt_ratio_m1(1, u1 * u2 % FIELD_P * u2)
    den1 = invsqrt * u1 % FIELD_P
    den2 = invsqrt * u2 % FIELD_P
    z_inv = den1 * den2 % FIELD_P * t0 % FIELD_P
    ix0 = x0 * SQRT_M1 % FIELD_P
    iy0 = y0 * SQRT_M1 % FIELD_P
    enchanted_denominator = den1 * INVSQRT_A_MINUS_D % FIELD_P
    rotate = _is_negative(t0 * z_inv)
    x, y = (iy0, ix0) if rotate else (x0, y0)
    den_inv = enchanted_denominator if rotate else den2
    if _is_negative(x * z_inv):
        y = (-y) % FIELD_P
    s = _ct_abs(den_inv * (z0 - y))
    return s.to_bytes(32, "little")


def ristretto_equal(p: EdPoint, q: EdPoint) -> bool:
    """RFC 9496 section 4.3.3: x1*y2 == y1*x2 or y1*y2 == x1*x2."""
    x1, y1, _, _ = p
    x2, y2, _, _ = q
    return (x1 * y2 - y1 * x2) % FIELD_P == 0 or (y1 * y2 - x1 * x2) % FIELD_P == 0


def ristretto_is_identity(point: EdPoint) -> bool:
    """Equal to the identity element."""
    return ristretto_equal(point, ED_IDENTITY)


def _ristretto_map(t: int) -> EdPoint:
    """RFC 9496 section 4.3.4 MAP: a field element to a point."""
    r = SQRT_M1 * t % FIELD_P * t % FIELD_P
    u = (r + 1) * ONE_MINUS_D_SQ % FIELD_P
    v = (-1 - r * ED_D) * (r + ED_D) % FIELD_P
    was_square, s = sqrt_ratio_m1(u, v)
    s_prime = (-_ct_abs(s * t)) % FIELD_P
    s = s if was_square else s_prime
    c = FIELD_P - 1 if was_square else r
    n = (c * (r - 1) % FIELD_P * D_MINUS_ONE_SQ - v) % FIELD_P
    w0 = 2 * s * v % FIELD_P
    w1 = n * SQRT_AD_MINUS_ONE % FIELD_P
    w2 = (1 - s * s) % FIELD_P
    w3 = (1 + s * s) % FIELD_P
    return (w0 * w3 % FIELD_P, w2 * w1 % FIELD_P, w1 * w3 % FIELD_P, w0 * w2 % FIELD_P)


def ristretto_from_uniform_bytes(data: bytes) -> EdPoint:
    """RFC 9496 section 4.3.4: the element of 64 uniform bytes (low 255 bits of each half, mod p)."""
    if len(data) != 64:
        raise ValueError("ristretto255 from-uniform-bytes needs 64 bytes")
    mask = (1 << 255) - 1
    r0 = (int.from_bytes(data[:32], "little") & mask) % FIELD_P
    r1 = (int.from_bytes(data[32:], "little") & mask) % FIELD_P
    return _ed_add(_ristretto_map(r0), _ristretto_map(r1))


def hash_to_group(message: bytes) -> EdPoint:
    """RFC 9497's HashToGroup for ristretto255-SHA512: hash_to_ristretto255 (RFC 9380 appendix B)."""
    return ristretto_from_uniform_bytes(expand_message_xmd_sha512(message, HASH_TO_GROUP_DST, 64))


# ---------------------------------------------------------------------------
# Scalars and the OPRF (RFC 9497, docs section 19.2)
# ---------------------------------------------------------------------------


def parse_key_scalar(encoded: bytes) -> int:
    """A key or key share: a canonical nonzero 32-byte little-endian scalar (docs 19.9 `bad_key`)."""
    if len(encoded) != 32:
        raise ProtocolError("bad_key", "not 32 bytes")
    value = int.from_bytes(encoded, "little")
    if value >= GROUP_L:
        raise ProtocolError("bad_key", "not below the group order")
    if value == 0:
        raise ProtocolError("bad_key", "zero")
    return value


def blind_scalar(blind64: bytes) -> int:
    """Docs 19.2 Blind: 64 bytes as a little-endian integer mod l, zero refused (`oprf`)."""
    if len(blind64) != 64:
        raise CheckFailure("blind must be 64 bytes")
    r = int.from_bytes(blind64, "little") % GROUP_L
    if r == 0:
        raise ProtocolError("oprf", "zero blind")
    return r


def hashed_input(oprf_input: bytes) -> EdPoint:
    """HashToGroup(input), refusing an over-long input or the identity (docs 19.9 `oprf`)."""
    if len(oprf_input) > OPRF_MAX_INPUT:
        raise ProtocolError("oprf", "input over 65535 bytes")
    point = hash_to_group(oprf_input)
    if ristretto_is_identity(point):
        raise ProtocolError("oprf", "input hashes to the identity")
    return point


def finalize(oprf_input: bytes, unblinded: EdPoint) -> bytes:
    """RFC 9497 Finalize / docs 19.2: SHA-512(u16be(len(input)) || input || u16be(32) || N || "Finalize")."""
    element = ristretto_encode(unblinded)
    return hashlib.sha512(
        len(oprf_input).to_bytes(2, "big") + oprf_input + len(element).to_bytes(2, "big") + element + b"Finalize"
    ).digest()


def lagrange_at_zero(indices: list[int]) -> dict[int, int]:
    """Docs 19.2: lambda_i = prod over j != i of j / (j - i), mod l."""
    coefficients = {}
    for i in indices:
        numerator, denominator = 1, 1
        for j in indices:
            if j != i:
                numerator = numerator * j % GROUP_L
                denominator = denominator * (j - i) % GROUP_L
        coefficients[i] = numerator * pow(denominator, -1, GROUP_L) % GROUP_L
    return coefficients


def parse_indices(text: str) -> list[int]:
    """The `indices` input ("1,3"), as decimal numbers; checked as a set by check_indices."""
    try:
        return [int(part, 10) for part in text.split(",")]
    except ValueError:
        raise CheckFailure(f"indices {text!r} is not a comma-separated list of decimal numbers") from None


def check_indices(indices: list[int]) -> list[int]:
    """Docs 19.11: after the shares, zero, repeated or above 16 is `bad_index` (docs 19.9, n <= 16)."""
    seen: set[int] = set()
    for index in indices:
        if index == 0 or index > MAX_N:
            raise ProtocolError("bad_index", f"index {index}")
        if index in seen:
            raise ProtocolError("bad_index", f"index {index} repeated")
        seen.add(index)
    return indices


# ---------------------------------------------------------------------------
# The registration descriptor (docs sections 19.3 and 19.7)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A parsed descriptor."""

    account_id: bytes
    registration_id: bytes
    epoch: int
    k: int
    n: int
    attempts: int
    g: int
    slots: list[tuple[bytes, bytes]]  # (realm id, public share) in share-index order
    raw: bytes

    @property
    def commitment(self) -> bytes:
        """commitment = SHA-256("keylink/v1/realm-registration" || descriptor)."""
        return hashlib.sha256(LABEL_REALM_REGISTRATION + self.raw).digest()


def derived_g(attempts: int, k: int, n: int) -> int:
    """Docs 19.7: g = ceil((attempts + 1) * k / n) - 1."""
    return -(-(attempts + 1) * k // n) - 1


def parse_descriptor(data: bytes) -> Descriptor:
    """Docs 19.3: the layout and the reader's refusals."""
    if len(data) < 4:
        raise ProtocolError("truncated", "needed 4")
    if data[0:4] != DESCRIPTOR_MAGIC:
        raise ProtocolError("bad_magic")
    if len(data) < 5:
        raise ProtocolError("truncated", "needed 5")
    if data[4] != DESCRIPTOR_VERSION:
        raise ProtocolError("unsupported_version", str(data[4]))
    if len(data) < 6:
        raise ProtocolError("truncated", "needed 6")
    if data[5] != DESCRIPTOR_SUITE:
        raise ProtocolError("unsupported_suite", str(data[5]))
    if len(data) < DESCRIPTOR_FIXED_LEN:
        raise ProtocolError("truncated", f"needed {DESCRIPTOR_FIXED_LEN}")
    (epoch,) = struct.unpack(">Q", data[38:46])
    k, n = data[46], data[47]
    attempts, g = struct.unpack(">HH", data[48:52])
    if not 1 <= k <= n <= MAX_N:
        raise ProtocolError("bad_threshold", f"k = {k}, n = {n}")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise ProtocolError("bad_policy", f"attempts = {attempts}")
    expected_g = derived_g(attempts, k, n)
    if expected_g == 0:
        raise ProtocolError("bad_policy", "g = 0")
    if g != expected_g:
        raise ProtocolError("bad_policy", f"g = {g}, derived {expected_g}")
    total = DESCRIPTOR_FIXED_LEN + SLOT_LEN * n
    if len(data) < total:
        raise ProtocolError("truncated", f"needed {total}")
    if len(data) > total:
        raise ProtocolError("trailing_bytes", str(len(data) - total))
    slots = []
    for slot in range(n):
        start = DESCRIPTOR_FIXED_LEN + SLOT_LEN * slot
        realm_id, public_share = data[start : start + 32], data[start + 32 : start + 64]
        point = ristretto_decode(public_share)
        if point is None or ristretto_is_identity(point):
            raise ProtocolError("bad_element", f"slot {slot + 1}'s public share")
        if ristretto_encode(point) != public_share:
            raise CheckFailure(f"slot {slot + 1}'s public share does not re-encode to its bytes")
        slots.append((realm_id, public_share))
    realm_ids = [realm_id for realm_id, _ in slots]
    if len(set(realm_ids)) != len(realm_ids):
        raise ProtocolError("malformed", "two slots with one realm id")
    return Descriptor(data[6:22], data[22:38], epoch, k, n, attempts, g, slots, data)


# ---------------------------------------------------------------------------
# Key schedule and the version-2 wrap (docs sections 19.4, 6.10, 6.3-6.6)
# ---------------------------------------------------------------------------


def realm_kek(stretched: bytes, oprf_output: bytes, commitment: bytes) -> bytes:
    """Docs 19.4: HKDF(ikm = stretched || output, salt = commitment, info = "keylink/v1/realm-kek")."""
    return hkdf(stretched + oprf_output, commitment, LABEL_REALM_KEK)


def unlock_tag(kek: bytes, commitment: bytes, index: int, realm_id: bytes) -> bytes:
    """Docs 19.4: HKDF(ikm = RealmKEK, salt = commitment, info = label || u8(i) || R[32])."""
    if not 0 <= index <= 255 or len(realm_id) != 32:
        raise CheckFailure("the unlock tag needs a u8 index and a 32-byte realm id")
    return hkdf(kek, commitment, LABEL_REALM_UNLOCK_TAG + bytes([index]) + realm_id)


def build_header_v2(
    account_id: bytes, epoch: int, params: tuple[int, int, int], salt: bytes, nonce: bytes, commitment: bytes
) -> bytes:
    """Docs 6.10: the 114-byte header (6.1's fields to the nonce, version 2, kdf_id 3, then the commitment)."""
    if len(account_id) != ACCOUNT_ID_LEN:
        raise ProtocolError("malformed", "account id")
    if len(salt) != 16 or len(nonce) != 24 or len(commitment) != 32:
        raise CheckFailure("salt, nonce and commitment must be 16, 24 and 32 bytes")
    if not 0 <= epoch < 2**64 or any(not 0 <= x < 2**32 for x in params):
        raise CheckFailure("epoch or parameters out of range")
    header = WRAP_MAGIC + bytes([WRAP_V2, KDF_REALM]) + account_id + struct.pack(">Q", epoch)
    header += struct.pack(">III", *params) + salt + nonce + commitment
    require(len(header) == HEADER_V2_LEN, "header is not 114 bytes")
    return header


def seal_wrap_v2(header: bytes, kek: bytes, root_key: bytes) -> bytes:
    """Docs 6.3 steps 4-7 with the 114-byte header: header || key commitment || ciphertext."""
    key_commitment = hkdf(kek, b"", LABEL_WRAP_COMMITMENT + header)
    wrap_key = hkdf(kek, b"", LABEL_WRAP_KEY)
    return header + key_commitment + xchacha20poly1305_encrypt(wrap_key, header[58:82], header, root_key)


@dataclasses.dataclass(frozen=True)
class WrapV2:
    """A parsed version-2 wrap (docs 6.10)."""

    header: bytes
    key_commitment: bytes
    ciphertext: bytes

    @property
    def nonce(self) -> bytes:
        """Bytes 58-81."""
        return self.header[58:82]

    @property
    def params(self) -> tuple[int, int, int]:
        """m_kib, t, p."""
        return struct.unpack(">III", self.header[30:42])


def parse_wrap_v2(data: bytes) -> WrapV2:
    """Docs 6.4 in its order, for a wrap that must be version 2 (a version-1 wrap is refused here)."""
    if len(data) < 4:
        raise ProtocolError("truncated", "needed 4")
    if data[0:4] != WRAP_MAGIC:
        raise ProtocolError("bad_magic")
    if len(data) < 5:
        raise ProtocolError("truncated", "needed 5")
    if data[4] not in (1, WRAP_V2):
        raise ProtocolError("unsupported_version", str(data[4]))
    if data[4] != WRAP_V2:
        raise ProtocolError("realm_mismatch", "a version-1 wrap opened with a realm KEK (docs 6.10)")
    if len(data) < WRAP_V2_LEN:
        raise ProtocolError("truncated", f"needed {WRAP_V2_LEN}")
    if len(data) > WRAP_V2_LEN:
        raise ProtocolError("trailing_bytes", str(len(data) - WRAP_V2_LEN))
    if data[5] != KDF_REALM:
        raise ProtocolError("unsupported_kdf", str(data[5]))
    if above_ceiling(*struct.unpack(">III", data[30:42])):
        raise ProtocolError("params_above_ceiling")
    wrap = WrapV2(data[:HEADER_V2_LEN], data[HEADER_V2_LEN:146], data[146:WRAP_V2_LEN])
    require(wrap.header + wrap.key_commitment + wrap.ciphertext == data, "re-serialising does not give the bytes")
    return wrap


def open_wrap_v2(wrap: WrapV2, kek: bytes) -> bytes:
    """Docs 6.5 with the realm KEK (weak parameters accepted): commitment, then the AEAD."""
    if above_ceiling(*wrap.params):
        raise ProtocolError("params_above_ceiling")
    if not hmac.compare_digest(hkdf(kek, b"", LABEL_WRAP_COMMITMENT + wrap.header), wrap.key_commitment):
        raise ProtocolError("wrong_secret_or_tampered", "commitment")
    try:
        return xchacha20poly1305_decrypt(hkdf(kek, b"", LABEL_WRAP_KEY), wrap.nonce, wrap.header, wrap.ciphertext)
    except InvalidTag:
        raise ProtocolError("wrong_secret_or_tampered", "AEAD") from None


# ---------------------------------------------------------------------------
# The register request and the realm's checks (docs sections 19.5 and 19.6)
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RegisterRequest:
    """A parsed "KLRQ" request."""

    descriptor: Descriptor
    index: int
    share: bytes
    unlock_tag: bytes
    admin: bytes
    signature: bytes
    previous: bytes | None


def parse_register_request(data: bytes) -> RegisterRequest:
    """Docs 19.6's layout (the classes of its structural refusals are this script's choice)."""

    def need(length: int) -> None:
        if len(data) < length:
            raise ProtocolError("truncated", f"needed {length}")

    need(4)
    if data[0:4] != REQUEST_MAGIC:
        raise ProtocolError("bad_magic")
    need(5)
    if data[4] != REQUEST_VERSION:
        raise ProtocolError("unsupported_version", str(data[4]))
    need(7)
    (descriptor_len,) = struct.unpack(">H", data[5:7])
    if descriptor_len > MAX_DESCRIPTOR_LEN:
        raise ProtocolError("malformed", f"descriptor of {descriptor_len} bytes")
    need(7 + descriptor_len)
    descriptor = parse_descriptor(data[7 : 7 + descriptor_len])
    pos = 7 + descriptor_len
    need(pos + 1 + 32 + 32 + 32 + 64 + 1)
    index = data[pos]
    share = data[pos + 1 : pos + 33]
    tag = data[pos + 33 : pos + 65]
    admin = data[pos + 65 : pos + 97]
    signature = data[pos + 97 : pos + 161]
    flag = data[pos + 161]
    pos += 162
    if flag not in (0, 1):
        raise ProtocolError("malformed", f"has-previous byte {flag}")
    previous = None
    if flag == 1:
        need(pos + 64)
        previous = data[pos : pos + 64]
        pos += 64
    if len(data) > pos:
        raise ProtocolError("trailing_bytes", str(len(data) - pos))
    return RegisterRequest(descriptor, index, share, tag, admin, signature, previous)


def register_message(commitment: bytes, index: int, admin: bytes, share: bytes, tag: bytes) -> bytes:
    """Docs 19.5: "register" || commitment || u8(index) || admin key || SHA-256(share || unlock tag)."""
    return b"register" + commitment + bytes([index]) + admin + hashlib.sha256(share + tag).digest()


def realm_check_register(request: RegisterRequest, realm_id: bytes) -> None:
    """Docs 19.6: the realm's checks, in order (the rules of 19.5 need a stored record and are not run)."""
    descriptor = request.descriptor
    if not 1 <= request.index <= descriptor.n:
        raise ProtocolError("bad_index", f"slot {request.index} of {descriptor.n}")
    slot_realm, slot_public_share = descriptor.slots[request.index - 1]
    if slot_realm != realm_id:
        raise ProtocolError("wrong_realm")
    share = parse_key_scalar(request.share)
    if ristretto_encode(_ed_mul(share, ED_BASE)) != slot_public_share:
        raise ProtocolError("share_mismatch")
    message = register_message(descriptor.commitment, request.index, request.admin, request.share, request.unlock_tag)
    try:
        verify_strict(request.admin, signed_bytes(CONTEXT_REALM_ADMIN, message), request.signature)
    except ProtocolError as err:
        raise ProtocolError("not_authorized", str(err)) from None


# ---------------------------------------------------------------------------
# Evaluating vectors
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class VectorContext:
    """What an evaluator may need beyond the inputs: the folder of the vector file."""

    folder: Path


def _single_key_vector(folder: Path) -> dict:
    """The `oprf_single_key` vector beside a threshold vector (docs 19.11)."""
    path = folder / "oprf_single_key.json"
    try:
        vector = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckFailure(f"docs 19.11: threshold vectors are checked against oprf_single_key.json: {err}") from None
    if not isinstance(vector, dict) or "expected" not in vector or "key" not in vector.get("inputs", {}):
        raise CheckFailure("oprf_single_key.json is not a success case with a key")
    return vector


def _check_shares_of_key(shares: dict[int, int], used: list[int], key: int) -> None:
    """The used shares interpolate to the key at zero, and every other share lies on the same polynomial."""
    def interpolate(x: int) -> int:
        total = 0
        for i in used:
            term = shares[i]
            for j in used:
                if j != i:
                    term = term * (x - j) % GROUP_L * pow(i - j, -1, GROUP_L) % GROUP_L
            total = (total + term) % GROUP_L
        return total

    if interpolate(0) != key:
        raise CheckFailure("the used shares do not interpolate to oprf_single_key's key")
    for i, share in shares.items():
        if i not in used and interpolate(i) != share:
            raise CheckFailure(f"share_{i} is not on the polynomial through the used shares")


def eval_realm_oprf(i: Inputs, ctx: VectorContext) -> dict[str, str]:
    """Docs 19.2 and RFC 9497: blind, evaluate (whole key or shares), combine, unblind, finalize."""
    r = blind_scalar(i.hex("blind"))
    oprf_input = i.hex("input")
    element = hashed_input(oprf_input)
    blinded = _ed_mul(r, element)
    blinded_bytes = ristretto_encode(blinded)
    # The realm receives the encoded blinded element and decodes it.
    blinded_point = ristretto_decode(blinded_bytes)
    if blinded_point is None or ristretto_is_identity(blinded_point):
        raise ProtocolError("bad_element", "blinded element")
    r_inv = pow(r, -1, GROUP_L)
    outputs = {"blinded": blinded_bytes.hex()}
    has_key, has_indices = "key" in i.raw, "indices" in i.raw
    if has_key == has_indices:
        raise CheckFailure("exactly one of key and indices must be given")
    if has_key:
        key = parse_key_scalar(i.hex("key"))
        evaluated = ristretto_decode(ristretto_encode(_ed_mul(key, blinded_point)))
        require(evaluated is not None, "the evaluated element does not decode")
        output = finalize(oprf_input, _ed_mul(key, element))
        if finalize(oprf_input, _ed_mul(r_inv, evaluated)) != output:
            raise CheckFailure("Evaluate and blind-evaluate-unblind disagree")
        outputs["public_key"] = ristretto_encode(_ed_mul(key, ED_BASE)).hex()
        outputs["output"] = output.hex()
        return outputs
    indices = parse_indices(i.text("indices"))
    share_names = sorted(name for name in i.raw if name.startswith("share_"))
    given: dict[int, bytes] = {}
    for name in share_names:
        try:
            given[int(name[len("share_"):], 10)] = i.hex(name)
        except ValueError:
            raise CheckFailure(f"input {name} does not name an index") from None
    for index in indices:
        if index not in given:
            raise CheckFailure(f"share_{index} is missing")
    shares = {index: parse_key_scalar(given[index]) for index in indices}
    check_indices(indices)
    lambdas = lagrange_at_zero(indices)
    combined = ED_IDENTITY
    for index in indices:
        evaluated_bytes = ristretto_encode(_ed_mul(shares[index], blinded_point))
        outputs[f"evaluated_{index}"] = evaluated_bytes.hex()
        evaluated = ristretto_decode(evaluated_bytes)
        if evaluated is None or ristretto_is_identity(evaluated):
            raise ProtocolError("bad_element", f"evaluated element {index}")
        combined = _ed_add(combined, _ed_mul(lambdas[index], evaluated))
    output = finalize(oprf_input, _ed_mul(r_inv, combined))
    outputs["output"] = output.hex()
    # Docs 19.11: every threshold case uses shares of oprf_single_key's key.
    single = _single_key_vector(ctx.folder)
    if single["expected"].get("output") != output.hex():
        raise CheckFailure("the combined output differs from oprf_single_key's output")
    all_shares = {index: int.from_bytes(value, "little") for index, value in given.items()}
    _check_shares_of_key(all_shares, indices, int.from_bytes(bytes.fromhex(single["inputs"]["key"]), "little"))
    return outputs


def eval_realm_descriptor(i: Inputs, ctx: VectorContext) -> dict[str, str]:
    """Docs 19.3: parse; the commitment, k, n and g."""
    descriptor = parse_descriptor(i.hex("descriptor"))
    return {
        "commitment": descriptor.commitment.hex(),
        "k": str(descriptor.k),
        "n": str(descriptor.n),
        "per_realm": str(descriptor.g),
    }


def eval_realm_key_schedule(i: Inputs, ctx: VectorContext) -> dict[str, str]:
    """Docs 19.4 and 6.10: RealmKEK, the unlock tag, the version-2 wrap and its opening."""
    commitment = i.hex("commitment", 32)
    kek = realm_kek(i.hex("stretched", 32), i.hex("oprf_output", 64), commitment)
    tag = unlock_tag(kek, commitment, i.num("index"), i.hex("realm", 32))
    params = (i.num("m_kib"), i.num("t"), i.num("p"))
    if above_ceiling(*params):
        raise ProtocolError("params_above_ceiling")
    root_key = i.hex("root_key", ROOT_KEY_LEN)
    header = build_header_v2(i.hex("account"), i.num("epoch"), params, i.hex("salt"), i.hex("nonce"), commitment)
    wrap = seal_wrap_v2(header, kek, root_key)
    require(len(wrap) == WRAP_V2_LEN, "the wrap is not 194 bytes")
    opened = open_wrap_v2(parse_wrap_v2(wrap), kek)
    if opened != root_key:
        raise CheckFailure("the wrap does not reopen to its root key")
    for offset in range(len(wrap)):
        altered = bytearray(wrap)
        altered[offset] ^= 0x01
        try:
            open_wrap_v2(parse_wrap_v2(bytes(altered)), kek)
        except ProtocolError:
            continue
        raise CheckFailure(f"the wrap still opens with byte {offset} changed")
    return {"unlock_tag": tag.hex(), "wrap": wrap.hex(), "opened": opened.hex()}


def eval_realm_register_check(i: Inputs, ctx: VectorContext) -> dict[str, str]:
    """Docs 19.6: parse the request, then the realm's checks in order."""
    request = parse_register_request(i.hex("request"))
    realm_check_register(request, i.hex("realm", 32))
    return {
        "index": str(request.index),
        "commitment": request.descriptor.commitment.hex(),
        "admin": request.admin.hex(),
    }


EVALUATORS: dict[str, Callable[[Inputs, VectorContext], dict[str, str]]] = {
    "realm_oprf": eval_realm_oprf,
    "realm_descriptor": eval_realm_descriptor,
    "realm_key_schedule": eval_realm_key_schedule,
    "realm_register_check": eval_realm_register_check,
}

# Output fields an evaluator cannot recompute independently would be listed here
# per kind; they would make the vector "not independently checked".  Every field
# of every kind is recomputed today.
NOT_REIMPLEMENTED_FIELDS: dict[str, frozenset[str]] = {}


# ---------------------------------------------------------------------------
# Self-tests against published vectors
# ---------------------------------------------------------------------------


def selftest_ristretto_constants() -> None:
    """RFC 9496 section 4.1: each constant satisfies its definition (SQRT_M1 from independent_common too)."""
    require(SQRT_M1 == 19681161376707505956807079304988542015446066515923890162744021073123829784752, "SQRT_M1 value")
    require(SQRT_M1 * SQRT_M1 % FIELD_P == FIELD_P - 1, "SQRT_M1^2 = -1")
    require(SQRT_AD_MINUS_ONE**2 % FIELD_P == (-ED_D - 1) % FIELD_P, "SQRT_AD_MINUS_ONE^2 = a*d - 1")
    require(INVSQRT_A_MINUS_D**2 * (-1 - ED_D) % FIELD_P == 1, "INVSQRT_A_MINUS_D^2 * (a - d) = 1")
    require(ONE_MINUS_D_SQ == (1 - ED_D * ED_D) % FIELD_P, "ONE_MINUS_D_SQ = 1 - d^2")
    require(D_MINUS_ONE_SQ == (ED_D - 1) ** 2 % FIELD_P, "D_MINUS_ONE_SQ = (d - 1)^2")


def selftest_ristretto_multiples() -> None:
    """RFC 9496 appendix A.1: encodings of 0, B, 2B, 3B, 4B; each decodes and re-encodes."""
    known = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
        "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
        "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
        "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    ]
    point = ED_IDENTITY
    for multiple, encoding in enumerate(known):
        require(ristretto_encode(point) == _h(encoding), f"{multiple}B encodes")
        decoded = ristretto_decode(_h(encoding))
        require(decoded is not None and ristretto_equal(decoded, point), f"{multiple}B decodes")
        require(ristretto_encode(decoded) == _h(encoding), f"{multiple}B re-encodes")
        point = _ed_add(point, ED_BASE)
    require(ristretto_encode(_ed_mul(GROUP_L, ED_BASE)) == bytes(32), "l * B is the identity")
    # Adding the point (0, -1) of order 2 does not change the ristretto255 element.
    torsion = (0, FIELD_P - 1, 1, 0)
    require(ristretto_encode(_ed_add(ED_BASE, torsion)) == _h(known[1]), "B + torsion encodes as B")


def selftest_ristretto_invalid() -> None:
    """RFC 9496 appendix A.2: its non-canonical and negative field encodings, and s = 2^255 and 2^256 - 1.

    (Only encodings invalid by construction are listed; the appendix's
    non-square and negative-xy cases are left out rather than quoted from
    memory.)
    """
    for bad in [
        "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # non-canonical
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0100000000000000000000000000000000000000000000000000000000000000",  # negative
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",  # bit 255 set
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fff",
    ]:
        require(ristretto_decode(_h(bad)) is None, f"{bad} was accepted")


def selftest_voprf() -> None:
    """RFC 9497 appendix A.1.2.1 (VOPRF, ristretto255-SHA512), test vector 1, without the proof."""
    sk = parse_key_scalar(_h("e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"))
    require(
        ristretto_encode(_ed_mul(sk, ED_BASE)) == _h("c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"),
        "pkS",
    )
    oprf_input = _h("00")
    blind = int.from_bytes(_h("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"), "little")
    blinded = _ed_mul(blind, hashed_input(oprf_input))
    require(
        ristretto_encode(blinded) == _h("863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945"),
        "BlindedElement",
    )
    evaluated = _ed_mul(sk, blinded)
    require(
        ristretto_encode(evaluated) == _h("aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"),
        "EvaluationElement",
    )
    output = _h(
        "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
        "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"
    )
    require(finalize(oprf_input, _ed_mul(pow(blind, -1, GROUP_L), evaluated)) == output, "Output (Finalize)")
    require(finalize(oprf_input, _ed_mul(sk, hashed_input(oprf_input))) == output, "Output (Evaluate)")


def selftest_threshold() -> None:
    """Lagrange coefficients at zero recombine a random degree-2 polynomial from any 3 of 5 points."""
    coefficients = [0x1234567890ABCDEF, 0xFEDCBA0987654321, 0x0F0F0F0F0F0F0F0F]
    shares = {x: sum(c * x**e for e, c in enumerate(coefficients)) % GROUP_L for x in range(1, 6)}
    for used in ([1, 2, 3], [2, 4, 5], [5, 1, 3]):
        lambdas = lagrange_at_zero(used)
        require(sum(lambdas[i] * shares[i] for i in used) % GROUP_L == coefficients[0], f"indices {used}")
    require(derived_g(10, 2, 3) == 7 and derived_g(10, 1, 1) == 10, "docs 19.7's examples: g = 7 and g = 10")


SELF_TESTS: list[tuple[str, Callable[[], None]]] = [
    ("HKDF-SHA256, RFC 5869 A.1", selftest_hkdf),
    ("XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1", selftest_xchacha20poly1305),
    ("Ed25519, RFC 8032 7.1 TEST 1", selftest_ed25519),
    ("ristretto255 constants, RFC 9496 4.1", selftest_ristretto_constants),
    ("ristretto255 multiples of B, RFC 9496 A.1", selftest_ristretto_multiples),
    ("ristretto255 invalid encodings, RFC 9496 A.2", selftest_ristretto_invalid),
    ("VOPRF ristretto255-SHA512, RFC 9497 A.1.2.1", selftest_voprf),
    ("Lagrange at zero and docs 19.7's g", selftest_threshold),
]

# ---------------------------------------------------------------------------
# Vector files (docs section 11.1) and the report
# ---------------------------------------------------------------------------

INTEGER_INPUTS = {"epoch", "m_kib", "t", "p", "index"}
TEXT_INPUTS = {"indices"}
TEXT_OUTPUTS = {"k", "n", "per_realm", "index"}


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
        outputs = evaluator(Inputs(vector["inputs"]), VectorContext(path.parent))
        error = None
    except ProtocolError as err:
        outputs, error = {}, err
    except Exception as err:  # noqa: BLE001 - any other exception is a failure of this vector
        return kind, Outcome("failed", f"{type(err).__name__}: {err}")
    return judge(kind, vector, outputs, error, NOT_REIMPLEMENTED_FIELDS.get(kind, frozenset()))


def default_vector_dir() -> Path:
    """tests/vectors/realm, found from this script's own location."""
    return Path(__file__).resolve().parent.parent / "vectors" / "realm"


def main(argv: list[str] | None = None) -> int:
    """Check every vector, print the per-kind report and the closing line."""
    return common_main(
        argv, description=__doc__.split("\n\n")[0], default_vectors=default_vector_dir(),
        check_vector=check_vector, self_tests=SELF_TESTS,
    )


if __name__ == "__main__":
    sys.exit(main())
