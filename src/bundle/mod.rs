//! Distributing bundles: [`archive`] packs a bundle directory into one deterministic `.tar.gz`
//! and reads it back; [`keys`] reads and writes cosign-compatible keys; [`signature`] signs an
//! archive and verifies signatures offline (keyed and keyless), with the pure-Rust
//! cryptography of [`crypto`]; [`oci`] pushes and pulls bundles and their signatures through an
//! OCI registry and [`https`] fetches them from a URL; [`source`] loads the serving bundle from
//! any of these and verifies it first.

pub mod archive;
pub mod crypto;
pub mod https;
pub mod keys;
pub mod oci;
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

/// Make ring the process's TLS crypto provider (once), before the first HTTPS client is made.
pub fn install_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
