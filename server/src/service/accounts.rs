//! API tokens and dashboard accounts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use homelab_app::domain::AppError;

use super::{Service, internal};
use crate::db::{self, DbError};
use crate::tokens;

/// The prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "hcp_";
/// The prefix of session tokens (the cookie's value).
pub const SESSION_TOKEN_PREFIX: &str = "hcs_";
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);

/// Failed logins per user name, for the slow-down.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, u32>>,
}

impl LoginThrottle {
    /// How long to make the next attempt for `user` wait: nothing at first, then
    /// doubling from half a second up to 8 seconds.
    fn delay(&self, user: &str) -> Duration {
        let failures = self
            .failures
            .lock()
            .map(|f| f.get(user).copied().unwrap_or(0))
            .unwrap_or(0);
        match failures {
            0..=2 => Duration::ZERO,
            n => Duration::from_millis(500u64 << (n - 3).min(4)),
        }
    }

    fn record(&self, user: &str, ok: bool) {
        if let Ok(mut failures) = self.failures.lock() {
            if ok {
                failures.remove(user);
            } else {
                *failures.entry(user.to_owned()).or_insert(0) += 1;
            }
        }
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error(transparent)]
    Internal(#[from] AppError),
}

impl Service {
    /// Mints an API token called `name` and returns its secret (shown once).
    pub async fn create_api_token(&self, name: &str) -> Result<String, AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "1 to 100 printable characters"));
        }
        let token = tokens::mint(API_TOKEN_PREFIX);
        let (owned_name, hash) = (name.to_owned(), token.hash.clone());
        let inserted = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::api_tokens::insert(tx, &owned_name, &hash).await })
            })
            .await
            .map_err(internal)?;
        if inserted {
            Ok(token.secret)
        } else {
            Err(AppError::conflict(format!(
                "an API token named `{name}` exists"
            )))
        }
    }

    /// The name of the API token `secret`, if it is one.
    pub async fn api_token_name(&self, secret: &str) -> Result<Option<String>, AppError> {
        db::api_tokens::find(self.db.pool(), &tokens::hash(secret))
            .await
            .map_err(internal)
    }

    /// Checks a password and opens a session; returns the session token for the
    /// cookie. Failed attempts slow down further attempts for the same user name.
    pub async fn login(&self, name: &str, password: &str) -> Result<String, LoginError> {
        let name = name.trim();
        tokio::time::sleep(self.login_throttle.delay(name)).await;
        let stored = db::users::password_hash(self.db.pool(), name)
            .await
            .map_err(internal)?;
        // Verify against a fixed hash when the user does not exist, so that the
        // answer takes as long either way; the dummy never logs anyone in.
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password check panicked");
            AppError::Internal
        })? && exists;
        self.login_throttle.record(name, ok);
        if !ok {
            tracing::warn!(user = name, "failed login");
            return Err(LoginError::WrongCredentials);
        }
        let token = tokens::mint(SESSION_TOKEN_PREFIX);
        let now = db::now_ms();
        let expires = now + i64::try_from(SESSION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let (hash, user) = (token.hash.clone(), name.to_owned());
        self.db
            .write(move |tx| {
                Box::pin(async move { db::sessions::insert(tx, &hash, &user, now, expires).await })
            })
            .await
            .map_err(internal)?;
        tracing::info!(user = name, "logged in");
        Ok(token.secret)
    }

    /// The user of a live session token.
    pub async fn session_user(&self, token: &str) -> Result<Option<String>, AppError> {
        db::sessions::user(self.db.pool(), &tokens::hash(token), db::now_ms())
            .await
            .map_err(internal)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), AppError> {
        let hash = tokens::hash(token);
        self.db
            .write(move |tx| {
                Box::pin(async move { db::sessions::delete(tx, &hash, db::now_ms()).await })
            })
            .await
            .map_err(internal)
    }

    /// On a fresh database, creates `admin` with a random password and returns it.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>, AppError> {
        if db::users::count(self.db.pool()).await.map_err(internal)? > 0 {
            return Ok(None);
        }
        let password = tokens::mint("").secret.chars().take(20).collect::<String>();
        self.set_user_password("admin", &password).await?;
        Ok(Some(password))
    }

    /// Creates the account `name` (or sets its password) with an argon2 hash, and
    /// ends every session of that account: whoever knew the old password is out.
    /// Returns true when the account is new.
    pub async fn set_user_password(&self, name: &str, password: &str) -> Result<bool, AppError> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(AppError::invalid(
                "name",
                "1 to 64 characters: letters, digits, '.', '_' or '-'",
            ));
        }
        if password.chars().count() < 8 {
            return Err(AppError::invalid(
                "password",
                "must be at least 8 characters",
            ));
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| {
                tracing::error!(error = %e, "argon2 hashing failed");
                AppError::Internal
            })?
            .to_string();
        let name = name.to_owned();
        let (created, ended) = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let created = db::users::upsert(tx, &name, &hash).await?;
                    let ended = db::sessions::delete_for_user(tx, &name).await?;
                    Ok::<_, DbError>((created, ended))
                })
            })
            .await
            .map_err(internal)?;
        if ended > 0 {
            tracing::info!(sessions = ended, "password changed: sessions ended");
        }
        Ok(created)
    }
}

/// An argon2 hash of a random password nobody knows, verified against when the user
/// does not exist.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(tokens::mint("").secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
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
            Err(AppError::Conflict { .. })
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

    #[test]
    fn repeated_failures_slow_down_further_attempts() {
        let throttle = LoginThrottle::default();
        for _ in 0..3 {
            assert_eq!(throttle.delay("alice"), Duration::ZERO);
            throttle.record("alice", false);
        }
        assert_eq!(throttle.delay("alice"), Duration::from_millis(500));
        for _ in 0..10 {
            throttle.record("alice", false);
        }
        assert_eq!(throttle.delay("alice"), Duration::from_secs(8));
        assert_eq!(throttle.delay("bob"), Duration::ZERO);
        throttle.record("alice", true);
        assert_eq!(throttle.delay("alice"), Duration::ZERO);
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
