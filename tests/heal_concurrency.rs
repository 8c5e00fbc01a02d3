//! One at a time: concurrent heals of one damaged root serialise on the lock; exactly one
//! transaction does the work, the others find nothing to do (or time out with 32).

use crate::support::{code, stderr, Fixture};

#[test]
fn eight_concurrent_heals_do_the_work_once() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    let children: Vec<_> = (0..8)
        .map(|_| {
            f.cmd(&["--json", "heal"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut with_work = 0;
    let mut idle = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        match code(&out) {
            0 => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
                if v["actions"].as_array().is_some_and(|a| !a.is_empty()) {
                    with_work += 1;
                } else {
                    idle += 1;
                }
            }
            32 => idle += 1,
            other => panic!("unexpected exit {other}: {}", stderr(&out)),
        }
    }
    assert_eq!(with_work, 1, "exactly one heal applies operations");
    assert_eq!(idle, 7);
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
    let list = f.json(&["journal", "list"]).1;
    let with_ops = list["transactions"].as_array().map_or(0, |t| {
        t.iter()
            .filter(|x| x["operations"].as_u64() > Some(0))
            .count()
    });
    assert_eq!(with_ops, 1);
}

#[test]
fn a_waiting_heal_gives_up_with_32() {
    let f = Fixture::with_root();
    f.run(&["heal"]);
    let lock = std::fs::File::open(f.path("logs/backups")).expect("open dir");
    lock.lock().expect("flock");
    let out = f.run(&["--lock-timeout", "300ms", "heal"]);
    assert_eq!(code(&out), 32, "{}", stderr(&out));
    drop(lock);
    assert_eq!(code(&f.run(&["heal"])), 0);
}
