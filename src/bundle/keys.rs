//! cosign-compatible signing keys.
//!
//! A private key is what `cosign generate-key-pair` writes: PEM `ENCRYPTED SIGSTORE PRIVATE KEY`
//! (or the older `ENCRYPTED COSIGN PRIVATE KEY`) around JSON that holds a PKCS#8 P-256 key
//! encrypted with NaCl secretbox under a key derived with scrypt from the password. The public
//! key is a plain `PUBLIC KEY` PEM (SPKI). The password comes from `COSIGN_PASSWORD`, which may
//! be empty, as for cosign.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The PEM label current cosign writes.
pub const PRIVATE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_PRIVATE_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a cosign private key: {0}")]
    Format(String),
    #[error("wrong password (the key did not decrypt)")]
    Password,
    #[error("not a P-256 public key: {0}")]
    Public(String),
}

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: Params,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Params {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn format(e: impl std::fmt::Display) -> KeyError {
    KeyError::Format(e.to_string())
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], KeyError> {
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(format)?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).map_err(format)?;
    Ok(key)
}

/// Decrypt a cosign private key.
pub fn decrypt_private(pem_text: &str, password: &[u8]) -> Result<SigningKey, KeyError> {
    let (label, body) = pem_rfc7468::decode_vec(pem_text.trim().as_bytes()).map_err(format)?;
    if label != PRIVATE_LABEL && label != OLD_PRIVATE_LABEL {
        return Err(KeyError::Format(format!("unexpected PEM label {label:?}")));
    }
    let encrypted: Encrypted = serde_json::from_slice(&body).map_err(format)?;
    if encrypted.kdf.name != "scrypt" || encrypted.cipher.name != "nacl/secretbox" {
        return Err(KeyError::Format(format!("unsupported {} / {}", encrypted.kdf.name, encrypted.cipher.name)));
    }
    let Params { n, r, p } = encrypted.kdf.params;
    // bounded, so that a hostile key file cannot ask for gigabytes of scrypt memory
    if !n.is_power_of_two() || n > 1 << 20 || r != 8 || p != 1 {
        return Err(KeyError::Format(format!("unsupported scrypt parameters N={n} r={r} p={p}")));
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(format)?;
    let salt = B64.decode(&encrypted.kdf.salt).map_err(format)?;
    let nonce = B64.decode(&encrypted.cipher.nonce).map_err(format)?;
    let ciphertext = B64.decode(&encrypted.ciphertext).map_err(format)?;
    if nonce.len() != 24 {
        return Err(KeyError::Format("the nonce is not 24 bytes".into()));
    }
    let key = derive(password, &salt, log_n, r, p)?;
    let der = XSalsa20Poly1305::new(Key::from_slice(&key))
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| KeyError::Password)?;
    SigningKey::from_pkcs8_der(&der).map_err(|e| KeyError::Format(format!("not a P-256 key: {e}")))
}

/// Encrypt a private key the way current cosign does (scrypt N=65536, r=8, p=1).
pub fn encrypt_private(key: &SigningKey, password: &[u8]) -> Result<String, KeyError> {
    let der = key.to_pkcs8_der().map_err(format)?;
    let salt: [u8; 32] = rand::random();
    let nonce: [u8; 24] = rand::random();
    let derived = derive(password, &salt, 16, 8, 1)?;
    let ciphertext = XSalsa20Poly1305::new(Key::from_slice(&derived))
        .encrypt(Nonce::from_slice(&nonce), der.as_bytes())
        .map_err(|_| KeyError::Format("encryption failed".into()))?;
    let encrypted = Encrypted {
        kdf: Kdf { name: "scrypt".into(), params: Params { n: 65536, r: 8, p: 1 }, salt: B64.encode(salt) },
        cipher: Cipher { name: "nacl/secretbox".into(), nonce: B64.encode(nonce) },
        ciphertext: B64.encode(ciphertext),
    };
    let json = serde_json::to_vec(&encrypted).map_err(format)?;
    pem_rfc7468::encode_string(PRIVATE_LABEL, pem_rfc7468::LineEnding::LF, &json).map_err(format)
}

/// A new random key pair.
pub fn generate() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

/// The `PUBLIC KEY` PEM of a key.
pub fn public_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF).map_err(|e| KeyError::Public(e.to_string()))
}

/// Read a `PUBLIC KEY` PEM.
pub fn read_public(pem_text: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem_text.trim()).map_err(|e| KeyError::Public(e.to_string()))
}

/// The key hint cosign and Sigstore bundles use: base64 of SHA-256 of the SPKI DER.
pub fn hint(key: &VerifyingKey) -> Result<String, KeyError> {
    let der = key.to_public_key_der().map_err(|e| KeyError::Public(e.to_string()))?;
    Ok(B64.encode(Sha256::digest(der.as_bytes())))
}

/// The password from `COSIGN_PASSWORD` (it may be empty); `None` when the variable is unset.
pub fn password_from_env() -> Option<Vec<u8>> {
    std::env::var_os("COSIGN_PASSWORD").map(|p| p.into_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_a_wrong_password_fails() {
        let key = generate();
        let pem = encrypt_private(&key, b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        let back = decrypt_private(&pem, b"s3cret").unwrap();
        assert_eq!(back.verifying_key(), key.verifying_key());
        assert!(matches!(decrypt_private(&pem, b"wrong"), Err(KeyError::Password)));
        let public = public_pem(key.verifying_key()).unwrap();
        assert_eq!(&read_public(&public).unwrap(), key.verifying_key());
    }
}
