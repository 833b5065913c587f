//! Runs every committed vector in `tests/vectors/account/`: each log is
//! decoded from its wire bytes and verified; valid logs must reach exactly
//! the recorded head, epoch and device list, invalid ones must fail with
//! exactly the recorded rule.

use keylink_tests::account_eval::evaluate;
use keylink_tests::assert_vectors;

#[test]
fn account_vectors() {
    assert_vectors("account", evaluate, 25, 15);
}
