//! API tokens and dashboard accounts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Error;
use argon2::Block;
use argon2::password_hash::{self, PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use tokio::sync::Semaphore;

use super::Service;
use crate::ResultExt as _;
use crate::db::login_attempts::Attempts;
use crate::db::{self, DbError};
use crate::tokens;

/// The prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "hcp_";
/// The prefix of session tokens (the cookie's value).
pub const SESSION_TOKEN_PREFIX: &str = "hcs_";
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// The longest user name a login is checked for: longer ones cannot exist (see
/// [`Service::set_user_password`]) and are refused without hashing.
pub const MAX_LOGIN_NAME_CHARS: usize = 64;
/// The longest password a login is checked for; longer ones are refused without
/// hashing (argon2's cost grows with the input).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// How many user names the throttle remembers at most. Each entry is a name of at
/// most [`MAX_LOGIN_NAME_CHARS`] plus a few numbers: well under a megabyte in all.
const THROTTLE_CAPACITY: usize = 4096;
/// A name's record is forgotten this long after its last attempt.
const THROTTLE_FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// The longest wait an attempt is queued for; beyond it the attempt is refused at
/// once, so a flood of guesses for one name parks no requests.
const THROTTLE_MAX_WAIT: Duration = Duration::from_secs(16);

/// The login slow-down and the bound on password hashing.
///
/// Per user name: the first three attempts are free, then each must start at least
/// 0.5, 1, 2, 4, then 8 seconds after the previous one. The slot is reserved before
/// the password is checked, so parallel guesses queue one after another instead of
/// all passing during the same wait. The records live in the database
/// (`login_attempts`), each reservation one transaction holding the name's row, so
/// guesses spread over several replicas queue the same way; the table holds at most
/// [`THROTTLE_CAPACITY`] names, forgets a name [`THROTTLE_FORGET_AFTER`] after its
/// last attempt, and when full evicts the longest-idle name.
///
/// Argon2 needs 19 MiB and tens of milliseconds a check. Checks run on the
/// blocking pool behind a semaphore sized to the cores (at most
/// [`MAX_PARALLEL_CHECKS`]), each in one of as many memory buffers allocated once
/// and reused: letting argon2 allocate its own left a copy in each allocator arena
/// the blocking threads touched (546 MB resident after a 600-login flood).
#[derive(Debug)]
pub struct LoginThrottle {
    hashing: Arc<Semaphore>,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// The most password checks that run at once, whatever the core count: each holds
/// a 19 MiB buffer for as long as the process lives.
const MAX_PARALLEL_CHECKS: usize = 4;

impl Default for LoginThrottle {
    fn default() -> Self {
        let parallel = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_PARALLEL_CHECKS);
        LoginThrottle {
            hashing: Arc::new(Semaphore::new(parallel)),
            // Empty until first used; each grows once to the hash's memory size.
            memory: Arc::new(Mutex::new((0..parallel).map(|_| Vec::new()).collect())),
        }
    }
}

/// Why an attempt may not even be checked.
#[derive(Debug, PartialEq, Eq)]
struct Busy;

/// The wait before the `count`-th attempt's successor may start.
fn spacing(count: u32) -> Duration {
    match count {
        0..=2 => Duration::ZERO,
        n => Duration::from_millis(500u64 << (n - 3).min(4)),
    }
}

/// Milliseconds of a duration, as stored.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The throttle's rule: an attempt arriving at `now_ms` for a name whose record is
/// `record`: how long it waits, and the record after it; [`Busy`] when the queue
/// for the name is already long. The attempt counts as a failure until a success
/// forgets the name.
fn next_attempt(record: Attempts, now_ms: i64) -> Result<(Duration, Attempts), Busy> {
    let mut entry = if now_ms.saturating_sub(record.last_ms) >= ms(THROTTLE_FORGET_AFTER) {
        Attempts {
            count: 0,
            next_start_ms: now_ms,
            last_ms: now_ms,
        }
    } else {
        record
    };
    let wait = entry.next_start_ms.saturating_sub(now_ms).max(0);
    if wait > ms(THROTTLE_MAX_WAIT) {
        return Err(Busy);
    }
    let start = now_ms + wait;
    entry.count = entry.count.saturating_add(1);
    entry.next_start_ms = start + ms(spacing(entry.count));
    entry.last_ms = start;
    Ok((Duration::from_millis(wait.unsigned_abs()), entry))
}

impl Service {
    /// Reserves the next attempt's slot for `user`: how long to wait before checking
    /// the password, or [`Busy`]. One transaction holding the name's row: attempts
    /// at once, on any replica, get successive slots.
    async fn reserve_login(&self, user: &str) -> Result<Result<Duration, Busy>, Error> {
        let (name, now) = (user.to_owned(), self.now_ms());
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let (record, new) = db::login_attempts::lock(tx, &name, now).await?;
                    if new {
                        let forget_before = now.saturating_sub(ms(THROTTLE_FORGET_AFTER));
                        db::login_attempts::make_room(tx, &name, forget_before, THROTTLE_CAPACITY)
                            .await?;
                    }
                    Ok::<_, DbError>(match next_attempt(record, now) {
                        Ok((wait, after)) => {
                            db::login_attempts::put(tx, &name, &after).await?;
                            Ok(wait)
                        }
                        Err(Busy) => Err(Busy),
                    })
                })
            })
            .await
            .context("login throttle")
    }

    /// Forgets `user`'s failures after a successful login.
    async fn login_succeeded(&self, user: &str) -> Result<(), Error> {
        let name = user.to_owned();
        self.db
            .write(move |tx| Box::pin(async move { db::login_attempts::forget(tx, &name).await }))
            .await
            .context("login throttle")
    }
}

