//! Configuration in two stages: raw settings, then a validated [`Config`].
//!
//! Stage one gathers [`Settings`] — every field optional, no I/O beyond reading the file — from
//! four layers, later ones winning: built-in defaults, the YAML file (`--config`), `SOCKGUARD_*`
//! environment variables (one per key, named after its path: `socket.mode` is
//! `SOCKGUARD_SOCKET_MODE`), and command-line flags. Stage two ([`Config::validate`]) parses and
//! checks every value and reports all problems with the key they came from.

use crate::audit::Destination;
use crate::policy::Mode;
use crate::proxy::upstream::Address;
use crate::proxy::Limits;
use crate::server::listener::{ListenAddress, SocketOptions};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Raw settings: one layer of configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<Vec<String>>,
    pub upstream: Option<String>,
    pub bundle: Option<String>,
    /// How often a bundle source is checked for a new revision (`30s`; off when unset).
    pub bundle_poll: Option<String>,
    pub preset: Option<String>,
    pub mode: Option<String>,
    pub audit_log: Option<String>,
    /// The admin listener: `/healthz`, `/readyz`, `/policy`.
    pub admin_listen: Option<String>,
    #[serde(default)]
    pub socket: SocketSettings,
    pub allow_insecure_tcp: Option<bool>,
    pub allow_unsigned: Option<bool>,
    pub upstream_timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub shutdown_grace: Option<String>,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub trust: TrustSettings,
    pub log_level: Option<String>,
    /// Entries of the decision cache (0 disables it).
    pub decision_cache: Option<String>,
    /// Threads that serve connections (default: one per CPU).
    pub workers: Option<String>,
}

/// `socket:` — ownership and mode of unix listeners.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SocketSettings {
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// `trust:` — whose signature a bundle archive must carry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    /// A cosign public key file.
    pub key: Option<String>,
    pub certificate_identity: Option<String>,
    pub certificate_identity_regexp: Option<String>,
    pub certificate_oidc_issuer: Option<String>,
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore trusted root file (default: the embedded public-good root).
    pub trusted_root: Option<String>,
}

/// `limits:` — sizes of what the proxy may buffer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub json_body: Option<String>,
    /// Per-action JSON body caps: `{container.create: 2MiB}`.
    pub json_body_by_action: Option<std::collections::BTreeMap<String, String>>,
    pub redact_body: Option<String>,
}

/// The environment variables, by key.
pub const ENV_KEYS: [&str; 28] = [
    "SOCKGUARD_LISTEN",
    "SOCKGUARD_UPSTREAM",
    "SOCKGUARD_BUNDLE",
    "SOCKGUARD_BUNDLE_POLL",
    "SOCKGUARD_PRESET",
    "SOCKGUARD_MODE",
    "SOCKGUARD_AUDIT_LOG",
    "SOCKGUARD_ADMIN_LISTEN",
    "SOCKGUARD_SOCKET_MODE",
    "SOCKGUARD_SOCKET_OWNER",
    "SOCKGUARD_SOCKET_GROUP",
    "SOCKGUARD_ALLOW_INSECURE_TCP",
    "SOCKGUARD_ALLOW_UNSIGNED",
    "SOCKGUARD_UPSTREAM_TIMEOUT",
    "SOCKGUARD_CONNECT_TIMEOUT",
    "SOCKGUARD_SHUTDOWN_GRACE",
    "SOCKGUARD_LIMITS_JSON_BODY",
    "SOCKGUARD_LIMITS_JSON_BODY_BY_ACTION",
    "SOCKGUARD_LIMITS_REDACT_BODY",
    "SOCKGUARD_LOG_LEVEL",
    "SOCKGUARD_DECISION_CACHE",
    "SOCKGUARD_WORKERS",
    "SOCKGUARD_TRUST_KEY",
    "SOCKGUARD_TRUST_CERTIFICATE_IDENTITY",
    "SOCKGUARD_TRUST_CERTIFICATE_IDENTITY_REGEXP",
    "SOCKGUARD_TRUST_CERTIFICATE_OIDC_ISSUER",
    "SOCKGUARD_TRUST_CERTIFICATE_OIDC_ISSUER_REGEXP",
    "SOCKGUARD_TRUST_TRUSTED_ROOT",
];

