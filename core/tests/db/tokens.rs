//! `sessions`, `users` and `api_tokens`.

use homelab_core::db::{Database, api_tokens, sessions, users};

use crate::support::write;

pub async fn sessions_end_by_token_by_user_and_all_but_one(db: Database) {
    write(&db, |tx| {
        Box::pin(async move {
            users::upsert(tx, "alice", "hash", 1).await?;
            users::upsert(tx, "bob", "hash", 1).await?;
            for (token, user) in [
                ("s1", "alice"),
                ("s2", "alice"),
                ("s3", "alice"),
                ("b1", "bob"),
            ] {
                sessions::insert_if_password(tx, token, user, "hash", 1, 1_000).await?;
            }
            Ok(())
        })
    })
    .await;
    let user = |token: &'static str, now: i64| {
        let db = db.clone();
        async move { sessions::user(db.pool(), token, now).await.unwrap() }
    };
    assert_eq!(user("s1", 10).await.as_deref(), Some("alice"));
    assert_eq!(user("s1", 1_000).await, None, "expired at its time");

    write(&db, |tx| {
        Box::pin(async move { sessions::delete(tx, "s1", 10).await })
    })
    .await;
    assert_eq!(user("s1", 10).await, None);
    let ended = write(&db, |tx| {
        Box::pin(async move { sessions::delete_others(tx, "alice", "s2").await })
    })
    .await;
    assert_eq!(ended, 1);
    assert_eq!(user("s2", 10).await.as_deref(), Some("alice"));
    assert_eq!(user("s3", 10).await, None);
    let ended = write(&db, |tx| {
        Box::pin(async move { sessions::delete_for_user(tx, "alice").await })
    })
    .await;
    assert_eq!(ended, 1);
    assert_eq!(
        user("b1", 10).await.as_deref(),
        Some("bob"),
        "other users keep theirs"
    );
    assert_eq!(users::count(db.pool()).await.unwrap(), 2);
    assert_eq!(
        users::password_hash(db.pool(), "alice")
            .await
            .unwrap()
            .as_deref(),
        Some("hash")
    );
}

pub async fn api_tokens_are_found_listed_and_deleted(db: Database) {
    let first = write(&db, |tx| {
        Box::pin(async move { api_tokens::insert(tx, "backup", "h1", 5).await })
    })
    .await;
    let taken = write(&db, |tx| {
        Box::pin(async move { api_tokens::insert(tx, "backup", "h2", 6).await })
    })
    .await;
    assert!(first && !taken, "a name is taken once");
    assert_eq!(
        api_tokens::find(db.pool(), "h1").await.unwrap().as_deref(),
        Some("backup")
    );
    let listed = api_tokens::list(db.pool()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].created_at_ms),
        ("backup", 5)
    );
    let gone = write(&db, |tx| {
        Box::pin(async move { api_tokens::delete(tx, "backup").await })
    })
    .await;
    assert!(gone);
    assert!(api_tokens::find(db.pool(), "h1").await.unwrap().is_none());
}

pub async fn a_session_opens_only_while_the_checked_password_is_current(db: Database) {
    write(&db, |tx| {
        Box::pin(async move { users::upsert(tx, "alice", "old", 1).await })
    })
    .await;
    let opened = write(&db, |tx| {
        Box::pin(async move { sessions::insert_if_password(tx, "s1", "alice", "old", 1, 99).await })
    })
    .await;
    assert!(opened);
    // The password changed while a login with the old one was being checked.
    write(&db, |tx| {
        Box::pin(async move { users::upsert(tx, "alice", "new", 2).await })
    })
    .await;
    let late = write(&db, |tx| {
        Box::pin(async move { sessions::insert_if_password(tx, "s2", "alice", "old", 3, 99).await })
    })
    .await;
    assert!(!late);
    assert_eq!(sessions::user(db.pool(), "s2", 4).await.unwrap(), None);
}
