//! The one-off commands on the real binary: destructive ones need a confirmation.

use crate::helpers::{homelab_cmd, text};

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

mod migrate_to {
    //! `homelab-cmd migrate-to`: a SQLite installation moved to PostgreSQL by the real
    //! binary, then checked through the service layer on the new database.

    use std::time::Duration;

    use homelab_core::db::testing::fresh_postgres_url;
    use homelab_protocol::{
        ActionResult, ActionSpec, ActionStatus, ActionType, DebVersion, Heartbeat, HistoryFilter,
        Metrics, PackageName, PendingPackage, ServerId, ServerName,
    };
    use homelab_server::db::Database;
    use homelab_server::service::Service;

    use super::{homelab_cmd, text};

    const PASSWORD: &str = "correct horse battery";
    /// Put into the target's URL (the test cluster trusts anyone): never printed.
    const URL_SECRET: &str = "s3cret-url-password";

    fn id(s: &str) -> ServerId {
        ServerId::parse(s).unwrap()
    }

    fn service(db: Database) -> Service {
        Service::new(db, Duration::from_secs(60))
    }

    /// A fresh PostgreSQL database's URL, with a password in it.
    async fn postgres_target() -> String {
        fresh_postgres_url().await.replacen(
            "://postgres@",
            &format!("://postgres:{URL_SECRET}@"),
            1,
        )
    }

