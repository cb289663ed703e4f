//! Cancelling a publish (the window's cancel button): before the log entry nothing is logged
//! and no pointer moves; the blobs already uploaded stay, and the next publish of the same
//! bundle finds them instead of sending them again.

mod common;

use airlock_core::ErrorKind;
use airlock_core::cancel::Cancel;
use airlock_core::progress::ProgressEvent;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_publish_logs_nothing_and_the_next_one_reuses_its_uploads() {
    let env = Env::new();
    let ws = env.console().await;
    let files: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| {
            (
                format!("assets/f{i:03}.bin"),
                format!("file {i}\n").repeat(50).into_bytes(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let dir = bundle(&refs);
    let request = release_request(APP, "1.0.0", dir.path());
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let on_progress = move |e: ProgressEvent| {
        if let ProgressEvent::Uploading { files_done, .. } = e
            && files_done >= 10
        {
            trigger.cancel();
        }
    };
    let result = ws
        .release_cancellable(&by("ana"), &request, &on_progress, &cancel)
        .await;
    let (kind, err) = kind_of("a cancelled publish", result);
    assert_eq!(kind, ErrorKind::Cancelled, "{err}");
    let stored = env.store_files();
    assert!(
        !stored
            .iter()
            .any(|f| f.contains("/log/") || f.contains("pointer")),
        "nothing logged, no pointer: {stored:?}"
    );
    // A write the folder store had already handed to its blocking pool may still land after
    // the cancel returns: count the blobs once they stop changing (a late write racing the
    // rerun below would make it count one upload too many).
    let count = || {
        env.store_files()
            .iter()
            .filter(|f| f.starts_with("blobs/"))
            .count()
    };
    let mut blobs = count();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let now = count();
        if now == blobs {
            break;
        }
        blobs = now;
    }
    assert!(
        (10..60).contains(&blobs),
        "the uploads stopped part-way ({blobs} of 60 blobs)"
    );

    let done = ws
        .release(&by("ana"), &request, &airlock_core::progress::Silent)
        .await
        .expect("the next publish of the same bundle completes");
    assert_eq!(done.files, 60);
    assert!(
        done.uploaded_files as usize <= 60 - blobs,
        "what the cancelled run uploaded is not sent again ({} sent, {blobs} were there)",
        done.uploaded_files
    );
    let now = env.store_files();
    assert_eq!(now.iter().filter(|f| f.starts_with("blobs/")).count(), 60);
}
