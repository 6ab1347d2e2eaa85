//! Configuration in two stages: raw settings, then a validated [`Config`].
//!
//! Stage one gathers [`Settings`] — every field optional, no I/O beyond reading the file — from
//! four layers, later ones winning: built-in defaults, the YAML file (`--config`), `SOCKGUARD_*`
//! environment variables (one per key, named after its path: `socket.mode` is
//! `SOCKGUARD_SOCKET_MODE`), and command-line flags. Stage two ([`Config::validate`]) parses and
//! checks every value and reports all problems with the key they came from.
//!
//! [`settings`] holds the raw layers, [`parse`] the value syntaxes (durations, sizes, modes,
//! users), and this module the validated [`Config`].

mod parse;
mod settings;
#[cfg(test)]
mod tests;

pub use parse::{parse_duration, parse_octal_mode, parse_size};
pub use settings::{LimitSettings, Settings, SocketSettings, TrustSettings, ENV_KEYS};

use crate::audit::Destination;
use crate::policy::Mode;
use crate::proxy::upstream::Address;
use crate::proxy::Limits;
use crate::server::listener::{ListenAddress, SocketOptions};
use parse::{lookup_group, lookup_user};
use std::path::PathBuf;
use std::time::Duration;

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// The default bundle compiled into the binary.
    Embedded,
    /// A preset compiled into the binary (`--preset NAME`).
    Preset(String),
    /// A bundle directory (development: unsigned, logged as such).
    Directory(PathBuf),
    /// A bundle archive (`.tar.gz`) on disk.
    Archive(PathBuf),
    /// A bundle archive at an `https://` URL (or `http://` on loopback).
    Https(String),
    /// A bundle in an OCI registry.
    Oci(crate::bundle::oci::OciRef),
}

impl BundleSource {
    /// Whether the bundle is fetched over the network.
    pub fn is_remote(&self) -> bool {
        matches!(self, BundleSource::Https(_) | BundleSource::Oci(_))
    }
}

impl std::fmt::Display for BundleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleSource::Embedded => f.write_str("embedded:default"),
            BundleSource::Preset(name) => write!(f, "preset:{name}"),
            BundleSource::Directory(path) | BundleSource::Archive(path) => write!(f, "{}", path.display()),
            BundleSource::Https(url) => f.write_str(url),
            BundleSource::Oci(reference) => write!(f, "{reference}"),
        }
    }
}

/// The validated configuration of `sockguard serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<ListenAddress>,
    pub upstream: Address,
    pub bundle: BundleSource,
    /// How often the bundle source is checked for a change; `None`: only on SIGHUP.
    pub bundle_poll: Option<Duration>,
    pub mode: Mode,
    pub audit_log: Destination,
    /// Where the admin endpoints listen, if anywhere.
    pub admin_listen: Option<ListenAddress>,
    pub socket: SocketOptions,
    pub allow_insecure_tcp: bool,
    pub allow_unsigned: bool,
    /// Whose signatures a bundle archive must carry; read once, at start.
    pub trust: Option<crate::bundle::source::TrustMaterial>,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub shutdown_grace: Duration,
    pub limits: Limits,
    pub log_level: String,
    /// Entries of the decision cache; 0 disables it.
    pub decision_cache: usize,
    /// Threads that serve connections, each with a runtime of its own.
    pub workers: usize,
}