    /// A SQLite file that does not exist yet, in `dir`.
    fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("homelab-cmd.db").display())
    }

    fn package(name: &str, security: bool, held: bool, kept_back: bool) -> PendingPackage {
        PendingPackage {
            name: PackageName::parse(name).unwrap(),
            current_version: DebVersion::parse("2.0-1").unwrap(),
            new_version: DebVersion::parse("2.0-3").unwrap(),
            repository: if security {
                "bookworm-security"
            } else {
                "bookworm-updates"
            }
            .into(),
            is_security: security,
            security_version: security.then(|| DebVersion::parse("2.0-2").unwrap()),
            held,
            kept_back,
        }
    }

    fn heartbeat() -> Heartbeat {
        Heartbeat {
            boot_id: None,
            agent_version: "0.1.0".into(),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            hostname: Some("nas.lan".into()),
            metrics: Metrics {
                cpu_percent: 3.5,
                memory_percent: 41.0,
                disk_percent: 77.25,
                load_1: 0.12,
                load_5: 0.3,
                load_15: 0.25,
                uptime_s: 123_456,
            },
            reboot_required: true,
            reboot_required_pkgs: vec!["linux-image-amd64".into()],
            packages: Some(vec![
                package("openssl", true, false, false),
                package("curl", false, false, false),
                package("zfs-dkms", false, true, false),
                package("linux-image-amd64", false, false, true),
            ]),
        }
    }

    fn result(exit_code: i32, stdout: &str, stderr: &str) -> ActionResult {
        ActionResult {
            exit_code: Some(exit_code),
            failure: None,
            stdout: stdout.into(),
            stderr: stderr.into(),
            started_at: Some(1_700_000_000_000),
            finished_at: Some(1_700_000_005_000),
        }
    }

    /// What the installation holds besides its rows: the secrets that must keep
    /// working, and the apt action in flight.
    struct Filled {
        session: String,
        api_token: String,
        in_flight: homelab_protocol::ActionId,
    }

    /// A small installation through the service layer: a reporting machine with
    /// packages, one in maintenance, one removed since; actions in every status, with
    /// output; an account with a session; an API token.
    async fn fill(url: &str) -> Filled {
        let service = service(Database::connect(url).await.unwrap());
        let name = |n: &str| ServerName::parse(n).unwrap();
        let nas = service.add_server(id("nas"), name("NAS")).await.unwrap();
        service
            .heartbeat(&nas.agent_token, heartbeat())
            .await
            .unwrap();
        service.add_server(id("web"), name("Web")).await.unwrap();
        service.set_paused(&id("web"), true, "admin").await.unwrap();
        service
            .add_server(id("old"), name("Old box"))
            .await
            .unwrap();

        let claim = || async {
            service
                .next_action(&id("nas"), &nas.agent_token, Duration::ZERO)
                .await
                .unwrap()
                .expect("an approved action")
                .id
        };
        let create = |server: &'static str, spec: ActionSpec| {
            let service = service.clone();
            async move {
                service
                    .create_action(&id(server), spec, "admin")
                    .await
                    .unwrap()
            }
        };
        let unit = |u: &str| {
            ActionSpec::parse(
                ActionType::RestartService,
                Some(&serde_json::json!({ "unit": u })),
            )
            .unwrap()
        };
        // completed, with output
        create("nas", ActionSpec::AptUpdate).await;
        let done = claim().await;
        service
            .report_result(
                &id("nas"),
                done,
                result(0, "Hit:1 http://deb.debian.org", ""),
            )
            .await
            .unwrap();
        // failed, with output
        create("nas", unit("nginx")).await;
        let failed = claim().await;
        service
            .report_result(
                &id("nas"),
                failed,
                result(1, "", "Job for nginx.service failed"),
            )
            .await
            .unwrap();
        // executing: holds the apt slot
        create("nas", ActionSpec::AptUpgradeAll).await;
        let in_flight = claim().await;
        // pending, rejected, cancelled, approved by hand
        create(
            "web",
            ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
        )
        .await;
        let rejected = create("web", ActionSpec::AptUpdate).await.id;
        service
            .reject(rejected, "admin", "not during the backup")
            .await
            .unwrap();
        let cancelled = create("web", unit("ssh")).await.id;
        service.cancel(cancelled, "admin").await.unwrap();
        let approved = create("web", ActionSpec::AptUpdate).await.id;
        service.approve(approved, "admin").await.unwrap();
        // a removed server's history
        create("old", ActionSpec::AptUpdate).await;
        service.remove_server(&id("old"), "admin").await.unwrap();

        service.set_user_password("admin", PASSWORD).await.unwrap();
        let session = service.login("admin", PASSWORD).await.unwrap();
        let api_token = service.create_api_token("backup").await.unwrap();
        Filled {
            session,
            api_token,
            in_flight,
        }
    }

    /// Every action, newest first, walking the history three at a time, each with
    /// its output.
    async fn history(service: &Service) -> Vec<homelab_protocol::Action> {
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = service
                .history(&HistoryFilter::default(), cursor.as_deref(), 3)
                .await
                .unwrap();
            for action in page.actions {
                all.push(service.action(action.id).await.unwrap());
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }

    #[tokio::test]
    async fn a_sqlite_installation_moves_to_postgres_whole() {
        let dir = tempfile::tempdir().unwrap();
        let source_url = sqlite_url(&dir);
        let filled = fill(&source_url).await;
        let target_url = postgres_target().await;

        let moved = homelab_cmd(&source_url, &["migrate-to", &target_url, "--yes"]).await;
        let (stdout, stderr) = (text(&moved.stdout), text(&moved.stderr));
        assert!(moved.status.success(), "{moved:?}");
        for line in [
            "servers                  3",
            "pending_packages         4",
            "actions                  8",
            "users                    1",
            "sessions                 1",
            "api_tokens               1",
        ] {
            assert!(stdout.contains(line), "{line:?} in {stdout}");
        }
        assert!(stdout.contains("postgres://postgres:***@"), "{stdout}");
        for secret in [URL_SECRET, PASSWORD, &filled.session, &filled.api_token] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{moved:?}"
            );
        }

        let source = service(Database::connect(&source_url).await.unwrap());
        let target = service(Database::connect(&target_url).await.unwrap());
        assert_eq!(
            source.list_servers().await.unwrap(),
            target.list_servers().await.unwrap()
        );
        assert_eq!(
            source.server_detail(&id("nas")).await.unwrap(),
            target.server_detail(&id("nas")).await.unwrap()
        );
        assert_eq!(
            source.packages(&id("nas")).await.unwrap(),
            target.packages(&id("nas")).await.unwrap()
        );
        let copied = history(&target).await;
        assert_eq!(history(&source).await, copied);
        let mut statuses: Vec<_> = copied.iter().map(|a| a.status.as_str()).collect();
        statuses.sort();
        statuses.dedup();
        assert_eq!(statuses.len(), 7, "every status: {statuses:?}");

        // The same people and scripts get in.
        target.login("admin", PASSWORD).await.unwrap();
        assert_eq!(
            target
                .session_user(&filled.session)
                .await
                .unwrap()
                .as_deref(),
            Some("admin")
        );
        assert_eq!(
            target
                .api_token_name(&filled.api_token)
                .await
                .unwrap()
                .as_deref(),
            Some("backup")
        );
        // New actions follow the copied ones; the one in flight still guards its slot.
        let next = target
            .create_action(
                &id("nas"),
                ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
                "admin",
            )
            .await
            .unwrap();
        assert!(copied.iter().all(|a| a.id < next.id), "{next:?}");
        match target
            .create_action(&id("nas"), ActionSpec::AptUpdate, "admin")
            .await
        {
            Err(homelab_core::Error::Conflict {
                existing_action_id, ..
            }) => assert_eq!(existing_action_id, Some(filled.in_flight)),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            target.action(filled.in_flight).await.unwrap().status,
            ActionStatus::Executing
        );
    }

    /// How many rows each table of the database at `url` holds.
    async fn counts(url: &str) -> Vec<i64> {
        let db = Database::connect(url).await.unwrap();
        let mut counts = Vec::new();
        for table in [
            "servers",
            "pending_packages",
            "actions",
            "users",
            "sessions",
            "api_tokens",
        ] {
            counts.push(
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(db.pool())
                    .await
                    .unwrap(),
            );
        }
        counts
    }

    #[tokio::test]
    async fn migrate_to_refuses_what_it_cannot_do_safely_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let source_url = sqlite_url(&dir);
        fill(&source_url).await;
        let source_counts = counts(&source_url).await;
        let empty = postgres_target().await;
        let refused = |out: &std::process::Output, words: &str| {
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{out:?}");
            assert!(stderr.contains(words), "{words:?} in {stderr}");
            assert!(!stderr.contains(URL_SECRET), "{stderr}");
        };

        // Nobody at a terminal to confirm.
        let unconfirmed = homelab_cmd(&source_url, &["migrate-to", &empty]).await;
        refused(&unconfirmed, "--yes");
        assert_eq!(counts(&empty).await, [0; 6]);

        // Into itself.
        let itself = homelab_cmd(&source_url, &["migrate-to", &source_url, "--yes"]).await;
        refused(&itself, "the same database");

        // From a file that is not there: an error, not an empty "installation".
        let missing = dir.path().join("typo.db");
        let from_nothing = homelab_cmd(
            &format!("sqlite://{}", missing.display()),
            &["migrate-to", &empty, "--yes"],
        )
        .await;
        refused(&from_nothing, "no database file");
        assert!(!missing.exists());
        assert_eq!(counts(&empty).await, [0; 6]);

        // Into a database already in use: refused, nothing changed on either side.
        let used = postgres_target().await;
        service(Database::connect(&used).await.unwrap())
            .set_user_password("someone", PASSWORD)
            .await
            .unwrap();
        let into_used = homelab_cmd(&source_url, &["migrate-to", &used, "--yes"]).await;
        refused(&into_used, "not empty (users: 1)");
        assert_eq!(counts(&used).await, [0, 0, 0, 1, 0, 0]);
        assert_eq!(counts(&source_url).await, source_counts);

        // Into a server that does not answer.
        let nowhere = format!("postgres://postgres:{URL_SECRET}@127.0.0.1:1/homelab");
        let unreachable = homelab_cmd(&source_url, &["migrate-to", &nowhere, "--yes"]).await;
        refused(
            &unreachable,
            "opening the target database postgres://postgres:***@127.0.0.1:1/homelab",
        );
        assert!(
            text(&unreachable.stderr).contains("refused"),
            "{unreachable:?}"
        );
        assert_eq!(counts(&source_url).await, source_counts);
    }
}
