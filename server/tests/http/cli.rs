//! The one-off commands on the real binary: destructive ones need a confirmation.

use std::process::{Output, Stdio};

use tokio::process::Command;

/// Runs the binary on the database at `url` (SQLite, or PostgreSQL when the run
/// says so).
async fn homelab_cmd(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homelab-cmd"))
        .env_clear()
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .args(args)
        // Not a terminal: nobody can type a confirmation.
        .stdin(Stdio::null())
        .output()
        .await
        .expect("homelab-cmd runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn removing_rotating_and_revoking_need_a_confirmation() {
    let (dir, _guard) = homelab_core::db::testing::fresh_url().await;
    assert!(
        homelab_cmd(&dir, &["server", "add", "nas", "NAS"])
            .await
            .status
            .success()
    );
    assert!(
        homelab_cmd(&dir, &["api-token", "create", "backup"])
            .await
            .status
            .success()
    );

    for args in [
        &["server", "remove", "nas"][..],
        &["server", "rotate-token", "nas"],
        &["api-token", "revoke", "backup"],
    ] {
        let refused = homelab_cmd(&dir, args).await;
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused.stderr).contains("--yes"),
            "{args:?}: {refused:?}"
        );
    }
    // Nothing changed: the token is still listed.
    let listed = homelab_cmd(&dir, &["api-token", "list"]).await;
    assert!(text(&listed.stdout).starts_with("backup\t"), "{listed:?}");

    let rotated = homelab_cmd(&dir, &["server", "rotate-token", "nas", "--yes"]).await;
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(text(&rotated.stdout).contains("hca_"));
    let revoked = homelab_cmd(&dir, &["api-token", "revoke", "backup", "--yes"]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        text(&homelab_cmd(&dir, &["api-token", "list"]).await.stdout),
        ""
    );
    let removed = homelab_cmd(&dir, &["server", "remove", "nas", "--yes"]).await;
    assert!(removed.status.success(), "{removed:?}");
    let again = homelab_cmd(&dir, &["server", "remove", "nas", "--yes"]).await;
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("no server"), "{again:?}");
}
