//! `sockguard bundle`: build bundle archives, make keys, sign and verify them, push them to and
//! pull them from OCI registries.

use crate::bundle::signature::{self, Evidence};
use crate::bundle::{archive, digest, keys};
use crate::policy::{Bundle, CompileOptions, Policy};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum BundleCommand {
    /// Pack a bundle directory into a deterministic .tar.gz (refused if it does not compile)
    Build {
        /// The bundle directory
        dir: PathBuf,
        /// Where to write the archive
        #[arg(short, long, value_name = "OUT.tar.gz")]
        output: PathBuf,
    },
    /// Write a cosign-compatible key pair (PREFIX.key, encrypted with COSIGN_PASSWORD, and PREFIX.pub)
    Keygen {
        /// Path prefix of the two files
        #[arg(long, default_value = "cosign", value_name = "PREFIX")]
        output_prefix: String,
    },
    /// Sign a file like `cosign sign-blob --key`: FILE.sig and FILE.sigstore.json
    Sign {
        file: PathBuf,
        /// cosign private key (password from COSIGN_PASSWORD, or asked for)
        #[arg(long, value_name = "cosign.key")]
        key: PathBuf,
    },
    /// Verify a file's signature, offline
    Verify(Box<VerifyArgs>),
    /// Push an archive and the signature files beside it to an OCI registry
    Push {
        /// The bundle archive (FILE.sigstore.json and FILE.sig beside it are pushed too)
        file: PathBuf,
        /// oci://REGISTRY/REPOSITORY:TAG
        reference: String,
    },
    /// Pull a bundle and its signatures from an OCI registry (verified when trust is given)
    Pull(Box<PullArgs>),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// oci://REGISTRY/REPOSITORY[:TAG|@DIGEST]
    pub reference: String,
    /// Where to write the archive (its signatures are written beside it)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    // verified before anything is written, when trust is given
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub file: PathBuf,
    /// A detached base64 signature [default: FILE.sig, when no bundle is there]
    #[arg(long, value_name = "FILE.sig", conflicts_with = "sigstore_bundle")]
    pub signature: Option<PathBuf>,
    /// A Sigstore bundle [default: FILE.sigstore.json, when it exists]
    #[arg(long, value_name = "FILE.sigstore.json")]
    pub sigstore_bundle: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Whose signature to accept: a public key, or a certificate identity and issuer.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Trust a public key
    #[arg(long, value_name = "PUB.pem")]
    pub key: Option<PathBuf>,
    /// Trust a certificate for this identity (SAN: a URI or an email)
    #[arg(long, value_name = "ID", conflicts_with = "key")]
    pub certificate_identity: Option<String>,
    /// Trust a certificate whose identity matches this regular expression
    #[arg(long, value_name = "REGEX", conflicts_with_all = ["key", "certificate_identity"])]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate's identity must come from
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// ... or a regular expression for it
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_oidc_issuer")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore trusted root [default: the embedded public-good root]
    #[arg(long, value_name = "trusted_root.json")]
    pub trusted_root: Option<PathBuf>,
}

impl TrustArgs {
    /// The trust the flags describe; `None` when none was given.
    fn material(&self) -> anyhow::Result<Option<crate::bundle::source::TrustMaterial>> {
        crate::bundle::source::trust_material(
            self.key.as_deref(),
            self.certificate_identity.as_deref(),
            self.certificate_identity_regexp.as_deref(),
            self.certificate_oidc_issuer.as_deref(),
            self.certificate_oidc_issuer_regexp.as_deref(),
            self.trusted_root.as_deref(),
        )
        .map_err(anyhow::Error::msg)
    }
}

pub fn run(args: BundleArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BundleCommand::Build { dir, output } => build(&dir, &output),
        BundleCommand::Keygen { output_prefix } => keygen(&output_prefix),
        BundleCommand::Sign { file, key } => sign(&file, &key),
        BundleCommand::Verify(args) => verify(&args),
        BundleCommand::Push { file, reference } => push(&file, &reference),
        BundleCommand::Pull(args) => pull(&args),
    }
}

/// The key password: `COSIGN_PASSWORD` (which may be empty), else asked on the terminal.
fn password(confirm: bool) -> anyhow::Result<Vec<u8>> {
    if let Some(password) = keys::password_from_env() {
        return Ok(password);
    }
    let first = prompt("Enter password for private key: ")?;
    if confirm && prompt("Enter password for private key again: ")? != first {
        anyhow::bail!("the passwords do not match");
    }
    Ok(first)
}

/// Read a line from the terminal without echoing it.
fn prompt(text: &str) -> anyhow::Result<Vec<u8>> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("no password: set COSIGN_PASSWORD (it may be empty) or run on a terminal");
    }
    eprint!("{text}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
}

fn keygen(prefix: &str) -> anyhow::Result<ExitCode> {
    let private_path = PathBuf::from(format!("{prefix}.key"));
    let public_path = PathBuf::from(format!("{prefix}.pub"));
    for path in [&private_path, &public_path] {
        if path.exists() {
            anyhow::bail!("{} exists; not overwriting it", path.display());
        }
    }
    let password = password(true)?;
    let key = keys::generate();
    let private = keys::encrypt_private(&key, &password)?;
    let public = keys::public_pem(key.verifying_key())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&private_path)?;
        file.write_all(private.as_bytes())?;
    }
    std::fs::write(&public_path, public)?;
    println!("Private key written to {}", private_path.display());
    println!("Public key written to {}", public_path.display());
    Ok(ExitCode::SUCCESS)
}

