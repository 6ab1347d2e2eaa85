//! `sockguard serve`: load the policy, open the listeners, serve until SIGTERM or SIGINT.
//!
//! A reload — on SIGHUP, or when polling (`--bundle-poll`) finds the source changed — fetches,
//! verifies, compiles, then swaps atomically; requests in flight finish on the policy they
//! started with, and a bundle that fails at any step leaves the last good one serving, logged
//! with its reason (`bundle_fetch_failed`, `bundle_unverified`, `bundle_compile_failed`) and
//! shown by the admin listener's `/policy`.

use crate::audit::AuditLog;
use crate::config::{BundleSource, Config, Settings};
use crate::policy::{CompileOptions, Evaluator, Policy};
use crate::proxy::{upstream, Gateway};
use crate::server::admin::{ReloadOutcome, Status};
use crate::server::listener;
use crate::server::{accept_loop, Shutdown, Workers};
use anyhow::Context;
use arc_swap::ArcSwap;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Flags of `sockguard serve`. Every flag has a config-file key and a `SOCKGUARD_*` variable;
/// a flag wins over the variable, which wins over the file.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// YAML configuration file [env: SOCKGUARD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to listen: unix:///path or tcp://ip:port (repeatable)
    #[arg(long, value_name = "URL")]
    pub listen: Vec<String>,
    /// The Docker Engine to guard [default: unix:///var/run/docker.sock]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Policy bundle: a directory, a .tar.gz, an https:// URL or oci://REGISTRY/REPO:TAG
    /// [default: the embedded default bundle]
    #[arg(long, value_name = "SRC")]
    pub bundle: Option<String>,
    /// Check the bundle source for a change this often, e.g. 30s [default: only on SIGHUP]
    #[arg(long, value_name = "DURATION")]
    pub bundle_poll: Option<String>,
    /// Serve /healthz, /readyz and /policy here: tcp://127.0.0.1:PORT or unix:///path
    #[arg(long, value_name = "URL")]
    pub admin_listen: Option<String>,
    /// A preset bundle compiled into the binary: readonly, tecnativa, traefik, watchtower,
    /// monitoring, ci-runner
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// enforce: deny; warn / audit: forward and record would_deny
    #[arg(long, value_parser = ["enforce", "warn", "audit"])]
    pub mode: Option<String>,
    /// Audit log: a file, `-` for stdout, `off` [default: -]
    #[arg(long, value_name = "FILE|-")]
    pub audit_log: Option<String>,
    /// Mode of unix sockets [default: 0660]
    #[arg(long, value_name = "OCTAL")]
    pub socket_mode: Option<String>,
    /// Owner of unix sockets (name or uid)
    #[arg(long, value_name = "USER")]
    pub socket_owner: Option<String>,
    /// Group of unix sockets (name or gid)
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Allow plain TCP listeners on non-loopback addresses
    #[arg(long)]
    pub allow_insecure_tcp: bool,
    /// Serve a bundle archive without verifying a signature (logged as a warning)
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Verify bundle archives with this cosign public key
    #[arg(long, value_name = "PUB.pem")]
    pub bundle_key: Option<String>,
    /// Verify bundle archives signed by a certificate for this identity
    #[arg(long, value_name = "ID")]
    pub certificate_identity: Option<String>,
    /// ... or for an identity matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer of that identity
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// ... or an issuer matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore trusted root [default: the embedded public-good root]
    #[arg(long, value_name = "trusted_root.json")]
    pub trusted_root: Option<String>,
    /// Time allowed for the engine's response head, except streams and waits [default: 120s]
    #[arg(long, value_name = "DURATION")]
    pub upstream_timeout: Option<String>,
    /// Time allowed to connect to the engine [default: 5s]
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Time in-flight requests get to finish on shutdown [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// Largest JSON request body read for the policy [default: 1MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_json_body: Option<String>,
    /// JSON body cap of one action, e.g. container.create=4MiB (repeatable)
    #[arg(long, value_name = "ACTION=SIZE")]
    pub max_json_body_for: Vec<String>,
    /// Largest JSON response buffered for redaction [default: 16MiB]
    #[arg(long, value_name = "SIZE")]
    pub max_redact_body: Option<String>,
    /// Log level or tracing filter [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Entries of the decision cache, 0 to disable it [default: 1024]
    #[arg(long, value_name = "ENTRIES")]
    pub decision_cache: Option<String>,
    /// Threads that serve connections [default: one per CPU]
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
}

