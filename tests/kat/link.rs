//! Runs every committed vector in `tests/vectors/link/`: link code text,
//! valid and refused, and handshakes through the real state machines.

use keylink_tests::assert_vectors;
use keylink_tests::link_eval::evaluate;

#[test]
fn link_vectors() {
    assert_vectors("link", evaluate, 25, 15);
}