impl LoginThrottle {
    /// Checks `password` against the argon2 `hash` on the blocking pool, at most one
    /// check per core at a time, each in a reused memory buffer.
    async fn verify(&self, hash: String, password: String) -> Result<bool, Error> {
        let permit = Arc::clone(&self.hashing)
            .acquire_owned()
            .await
            .map_err(|e| Error::internal("password check semaphore", e))?;
        let pool = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || {
            // Held by the blocking task itself: if the request is dropped meanwhile,
            // the check still counts against the limit until it really ends.
            let _permit = permit;
            let mut buffer = MemoryLoan::take(&pool);
            verify_in(&hash, password.as_bytes(), buffer.blocks())
        })
        .await
        .map_err(|e| Error::internal("password check", e))
    }
}

/// A memory buffer borrowed from the pool, given back when dropped (also on panic).
struct MemoryLoan<'a> {
    pool: &'a Mutex<Vec<Vec<Block>>>,
    blocks: Vec<Block>,
}

impl<'a> MemoryLoan<'a> {
    /// Takes a buffer; the semaphore guarantees one is free, but an empty one would
    /// do too (it grows as needed).
    fn take(pool: &'a Mutex<Vec<Vec<Block>>>) -> Self {
        let blocks = pool
            .lock()
            .ok()
            .and_then(|mut buffers| buffers.pop())
            .unwrap_or_default();
        MemoryLoan { pool, blocks }
    }

    fn blocks(&mut self) -> &mut Vec<Block> {
        &mut self.blocks
    }
}

impl Drop for MemoryLoan<'_> {
    fn drop(&mut self) {
        if let Ok(mut buffers) = self.pool.lock() {
            buffers.push(std::mem::take(&mut self.blocks));
        }
    }
}

/// The most argon2 memory a stored hash may ask for: what `Argon2::default()` uses
/// (19 MiB). A hash asking for more was not made by us and is refused rather than
/// letting it grow the buffers.
const MAX_HASH_BLOCKS: u32 = argon2::Params::DEFAULT_M_COST;