impl ServeArgs {
    fn settings(&self) -> Settings {
        Settings {
            listen: (!self.listen.is_empty()).then(|| self.listen.clone()),
            upstream: self.upstream.clone(),
            bundle: self.bundle.clone(),
            bundle_poll: self.bundle_poll.clone(),
            preset: self.preset.clone(),
            mode: self.mode.clone(),
            audit_log: self.audit_log.clone(),
            admin_listen: self.admin_listen.clone(),
            socket: crate::config::SocketSettings {
                mode: self.socket_mode.clone(),
                owner: self.socket_owner.clone(),
                group: self.socket_group.clone(),
            },
            allow_insecure_tcp: self.allow_insecure_tcp.then_some(true),
            allow_unsigned: self.allow_unsigned.then_some(true),
            trust: crate::config::TrustSettings {
                key: self.bundle_key.clone(),
                certificate_identity: self.certificate_identity.clone(),
                certificate_identity_regexp: self.certificate_identity_regexp.clone(),
                certificate_oidc_issuer: self.certificate_oidc_issuer.clone(),
                certificate_oidc_issuer_regexp: self.certificate_oidc_issuer_regexp.clone(),
                trusted_root: self.trusted_root.clone(),
            },
            upstream_timeout: self.upstream_timeout.clone(),
            connect_timeout: self.connect_timeout.clone(),
            shutdown_grace: self.shutdown_grace.clone(),
            limits: crate::config::LimitSettings {
                json_body: self.max_json_body.clone(),
                json_body_by_action: (!self.max_json_body_for.is_empty()).then(|| {
                    self.max_json_body_for
                        .iter()
                        .map(|pair| match pair.split_once('=') {
                            Some((action, size)) => (action.trim().to_owned(), size.trim().to_owned()),
                            None => (pair.clone(), String::new()),
                        })
                        .collect()
                }),
                redact_body: self.max_redact_body.clone(),
            },
            log_level: self.log_level.clone(),
            decision_cache: self.decision_cache.clone(),
            workers: self.workers.clone(),
        }
    }
}

/// Stage two of the configuration: file, environment and flags → a validated config.
pub fn configure(args: &ServeArgs) -> anyhow::Result<Config> {
    let config_file = args.config.clone().or_else(|| std::env::var_os("SOCKGUARD_CONFIG").map(PathBuf::from));
    let file = match &config_file {
        Some(path) => Settings::from_file(path).map_err(anyhow::Error::msg)?,
        None => Settings::default(),
    };
    let mut env = Settings::from_env(|key| std::env::var(key).ok()).map_err(anyhow::Error::msg)?;
    // RUST_LOG is the usual way to set a tracing filter; SOCKGUARD_LOG_LEVEL and the flag win.
    env.log_level = env.log_level.or_else(|| std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()));
    Config::validate(file.overlay(env).overlay(args.settings()))
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n  {}", errors.join("\n  ")))
}

/// Run `sockguard serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = configure(&args)?;
    init_tracing(&config.log_level);
    // This runtime accepts connections, answers the admin endpoints, reloads and flushes the
    // audit log; connections are served by the workers (crate::server::Workers).
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(serve(config))
}

