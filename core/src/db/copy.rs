//! Copying a whole installation into another database (`homelab-cmd migrate-to`):
//! SQLite to PostgreSQL when an installation outgrows one machine, or back (a
//! backup). Every row of every table goes across as it is stored, ids included, so
//! links to actions, the history, logins, sessions and tokens all stay valid.
//!
//! - The target must be empty (checked inside the copy's own transaction) and the
//!   whole copy is one [`Database::write`]: all or nothing.
//! - The source is read in one read-only transaction, a consistent snapshot (a
//!   deferred transaction in SQLite's WAL mode; `REPEATABLE READ` on PostgreSQL).
//!   Whatever a running dashboard writes after the snapshot is not copied, so the
//!   dashboard must be stopped first.
//! - Tables are walked in pages by primary key, so memory stays bounded whatever
//!   the size of the history.
//!
//! The lists of columns here are the whole tables (the query modules read only what
//! their callers need and leave out secrets and removed rows); a test compares them
//! with the migrated schema of both backends, so a new column cannot be left behind
//! unnoticed.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Transaction};

use super::{Backend, Database, DbError, Tx};

/// How many rows a page holds when a table is read.
const PAGE_ROWS: usize = 1_000;
/// A page of actions: each carries up to 64 KiB of stdout and of stderr, so a page
/// holds at most about 32 MiB.
const ACTION_PAGE_ROWS: usize = 250;
/// A page of previews: each holds up to three lists of a thousand packages (about
/// 1.3 MiB at worst), so a page holds at most about 64 MiB.
const PREVIEW_PAGE_ROWS: usize = 50;
/// Parameters per `INSERT`: well under SQLite's (32,766) and PostgreSQL's (65,535)
/// limits.
const MAX_BINDS: usize = 8_000;

/// How many rows of each table were copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub servers: u64,
    pub pending_packages: u64,
    pub server_tags: u64,
    pub runs: u64,
    pub actions: u64,
    pub run_items: u64,
    pub users: u64,
    pub sessions: u64,
    pub api_tokens: u64,
    pub schedules: u64,
    pub action_previews: u64,
    pub webhooks: u64,
    pub webhook_deliveries: u64,
}

impl Copied {
    /// Each table's name and count, in the order they are copied.
    pub fn tables(&self) -> [(&'static str, u64); 13] {
        [
            (ServerRow::NAME, self.servers),
            (PackageRow::NAME, self.pending_packages),
            (TagRow::NAME, self.server_tags),
            (RunRow::NAME, self.runs),
            (ActionRow::NAME, self.actions),
            (RunItemRow::NAME, self.run_items),
            (UserRow::NAME, self.users),
            (SessionRow::NAME, self.sessions),
            (ApiTokenRow::NAME, self.api_tokens),
            (ScheduleRow::NAME, self.schedules),
            (PreviewRow::NAME, self.action_previews),
            (WebhookRow::NAME, self.webhooks),
            (DeliveryRow::NAME, self.webhook_deliveries),
        ]
    }
}

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database is not empty ({0}): migrate-to copies only into an empty \
         database; was a dashboard started on it?"
    )]
    TargetNotEmpty(String),
    #[error("the source and the target are the same database")]
    SameDatabase,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether two database URLs name the same database, as far as the URLs tell: the
