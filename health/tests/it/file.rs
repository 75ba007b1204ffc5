use health::probe::file;
use health::FileCheck;

use crate::servers::{ctx, temp_path};

#[tokio::test]
async fn track_file_semantics() {
    let path = temp_path("track");
    let mut spec = FileCheck {
        path: path.clone(),
        multiplier: 1,
    };

    let r = file::check(&spec, ctx(500)).await;
    assert!(!r.ok);
    assert!(r.detail.ends_with("missing"), "{}", r.detail);

    std::fs::write(&path, "0\n").unwrap();
    let r = file::check(&spec, ctx(500)).await;
    assert!(!r.ok);
    assert_eq!(r.weight, Some(0));

    std::fs::write(&path, "5\n").unwrap();
    spec.multiplier = -2;
    let r = file::check(&spec, ctx(500)).await;
    assert!(r.ok);
    assert_eq!(r.weight, Some(-10));

    std::fs::write(&path, "ready").unwrap();
    let r = file::check(&spec, ctx(500)).await;
    assert!(!r.ok);
    assert_eq!(r.detail, "not a number");
    assert_eq!(r.weight, None);

    let _ = std::fs::remove_file(path);
}
