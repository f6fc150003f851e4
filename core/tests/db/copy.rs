//! `db::copy`: a whole installation into an empty database of the other backend, and
//! back. Needs `HOMELAB_TEST_POSTGRES_URL` (`./scripts/test` starts a cluster).

use std::time::Duration;

use homelab_core::Service;
use homelab_core::db::copy::{self, CopyError};
use homelab_core::db::{Backend, Database};
use homelab_core::service::{RunRequest, ScheduleRequest};
use homelab_protocol::{
    ActionId, ActionSpec, ActionType, DebVersion, Heartbeat, HistoryFilter, Metrics, PackageName,
    PendingPackage, ServerName,
};
use homelab_protocol::{CronLine, RunTarget, ScheduleId, ScheduleName, Tag, ZoneName};

use crate::support::{fresh_postgres, fresh_sqlite, id};

fn service(db: &Database) -> Service {
    Service::new(db.clone(), Duration::from_secs(60))
}

fn heartbeat(packages: usize) -> Heartbeat {
    Heartbeat {
        boot_id: None,
        agent_version: "0.1.0".into(),
        os: "Debian GNU/Linux 12".into(),
        hostname: Some("nas.lan".into()),
        metrics: Metrics {
            cpu_percent: 12.5,
            memory_percent: 40.25,
            disk_percent: 71.0,
            load_1: 0.5,
            load_5: 0.25,
            load_15: 0.125,
            uptime_s: 86_400,
        },
        reboot_required: true,
        reboot_required_pkgs: vec!["linux-image-amd64".into()],
        packages: Some(
            (0..packages)
                .map(|i| PendingPackage {
                    name: PackageName::parse(format!("pkg-{i:05}")).unwrap(),
                    current_version: DebVersion::parse("1.0-1").unwrap(),
                    new_version: DebVersion::parse("1.1-1").unwrap(),
                    repository: "bookworm-security".into(),
                    is_security: i % 3 == 0,
                    security_version: (i % 3 == 0).then(|| DebVersion::parse("1.0-2").unwrap()),
                    held: i % 7 == 0,
                    kept_back: i % 11 == 0,
                })
                .collect(),
        ),
    }
}

