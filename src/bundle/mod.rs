//! Distributing bundles: [`archive`] packs a bundle directory into one deterministic `.tar.gz`
//! and reads it back; [`keys`] reads and writes cosign-compatible keys; [`signature`] signs an
//! archive and verifies signatures offline (keyed and keyless), with the pure-Rust
//! cryptography of [`crypto`]; [`source`] loads the serving bundle and verifies it first.

pub mod archive;
pub mod crypto;
pub mod keys;
pub mod signature;
pub mod source;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of some bytes: how bundles are named once built.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for byte in hash {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}