fn init_tracing(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Load the bundle a source names — verified first when trust is configured — with the
/// environment variables its manifest declares.
pub async fn load_bundle(config: &Config) -> anyhow::Result<crate::bundle::source::Loaded> {
    let mut loaded = crate::bundle::source::load(&config.bundle, config.trust.as_ref(), config.allow_unsigned).await?;
    loaded.bundle.apply_env(|key| std::env::var(key).ok());
    Ok(loaded)
}

/// Load and compile the bundle a source names, and check the VM against the interpreter on
/// the bundle's request cases ([`crate::authoring::parity`]). Compiling runs off the runtime's
/// workers, so a reload does not hold up requests.
pub async fn load_policy(config: &Config) -> anyhow::Result<Policy> {
    let loaded = load_bundle(config).await?;
    let config = config.clone();
    tokio::task::spawn_blocking(move || compile_policy(&config, loaded))
        .await
        .map_err(|e| anyhow::anyhow!("bundle_compile_failed: the compiler stopped: {e}"))?
}

fn compile_policy(config: &Config, loaded: crate::bundle::source::Loaded) -> anyhow::Result<Policy> {
    let bundle = loaded.bundle;
    let mut policy =
        Policy::compile(&bundle, CompileOptions { cache_capacity: config.decision_cache, ..CompileOptions::default() })
            .map_err(|e| {
                anyhow::anyhow!("bundle_compile_failed: the bundle {} does not compile: {e}", bundle.source)
            })?;
    policy.digest = loaded.digest;
    policy.signer = loaded.signer;
    policy.pinned = loaded.pinned;
    policy.version = loaded.version;
    policy.loaded_at = Some(crate::audit::now_rfc3339());
    if policy.evaluator() == Evaluator::Vm {
        let root = match &config.bundle {
            BundleSource::Directory(dir) => Some(dir.as_path()),
            _ => None,
        };
        let disagree = crate::authoring::parity::disagreements(&policy, &bundle, root);
        if !disagree.is_empty() {
            policy.prefer_interpreter(format!("the VM and the interpreter disagree on {}", disagree.join(", ")));
        }
    }
    if let Some(why) = &policy.cache_unavailable {
        tracing::info!(bundle = %policy.source, reason = %why, "decisions are not cached");
    }
    if let Some(why) = &policy.vm_unavailable {
        tracing::warn!(bundle = %policy.source, reason = %why, "the bytecode VM cannot run this bundle; serving with the interpreter");
    }
    Ok(policy)
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let status = Arc::new(Status::new(config.bundle.to_string(), config.bundle_poll));
    // The admin listener comes up first, so /readyz can say "not yet" while the bundle loads.
    let admin = match &config.admin_listen {
        Some(address) => {
            let bound = listener::bind(address, &config.socket)
                .await
                .with_context(|| format!("cannot listen on {} (admin)", address.docker_host()))?;
            tracing::info!(listener = %address.docker_host(), "admin endpoints listening");
            Some(tokio::spawn(crate::server::admin::serve(bound, status.clone())))
        }
        None => None,
    };
    let policy = load_policy(&config).await?;
    tracing::info!(
        bundle = %policy.source,
        revision = %policy.revision,
        pinned = policy.pinned.as_deref().unwrap_or("-"),
        digest = policy.digest.as_deref().unwrap_or("-"),
        signer = policy.signer.as_deref().unwrap_or("unsigned"),
        evaluator = if policy.evaluator() == Evaluator::Vm { "vm" } else { "interpreter" },
        decision_cache = policy.caches_decisions(),
        "policy loaded"
    );
    let audit = AuditLog::open(&config.audit_log).context("cannot open the audit log")?;
    let gateway = Arc::new(Gateway {
        policy: ArcSwap::from_pointee(policy),
        upstream: upstream::Connector::new(config.upstream.clone(), config.connect_timeout),
        mode: config.mode,
        audit,
        limits: config.limits.clone(),
        upstream_timeout: config.upstream_timeout,
    });

    let mut bound = Vec::new();
    for address in &config.listen {
        let listener = listener::bind(address, &config.socket)
            .await
            .with_context(|| format!("cannot listen on {}", address.docker_host()))?;
        bound.push((address.docker_host(), listener));
    }
    let shutdown = Shutdown::new();
    let flusher = tokio::spawn({
        let gateway = gateway.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
            loop {
                tick.tick().await;
                gateway.audit.flush();
            }
        }
    });
    let workers = Arc::new(Workers::start(config.workers, &gateway).context("cannot start the worker threads")?);
    for (name, listener) in bound {
        tracing::info!(listener = %name, upstream = %config.upstream, mode = config.mode.as_str(), workers = config.workers, "listening");
        tokio::spawn(accept_loop(listener, name, workers.clone(), shutdown.handle()));
    }
    status.set_ready(gateway.clone());
    if let Some(first) = config.listen.first() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "DOCKER_HOST={}", first.docker_host());
        let _ = out.flush();
    }

    wait_for_signals(&config, &gateway, &status).await?;
    tracing::info!(grace = ?config.shutdown_grace, "shutting down");
    if let Some(admin) = admin {
        admin.abort();
    }
    if !shutdown.drain(config.shutdown_grace).await {
        tracing::warn!("connections were still open after the grace period; closing them");
    }
    flusher.abort();
    gateway.audit.flush();
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Wait for SIGTERM or SIGINT; reload on SIGHUP and when polling finds the source changed.
/// Reloads run here, one at a time.
async fn wait_for_signals(config: &Config, gateway: &Gateway, status: &Status) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut poll = config.bundle_poll.map(|every| {
        let first = tokio::time::Instant::now().checked_add(every).unwrap_or_else(tokio::time::Instant::now);
        let mut interval = tokio::time::interval_at(first, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut reloader = Reloader::default();
    loop {
        let tick = async {
            match poll.as_mut() {
                Some(interval) => interval.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = hangup.recv() => reloader.reload(config, gateway, status, "sighup", None).await,
            _ = tick => reloader.poll(config, gateway, status).await,
        }
    }
}

/// Reloads, remembering the last failure so that a source that keeps failing the same way is
/// logged once, not at every poll.
#[derive(Default)]
struct Reloader {
    last_failure: Option<String>,
}

impl Reloader {
    /// Poll the source: reload when what it holds differs from what is serving.
    async fn poll(&mut self, config: &Config, gateway: &Gateway, status: &Status) {
        let serving = gateway.policy.load().version.clone();
        match crate::bundle::source::probe(&config.bundle).await {
            Ok(Some(found)) if Some(&found) != serving.as_ref() => {
                self.reload(config, gateway, status, "poll", Some(found)).await;
            }
            Ok(_) => {
                if self.last_failure.take().is_some() {
                    tracing::info!(bundle = %config.bundle, "the source holds the serving bundle again");
                }
            }
            Err(e) => self.failed(status, "poll", e.code(), format!("{e}"), None),
        }
    }

    async fn reload(
        &mut self,
        config: &Config,
        gateway: &Gateway,
        status: &Status,
        trigger: &'static str,
        found: Option<String>,
    ) {
        match load_policy(config).await {
            Ok(policy) => {
                tracing::info!(
                    trigger,
                    bundle = %policy.source,
                    revision = %policy.revision,
                    pinned = policy.pinned.as_deref().unwrap_or("-"),
                    signer = policy.signer.as_deref().unwrap_or("unsigned"),
                    "policy reloaded"
                );
                self.last_failure = None;
                status.record(ReloadOutcome {
                    trigger,
                    code: None,
                    message: format!("revision {} is serving", policy.revision),
                    version: policy.version.clone(),
                });
                gateway.policy.store(Arc::new(policy));
            }
            Err(e) => {
                let text = format!("{e:#}");
                let code = ["bundle_unverified", "bundle_fetch_failed"]
                    .into_iter()
                    .find(|code| text.starts_with(code))
                    .unwrap_or("bundle_compile_failed");
                self.failed(status, trigger, code, text, found);
            }
        }
    }

    fn failed(
        &mut self,
        status: &Status,
        trigger: &'static str,
        code: &'static str,
        text: String,
        found: Option<String>,
    ) {
        let key = format!("{code} {}", found.as_deref().unwrap_or("")) + &text;
        if self.last_failure.as_deref() != Some(key.as_str()) || trigger == "sighup" {
            tracing::error!(trigger, reason = code, error = %text, "reload failed; the previous policy keeps serving");
        } else {
            tracing::debug!(trigger, reason = code, "reload still failing; the previous policy keeps serving");
        }
        self.last_failure = Some(key);
        let message = text.strip_prefix(code).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(&text).to_owned();
        status.record(ReloadOutcome { trigger, code: Some(code), message, version: found });
    }
}
