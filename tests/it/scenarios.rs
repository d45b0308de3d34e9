//! The scenario files of `tests/it/scenarios/` (see `gatehouse_testkit::scenario`), each on a
//! fresh server of each backend.

use std::path::Path;

use gatehouse_testkit::{backends, scenario, spawn_on};

#[tokio::test]
async fn scenario_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    // `SCENARIO=hooks` runs the files whose name contains `hooks` (while working on one family).
    if let Ok(only) = std::env::var("SCENARIO") {
        files.retain(|p| {
            p.file_stem()
                .is_some_and(|n| n.to_string_lossy().contains(&only))
        });
    }
    assert!(!files.is_empty(), "no scenario in {}", dir.display());
    // Every file runs, so that one failure does not hide the others.
    let mut failures = Vec::new();
    for b in backends() {
        for f in &files {
            let s = spawn_on(&b).await;
            let t = s.mgmt_token().await;
            if let Err(e) = scenario::run(&s, &t, f).await {
                failures.push(format!("[{}] {e}", b.name()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
