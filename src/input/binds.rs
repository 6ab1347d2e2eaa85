//! `input.request.bind_mounts`: every host path a request would mount, in one list.
//!
//! A host path reaches a container in several spellings: `HostConfig.Binds` strings
//! (`/src:/dst:ro`), `HostConfig.Mounts` entries of type `bind`, volume mounts whose local driver
//! is told to bind a device (`type=none,o=bind,device=/etc`), the same inside a service's task
//! template, and a volume created with those driver options. A policy that guards host paths
//! should not have to know them all, so they are gathered here, each with its source path cleaned
//! lexically (`/srv/../etc` is `/etc`) so that prefix checks cannot be walked around.
//! Symlinks on the host cannot be resolved from here; policies should allow narrow prefixes.

use crate::json::at;
use serde_json::{json, Value};

/// The bind mounts named by the (folded) body of `action`.
pub fn bind_mounts(action: &str, body: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match action {
        "container.create" | "container.start" => {
            let host = &body["HostConfig"];
            binds(&host["Binds"], "HostConfig.Binds", &mut out);
            mounts(&host["Mounts"], "HostConfig.Mounts", &mut out);
        }
        "service.create" | "service.update" => {
            let spec = at(body, &["TaskTemplate", "ContainerSpec"]);
            mounts(&spec["Mounts"], "TaskTemplate.ContainerSpec.Mounts", &mut out);
        }
        "volume.create" => {
            if let Some(device) = bind_device(&body["DriverOpts"]) {
                out.push(entry(&device, None, options_read_only(&body["DriverOpts"]), "volume", "DriverOpts"));
            }
        }
        _ => {}
    }
    out
}

fn entry(source: &str, target: Option<&str>, read_only: bool, kind: &str, origin: &str) -> Value {
    json!({
        "source": clean(source),
        "target": target,
        "read_only": read_only,
        "type": kind,
        "origin": origin,
    })
}

/// `HostConfig.Binds`: `source:target[:options]` with an absolute source is a bind mount;
/// a name as source is a named volume and mounts no host path.
fn binds(list: &Value, origin: &str, out: &mut Vec<Value>) {
    let Some(items) = list.as_array() else { return };
    for spec in items.iter().filter_map(Value::as_str) {
        let mut parts = spec.splitn(3, ':');
        let (Some(source), Some(target)) = (parts.next(), parts.next()) else { continue };
        if !source.starts_with('/') {
            continue;
        }
        let options = parts.next().unwrap_or("");
        let read_only = options.split(',').any(|o| o == "ro");
        out.push(entry(source, Some(target), read_only, "bind", origin));
    }
}

/// `Mounts` entries: type `bind`, or type `volume` with local driver options that bind a device.
fn mounts(list: &Value, origin: &str, out: &mut Vec<Value>) {
    let Some(items) = list.as_array() else { return };
    for mount in items {
        let target = mount["Target"].as_str();
        let read_only = mount["ReadOnly"].as_bool().unwrap_or(false);
        match mount["Type"].as_str() {
            Some("bind") => {
                if let Some(source) = mount["Source"].as_str() {
                    out.push(entry(source, target, read_only, "bind", origin));
                }
            }
            Some("volume") => {
                let options = at(mount, &["VolumeOptions", "DriverConfig", "Options"]);
                if let Some(device) = bind_device(options) {
                    let read_only = read_only || options_read_only(options);
                    out.push(entry(&device, target, read_only, "volume", origin));
                }
            }
            _ => {}
        }
    }
}

/// The host device of local-driver options `{"type": "none", "o": "bind", "device": "/x"}`.
fn bind_device(options: &Value) -> Option<String> {
    let o = options["o"].as_str()?;
    let binds = o.split(',').any(|opt| opt == "bind" || opt == "rbind");
    binds.then(|| options["device"].as_str().map(str::to_owned)).flatten()
}

fn options_read_only(options: &Value) -> bool {
    options["o"].as_str().is_some_and(|o| o.split(',').any(|opt| opt == "ro"))
}

/// Lexically clean an absolute path: collapse `//`, drop `.`, resolve `..` (never above `/`).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if path.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_every_spelling_of_a_host_path() {
        let body = json!({"HostConfig": {
        "Binds": ["/srv:/srv:ro", "named:/data", "/var/run/docker.sock:/s", "anon"],
        "Mounts": [
            {"Type": "bind", "Source": "/srv/../etc", "Target": "/e", "ReadOnly": true},
            {"Type": "volume", "Source": "v", "Target": "/v",
             "VolumeOptions": {"DriverConfig": {"Name": "local",
                "Options": {"type": "none", "o": "bind", "device": "/root"}}}},
            {"Type": "tmpfs", "Target": "/t"}
        ]}});
        let mounts = bind_mounts("container.create", &body);
        let sources: Vec<&str> = mounts.iter().map(|m| m["source"].as_str().unwrap()).collect();
        assert_eq!(sources, ["/srv", "/var/run/docker.sock", "/etc", "/root"]);
        assert_eq!(mounts[0]["read_only"], true);
        assert_eq!(mounts[1]["read_only"], false);
        assert_eq!(mounts[3]["type"], "volume");
    }

    #[test]
    fn volume_create_with_bind_options_is_a_bind_mount() {
        let body = json!({"Name": "v", "Driver": "local",
            "DriverOpts": {"type": "none", "o": "bind,ro", "device": "/etc//ssh/"}});
        let mounts = bind_mounts("volume.create", &body);
        assert_eq!(
            mounts,
            vec![json!({"source": "/etc/ssh", "target": null, "read_only": true,
            "type": "volume", "origin": "DriverOpts"})]
        );
        assert!(bind_mounts("volume.create", &json!({"Name": "plain"})).is_empty());
    }

    #[test]
    fn services_mount_too() {
        let body = json!({"TaskTemplate": {"ContainerSpec": {"Mounts": [
            {"Type": "bind", "Source": "/", "Target": "/host"}]}}});
        assert_eq!(bind_mounts("service.create", &body).len(), 1);
    }

    #[test]
    fn cleaning_never_climbs_above_root() {
        assert_eq!(clean("/../../etc"), "/etc");
        assert_eq!(clean("/a/./b//c/.."), "/a/b");
        assert_eq!(clean("/"), "/");
    }
}
