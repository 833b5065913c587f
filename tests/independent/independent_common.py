"""Code shared by check_key_vectors.py, check_link_vectors.py and check_realm_vectors.py.

Like the scripts, this is written from docs/protocol.md alone, in Python
3.11 with only the standard library.  It holds what both scripts need in
exactly the same form: the error types, the Unicode White_Space list, the
field constants with Ed25519 point addition and encoding, protobuf varints,
the hex helper of the self-tests, the file checks of docs section 11.1 and
the runner that prints the report.  What the scripts do differently -- their
self-tests, their vector folders, how they evaluate a vector and which inputs
and outputs are text -- each passes in as arguments.

It is imported, not run: each script first puts its own folder on `sys.path`,
so the import works from any working directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ProtocolError(Exception):
    """A failure the protocol defines; `cls` is its error class (docs section 10)."""

    def __init__(self, cls: str, detail: str = "") -> None:
        super().__init__(f"{cls}: {detail}" if detail else cls)
        self.cls = cls


class CheckFailure(Exception):
    """Something that must hold while evaluating a vector did not (not a protocol error)."""


def require(condition: bool, what: str) -> None:
    """Raise CheckFailure unless condition holds (unlike `assert`, never skipped by -O)."""
    if not condition:
        raise CheckFailure(what)


# ---------------------------------------------------------------------------
# Unicode White_Space (docs sections 4.1 and 5.5)
# ---------------------------------------------------------------------------

# The Unicode White_Space property, as docs section 5.5 lists it (passwords, section
# 4.1; recovery keys, section 5.5; a typed link code is trimmed of it, section 16.2 rule 1).
WHITE_SPACE = frozenset(
    [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)]
    + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)

# ---------------------------------------------------------------------------
# Curve25519: the field, and Ed25519 points (RFC 8032)
# ---------------------------------------------------------------------------

FIELD_P = 2**255 - 19
ED_D = -121665 * pow(121666, FIELD_P - 2, FIELD_P) % FIELD_P
SQRT_M1 = pow(2, (FIELD_P - 1) // 4, FIELD_P)


def _inv(x: int) -> int:
    """Inverse modulo the field prime."""
    return pow(x, FIELD_P - 2, FIELD_P)


# Ed25519 points in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
EdPoint = tuple[int, int, int, int]
ED_IDENTITY: EdPoint = (0, 1, 1, 0)


def _ed_add(p: EdPoint, q: EdPoint) -> EdPoint:
    """Point addition on edwards25519 (RFC 8032 section 5.1.4)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % FIELD_P
    b = (y1 + x1) * (y2 + x2) % FIELD_P
    c = 2 * t1 * t2 * ED_D % FIELD_P
    d = 2 * z1 * z2 % FIELD_P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % FIELD_P, g * h % FIELD_P, f * g % FIELD_P, e * h % FIELD_P)


def ed_encode(point: EdPoint) -> bytes:
    """The canonical 32-byte encoding of a point."""
    zi = _inv(point[2])
    x, y = point[0] * zi % FIELD_P, point[1] * zi % FIELD_P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


# ---------------------------------------------------------------------------
# Protobuf varints (docs section 9.1)
# ---------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """A minimal protobuf varint."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a varint (non-minimal accepted, at most 64 bits); returns (value, new position)."""
    value = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise ProtocolError("decode", "truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >> 64:
                raise ProtocolError("decode", "varint over 64 bits")
            return value, pos
    raise ProtocolError("decode", "varint over 10 bytes")


# ---------------------------------------------------------------------------
# Self-tests against published vectors
# ---------------------------------------------------------------------------


def _h(text: str) -> bytes:
    """Bytes from hex written with optional whitespace."""
    return bytes.fromhex("".join(text.split()))


# ---------------------------------------------------------------------------
# Vector files (docs section 11.1) and the report
# ---------------------------------------------------------------------------

MEMBERS = {"name", "kind", "inputs", "expected", "expected_error", "comment"}
LOWER_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def schema_problems(
    path: Path, vector: object, *, integer_inputs: set[str], text_inputs: set[str], text_outputs: set[str]
) -> list[str]:
    """Departures of one file from the format of docs section 11.1.

    Inputs named in `integer_inputs` must be unsigned integers, those in
    `text_inputs` strings, and every other input lowercase hex; outputs
    named in `text_outputs` may be any non-empty string, the others must be
    lowercase hex.
    """
    if not isinstance(vector, dict):
        return ["not a JSON object"]
    problems = []
    if set(vector) - MEMBERS:
        problems.append(f"unknown members {sorted(set(vector) - MEMBERS)}")
    if vector.get("name") != path.stem:
        problems.append("name differs from the file stem")
    if not isinstance(vector.get("kind"), str):
        problems.append("kind is not a string")
    if not isinstance(vector.get("comment"), str) or not vector["comment"]:
        problems.append("comment missing or empty")
    if ("expected" in vector) == ("expected_error" in vector):
        problems.append("not exactly one of expected and expected_error")
    inputs = vector.get("inputs")
    if not isinstance(inputs, dict):
        return problems + ["inputs is not an object"]
    for name, value in inputs.items():
        if name in integer_inputs:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"input {name} is not an unsigned integer")
        elif not isinstance(value, str):
            problems.append(f"input {name} is not a string")
        elif name not in text_inputs and not LOWER_HEX.fullmatch(value):
            problems.append(f"input {name} is not lowercase hex")
    expected = vector.get("expected", {})
    if not isinstance(expected, dict):
        return problems + ["expected is not an object"]
    for name, value in expected.items():
        if not isinstance(value, str) or not value:
            problems.append(f"output {name} is not a non-empty string")
        elif name not in text_outputs and not LOWER_HEX.fullmatch(value):
            problems.append(f"output {name} is not lowercase hex")
    if "expected_error" in vector and (not isinstance(vector["expected_error"], str) or not vector["expected_error"]):
        problems.append("expected_error is not a non-empty string")
    return problems