/// same SQLite file (however its path is spelled), or the same PostgreSQL URL. Two
/// spellings of one PostgreSQL server are caught anyway: the source's rows make the
/// target not empty.
pub fn same_database(a: &str, b: &str) -> bool {
    match (super::sqlite_file(a), super::sqlite_file(b)) {
        (Some(a), Some(b)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        _ => {
            let plain = |url: &str| {
                url.trim()
                    .trim_end_matches('/')
                    .replacen("postgresql://", "postgres://", 1)
            };
            plain(a) == plain(b)
        }
    }
}

/// Copies every row of `source` into `target`, which must be empty, in one
/// transaction on the target; afterwards new actions on the target get ids above
/// the copied ones.
pub async fn copy_all(source: &Database, target: &Database) -> Result<Copied, CopyError> {
    let source = source.clone();
    let target_backend = target.backend();
    target
        .write(move |dst| {
            Box::pin(async move {
                refuse_unless_empty(dst).await?;
                // The snapshot: every page below is read from the same state.
                let snapshot = match source.backend() {
                    Backend::Sqlite => "BEGIN",
                    Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                };
                let mut src = source
                    .pool()
                    .begin_with(snapshot)
                    .await
                    .map_err(DbError::from)?;
                // Parents before children: the target checks the foreign keys.
                let copied = Copied {
                    servers: copy_table::<ServerRow>(&mut src, dst, PAGE_ROWS).await?,
                    pending_packages: copy_table::<PackageRow>(&mut src, dst, PAGE_ROWS).await?,
                    server_tags: copy_table::<TagRow>(&mut src, dst, PAGE_ROWS).await?,
                    // Runs before the actions that name them, their items after both.
                    runs: copy_table::<RunRow>(&mut src, dst, PAGE_ROWS).await?,
                    actions: copy_table::<ActionRow>(&mut src, dst, ACTION_PAGE_ROWS).await?,
                    run_items: copy_table::<RunItemRow>(&mut src, dst, PAGE_ROWS).await?,
                    users: copy_table::<UserRow>(&mut src, dst, PAGE_ROWS).await?,
                    sessions: copy_table::<SessionRow>(&mut src, dst, PAGE_ROWS).await?,
                    api_tokens: copy_table::<ApiTokenRow>(&mut src, dst, PAGE_ROWS).await?,
                    schedules: copy_table::<ScheduleRow>(&mut src, dst, PAGE_ROWS).await?,
                    action_previews: copy_table::<PreviewRow>(&mut src, dst, PREVIEW_PAGE_ROWS)
                        .await?,
                    webhooks: copy_table::<WebhookRow>(&mut src, dst, PAGE_ROWS).await?,
                    webhook_deliveries: copy_table::<DeliveryRow>(&mut src, dst, PAGE_ROWS).await?,
                };
                src.rollback().await.map_err(DbError::from)?;
                continue_ids_after_copied(dst, target_backend).await?;
                Ok(copied)
            })
        })
        .await
}

/// Refuses a target that holds anything at all.
async fn refuse_unless_empty(dst: &mut Tx) -> Result<(), CopyError> {
    let mut held = Vec::new();
    for table in Copied::default().tables().map(|(name, _)| name) {
        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut **dst)
            .await
            .map_err(DbError::from)?;
        if count > 0 {
            held.push(format!("{table}: {count}"));
        }
    }
    if held.is_empty() {
        Ok(())
    } else {
        Err(CopyError::TargetNotEmpty(held.join(", ")))
    }
}

/// Makes the target's next action, run and schedule ids follow the highest copied
/// ones. SQLite's AUTOINCREMENT already moved past every id inserted; PostgreSQL's
/// sequences know nothing of ids given explicitly.
async fn continue_ids_after_copied(dst: &mut Tx, backend: Backend) -> Result<(), DbError> {
    if backend == Backend::Postgres {
        for table in [
            ActionRow::NAME,
            RunRow::NAME,
            ScheduleRow::NAME,
            WebhookRow::NAME,
            DeliveryRow::NAME,
        ] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut **dst)
            .await?;
        }
    }
    Ok(())
}

