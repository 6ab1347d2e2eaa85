//! Raw settings: one layer of configuration (the file, the environment or the flags), every
//! field optional, and how layers are laid on top of each other.

use serde::Deserialize;

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