impl Config {
    /// Validate settings; every problem is reported, each with its key.
    pub fn validate(settings: Settings) -> Result<Config, Vec<String>> {
        let mut errors = Problems::default();
        let listen: Vec<ListenAddress> = settings
            .listen
            .unwrap_or_else(|| vec![default_listen()])
            .iter()
            .filter_map(|url| errors.take("listen", ListenAddress::parse(url)))
            .collect();
        let upstream = errors
            .take("upstream", Address::parse(settings.upstream.as_deref().unwrap_or("unix:///var/run/docker.sock")));
        let bundle = match (settings.bundle.as_deref(), settings.preset.as_deref()) {
            (Some(_), Some(_)) => {
                errors.0.push("bundle: give a bundle or a preset, not both".into());
                BundleSource::Embedded
            }
            (_, Some(name)) if crate::policy::embedded::preset(name).is_none() => {
                let names = crate::policy::embedded::preset_names().join(", ");
                errors.0.push(format!("preset: no preset named {name:?} (presets: {names})"));
                BundleSource::Embedded
            }
            (_, Some(name)) => BundleSource::Preset(name.to_owned()),
            (None | Some("" | "embedded:default" | "default"), None) => BundleSource::Embedded,
            (Some(reference), None) if reference.starts_with("oci://") => errors
                .take("bundle", crate::bundle::oci::OciRef::parse(reference))
                .map_or(BundleSource::Embedded, BundleSource::Oci),
            (Some(url), None) if url.starts_with("https://") || url.starts_with("http://") => {
                match errors.take("bundle", crate::bundle::https::check_url(url)) {
                    Some(_) => BundleSource::Https(url.to_owned()),
                    None => BundleSource::Embedded,
                }
            }
            (Some(path), None) if path.ends_with(".tar.gz") || path.ends_with(".tgz") => {
                BundleSource::Archive(PathBuf::from(path))
            }
            (Some(dir), None) => BundleSource::Directory(PathBuf::from(dir)),
        };
        let allow_unsigned = settings.allow_unsigned.unwrap_or(false);
        let t = &settings.trust;
        let trust = errors
            .take(
                "trust",
                crate::bundle::source::trust_material(
                    t.key.as_deref().map(std::path::Path::new),
                    t.certificate_identity.as_deref(),
                    t.certificate_identity_regexp.as_deref(),
                    t.certificate_oidc_issuer.as_deref(),
                    t.certificate_oidc_issuer_regexp.as_deref(),
                    t.trusted_root.as_deref().map(std::path::Path::new),
                ),
            )
            .flatten();
        match (&bundle, trust.is_some(), allow_unsigned) {
            (BundleSource::Archive(_), false, false) => errors.0.push(
                "bundle: an archive is only served once its signature is verified, and no trust is configured \
                 (give --bundle-key or a certificate identity and issuer, or --allow-unsigned to serve it unverified)"
                    .into(),
            ),
            (BundleSource::Https(_) | BundleSource::Oci(_), false, _) => errors.0.push(
                "bundle: a remote bundle is only served once its signature is verified, and no trust is configured \
                 (give --bundle-key, or a certificate identity and issuer; --allow-unsigned does not cover remote bundles)"
                    .into(),
            ),
            (BundleSource::Directory(_), true, false) => errors.0.push(
                "bundle: a directory carries no signature and trust is configured: serve a signed archive \
                 (bundle build, bundle sign), or pass --allow-unsigned"
                    .into(),
            ),
            _ => {}
        }
        let mode = errors.take(
            "mode",
            settings.mode.as_deref().map_or(Ok(Mode::Enforce), |m| {
                Mode::parse(m).ok_or(format!("expected enforce, warn or audit, got {m:?}"))
            }),
        );
        let audit_log = Destination::parse(settings.audit_log.as_deref().unwrap_or("-"));
        let socket_mode =
            errors.take("socket.mode", settings.socket.mode.as_deref().map_or(Ok(0o660), parse_octal_mode));
        let owner = settings.socket.owner.as_deref().and_then(|o| errors.take("socket.owner", lookup_user(o)));
        let group = settings.socket.group.as_deref().and_then(|g| errors.take("socket.group", lookup_group(g)));
        let allow_insecure_tcp = settings.allow_insecure_tcp.unwrap_or(false);
        let mut duration = |key: &str, value: Option<&str>, default: Duration| {
            errors.take(key, value.map_or(Ok(default), parse_duration))
        };
        let upstream_timeout =
            duration("upstream_timeout", settings.upstream_timeout.as_deref(), Duration::from_secs(120));
        let connect_timeout = duration("connect_timeout", settings.connect_timeout.as_deref(), Duration::from_secs(5));
        let shutdown_grace = duration("shutdown_grace", settings.shutdown_grace.as_deref(), Duration::from_secs(10));
        let bundle_poll = match settings.bundle_poll.as_deref().map(parse_duration) {
            None | Some(Ok(Duration::ZERO)) => None,
            Some(Ok(interval)) if interval < Duration::from_secs(1) => {
                errors.0.push(format!("bundle_poll: {interval:?} is too often; poll at most once a second"));
                None
            }
            Some(Ok(_)) if matches!(bundle, BundleSource::Embedded | BundleSource::Preset(_)) => {
                errors.0.push("bundle_poll: the bundle is part of the binary; there is nothing to poll".into());
                None
            }
            Some(Ok(interval)) => Some(interval),
            Some(Err(e)) => {
                errors.0.push(format!("bundle_poll: {e}"));
                None
            }
        };
        let admin_listen =
            settings.admin_listen.as_deref().and_then(|url| errors.take("admin_listen", ListenAddress::parse(url)));
        if let Some(ListenAddress::Tcp(addr)) = &admin_listen {
            if !addr.ip().is_loopback() && !allow_insecure_tcp {
                errors.0.push(format!(
                    "admin_listen: tcp://{addr} is not a loopback address (set allow_insecure_tcp / --allow-insecure-tcp to accept that)"
                ));
            }
        }
        let defaults = Limits::default();
        let json_body = errors
            .take("limits.json_body", settings.limits.json_body.as_deref().map_or(Ok(defaults.json_body), parse_size));
        let mut json_body_by_action = std::collections::BTreeMap::new();
        for (action, size) in settings.limits.json_body_by_action.iter().flatten() {
            let key = format!("limits.json_body_by_action.{action}");
            let is_json_action = crate::input::routes::ROUTES
                .iter()
                .any(|r| r.action == action && matches!(r.body, crate::input::routes::Body::Json(_)));
            if !is_json_action {
                errors.0.push(format!("{key}: not an action that takes a JSON body"));
            } else if let Some(size) = errors.take(&key, parse_size(size)) {
                json_body_by_action.insert(action.clone(), size);
            }
        }
        let decision_cache = errors.take(
            "decision_cache",
            settings.decision_cache.as_deref().map_or(Ok(1024), |v| {
                v.trim().parse::<usize>().map_err(|_| format!("expected a number of entries, got {v:?}"))
            }),
        );
        let workers = errors.take(
            "workers",
            settings.workers.as_deref().map_or(Ok(default_workers()), |v| match v.trim().parse::<usize>() {
                Ok(n @ 1..=256) => Ok(n),
                _ => Err(format!("expected a number of threads from 1 to 256, got {v:?}")),
            }),
        );
        let redact_body = errors.take(
            "limits.redact_body",
            settings.limits.redact_body.as_deref().map_or(Ok(defaults.redact_body), parse_size),
        );
        for address in &listen {
            if let ListenAddress::Tcp(addr) = address {
                if !addr.ip().is_loopback() && !allow_insecure_tcp {
                    errors.0.push(format!(
                        "listen: tcp://{addr} is not a loopback address; plain TCP exposes the Docker API to the \
                         network (set allow_insecure_tcp / --allow-insecure-tcp to accept that)"
                    ));
                }
            }
        }
        if listen.is_empty() && errors.0.is_empty() {
            errors.0.push("listen: at least one listener is needed".into());
        }
        let built = (|| {
            Some(Config {
                listen,
                upstream: upstream?,
                bundle,
                bundle_poll,
                mode: mode?,
                audit_log,
                admin_listen,
                socket: SocketOptions { mode: socket_mode?, owner, group },
                allow_insecure_tcp,
                allow_unsigned,
                trust,
                upstream_timeout: upstream_timeout?,
                connect_timeout: connect_timeout?,
                shutdown_grace: shutdown_grace?,
                limits: Limits { json_body: json_body?, json_body_by_action, redact_body: redact_body? },
                log_level: settings.log_level.unwrap_or_else(|| "info".into()),
                decision_cache: decision_cache?,
                workers: workers?,
            })
        })();
        match built {
            Some(config) if errors.0.is_empty() => Ok(config),
            _ => Err(errors.0),
        }
    }
}

/// One worker per CPU the process may run on.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).clamp(1, 256)
}

/// Problems found while validating, each prefixed with its key.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn take<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.0.push(format!("{key}: {e}"))).ok()
    }
}

/// The default socket: `/run/sockguard/docker.sock` for root, else under `$XDG_RUNTIME_DIR`
/// (or `/tmp/sockguard-<uid>/`).
pub fn default_listen() -> String {
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        return "unix:///run/sockguard/docker.sock".into();
    }
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(dir) if dir.starts_with('/') => format!("unix://{dir}/sockguard.sock"),
        _ => format!("unix:///tmp/sockguard-{uid}/sockguard.sock"),
    }
}