/// Copies one table page by page, in the order of its key; returns the rows copied.
async fn copy_table<T: Table>(
    src: &mut Transaction<'static, Any>,
    dst: &mut Tx,
    page_rows: usize,
) -> Result<u64, DbError> {
    let columns = T::COLUMNS.join(", ");
    let key = T::KEY.join(", ");
    let first = format!("SELECT {columns} FROM {} ORDER BY {key} LIMIT $1", T::NAME);
    let after = format!(
        "SELECT {columns} FROM {} WHERE ({key}) > ({}) ORDER BY {key} LIMIT ${}",
        T::NAME,
        placeholders(1, T::KEY.len()),
        T::KEY.len() + 1
    );
    let limit = i64::try_from(page_rows).unwrap_or(i64::MAX);
    let mut last: Option<Vec<KeyPart>> = None;
    let mut copied = 0;
    loop {
        let page: Vec<T> = match &last {
            None => sqlx::query_as(&first).bind(limit),
            Some(key) => key
                .iter()
                .fold(sqlx::query_as(&after), |q, part| part.bind_to(q))
                .bind(limit),
        }
        .fetch_all(&mut **src)
        .await?;
        let Some(tail) = page.last() else { break };
        last = Some(tail.key());
        let full = page.len() == page_rows;
        copied += page.len() as u64;
        insert_rows(dst, page).await?;
        if !full {
            break;
        }
    }
    tracing::info!(table = T::NAME, rows = copied, "table copied");
    Ok(copied)
}

/// Inserts `rows` with as few statements as the parameter limit allows.
async fn insert_rows<T: Table>(dst: &mut Tx, rows: Vec<T>) -> Result<(), DbError> {
    let per_statement = (MAX_BINDS / T::COLUMNS.len()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<T> = rows.by_ref().take(per_statement).collect();
        let width = T::COLUMNS.len();
        let values = (0..chunk.len())
            .map(|i| format!("({})", placeholders(i * width + 1, width)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {values}",
            T::NAME,
            T::COLUMNS.join(", ")
        );
        chunk
            .into_iter()
            .fold(sqlx::query(&sql), |q, row| row.bind_to(q))
            .execute(&mut **dst)
            .await?;
    }
    Ok(())
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;
type AnyQueryAs<'q, T> = sqlx::query::QueryAs<'q, Any, T, AnyArguments<'q>>;

/// One column of a row's key, to start the next page after it.
#[derive(Debug, Clone)]
enum KeyPart {
    Text(String),
    Int(i64),
}

impl KeyPart {
    fn bind_to<'q, T>(&self, query: AnyQueryAs<'q, T>) -> AnyQueryAs<'q, T> {
        match self {
            KeyPart::Text(text) => query.bind(text.clone()),
            KeyPart::Int(int) => query.bind(*int),
        }
    }
}

impl From<&String> for KeyPart {
    fn from(text: &String) -> Self {
        KeyPart::Text(text.clone())
    }
}

impl From<&i64> for KeyPart {
    fn from(int: &i64) -> Self {
        KeyPart::Int(*int)
    }
}

/// A table as copied: its whole row, read and written as stored.
trait Table: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin + 'static {
    const NAME: &'static str;
    /// Every column, in the order [`Table::bind_to`] binds them.
    const COLUMNS: &'static [&'static str];
    /// The primary key, the order pages are walked in.
    const KEY: &'static [&'static str];
    fn key(&self) -> Vec<KeyPart>;
    fn bind_to<'q>(self, query: AnyQuery<'q>) -> AnyQuery<'q>;
}

/// Declares a table's row once: the struct, its column list and its binding all
/// come from the same list of fields, so they cannot disagree.
macro_rules! table {
    (
        $(#[$doc:meta])*
        $row:ident = $table:literal, key ($($key:ident),+) {
            $($column:ident: $ty:ty),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(sqlx::FromRow)]
        struct $row {
            $($column: $ty),+
        }

        impl Table for $row {
            const NAME: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($column)),+];
            const KEY: &'static [&'static str] = &[$(stringify!($key)),+];

            fn key(&self) -> Vec<KeyPart> {
                vec![$(KeyPart::from(&self.$key)),+]
            }

            fn bind_to<'q>(self, query: AnyQuery<'q>) -> AnyQuery<'q> {
                $(let query = query.bind(self.$column);)+
                query
            }
        }
    };
}

// Flags are 0/1 integers and times Unix milliseconds on both backends; statuses,
// policies and JSON are text, copied as stored (the target's CHECKs see them again).

