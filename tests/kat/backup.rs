//! Runs every committed vector in `tests/vectors/backup/`: Padmé sizes,
//! chunk objects sealed with a stated nonce, hostile chunk and manifest
//! objects, and manifest contents that must be refused.

use keylink_tests::assert_vectors;
use keylink_tests::backup_eval::evaluate;

#[test]
fn backup_vectors() {
    assert_vectors("backup", evaluate, 20, 10);
}
