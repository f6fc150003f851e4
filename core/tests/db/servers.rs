//! `servers` and `pending_packages`.

use homelab_core::db::{Database, DbError, packages, servers};
use homelab_protocol::{DebVersion, PackageName, PendingPackage, UpdateCounts};

use crate::support::{add_server, id, name, write};

pub async fn servers_are_listed_by_name_and_a_second_id_is_refused(db: Database) {
    add_server(&db, "web", "h1").await;
    let err = write(&db, |tx| {
        Box::pin(async move {
            Ok::<_, DbError>(servers::insert(tx, &id("web"), &name("Other"), "h2", 1).await)
        })
    })
    .await
    .unwrap_err();
    assert!(matches!(err, servers::InsertError::DuplicateId(ref d) if d.as_str() == "web"));
    add_server(&db, "nas", "h3").await;
    let listed = servers::list(&db).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["nas", "web"]);
    assert_eq!(listed[1].name.as_str(), "Test", "the first insert stands");
    assert_eq!(listed[0].last_seen_ms, None);
}

pub async fn a_removed_server_is_hidden_locked_out_and_its_id_reusable(db: Database) {
    add_server(&db, "nas", "h1").await;
    let removed = write(&db, |tx| {
        Box::pin(async move { servers::remove(tx, &id("nas"), "admin", 5).await })
    })
    .await;
    assert!(removed);
    assert!(servers::list(&db).await.unwrap().is_empty());
    assert!(servers::get(db.pool(), &id("nas")).await.unwrap().is_none());
    assert!(
        servers::find_by_token_hash(db.pool(), "h1")
            .await
            .unwrap()
            .is_none()
    );
    let again = write(&db, |tx| {
        Box::pin(async move { servers::remove(tx, &id("nas"), "admin", 6).await })
    })
    .await;
    assert!(!again, "a removed server cannot be removed twice");
    // Its id comes back as a new machine.
    add_server(&db, "nas", "h2").await;
    let back = servers::get(db.pool(), &id("nas")).await.unwrap().unwrap();
    assert!(!back.paused);
    assert!(
        servers::find_by_token_hash(db.pool(), "h2")
            .await
            .unwrap()
            .is_some()
    );
}

fn package(name: &str, security: bool, held: bool) -> PendingPackage {
    PendingPackage {
        name: PackageName::parse(name).unwrap(),
        current_version: DebVersion::parse("1.0-1").unwrap(),
        new_version: DebVersion::parse("1.1-1").unwrap(),
        repository: "bookworm-security".into(),
        is_security: security,
        security_version: security.then(|| DebVersion::parse("1.1-1").unwrap()),
        held,
        kept_back: false,
    }
}

/// Stores `list` as a heartbeat at `now` would: the rows, then the counts with the
/// server.
async fn store_list(db: &Database, list: Vec<PendingPackage>, now: i64) {
    write(db, move |tx| {
        Box::pin(async move {
            packages::replace(tx, &id("nas"), &list, now).await?;
            let mut hb = homelab_core::service::testing::heartbeat(None);
            // A value whose shortest decimal form needs all 17 digits.
            hb.metrics.cpu_percent = 0.1 + 0.2;
            let counts = UpdateCounts::of(&list);
            servers::record_heartbeat(tx, &id("nas"), &hb, Some(("digest", Some(counts))), now)
                .await
        })
    })
    .await
}

pub async fn a_package_list_keeps_first_seen_times_and_counts_exclude_held(db: Database) {
    add_server(&db, "nas", "h1").await;
    store_list(
        &db,
        vec![package("curl", true, false), package("vim", false, false)],
        100,
    )
    .await;
    store_list(
        &db,
        vec![
            package("curl", true, false),
            package("held", true, true),
            package("zsh", false, false),
        ],
        200,
    )
    .await;
    let stored = packages::list(db.pool(), &id("nas")).await.unwrap();
    let seen: Vec<_> = stored
        .iter()
        .map(|s| (s.package.name.as_str().to_owned(), s.first_seen_ms))
        .collect();
    // Security first, then by name; curl kept its first-seen time, vim is gone.
    assert_eq!(
        seen,
        [
            ("curl".to_owned(), 100),
            ("held".to_owned(), 200),
            ("zsh".to_owned(), 200)
        ]
    );
    let server = servers::get(db.pool(), &id("nas")).await.unwrap().unwrap();
    assert_eq!(
        server.updates,
        UpdateCounts {
            total: 2,
            security: 1
        },
        "held is neither installable nor counted"
    );
    // The list reads its rows another way than `get` (as JSON the database builds):
    // every column the same, but SQLite's JSON writes a float with 15 significant
    // digits, not the 17 that 0.1 + 0.2 needs.
    let mut listed = servers::list(&db).await.unwrap();
    assert_eq!(listed.len(), 1);
    let cpu = |s: &servers::ServerRecord| s.metrics.as_ref().unwrap().cpu_percent;
    assert!((cpu(&listed[0]) - cpu(&server)).abs() < 1e-12);
    listed[0].metrics = server.metrics;
    assert_eq!(listed, [server]);
}

pub async fn a_changed_list_is_stored_exactly_whatever_its_size(db: Database) {
    add_server(&db, "nas", "h1").await;
    let with_version = |i: usize, version: &str| PendingPackage {
        new_version: DebVersion::parse(version).unwrap(),
        ..package(&format!("pkg-{i:03}"), i.is_multiple_of(5), false)
    };
    // 150 packages: written in runs of 64, 8 and 1 rows.
    let first: Vec<_> = (0..150).map(|i| with_version(i, "1.1-1")).collect();
    store_list(&db, first, 100).await;
    // Then: 0..10 gone, every seventh changed, 150..223 new (73: 64 + 8 + 1).
    let second: Vec<_> = (10..223)
        .map(|i| with_version(i, if i % 7 == 0 { "1.2-1" } else { "1.1-1" }))
        .collect();
    store_list(&db, second.clone(), 200).await;
    let mut stored = packages::list(db.pool(), &id("nas")).await.unwrap();
    stored.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    let expected: Vec<_> = second
        .into_iter()
        .enumerate()
        .map(|(n, package)| packages::StoredPackage {
            first_seen_ms: if n + 10 < 150 { 100 } else { 200 },
            package,
        })
        .collect();
    assert_eq!(stored, expected);
    // The same list again changes nothing; an empty one empties it.
    let again = stored.iter().map(|s| s.package.clone()).collect();
    store_list(&db, again, 300).await;
    let mut after = packages::list(db.pool(), &id("nas")).await.unwrap();
    after.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    assert_eq!(after, stored);
    // The largest list a heartbeat may carry, then all but one of it.
    let most: Vec<_> = (0..homelab_protocol::MAX_PACKAGES)
        .map(|i| with_version(i, "1.1-1"))
        .collect();
    store_list(&db, most.clone(), 350).await;
    store_list(&db, most[1..].to_vec(), 360).await;
    let stored = packages::list(db.pool(), &id("nas")).await.unwrap();
    assert_eq!(stored.len(), homelab_protocol::MAX_PACKAGES - 1);
    store_list(&db, Vec::new(), 400).await;
    assert!(
        packages::list(db.pool(), &id("nas"))
            .await
            .unwrap()
            .is_empty()
    );
    let server = servers::get(db.pool(), &id("nas")).await.unwrap().unwrap();
    assert_eq!(server.updates, UpdateCounts::default());
}