table! {
    /// Every server, removed ones included (their history points at them).
    ServerRow = "servers", key (id) {
        id: String,
        name: String,
        agent_token_hash: String,
        hostname: Option<String>,
        os: Option<String>,
        agent_version: Option<String>,
        last_seen_ms: Option<i64>,
        reboot_required: i64,
        paused: i64,
        paused_at_ms: Option<i64>,
        created_at_ms: i64,
        cpu_percent: Option<f64>,
        memory_percent: Option<f64>,
        disk_percent: Option<f64>,
        load_1: Option<f64>,
        load_5: Option<f64>,
        load_15: Option<f64>,
        uptime_s: Option<i64>,
        packages_digest: Option<String>,
        packages_seen_at_ms: Option<i64>,
        approval_policy: String,
        reboot_required_pkgs: String,
        removed_at_ms: Option<i64>,
        removed_by: Option<String>,
        updates_count: i64,
        security_updates_count: i64,
        boot_id: Option<String>,
        presence_notified: Option<String>,
    }
}

table! {
    /// Each server's pending updates.
    PackageRow = "pending_packages", key (server_id, name) {
        server_id: String,
        name: String,
        current_version: String,
        new_version: String,
        repository: String,
        is_security: i64,
        security_version: Option<String>,
        held: i64,
        kept_back: i64,
        first_seen_ms: i64,
    }
}

table! {
    /// The whole history with its ids, and the duplicate-guard slots of the actions
    /// in flight (so the guard holds on the target at once).
    ActionRow = "actions", key (id) {
        id: i64,
        server_id: String,
        action_type: String,
        unit: Option<String>,
        parameters: Option<String>,
        argv: String,
        status: String,
        timeout_s: i64,
        created_at_ms: i64,
        created_by: String,
        approved_at_ms: Option<i64>,
        approved_by: Option<String>,
        rejected_at_ms: Option<i64>,
        rejected_by: Option<String>,
        reject_reason: Option<String>,
        cancelled_at_ms: Option<i64>,
        cancelled_by: Option<String>,
        started_at_ms: Option<i64>,
        lease_expires_at_ms: Option<i64>,
        finished_at_ms: Option<i64>,
        exit_code: Option<i64>,
        failure: Option<String>,
        stdout: String,
        stderr: String,
        lease_lost_at_ms: Option<i64>,
        slot: Option<String>,
        slot_while_running: i64,
        request_id: Option<String>,
        run_id: Option<i64>,
        preview_requested_at_ms: Option<i64>,
        preview_sent_at_ms: Option<i64>,
        held_at_ms: Option<i64>,
        hold_reason: Option<String>,
        boot_id_before: Option<String>,
        reported_at_ms: Option<i64>,
    }
}

table! {
    /// The tags that group servers.
    TagRow = "server_tags", key (server_id, tag) {
        server_id: String,
        tag: String,
    }
}

table! {
    /// Fleet runs with their ids (actions and items point at them) and the schedule
    /// firings they ran for (so a firing is not run again on the target).
    RunRow = "runs", key (id) {
        id: i64,
        action_type: String,
        parameters: Option<String>,
        tag: Option<String>,
        batch_size: i64,
        max_failures: i64,
        status: String,
        created_at_ms: i64,
        created_by: String,
        schedule_id: Option<i64>,
        fire_at_ms: Option<i64>,
        late: i64,
        finished_at_ms: Option<i64>,
        cancelled_by: Option<String>,
        reboot_if_required: i64,
        request_id: Option<String>,
    }
}

table! {
    /// Each server's place in each run.
    RunItemRow = "run_items", key (run_id, position) {
        run_id: i64,
        position: i64,
        server_id: String,
        state: String,
        action_id: Option<i64>,
        reason: Option<String>,
        reboot_action_id: Option<i64>,
    }
}

table! {
    /// The latest apt preview of each action (after the actions they belong to).
    PreviewRow = "action_previews", key (action_id) {
        action_id: i64,
        taken_at_ms: i64,
        outcome: String,
    }
}

table! {
    /// Dashboard accounts (argon2 hashes: the same passwords work).
    UserRow = "users", key (name) {
        name: String,
        password_hash: String,
        created_at_ms: i64,
    }
}

