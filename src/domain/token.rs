//! API tokens' values and hashes: what a token looks like and what the log keeps of it.

use sha2::{Digest, Sha256};

/// The bytes of randomness in a token value.
pub const TOKEN_BYTES: usize = 32;

/// A token value from fresh random bytes: `wf_` and 64 hex digits.
pub fn token_value(random: [u8; TOKEN_BYTES]) -> String {
    format!("wf_{}", hex::encode(random))
}

/// The SHA-256 hex of a token's value: what the log stores instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_value_is_wf_and_64_hex_digits_of_its_random_bytes() {
        let value = token_value([0xab; TOKEN_BYTES]);
        assert_eq!(value.len(), 3 + 64);
        assert!(value.starts_with("wf_abab"));
    }

    #[test]
    fn the_hash_of_a_token_is_the_sha256_hex_of_its_value() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
