//! Containment: a symlinked state path is a finding, never a target; nothing outside the
//! root is ever modified.

use crate::support::{code, stderr, Fixture};

#[test]
fn a_positions_file_symlinked_outside_the_root_is_never_modified() {
    let f = Fixture::with_root();
    let outside = f.dir.path().join("outside.json");
    std::fs::write(&outside, "").expect("write");
    f.mkdir("logs");
    std::os::unix::fs::symlink(&outside, f.path("logs/positions_futures.json")).expect("symlink");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "paper mode still starts: {v}");
    assert!(
        v["failed"].as_array().is_some_and(|a| a
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("symlink")))),
        "{v}"
    );
    assert_eq!(
        std::fs::read(&outside).expect("read"),
        b"",
        "the outside file must not change"
    );
    assert!(
        std::fs::symlink_metadata(f.path("logs/positions_futures.json"))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    let out = f.run(&["heal", "--mode", "real"]);
    assert_eq!(
        code(&out),
        4,
        "real mode must not start on a failed heal: {}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&outside).expect("read"), b"");
}

#[test]
fn a_symlinked_directory_is_not_followed() {
    let f = Fixture::with_root();
    let outside = f.dir.path().join("elsewhere");
    std::fs::create_dir(&outside).expect("mkdir");
    std::os::unix::fs::symlink(&outside, f.path("logs")).expect("symlink");
    let out = f.run(&["heal"]);
    assert_ne!(
        code(&out),
        0,
        "selfheal's own logs/ behind a symlink cannot be used: {}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(&outside).expect("read_dir").count(),
        0,
        "nothing written outside the root"
    );
}