fn sign(file: &Path, key_path: &Path) -> anyhow::Result<ExitCode> {
    let pem = std::fs::read_to_string(key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let key = keys::decrypt_private(&pem, &password(false)?)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signed = signature::sign(&bytes, &key)?;
    let sig_path = suffixed(file, ".sig");
    let bundle_path = suffixed(file, ".sigstore.json");
    write_atomically(&sig_path, signed.signature.as_bytes())?;
    write_atomically(&bundle_path, signed.bundle.as_bytes())?;
    println!("{} signed by key {}", digest(&bytes), keys::hint(key.verifying_key())?);
    println!("Signature written to {}", sig_path.display());
    println!("Bundle written to {}", bundle_path.display());
    Ok(ExitCode::SUCCESS)
}

/// `FILE` + suffix: `policy.tar.gz` → `policy.tar.gz.sig`.
pub fn suffixed(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let material = args
        .trust
        .material()?
        .ok_or_else(|| anyhow::anyhow!("give --key, or --certificate-identity and --certificate-oidc-issuer"))?;
    let root = signature::trusted_root(&material.root)?;
    let trust = material.trust;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let bundle_path = args.sigstore_bundle.clone().unwrap_or_else(|| suffixed(&args.file, ".sigstore.json"));
    let (evidence_path, is_bundle) = match (&args.signature, &args.sigstore_bundle) {
        (Some(sig), _) => (sig.clone(), false),
        (None, Some(bundle)) => (bundle.clone(), true),
        (None, None) if bundle_path.exists() => (bundle_path, true),
        (None, None) => (suffixed(&args.file, ".sig"), false),
    };
    let text =
        std::fs::read_to_string(&evidence_path).with_context(|| format!("cannot read {}", evidence_path.display()))?;
    let evidence = if is_bundle { Evidence::Bundle(&text) } else { Evidence::Detached(&text) };
    match signature::verify(&bytes, evidence, &trust, &root) {
        Ok(verified) => {
            let log = if verified.logged { "logged in the transparency log" } else { "offline signature, not logged" };
            println!("Verified OK: {} signed by {} ({log})", args.file.display(), verified.signer);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sockguard: verification failed: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn build(dir: &Path, output: &Path) -> anyhow::Result<ExitCode> {
    let files = archive::files_of(dir)?;
    let bundle = Bundle::from_files(&dir.display().to_string(), files.clone())?;
    Policy::compile(&bundle, CompileOptions { with_tests: true, ..CompileOptions::default() })
        .with_context(|| format!("{} does not compile; no archive written", dir.display()))?;
    let bytes = archive::pack(&files)?;
    write_atomically(output, &bytes)?;
    println!("{} {} ({} files, revision {:?})", digest(&bytes), output.display(), files.len(), bundle.revision);
    Ok(ExitCode::SUCCESS)
}

/// Write a file in one step: to a temporary name beside it, then renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")
}

fn push(file: &Path, reference: &str) -> anyhow::Result<ExitCode> {
    use crate::bundle::oci::{self, OciRef, Signature};
    let reference = OciRef::parse(reference).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle = archive::load(&file.display().to_string(), &bytes)
        .with_context(|| format!("{} is not a bundle archive; nothing pushed", file.display()))?;
    let mut signatures = Vec::new();
    for (suffix, bundle_kind) in [(".sigstore.json", true), (".sig", false)] {
        let path = suffixed(file, suffix);
        match std::fs::read_to_string(&path) {
            Ok(text) if bundle_kind => signatures.push(Signature::Bundle(text)),
            Ok(text) => signatures.push(Signature::Detached(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    if signatures.is_empty() {
        eprintln!(
            "sockguard: warning: no signature beside {} (sign it with `sockguard bundle sign`); serve will not load it",
            file.display()
        );
    }
    let pushed = runtime()?.block_on(oci::push(&reference, &bytes, &bundle.revision, &signatures))?;
    println!("{} {} pushed (revision {:?}, archive {})", reference, pushed.pinned, bundle.revision, digest(&bytes));
    println!("{} signature(s) attached", pushed.signatures);
    Ok(ExitCode::SUCCESS)
}

fn pull(args: &PullArgs) -> anyhow::Result<ExitCode> {
    use crate::bundle::oci::{self, OciRef, Signature};
    let reference = OciRef::parse(&args.reference).map_err(anyhow::Error::msg)?;
    let material = args.trust.material()?;
    let pulled = runtime()?.block_on(oci::pull(&reference))?;
    archive::load(&pulled.pinned.to_string(), &pulled.archive)
        .with_context(|| format!("{} is not a bundle archive; nothing written", pulled.pinned))?;
    if let Some(material) = &material {
        match crate::bundle::source::verify_any(
            &pulled.pinned.to_string(),
            &pulled.archive,
            &pulled.signatures,
            material,
        ) {
            Ok(signer) => println!("Verified OK: signed by {signer}"),
            Err(e) => {
                eprintln!("sockguard: verification failed, nothing written: {e}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    let bundle_json = pulled.signatures.iter().find_map(|s| match s {
        Signature::Bundle(text) => Some(text),
        Signature::Detached(_) => None,
    });
    let detached = pulled.signatures.iter().find_map(|s| match s {
        Signature::Detached(text) => Some(text),
        Signature::Bundle(_) => None,
    });
    // Signatures first, the archive last: a reader never finds the archive without them.
    for (suffix, text) in [(".sigstore.json", bundle_json), (".sig", detached)] {
        let path = suffixed(&args.output, suffix);
        match text {
            Some(text) => write_atomically(&path, text.as_bytes())?,
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove the stale {}", path.display())),
            },
        }
    }
    write_atomically(&args.output, &pulled.archive)?;
    println!(
        "{} {} ({}, {} signature(s))",
        pulled.pinned,
        args.output.display(),
        digest(&pulled.archive),
        pulled.signatures.len()
    );
    Ok(ExitCode::SUCCESS)
}