/// Whether `password` matches the PHC-format argon2 `hash`, computed in `blocks`
/// (grown to the hash's memory size and kept). The comparison is constant-time.
fn verify_in(hash: &str, password: &[u8], blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        argon2::Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    if params.m_cost() > MAX_HASH_BLOCKS {
        tracing::error!(
            m_cost = params.m_cost(),
            "a stored password hash asks for too much memory"
        );
        return false;
    }
    let mut salt_bytes = [0u8; password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let count = params.block_count();
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = argon2::Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        &mut blocks[..count],
    );
    computed.is_ok() && password_hash::Output::new(&out).is_ok_and(|out| out == expected)
}

/// A user name as it may appear in a log line: at most 64 characters, with
/// control characters escaped.
fn loggable(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_LOGIN_NAME_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if name.chars().count() > MAX_LOGIN_NAME_CHARS {
        out.push('…');
    }
    out
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many attempts for this user; wait a little")]
    Throttled,
    #[error(transparent)]
    Internal(#[from] Error),
}

impl Service {
    /// Mints an API token called `name` and returns its secret (shown once).
    pub async fn create_api_token(&self, name: &str) -> Result<String, Error> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || !homelab_protocol::text::displayable(name) {
            return Err(Error::invalid("name", "1 to 100 printable characters"));
        }
        let token = tokens::mint(API_TOKEN_PREFIX);
        let (owned_name, hash, now) = (name.to_owned(), token.hash.clone(), self.now_ms());
        let inserted = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::api_tokens::insert(tx, &owned_name, &hash, now).await })
            })
            .await
            .context("create api token")?;
        if inserted {
            Ok(token.secret)
        } else {
            Err(Error::conflict(format!(
                "an API token named `{name}` exists"
            )))
        }
    }

    /// Every API token, by name (never a secret).
    pub async fn list_api_tokens(&self) -> Result<Vec<homelab_protocol::ApiTokenInfo>, Error> {
        Ok(db::api_tokens::list(self.db.pool())
            .await?
            .into_iter()
            .map(|t| homelab_protocol::ApiTokenInfo {
                name: t.name,
                created_at_ms: homelab_protocol::Millis::new(t.created_at_ms),
            })
            .collect())
    }

    /// Revokes the API token called `name`: requests carrying it are refused at once.
    pub async fn revoke_api_token(&self, name: &str, actor: &str) -> Result<(), Error> {
        let owned = name.to_owned();
        let found = self
            .db
            .write(move |tx| Box::pin(async move { db::api_tokens::delete(tx, &owned).await }))
            .await?;
        if !found {
            return Err(Error::NotFound(format!("no API token named `{name}`")));
        }
        tracing::warn!(token = name, by = actor, "API token revoked");
        Ok(())
    }

    /// The name of the API token `secret`, if it is one.
    pub async fn api_token_name(&self, secret: &str) -> Result<Option<String>, Error> {
        db::api_tokens::find(self.db.pool(), &tokens::hash(secret))
            .await
            .context("api token name")
    }

    /// Checks a password and opens a session; returns the session token for the
    /// cookie. Failed attempts slow down further attempts for the same user name
    /// (see [`LoginThrottle`]); names and passwords too long to be real are refused
    /// without hashing or remembering anything.
    pub async fn login(&self, name: &str, password: &str) -> Result<String, LoginError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_LOGIN_NAME_CHARS
            || password.len() > MAX_PASSWORD_BYTES
        {
            tracing::warn!(user = %loggable(name), "failed login: name or password too long");
            return Err(LoginError::WrongCredentials);
        }
        let wait = self.reserve_login(name).await?.map_err(|Busy| {
            tracing::warn!(user = %loggable(name), "login refused: too many attempts");
            LoginError::Throttled
        })?;
        tokio::time::sleep(wait).await;
        let stored = db::users::password_hash(self.db.pool(), name)
            .await
            .context("login")?;
        // Verify against a fixed hash when the user does not exist, so that the
        // answer takes as long either way; the dummy never logs anyone in.
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let verified = hash.clone();
        let ok = self
            .login_throttle
            .verify(hash, password.to_owned())
            .await?
            && exists;
        if !ok {
            tracing::warn!(user = %loggable(name), "failed login");
            return Err(LoginError::WrongCredentials);
        }
        self.login_succeeded(name).await?;
        let token = tokens::mint(SESSION_TOKEN_PREFIX);
        let now = self.now_ms();
        let expires = now + i64::try_from(SESSION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let (hash, user) = (token.hash.clone(), name.to_owned());
        // Only if the password checked is still the account's: a password change
        // that committed while it was being checked ends this login too.
        let opened = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::sessions::insert_if_password(tx, &hash, &user, &verified, now, expires)
                        .await
                })
            })
            .await
            .context("login")?;
        if !opened {
            tracing::warn!(user = %loggable(name), "login lost to a password change");
            return Err(LoginError::WrongCredentials);
        }
        tracing::info!(user = name, "logged in");
        Ok(token.secret)
    }

    /// The user of a live session token.
    pub async fn session_user(&self, token: &str) -> Result<Option<String>, Error> {
        db::sessions::user(self.db.pool(), &tokens::hash(token), self.now_ms())
            .await
            .context("session user")
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let (hash, now) = (tokens::hash(token), self.now_ms());
        self.db
            .write(move |tx| Box::pin(async move { db::sessions::delete(tx, &hash, now).await }))
            .await
            .context("logout")
    }

    /// On a fresh database, creates `admin` with a random password and returns it.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>, Error> {
        if db::users::count(self.db.pool())
            .await
            .context("bootstrap admin")?
            > 0
        {
            return Ok(None);
        }
        let password = tokens::mint("").secret.chars().take(20).collect::<String>();
        self.set_user_password("admin", &password).await?;
        Ok(Some(password))
    }

    /// Creates the account `name` (or sets its password) with an argon2 hash, and
    /// ends every session of that account: whoever knew the old password is out.
    /// Returns true when the account is new.
    pub async fn set_user_password(&self, name: &str, password: &str) -> Result<bool, Error> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > MAX_LOGIN_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::invalid(
                "name",
                "1 to 64 characters: letters, digits, '.', '_' or '-'",
            ));
        }
        let hash = hash_password(password).await?;
        self.store_password(name, hash, None).await
    }

    /// A signed-in user's own password change: the current password must be right
    /// (throttled like a login), every other session of the user ends, the one that
    /// made the change (`keep_session`, a session token) stays.
    pub async fn change_password(
        &self,
        name: &str,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), Error> {
        if current.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid("current", "the current password is wrong"));
        }
        let wait = self.reserve_login(name).await?.map_err(|Busy| {
            Error::invalid("current", "too many attempts: wait a moment and try again")
        })?;
        tokio::time::sleep(wait).await;
        let Some(stored) = db::users::password_hash(self.db.pool(), name).await? else {
            return Err(Error::NotFound(format!("no account `{name}`")));
        };
        if !self
            .login_throttle
            .verify(stored, current.to_owned())
            .await?
        {
            tracing::warn!(user = %loggable(name), "password change: wrong current password");
            return Err(Error::invalid("current", "the current password is wrong"));
        }
        self.login_succeeded(name).await?;
        let hash = hash_password(new).await?;
        self.store_password(name, hash, keep_session.map(tokens::hash))
            .await?;
        Ok(())
    }

    /// Stores a password hash and ends the user's sessions but `keep` (a session
    /// token hash); true when the account is new.
    async fn store_password(
        &self,
        name: &str,
        hash: String,
        keep: Option<String>,
    ) -> Result<bool, Error> {
        let (owned, now) = (name.to_owned(), self.now_ms());
        let (created, ended) = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let created = db::users::upsert(tx, &owned, &hash, now).await?;
                    let ended = match &keep {
                        Some(keep) => db::sessions::delete_others(tx, &owned, keep).await?,
                        None => db::sessions::delete_for_user(tx, &owned).await?,
                    };
                    Ok::<_, DbError>((created, ended))
                })
            })
            .await?;
        tracing::info!(user = name, sessions_ended = ended, "password set");
        Ok(created)
    }
}