impl Settings {
    /// Read a YAML configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Read the `SOCKGUARD_*` variables through `lookup` (`std::env::var` in production).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let get = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let flag = |key: &str| match get(key) {
            None => Ok(None),
            Some(v) => parse_bool(&v).map(Some).ok_or(format!("{key}: expected true or false, got {v:?}")),
        };
        let allow_insecure_tcp = flag("SOCKGUARD_ALLOW_INSECURE_TCP")?;
        let allow_unsigned = flag("SOCKGUARD_ALLOW_UNSIGNED")?;
        Ok(Settings {
            listen: get("SOCKGUARD_LISTEN").map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
            upstream: get("SOCKGUARD_UPSTREAM"),
            bundle: get("SOCKGUARD_BUNDLE"),
            bundle_poll: get("SOCKGUARD_BUNDLE_POLL"),
            preset: get("SOCKGUARD_PRESET"),
            mode: get("SOCKGUARD_MODE"),
            audit_log: get("SOCKGUARD_AUDIT_LOG"),
            admin_listen: get("SOCKGUARD_ADMIN_LISTEN"),
            socket: SocketSettings {
                mode: get("SOCKGUARD_SOCKET_MODE"),
                owner: get("SOCKGUARD_SOCKET_OWNER"),
                group: get("SOCKGUARD_SOCKET_GROUP"),
            },
            allow_insecure_tcp,
            allow_unsigned,
            upstream_timeout: get("SOCKGUARD_UPSTREAM_TIMEOUT"),
            connect_timeout: get("SOCKGUARD_CONNECT_TIMEOUT"),
            shutdown_grace: get("SOCKGUARD_SHUTDOWN_GRACE"),
            limits: LimitSettings {
                json_body: get("SOCKGUARD_LIMITS_JSON_BODY"),
                json_body_by_action: get("SOCKGUARD_LIMITS_JSON_BODY_BY_ACTION").map(|v| parse_pairs(&v)),
                redact_body: get("SOCKGUARD_LIMITS_REDACT_BODY"),
            },
            trust: TrustSettings {
                key: get("SOCKGUARD_TRUST_KEY"),
                certificate_identity: get("SOCKGUARD_TRUST_CERTIFICATE_IDENTITY"),
                certificate_identity_regexp: get("SOCKGUARD_TRUST_CERTIFICATE_IDENTITY_REGEXP"),
                certificate_oidc_issuer: get("SOCKGUARD_TRUST_CERTIFICATE_OIDC_ISSUER"),
                certificate_oidc_issuer_regexp: get("SOCKGUARD_TRUST_CERTIFICATE_OIDC_ISSUER_REGEXP"),
                trusted_root: get("SOCKGUARD_TRUST_TRUSTED_ROOT"),
            },
            log_level: get("SOCKGUARD_LOG_LEVEL"),
            decision_cache: get("SOCKGUARD_DECISION_CACHE"),
            workers: get("SOCKGUARD_WORKERS"),
        })
    }

    /// Lay `over` on top of `self`: every value `over` sets wins.
    pub fn overlay(self, over: Settings) -> Settings {
        Settings {
            listen: over.listen.or(self.listen),
            upstream: over.upstream.or(self.upstream),
            bundle: over.bundle.or(self.bundle),
            bundle_poll: over.bundle_poll.or(self.bundle_poll),
            preset: over.preset.or(self.preset),
            mode: over.mode.or(self.mode),
            audit_log: over.audit_log.or(self.audit_log),
            admin_listen: over.admin_listen.or(self.admin_listen),
            socket: SocketSettings {
                mode: over.socket.mode.or(self.socket.mode),
                owner: over.socket.owner.or(self.socket.owner),
                group: over.socket.group.or(self.socket.group),
            },
            allow_insecure_tcp: over.allow_insecure_tcp.or(self.allow_insecure_tcp),
            allow_unsigned: over.allow_unsigned.or(self.allow_unsigned),
            upstream_timeout: over.upstream_timeout.or(self.upstream_timeout),
            connect_timeout: over.connect_timeout.or(self.connect_timeout),
            shutdown_grace: over.shutdown_grace.or(self.shutdown_grace),
            limits: LimitSettings {
                json_body: over.limits.json_body.or(self.limits.json_body),
                json_body_by_action: over.limits.json_body_by_action.or(self.limits.json_body_by_action),
                redact_body: over.limits.redact_body.or(self.limits.redact_body),
            },
            trust: TrustSettings {
                key: over.trust.key.or(self.trust.key),
                certificate_identity: over.trust.certificate_identity.or(self.trust.certificate_identity),
                certificate_identity_regexp: over
                    .trust
                    .certificate_identity_regexp
                    .or(self.trust.certificate_identity_regexp),
                certificate_oidc_issuer: over.trust.certificate_oidc_issuer.or(self.trust.certificate_oidc_issuer),
                certificate_oidc_issuer_regexp: over
                    .trust
                    .certificate_oidc_issuer_regexp
                    .or(self.trust.certificate_oidc_issuer_regexp),
                trusted_root: over.trust.trusted_root.or(self.trust.trusted_root),
            },
            log_level: over.log_level.or(self.log_level),
            decision_cache: over.decision_cache.or(self.decision_cache),
            workers: over.workers.or(self.workers),
        }
    }
}

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

