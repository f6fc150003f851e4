//! API tokens and dashboard accounts.

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use homelab_app::domain::AppError;

use super::{Service, internal};
use crate::db;
use crate::tokens;

/// The prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "hcp_";

impl Service {
    /// Mints an API token called `name` and returns its secret (shown once).
    pub async fn create_api_token(&self, name: &str) -> Result<String, AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "1 to 100 printable characters"));
        }
        let token = tokens::mint(API_TOKEN_PREFIX);
        if db::api_tokens::insert(self.db.pool(), name, &token.hash)
            .await
            .map_err(internal)?
        {
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

    /// Creates the account `name` (or sets its password) with an argon2 hash.
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
        db::users::upsert(self.db.pool(), name, &hash)
            .await
            .map_err(internal)
    }
}

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
}
