//! Replays every saved fuzz corpus (`fuzz/corpus/<target>/*`) through its
//! target's body on stable Rust: no input may panic.

use std::path::Path;

#[test]
fn every_saved_fuzz_input_replays_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut total = 0;
    for (name, target) in keylink_tests::fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "empty corpus for {name}");
        for f in &files {
            target(&std::fs::read(f).unwrap());
        }
        println!("fuzz corpus {name}: {} inputs replayed", files.len());
        total += files.len();
    }
    assert!(total > 100);
}

/// The state-machine target's seeds do what their names say: the
/// all-deliver scripts complete a link, so mutations start from deep states.
#[test]
fn link_machine_seeds_reach_the_end_of_a_link() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/link_machine");
    for (name, expected) in [
        ("complete_new_shows", (true, 2)),
        ("complete_existing_shows", (true, 2)),
        ("decline", (false, 0)),
        ("drop_hello", (false, 0)),
    ] {
        let data = std::fs::read(root.join(name)).unwrap();
        assert_eq!(
            keylink_tests::fuzz::link_machine_outcome(&data),
            expected,
            "{name}"
        );
    }
}