table! {
    /// Sessions are copied: whoever is signed in stays signed in once the dashboard
    /// runs on the target. They are hashes, as secret as the source's own.
    SessionRow = "sessions", key (token_hash) {
        token_hash: String,
        user_name: String,
        created_at_ms: i64,
        expires_at_ms: i64,
    }
}

table! {
    /// JSON API tokens (hashes: the same tokens work).
    ApiTokenRow = "api_tokens", key (name) {
        name: String,
        token_hash: String,
        created_at_ms: i64,
    }
}

table! {
    /// Schedules with their watermarks: a copy made while the dashboard is stopped
    /// picks up where it left off (a firing missed meanwhile runs once, late).
    ScheduleRow = "schedules", key (id) {
        id: i64,
        name: String,
        cron: String,
        timezone: String,
        action_type: String,
        parameters: Option<String>,
        tag: Option<String>,
        servers: Option<String>,
        batch_size: i64,
        max_failures: i64,
        reboot_if_required: i64,
        next_fire_at_ms: Option<i64>,
        last_fired_at_ms: Option<i64>,
        last_skipped: Option<String>,
        created_at_ms: i64,
        created_by: String,
        updated_at_ms: i64,
        updated_by: String,
    }
}

table! {
    /// Webhooks with their secrets and full URLs (the target signs and sends as the
    /// source did).
    WebhookRow = "webhooks", key (id) {
        id: i64,
        name: String,
        url: String,
        format: String,
        events: String,
        secret: Option<String>,
        created_at_ms: i64,
        created_by: String,
    }
}

table! {
    /// The outbox: deliveries still waiting are sent by the target; an in-flight one
    /// is claimed again when its lease runs out.
    DeliveryRow = "webhook_deliveries", key (id) {
        id: i64,
        webhook_id: i64,
        event: String,
        payload: String,
        status: String,
        attempts: i64,
        next_attempt_at_ms: i64,
        lease_until_ms: Option<i64>,
        last_status: Option<i64>,
        last_error: Option<String>,
        created_at_ms: i64,
        finished_at_ms: Option<i64>,
    }
}

/// Tables deliberately left behind, with why: the schema test checks every other
/// table is copied whole.
pub const NOT_COPIED: &[(&str, &str)] = &[(
    "login_attempts",
    "the login throttle's memory of the last 15 minutes: a move forgets it, as a restart of one process used to",
)];

/// Each copied table with its columns, for the test that holds them to the schema.
#[cfg(any(test, feature = "testing"))]
pub fn copied_columns() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        (ServerRow::NAME, ServerRow::COLUMNS),
        (PackageRow::NAME, PackageRow::COLUMNS),
        (TagRow::NAME, TagRow::COLUMNS),
        (RunRow::NAME, RunRow::COLUMNS),
        (ActionRow::NAME, ActionRow::COLUMNS),
        (RunItemRow::NAME, RunItemRow::COLUMNS),
        (UserRow::NAME, UserRow::COLUMNS),
        (SessionRow::NAME, SessionRow::COLUMNS),
        (ApiTokenRow::NAME, ApiTokenRow::COLUMNS),
        (ScheduleRow::NAME, ScheduleRow::COLUMNS),
        (PreviewRow::NAME, PreviewRow::COLUMNS),
        (WebhookRow::NAME, WebhookRow::COLUMNS),
        (DeliveryRow::NAME, DeliveryRow::COLUMNS),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_sqlite_file_is_recognised_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.db");
        std::fs::write(&file, b"").unwrap();
        let plain = format!("sqlite://{}", file.display());
        let dotted = format!("sqlite:{}/./a.db?mode=rwc", dir.path().display());
        assert!(same_database(&plain, &dotted));
        assert!(!same_database(
            &plain,
            &format!("sqlite://{}/b.db", dir.path().display())
        ));
        assert!(same_database(
            "postgres://u:p@db/homelab",
            "postgresql://u:p@db/homelab/"
        ));
        assert!(!same_database(
            "postgres://u:p@db/homelab",
            "postgres://u:p@db/other"
        ));
        assert!(!same_database(&plain, "postgres://u:p@db/homelab"));
    }
}
