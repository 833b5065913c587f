//! Runs every committed vector in `tests/vectors/account/`: each log is
//! decoded from its wire bytes and verified; valid logs must reach exactly
//! the recorded head, epoch and device list, invalid ones must fail with
//! exactly the recorded rule.

use keylink_tests::account_eval::evaluate;
use keylink_tests::check_dir;

#[test]
fn account_vectors() {
    let c = check_dir("account", evaluate).expect("vectors load");
    println!(
        "account vectors: {} files, {} valid and {} invalid cases checked",
        c.files, c.valid, c.invalid
    );
    assert!(
        c.failures.is_empty(),
        "{} failures:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
    assert!(c.files >= 25, "at least 25 account vectors are required");
    assert_eq!(c.valid + c.invalid, c.files);
}
