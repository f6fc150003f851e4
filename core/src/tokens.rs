//! Bearer tokens for agents (and, later, API clients). A token is 32 random bytes
//! shown once; only its SHA-256 is stored. Tokens are long random secrets, not
//! passwords, so a fast hash is the right tool: there is nothing to brute-force.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly minted token and the hash to store for it.
pub struct NewToken {
    /// The secret, for the one time it is shown.
    pub secret: String,
    /// What the database keeps.
    pub hash: String,
}

/// Mints a token whose text starts with `prefix` (for example `hca_` for agents),
/// so a leaked token says what it is.
pub fn mint(prefix: &str) -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", hex::encode(bytes));
    let hash = hash(&secret);
    NewToken { secret, hash }
}

/// The stored form of a token.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_unique_prefixed_and_hash_to_what_is_stored() {
        let a = mint("hca_");
        let b = mint("hca_");
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("hca_"));
        assert_eq!(a.secret.len(), 4 + 64);
        assert_eq!(hash(&a.secret), a.hash);
        assert_ne!(a.hash, a.secret);
    }
}