@dataclasses.dataclass
class Outcome:
    """The result for one vector: 'passed', 'failed' or 'unchecked', with a reason."""

    status: str
    reason: str = ""


def judge(
    kind: str, vector: dict, outputs: dict, error: ProtocolError | None, unchecked: frozenset = frozenset()
) -> tuple[str, Outcome]:
    """Compare what a script computed (or the protocol error it raised) with
    the vector's `expected` or `expected_error`; fields in `unchecked` are
    not compared, and make a success "unchecked" instead of "passed"."""
    if "expected_error" in vector:
        if error is None:
            return kind, Outcome("failed", f"expected {vector['expected_error']}, but succeeded with {outputs}")
        if error.cls != vector["expected_error"]:
            return kind, Outcome("failed", f"expected {vector['expected_error']}, got {error}")
        return kind, Outcome("passed")
    if error is not None:
        return kind, Outcome("failed", f"expected success, got {error}")
    expected = vector["expected"]
    skipped = unchecked & set(expected)
    mismatches = [
        f"{name}: expected {expected.get(name)!r}, computed {outputs.get(name)!r}"
        for name in sorted((set(expected) | set(outputs)) - skipped)
        if expected.get(name) != outputs.get(name)
    ]
    if mismatches:
        return kind, Outcome("failed", "; ".join(mismatches))
    if skipped:
        return kind, Outcome("unchecked", f"fields not re-implemented: {sorted(skipped)}")
    return kind, Outcome("passed")


def run_self_tests(self_tests: list[tuple[str, Callable[[], None]]]) -> list[tuple[str, Outcome]]:
    """Run every published-vector self-test."""
    results = []
    for name, test in self_tests:
        try:
            test()
            results.append((name, Outcome("passed")))
        except Exception as err:  # noqa: BLE001 - any exception is a failed self-test
            results.append((name, Outcome("failed", f"{type(err).__name__}: {err}")))
    return results


def main(
    argv: list[str] | None,
    *,
    description: str,
    default_vectors: Path,
    check_vector: Callable[[Path], tuple[str, Outcome]],
    self_tests: list[tuple[str, Callable[[], None]]],
) -> int:
    """Check every vector, print the per-kind report and the closing line.

    Each script passes what is its own: the `--help` description, the folder
    read when `--vectors` is not given, the evaluator of one vector file
    (returning its kind and outcome) and its published-vector self-tests.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--vectors", type=Path, default=default_vectors, help="folder of *.json vectors")
    parser.add_argument("--verbose", action="store_true", help="print every vector's outcome")
    args = parser.parse_args(argv)

    files = sorted(args.vectors.glob("*.json"))
    if not files:
        print(f"no vector files in {args.vectors}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1

    self_results = run_self_tests(self_tests)
    vector_results = [(path, *check_vector(path)) for path in files]

    checked: Counter[str] = Counter()
    unchecked: Counter[str] = Counter()
    passed = failed = 0
    for name, outcome in self_results:
        checked["self_test"] += 1
        passed += outcome.status == "passed"
        failed += outcome.status == "failed"
        if outcome.status == "failed" or args.verbose:
            print(f"self_test {name}: {outcome.status} {outcome.reason}".rstrip())
    for path, kind, outcome in vector_results:
        if outcome.status == "unchecked":
            unchecked[kind] += 1
        else:
            checked[kind] += 1
        passed += outcome.status == "passed"
        failed += outcome.status == "failed"
        if outcome.status != "passed" or args.verbose:
            print(f"{outcome.status.upper()} {path.name} ({kind}): {outcome.reason}".rstrip())

    for kind in ["self_test", *sorted((set(checked) | set(unchecked)) - {"self_test"})]:
        print(f"{kind}: {checked[kind]} checked, {unchecked[kind]} not independently checked")
    not_checked = [f"{path.name} ({o.reason})" for path, _, o in vector_results if o.status == "unchecked"]
    print(f"not independently checked: {', '.join(not_checked) if not_checked else 'none'}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