/// An installation larger than one page of every table: a server with 1,200
/// packages, 600 actions, a server removed since, and one whose upgrade the agent
/// held, with its preview.
async fn fill(db: &Database) {
    let service = service(db);
    let nas = service
        .add_server(id("nas"), ServerName::parse("NAS").unwrap())
        .await
        .unwrap();
    service
        .heartbeat(&nas.agent_token, heartbeat(1_200))
        .await
        .unwrap();
    service
        .add_server(id("old"), ServerName::parse("Old box").unwrap())
        .await
        .unwrap();
    let logs = ActionSpec::parse(ActionType::ClearLogs, None).unwrap();
    for i in 0..600 {
        let server = if i % 2 == 0 { id("nas") } else { id("old") };
        service
            .create_action(&server, logs.clone(), "admin")
            .await
            .unwrap();
    }
    // A fleet run on a tag: one more action, which names its run.
    let lab_tag = homelab_protocol::Tag::parse("lab").unwrap();
    service
        .set_tags(&id("nas"), vec![lab_tag.clone()], "admin")
        .await
        .unwrap();
    service
        .start_run(
            homelab_core::service::RunRequest::new(logs, homelab_protocol::RunTarget::Tag(lab_tag)),
            "admin",
        )
        .await
        .unwrap();
    // An upgrade the agent held (apt would remove a package), with its preview and
    // a new preview asked for since.
    let lab = service
        .add_server(id("lab"), ServerName::parse("Lab").unwrap())
        .await
        .unwrap();
    let upgrade = service
        .create_action(
            &id("lab"),
            ActionSpec::parse(ActionType::AptUpgradeAll, None).unwrap(),
            "admin",
        )
        .await
        .unwrap();
    service
        .next_action(&id("lab"), &lab.agent_token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let removed = homelab_protocol::PreviewPackage {
        name: PackageName::parse("hl-victim").unwrap(),
        version: DebVersion::parse("1.0-1").unwrap(),
    };
    service
        .hold(
            &id("lab"),
            upgrade.id,
            homelab_protocol::AptPreview {
                removed: vec![removed],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    service.request_preview(upgrade.id, "admin").await.unwrap();
    assert!(
        service
            .create_action(&id("lab"), ActionSpec::AptUpdate, "admin")
            .await
            .is_err(),
        "the held upgrade keeps its slot"
    );
    service.remove_server(&id("old"), "admin").await.unwrap();
    service
        .set_user_password("admin", "correct horse")
        .await
        .unwrap();
    service.create_api_token("backup").await.unwrap();
    for (name, target) in [
        ("nightly", RunTarget::Servers(vec![id("nas")])),
        ("lab weekly", RunTarget::Tag(Tag::parse("lab").unwrap())),
    ] {
        service
            .create_schedule(schedule(name, target), "admin")
            .await
            .unwrap();
    }
    let hook = service
        .create_webhook(webhook("phone"), "admin")
        .await
        .unwrap();
    service
        .test_webhook(hook.webhook.id, "admin")
        .await
        .unwrap();
}

fn webhook(name: &str) -> homelab_core::service::WebhookRequest {
    homelab_core::service::WebhookRequest::try_from(homelab_core::service::WebhookDraft {
        name: name.to_owned(),
        url: "https://ntfy.example/s3cret-topic".to_owned(),
        format: "json".to_owned(),
        events: vec!["action.failed".to_owned()],
        secret: None,
    })
    .unwrap()
}

fn schedule(name: &str, target: RunTarget) -> ScheduleRequest {
    ScheduleRequest {
        name: ScheduleName::parse(name).unwrap(),
        cron: CronLine::parse("0 3 * * SUN").unwrap(),
        timezone: ZoneName::parse("Europe/London").unwrap(),
        run: RunRequest::new(ActionSpec::AptUpgradeSecurity, target),
    }
}

/// Every page of the whole history, newest first.
async fn history(service: &Service) -> Vec<homelab_protocol::Action> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = service
            .history(&HistoryFilter::default(), cursor.as_deref(), 200)
            .await
            .unwrap();
        all.extend(page.actions);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// What the two databases must agree on, seen through the service.
async fn assert_same(a: &Database, b: &Database) {
    let (a, b) = (service(a), service(b));
    assert_eq!(
        a.list_servers().await.unwrap(),
        b.list_servers().await.unwrap()
    );
    assert_eq!(
        a.server_detail(&id("nas")).await.unwrap(),
        b.server_detail(&id("nas")).await.unwrap()
    );
    assert_eq!(
        a.package_first_seen(&id("nas")).await.unwrap(),
        b.package_first_seen(&id("nas")).await.unwrap()
    );
    assert_eq!(history(&a).await, history(&b).await);
    assert_eq!(
        a.runs(None, 200).await.unwrap(),
        b.runs(None, 200).await.unwrap()
    );
    assert_eq!(
        a.list_api_tokens().await.unwrap(),
        b.list_api_tokens().await.unwrap()
    );
    assert_eq!(a.schedules().await.unwrap(), b.schedules().await.unwrap());
    assert_eq!(a.webhooks().await.unwrap(), b.webhooks().await.unwrap());
}

async fn counts(db: &Database) -> Vec<i64> {
    let mut counts = Vec::new();
    for (table, _) in copy::copied_columns() {
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
async fn a_copy_to_postgres_and_back_keeps_everything_and_ids_continue() {
    let (sqlite, _s) = fresh_sqlite().await;
    fill(&sqlite).await;
    let (postgres, _p) = fresh_postgres().await;

    let copied = copy::copy_all(&sqlite, &postgres).await.unwrap();
    assert_eq!(
        copied.tables(),
        [
            ("servers", 3),
            ("pending_packages", 1_200),
            ("server_tags", 1),
            ("runs", 1),
            ("actions", 602),
            ("run_items", 1),
            ("users", 1),
            ("sessions", 0),
            ("api_tokens", 1),
            ("schedules", 2),
            ("action_previews", 1),
            ("webhooks", 1),
            ("webhook_deliveries", 1),
        ]
    );
    assert_same(&sqlite, &postgres).await;
    assert_eq!(
        service(&postgres)
            .create_action(&id("nas"), ActionSpec::AptUpdate, "admin")
            .await
            .unwrap()
            .id,
        ActionId::new(603)
    );

    let more = schedule("monthly", RunTarget::Servers(vec![id("nas")]));
    assert_eq!(
        service(&postgres)
            .create_schedule(more, "admin")
            .await
            .unwrap()
            .id,
        ScheduleId::new(3),
        "schedule ids continue after the copied ones"
    );
    let hook = service(&postgres)
        .create_webhook(webhook("second"), "admin")
        .await
        .unwrap();
    assert_eq!(
        hook.webhook.id,
        homelab_protocol::WebhookId::new(2),
        "webhook ids continue after the copied ones"
    );

    // Back into SQLite: a backup of the PostgreSQL installation.
    let (backup, _b) = fresh_sqlite().await;
    let copied = copy::copy_all(&postgres, &backup).await.unwrap();
    assert_eq!((copied.actions, copied.action_previews), (603, 1));
    assert_same(&postgres, &backup).await;
    assert_eq!(
        service(&backup)
            .create_action(&id("nas"), ActionSpec::AptUpgradeAll, "admin")
            .await
            .unwrap_err()
            .to_string(),
        service(&postgres)
            .create_action(&id("nas"), ActionSpec::AptUpgradeAll, "admin")
            .await
            .unwrap_err()
            .to_string(),
        "the copied apt action in flight still holds its slot"
    );
    let next = service(&backup)
        .create_action(
            &id("nas"),
            ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(next.id, ActionId::new(604));
    // Run ids continue too.
    let run = service(&backup)
        .start_run(
            homelab_core::service::RunRequest::new(
                ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
                homelab_protocol::RunTarget::Servers(vec![id("nas")]),
            ),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(run.id, homelab_protocol::RunId::new(2));
}

#[tokio::test]
async fn a_target_that_is_not_empty_is_refused_and_left_as_it_was() {
    let (source, _s) = fresh_sqlite().await;
    fill(&source).await;
    let (target, _t) = fresh_postgres().await;
    service(&target)
        .set_user_password("someone", "correct horse")
        .await
        .unwrap();

    let err = copy::copy_all(&source, &target).await.unwrap_err();
    assert!(
        matches!(&err, CopyError::TargetNotEmpty(held) if held == "users: 1"),
        "{err}"
    );
    assert_eq!(
        counts(&target).await,
        [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    );
}

#[tokio::test]
async fn a_failure_halfway_leaves_the_target_empty() {
    let (source, _s) = fresh_sqlite().await;
    fill(&source).await;
    // A row no backend can read as an action (SQLite keeps whatever it is given),
    // met after the servers, the packages and the first pages of actions went across.
    sqlx::query("UPDATE actions SET timeout_s = 'sixty' WHERE id = 599")
        .execute(source.pool())
        .await
        .unwrap();
    let (target, _t) = fresh_postgres().await;

    let err = copy::copy_all(&source, &target).await.unwrap_err();
    assert!(matches!(err, CopyError::Db(_)), "{err}");
    assert_eq!(counts(&target).await, [0; 13]);
    // And once the source is mended, the same target takes the copy.
    sqlx::query("UPDATE actions SET timeout_s = 60 WHERE id = 599")
        .execute(source.pool())
        .await
        .unwrap();
    copy::copy_all(&source, &target).await.unwrap();
    assert_same(&source, &target).await;
}

/// Every table and column of the migrated schema, on `db`'s backend.
async fn schema(db: &Database) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = match db.backend() {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx_%' \
             ORDER BY table_name",
        ),
    }
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut schema = Vec::new();
    for table in tables {
        let mut columns: Vec<String> = match db.backend() {
            Backend::Sqlite => sqlx::query_scalar("SELECT name FROM pragma_table_info($1)"),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
            ),
        }
        .bind(&table)
        .fetch_all(db.pool())
        .await
        .unwrap();
        columns.sort();
        if copy::NOT_COPIED.iter().any(|(name, _)| *name == table) {
            continue;
        }
        schema.push((table, columns));
    }
    schema
}

#[tokio::test]
async fn every_table_and_column_of_both_schemas_is_copied() {
    let mut copied: Vec<(String, Vec<String>)> = copy::copied_columns()
        .into_iter()
        .map(|(table, columns)| {
            let mut columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            columns.sort();
            (table.to_owned(), columns)
        })
        .collect();
    copied.sort();
    let (sqlite, _s) = fresh_sqlite().await;
    assert_eq!(schema(&sqlite).await, copied, "SQLite");
    let (postgres, _p) = fresh_postgres().await;
    assert_eq!(schema(&postgres).await, copied, "PostgreSQL");
}
