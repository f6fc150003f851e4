//! Fresh databases and small helpers for the suite.

use homelab_core::db::{Database, DbError, Tx};
use homelab_protocol::{ServerId, ServerName};

pub use homelab_core::db::testing::{fresh_postgres, fresh_sqlite};

/// Runs `work` as one write and unwraps it.
pub async fn write<T, F>(db: &Database, work: F) -> T
where
    F: for<'t> FnOnce(&'t mut Tx) -> homelab_core::db::WriteFuture<'t, T, DbError> + Send + 'static,
    T: Send + 'static,
{
    db.write(work).await.expect("write")
}

pub fn id(s: &str) -> ServerId {
    ServerId::parse(s).unwrap()
}

pub fn name(s: &str) -> ServerName {
    ServerName::parse(s).unwrap()
}

/// Adds server `server` with token hash `hash`.
pub async fn add_server(db: &Database, server: &str, hash: &str) {
    let (server, hash) = (id(server), hash.to_owned());
    write(db, move |tx| {
        Box::pin(async move {
            homelab_core::db::servers::insert(tx, &server, &name("Test"), &hash, 1)
                .await
                .map_err(|e| match e {
                    homelab_core::db::servers::InsertError::Db(e) => e,
                    other => panic!("{other}"),
                })
        })
    })
    .await;
}
