//! The cryptography behind Sigstore verification, from pure-Rust crates.
//!
//! The Sigstore verifier (`sigstore-verify`) delegates hashing and signature checks to a
//! provider. Its default provider is aws-lc (C and assembly); this one uses RustCrypto's
//! `sha2`, `p256`, `p384`, `ed25519-dalek` and `rsa`, so the binary stays pure Rust and static.
//! RSA is needed (test Fulcio leaves and some CT logs sign with it); P-384 for Fulcio
//! intermediates and timestamp authorities; Ed25519 for Rekor v2 checkpoints.

use sha2::Digest as _;
use signature::hazmat::PrehashVerifier as _;
use signature::Verifier as _;
use sigstore_verify::crypto::provider::{CryptoProvider, HashContext};
use sigstore_verify::crypto::{Error, Result, SigningScheme};
use sigstore_verify::types::HashAlgorithm;

/// The provider; [`install`] makes it the process-wide default.
#[derive(Debug)]
pub struct RustCrypto;

static RUSTCRYPTO: RustCrypto = RustCrypto;

/// Install the provider (idempotent). Called before any verification.
pub fn install() {
    let _ = sigstore_verify::crypto::install_default_provider(&RUSTCRYPTO);
}

struct Hash<D>(D);

impl<D: sha2::Digest + Send> HashContext for Hash<D> {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

fn invalid(scheme: SigningScheme) -> Error {
    Error::Verification(format!("{} signature invalid", scheme.name()))
}

fn key_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidKey(e.to_string())
}

fn p256_key(pk: &[u8], sig: &[u8]) -> Result<(p256::ecdsa::VerifyingKey, p256::ecdsa::Signature)> {
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(pk).map_err(key_error)?;
    let sig = p256::ecdsa::Signature::from_der(sig).map_err(|e| Error::Verification(e.to_string()))?;
    Ok((key, sig))
}

fn p384_key(pk: &[u8], sig: &[u8]) -> Result<(p384::ecdsa::VerifyingKey, p384::ecdsa::Signature)> {
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(pk).map_err(key_error)?;
    let sig = p384::ecdsa::Signature::from_der(sig).map_err(|e| Error::Verification(e.to_string()))?;
    Ok((key, sig))
}

fn rsa_key(pk: &[u8]) -> Result<rsa::RsaPublicKey> {
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    rsa::RsaPublicKey::from_pkcs1_der(pk).map_err(key_error)
}

/// The digest of `data` for the scheme's hash.
fn digest_for(scheme: SigningScheme, data: &[u8]) -> Vec<u8> {
    use SigningScheme::*;
    match scheme {
        EcdsaP256Sha384 | EcdsaP384Sha384 | RsaPssSha384 | RsaPkcs1Sha384 => sha2::Sha384::digest(data).to_vec(),
        RsaPssSha512 | RsaPkcs1Sha512 => sha2::Sha512::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    }
}

impl CryptoProvider for RustCrypto {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        Ok(match algorithm {
            HashAlgorithm::Sha2256 => Box::new(Hash(sha2::Sha256::new())),
            HashAlgorithm::Sha2384 => Box::new(Hash(sha2::Sha384::new())),
            HashAlgorithm::Sha2512 => Box::new(Hash(sha2::Sha512::new())),
            other => return Err(Error::UnsupportedAlgorithm(format!("{other:?}"))),
        })
    }

    fn verify_raw(&self, scheme: SigningScheme, pk: &[u8], data: &[u8], sig: &[u8]) -> Result<()> {
        match scheme {
            SigningScheme::EcdsaP256Sha256 => {
                let (key, sig) = p256_key(pk, sig)?;
                key.verify(data, &sig).map_err(|_| invalid(scheme))
            }
            SigningScheme::EcdsaP384Sha384 => {
                let (key, sig) = p384_key(pk, sig)?;
                key.verify(data, &sig).map_err(|_| invalid(scheme))
            }
            SigningScheme::Ed25519 => {
                let bytes: &[u8; 32] = pk.try_into().map_err(|_| key_error("an Ed25519 key is 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(key_error)?;
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| invalid(scheme))?;
                key.verify(data, &sig).map_err(|_| invalid(scheme))
            }
            _ => self.verify_prehashed(scheme, pk, &digest_for(scheme, data), sig),
        }
    }

    fn verify_prehashed(&self, scheme: SigningScheme, pk: &[u8], digest: &[u8], sig: &[u8]) -> Result<()> {
        use SigningScheme::*;
        let verified = match scheme {
            EcdsaP256Sha256 | EcdsaP256Sha384 => {
                let (key, sig) = p256_key(pk, sig)?;
                key.verify_prehash(digest, &sig).is_ok()
            }
            EcdsaP384Sha256 | EcdsaP384Sha384 => {
                let (key, sig) = p384_key(pk, sig)?;
                key.verify_prehash(digest, &sig).is_ok()
            }
            RsaPkcs1Sha256 => rsa_key(pk)?.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, sig).is_ok(),
            RsaPkcs1Sha384 => rsa_key(pk)?.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), digest, sig).is_ok(),
            RsaPkcs1Sha512 => rsa_key(pk)?.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), digest, sig).is_ok(),
            RsaPssSha256 => rsa_key(pk)?.verify(rsa::Pss::new::<sha2::Sha256>(), digest, sig).is_ok(),
            RsaPssSha384 => rsa_key(pk)?.verify(rsa::Pss::new::<sha2::Sha384>(), digest, sig).is_ok(),
            RsaPssSha512 => rsa_key(pk)?.verify(rsa::Pss::new::<sha2::Sha512>(), digest, sig).is_ok(),
            other => return Err(Error::UnsupportedAlgorithm(other.name().to_owned())),
        };
        if verified {
            Ok(())
        } else {
            Err(invalid(scheme))
        }
    }
}