/// `a=1,b=2` → `{a: 1, b: 2}` (for map settings given as one environment variable).
fn parse_pairs(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `0660` or `660`: an octal permission mode, at most `0777`.
pub fn parse_octal_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("expected an octal mode such as 0660, got {text:?}"))
}

/// `30s`, `500ms`, `2m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("expected a duration such as 30s, got {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// `1048576`, `512KiB`, `1MiB`, `1M`, `2GiB`: a size in bytes (K, M and G are binary).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number.parse().map_err(|_| format!("expected a size such as 1MiB, got {text:?}"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "KB" | "k" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    value.checked_mul(scale).ok_or_else(|| format!("{text:?} is too large"))
}

fn lookup_user(name: &str) -> Result<nix::unistd::Uid, String> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(nix::unistd::Uid::from_raw(id));
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(user)) => Ok(user.uid),
        Ok(None) => Err(format!("no such user {name:?}")),
        Err(e) => Err(format!("cannot look up user {name:?}: {e}")),
    }
}

fn lookup_group(name: &str) -> Result<nix::unistd::Gid, String> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(nix::unistd::Gid::from_raw(id));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid),
        Ok(None) => Err(format!("no such group {name:?}")),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn layers_override_in_order() {
        let file: Settings = serde_yaml_ng::from_str(
            "upstream: unix:///file.sock\nmode: warn\nsocket: {mode: '0600', group: '0'}\nlimits: {json_body: 2MiB}\n",
        )
        .unwrap();
        let env =
            Settings::from_env(|k| HashMap::from([("SOCKGUARD_MODE", "audit")]).get(k).map(|v| v.to_string())).unwrap();
        let flags = Settings { upstream: Some("unix:///flag.sock".into()), ..Settings::default() };
        let config = Config::validate(file.overlay(env).overlay(flags)).unwrap();
        assert_eq!(config.upstream, Address::Unix("/flag.sock".into()));
        assert_eq!(config.mode, Mode::Audit);
        assert_eq!(config.socket.mode, 0o600);
        assert_eq!(config.socket.group, Some(nix::unistd::Gid::from_raw(0)));
        assert_eq!(config.limits.json_body, 2 << 20);
    }

    #[test]
    fn per_action_body_caps() {
        let env = Settings::from_env(|k| {
            (k == "SOCKGUARD_LIMITS_JSON_BODY_BY_ACTION").then(|| "container.create=4MiB, exec.start=1K".to_string())
        })
        .unwrap();
        let config = Config::validate(env).unwrap();
        assert_eq!(config.limits.json_body_for("container.create"), 4 << 20);
        assert_eq!(config.limits.json_body_for("exec.start"), 1024);
        assert_eq!(config.limits.json_body_for("network.create"), 1 << 20);
        let bad: Settings = serde_yaml_ng::from_str("limits: {json_body_by_action: {container.list: 1K}}").unwrap();
        let errors = Config::validate(bad).unwrap_err();
        assert!(errors[0].contains("not an action that takes a JSON body"), "{errors:?}");
    }

    #[test]
    fn defaults_are_safe() {
        let config = Config::validate(Settings::default()).unwrap();
        assert_eq!(config.mode, Mode::Enforce);
        assert_eq!(config.socket.mode, 0o660);
        assert_eq!(config.bundle, BundleSource::Embedded);
        assert_eq!(config.upstream, Address::Unix("/var/run/docker.sock".into()));
        assert!(matches!(config.listen[0], ListenAddress::Unix(_)));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let settings = Settings {
            mode: Some("loud".into()),
            upstream: Some("http://x".into()),
            shutdown_grace: Some("10 parsecs".into()),
            socket: SocketSettings { mode: Some("999".into()), ..SocketSettings::default() },
            ..Settings::default()
        };
        let errors = Config::validate(settings).unwrap_err();
        for key in ["mode:", "upstream:", "shutdown_grace:", "socket.mode:"] {
            assert!(errors.iter().any(|e| e.starts_with(key)), "{key} missing from {errors:?}");
        }
    }

    #[test]
    fn presets_are_checked_by_name() {
        let ok = Settings { preset: Some("ci-runner".into()), ..Settings::default() };
        assert_eq!(Config::validate(ok).unwrap().bundle, BundleSource::Preset("ci-runner".into()));
        let unknown = Settings { preset: Some("nope".into()), ..Settings::default() };
        assert!(Config::validate(unknown).unwrap_err()[0].contains("presets: readonly"));
        let both = Settings { preset: Some("traefik".into()), bundle: Some("/x".into()), ..Settings::default() };
        assert!(Config::validate(both).is_err());
    }

    #[test]
    fn remote_sources_parse_and_need_trust() {
        let key = std::env::temp_dir().join(format!("sockguard-config-test-{}.pub", std::process::id()));
        let pem = crate::bundle::keys::public_pem(crate::bundle::keys::generate().verifying_key()).unwrap();
        std::fs::write(&key, pem).unwrap();
        let trust = TrustSettings { key: Some(key.display().to_string()), ..TrustSettings::default() };
        let remote =
            |source: &str| Settings { bundle: Some(source.into()), trust: trust.clone(), ..Settings::default() };
        let config =
            Config::validate(Settings { bundle_poll: Some("30s".into()), ..remote("oci://127.0.0.1:5000/p:v1") });
        let config = config.unwrap();
        assert!(matches!(&config.bundle, BundleSource::Oci(r) if r.to_string() == "oci://127.0.0.1:5000/p:v1"));
        assert_eq!(config.bundle_poll, Some(Duration::from_secs(30)));
        let config = Config::validate(remote("https://policies.example/p.tar.gz")).unwrap();
        assert_eq!(config.bundle, BundleSource::Https("https://policies.example/p.tar.gz".into()));
        for bad in ["oci://p:v1", "http://policies.example/p.tar.gz"] {
            let errors = Config::validate(remote(bad)).unwrap_err();
            assert!(errors[0].starts_with("bundle:"), "{bad}: {errors:?}");
        }
        // without trust, --allow-unsigned does not let a remote bundle in
        let untrusted = Settings {
            bundle: Some("oci://127.0.0.1:5000/p:v1".into()),
            allow_unsigned: Some(true),
            ..Settings::default()
        };
        assert!(Config::validate(untrusted).unwrap_err()[0].contains("remote bundle is only served"));
        std::fs::remove_file(&key).unwrap();
    }

    #[test]
    fn polling_and_the_admin_listener_are_checked() {
        let embedded = Settings { bundle_poll: Some("10s".into()), ..Settings::default() };
        assert!(Config::validate(embedded).unwrap_err()[0].contains("nothing to poll"));
        let dir =
            |poll: &str| Settings { bundle: Some("/b".into()), bundle_poll: Some(poll.into()), ..Settings::default() };
        assert!(Config::validate(dir("100ms")).unwrap_err()[0].contains("too often"));
        assert!(Config::validate(dir("soon")).unwrap_err()[0].starts_with("bundle_poll:"));
        assert_eq!(Config::validate(dir("0")).unwrap().bundle_poll, None);
        let admin = |url: &str| Settings { admin_listen: Some(url.into()), ..Settings::default() };
        assert_eq!(
            Config::validate(admin("tcp://127.0.0.1:9901")).unwrap().admin_listen,
            Some(ListenAddress::Tcp("127.0.0.1:9901".parse().unwrap()))
        );
        assert!(Config::validate(admin("tcp://0.0.0.0:9901")).unwrap_err()[0].contains("not a loopback"));
        let env = Settings::from_env(|k| (k == "SOCKGUARD_ADMIN_LISTEN").then(|| "unix:///run/sg-admin.sock".into()));
        assert_eq!(env.unwrap().admin_listen.as_deref(), Some("unix:///run/sg-admin.sock"));
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_are_bounded() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(Config::validate(Settings::default()).unwrap().workers, cpus.min(256));
        let workers = |n: &str| Settings { workers: Some(n.into()), ..Settings::default() };
        assert_eq!(Config::validate(workers("3")).unwrap().workers, 3);
        for bad in ["0", "257", "two", "-1"] {
            assert!(Config::validate(workers(bad)).unwrap_err()[0].starts_with("workers:"), "{bad}");
        }
        let env = Settings::from_env(|k| (k == "SOCKGUARD_WORKERS").then(|| "1".into())).unwrap();
        assert_eq!(Config::validate(env).unwrap().workers, 1);
    }

    #[test]
    fn an_unsigned_archive_needs_an_explicit_flag() {
        let archive = Settings { bundle: Some("/b/policy.tar.gz".into()), ..Settings::default() };
        assert!(Config::validate(archive.clone()).unwrap_err()[0].contains("--allow-unsigned"));
        let allowed = Config::validate(Settings { allow_unsigned: Some(true), ..archive }).unwrap();
        assert_eq!(allowed.bundle, BundleSource::Archive("/b/policy.tar.gz".into()));
    }

    #[test]
    fn public_tcp_needs_an_explicit_flag() {
        let public = Settings { listen: Some(vec!["tcp://0.0.0.0:2375".into()]), ..Settings::default() };
        assert!(Config::validate(public.clone()).is_err());
        let allowed = Settings { allow_insecure_tcp: Some(true), ..public };
        assert!(Config::validate(allowed).is_ok());
        let loopback = Settings { listen: Some(vec!["tcp://127.0.0.1:2375".into()]), ..Settings::default() };
        assert!(Config::validate(loopback).is_ok());
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(serde_yaml_ng::from_str::<Settings>("upstrem: x").is_err());
    }

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5y").is_err());
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("1TB").is_err());
        assert_eq!(parse_octal_mode("0660"), Ok(0o660));
        assert_eq!(parse_octal_mode("600"), Ok(0o600));
        assert!(parse_octal_mode("0888").is_err());
    }
}
