//! The configuration: layers, validation and every key's checks.

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
    let remote = |source: &str| Settings { bundle: Some(source.into()), trust: trust.clone(), ..Settings::default() };
    let config = Config::validate(Settings { bundle_poll: Some("30s".into()), ..remote("oci://127.0.0.1:5000/p:v1") });
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