/// Checks a new password's length and hashes it with argon2 off the async threads.
async fn hash_password(password: &str) -> Result<String, Error> {
    if password.chars().count() < 8 || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("must be 8 characters to {MAX_PASSWORD_BYTES} bytes long"),
        ));
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| Error::internal("password hashing task", e))?
    .map_err(|e| Error::internal("password hashing", e.to_string()))
}

/// An argon2 hash that no password matches, verified against when the user does not
/// exist: the parameters of a real one (so the check costs the same), a random salt
/// and a random output. Made without hashing, so that it allocates no argon2 memory
/// outside the pooled buffers.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    let output = password_hash::Output::new(&rand::random::<[u8; 32]>())
        .map(|o| o.to_string())
        .unwrap_or_default();
    format!(
        "$argon2id$v=19$m={},t={},p={}${salt}${output}",
        argon2::Params::DEFAULT_M_COST,
        argon2::Params::DEFAULT_T_COST,
        argon2::Params::DEFAULT_P_COST,
    )
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db::testing::fresh_db;

    #[tokio::test]
    async fn api_tokens_are_found_by_their_secret_only() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let secret = service.create_api_token("ci").await.unwrap();
        assert!(secret.starts_with(API_TOKEN_PREFIX));
        assert_eq!(
            service.api_token_name(&secret).await.unwrap().as_deref(),
            Some("ci")
        );
        assert_eq!(service.api_token_name("hcp_wrong").await.unwrap(), None);
        assert!(matches!(
            service.create_api_token("ci").await,
            Err(Error::Conflict { .. })
        ));
    }

    #[tokio::test]
    async fn passwords_are_stored_as_argon2_hashes() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db.clone(), Duration::from_secs(60));
        assert!(
            service
                .set_user_password("admin", "correct horse")
                .await
                .unwrap()
        );
        assert!(
            !service
                .set_user_password("admin", "battery staple")
                .await
                .unwrap()
        );
        let hash = db::users::password_hash(db.pool(), "admin")
            .await
            .unwrap()
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("battery"));
        assert!(service.set_user_password("admin", "short").await.is_err());
        assert!(
            service
                .set_user_password("bad name", "long enough")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_login_opens_a_session_and_a_logout_ends_it() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        service
            .set_user_password("alice", "correct horse")
            .await
            .unwrap();
        let token = service.login("alice", "correct horse").await.unwrap();
        assert!(token.starts_with(SESSION_TOKEN_PREFIX));
        assert_eq!(
            service.session_user(&token).await.unwrap().as_deref(),
            Some("alice")
        );
        service.logout(&token).await.unwrap();
        assert_eq!(service.session_user(&token).await.unwrap(), None);
    }

    #[tokio::test]
    async fn wrong_passwords_and_unknown_users_are_refused_alike() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        service
            .set_user_password("alice", "correct horse")
            .await
            .unwrap();
        assert!(matches!(
            service.login("alice", "wrong").await,
            Err(LoginError::WrongCredentials)
        ));
        assert!(matches!(
            service.login("bob", "correct horse").await,
            Err(LoginError::WrongCredentials)
        ));
    }

    /// A service on a fresh database whose clock stands still until moved.
    async fn throttled() -> (
        Service,
        std::sync::Arc<crate::clock::ManualClock>,
        crate::db::testing::Guard,
    ) {
        let (db, guard) = fresh_db().await;
        let clock = std::sync::Arc::new(crate::clock::ManualClock::at(
            homelab_protocol::Millis::new(1_000_000),
        ));
        let service = Service::new(db, Duration::from_secs(60)).with_clock(clock.clone());
        (service, clock, guard)
    }

    async fn reserve(service: &Service, user: &str) -> Result<Duration, Busy> {
        service.reserve_login(user).await.unwrap()
    }

    async fn remembered(service: &Service) -> i64 {
        db::login_attempts::count(service.db.pool()).await.unwrap()
    }

    #[tokio::test]
    async fn repeated_failures_space_out_further_attempts() {
        let (service, _clock, _guard) = throttled().await;
        let mut waits = Vec::new();
        for _ in 0..6 {
            waits.push(reserve(&service, "alice").await.unwrap());
        }
        // All six arrive at once: the first three go now, the others queue up.
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(500), ms(1500), ms(3500)]);
        assert_eq!(reserve(&service, "bob").await, Ok(Duration::ZERO));
        service.login_succeeded("alice").await.unwrap();
        assert_eq!(reserve(&service, "alice").await, Ok(Duration::ZERO));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_guesses_cannot_pass_the_spacing() {
        let (service, clock, _guard) = throttled().await;
        let mut guesses = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let service = service.clone();
            guesses.spawn(async move { reserve(&service, "alice").await });
        }
        let mut checked: Vec<Duration> = guesses
            .join_all()
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        checked.sort();
        // 40 simultaneous guesses: only those whose slot starts within the longest
        // wait are checked at all, each in its own slot.
        assert!(checked.len() < 10, "{checked:?}");
        // The three free attempts, then one slot each, never two at once.
        assert_eq!(
            checked.iter().filter(|w| w.is_zero()).count(),
            3,
            "{checked:?}"
        );
        assert!(checked[3..].windows(2).all(|w| w[0] < w[1]), "{checked:?}");
        assert!(checked.iter().all(|w| *w <= THROTTLE_MAX_WAIT));
        // A minute later the queue has drained, and the spacing stays at 8 s.
        clock.advance(60_000);
        assert_eq!(reserve(&service, "alice").await, Ok(Duration::ZERO));
        assert_eq!(reserve(&service, "alice").await, Ok(Duration::from_secs(8)));
    }

    #[tokio::test]
    async fn guesses_spread_over_two_replicas_queue_as_one() {
        let (a, b, _clock, _guard) = crate::service::testing::two_replicas(1_000_000).await;
        for _ in 0..3 {
            assert_eq!(reserve(&a, "admin").await, Ok(Duration::ZERO));
        }
        // The fourth guess, on the other replica, queues behind the three.
        assert_eq!(reserve(&b, "admin").await, Ok(Duration::from_millis(500)));
        assert_eq!(reserve(&a, "admin").await, Ok(Duration::from_millis(1500)));
        assert_eq!(reserve(&b, "admin").await, Ok(Duration::from_millis(3500)));
    }

    #[tokio::test]
    async fn the_table_is_bounded_and_forgets() {
        let (service, clock, _guard) = throttled().await;
        for i in 0..THROTTLE_CAPACITY + 50 {
            reserve(&service, &format!("user-{i}")).await.unwrap();
        }
        assert_eq!(remembered(&service).await, THROTTLE_CAPACITY as i64);
        for _ in 0..5 {
            let _ = reserve(&service, "alice").await;
        }
        assert!(reserve(&service, "alice").await.unwrap() > Duration::ZERO);
        clock.advance(ms(THROTTLE_FORGET_AFTER) + 10_000);
        assert_eq!(
            reserve(&service, "alice").await,
            Ok(Duration::ZERO),
            "forgotten"
        );
        reserve(&service, "someone-new").await.unwrap();
        assert_eq!(remembered(&service).await, 2, "the stale names made room");
    }

    #[tokio::test]
    async fn impossible_names_and_passwords_are_refused_without_remembering_them() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        service
            .set_user_password("alice", "correct horse")
            .await
            .unwrap();
        for (name, password) in [
            ("a".repeat(65), "correct horse".to_owned()),
            ("alice".to_owned(), "p".repeat(MAX_PASSWORD_BYTES + 1)),
            (String::new(), "x".to_owned()),
        ] {
            assert!(matches!(
                service.login(&name, &password).await,
                Err(LoginError::WrongCredentials)
            ));
        }
        assert_eq!(remembered(&service).await, 0);
    }

    #[tokio::test]
    async fn the_first_admin_is_made_only_on_a_fresh_database() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let password = service.bootstrap_admin().await.unwrap().expect("created");
        assert!(service.login("admin", &password).await.is_ok());
        assert_eq!(service.bootstrap_admin().await.unwrap(), None);
    }
}
