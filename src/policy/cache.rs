//! The decision cache: a request identical to a recent one gets the decision it got.
//!
//! Clients repeat themselves — Traefik and monitoring agents poll the same endpoints, the docker
//! CLI pings before every command — and a deterministic policy decides an identical input
//! identically. The input document is a pure function of the request (method, target, headers,
//! body) and of the caller, plus a request id; so the cache is keyed by exactly those request
//! parts ([`RequestKey`]) and a hit skips building the document, converting it and evaluating
//! the policy. Evaluation errors are never cached. The cache is per compiled policy, so a reload
//! starts empty, and bounded (first in, first out); bodies over 64 KiB are not cached.
//!
//! It is only enabled for policies whose decision can depend on nothing but the input and data:
//! a bundle that calls a built-in whose result changes between calls (`time.now_ns`, `rand.*`,
//! `uuid.rfc4122`, `http.send`, `opa.runtime`, `net.lookup_ip_addr`, JWT verification with its
//! clock) or that reads `input.request.id` is evaluated on every request.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// Built-ins whose results are not a function of their arguments.
const NON_DETERMINISTIC: [&str; 8] = [
    "time.now_ns",
    "rand.",
    "uuid.rfc4122",
    "http.send",
    "opa.runtime",
    "net.lookup_ip_addr",
    "io.jwt.decode_verify",
    "time.now",
];

/// Why a bundle's decisions are not cached, or `None` when they may be.
pub fn reason_not_to_cache<'a>(sources: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for source in sources {
        let code = strip_comments(source);
        if let Some(builtin) = NON_DETERMINISTIC.iter().find(|b| code.contains(*b)) {
            return Some(format!(
                "the policy calls {}, whose result changes between calls",
                builtin.trim_end_matches('.')
            ));
        }
        if reads_request_id(&code) {
            return Some("the policy reads input.request.id, which differs on every request".into());
        }
    }
    None
}

fn strip_comments(source: &str) -> String {
    source.lines().map(|line| line.split('#').next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Whether the code can read the request id: `request.id`, `request["id"]`, or the request or
/// the whole input used as a value (passed to a function, walked, marshalled, returned).
fn reads_request_id(code: &str) -> bool {
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("request.id") || compact.contains("request[\"id\"]") {
        return true;
    }
    for whole in ["input.request", "input"] {
        let mut rest = compact.as_str();
        while let Some(at) = rest.find(whole) {
            let before = rest.get(..at).and_then(|b| b.chars().last());
            let after = rest.get(at.saturating_add(whole.len())..).and_then(|a| a.chars().next());
            let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            // `input.request` followed by `.field` or `[` is a field read; anything else takes
            // the whole value
            if !is_word(before) && !is_word(after) && !matches!(after, Some('.' | '[')) {
                return true;
            }
            rest = rest.get(at.saturating_add(whole.len())..).unwrap_or("");
        }
    }
    false
}

/// Largest body a cached request may carry.
pub const MAX_CACHED_BODY: usize = 64 << 10;

/// Everything an input document is built from, but the request id, borrowed from the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestKey<'a> {
    hash: u64,
    method: &'a str,
    target: &'a str,
    headers: &'a http::HeaderMap,
    body: &'a [u8],
    client: &'a str,
}

impl<'a> RequestKey<'a> {
    /// The key of a request; `None` when its body is too large to cache.
    pub fn new(
        method: &'a str,
        target: &'a str,
        headers: &'a http::HeaderMap,
        body: &'a [u8],
        client: &'a str,
    ) -> Option<RequestKey<'a>> {
        if body.len() > MAX_CACHED_BODY {
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (method, target, body, client).hash(&mut hasher);
        for (name, value) in headers {
            (name.as_str(), value.as_bytes()).hash(&mut hasher);
        }
        Some(RequestKey { hash: hasher.finish(), method, target, headers, body, client })
    }

    fn owned(&self) -> StoredKey {
        StoredKey {
            method: self.method.to_owned(),
            target: self.target.to_owned(),
            headers: self.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect(),
            body: self.body.to_vec(),
            client: self.client.to_owned(),
        }
    }
}

/// A key kept in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredKey {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    client: String,
}

impl StoredKey {
    fn matches(&self, key: &RequestKey<'_>) -> bool {
        self.method == key.method
            && self.target == key.target
            && self.body == key.body
            && self.client == key.client
            && self.headers.len() == key.headers.len()
            && self
                .headers
                .iter()
                .zip(key.headers)
                .all(|((n, v), (kn, kv))| n == kn.as_str() && v.as_slice() == kv.as_bytes())
    }
}

/// A bounded map from request to decision.
#[derive(Debug)]
pub struct DecisionCache {
    capacity: usize,
    /// A std Mutex: held only to look up or insert, never across an await.
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// By hash; a hash shared by different requests keeps them all.
    map: HashMap<u64, Vec<(StoredKey, Option<Value>)>>,
    order: VecDeque<u64>,
    len: usize,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> DecisionCache {
        DecisionCache { capacity, entries: Mutex::new(Entries::default()) }
    }

    pub fn get(&self, key: &RequestKey<'_>) -> Option<Option<Value>> {
        let entries = self.entries.lock().ok()?;
        let bucket = entries.map.get(&key.hash)?;
        bucket.iter().find(|(stored, _)| stored.matches(key)).map(|(_, decision)| decision.clone())
    }

    pub fn insert(&self, key: &RequestKey<'_>, decision: Option<Value>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.map.get(&key.hash).is_some_and(|b| b.iter().any(|(stored, _)| stored.matches(key))) {
            return;
        }
        while entries.len >= self.capacity {
            let Some(old) = entries.order.pop_front() else { break };
            let removed = entries.map.get_mut(&old).map_or(0, |bucket| {
                if bucket.is_empty() {
                    0
                } else {
                    bucket.remove(0);
                    1
                }
            });
            if entries.map.get(&old).is_some_and(Vec::is_empty) {
                entries.map.remove(&old);
            }
            entries.len = entries.len.saturating_sub(removed);
        }
        entries.order.push_back(key.hash);
        entries.map.entry(key.hash).or_default().push((key.owned(), decision));
        entries.len = entries.len.saturating_add(1);
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(agent: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", agent.parse().unwrap());
        headers
    }

    #[test]
    fn every_part_of_the_request_is_in_the_key() {
        let (docker, other) = (headers("docker"), headers("other"));
        let cache = DecisionCache::new(8);
        let base = RequestKey::new("GET", "/x", &docker, b"", "uid 1").unwrap();
        cache.insert(&base, Some(json!(1)));
        assert_eq!(cache.get(&RequestKey::new("GET", "/x", &docker, b"", "uid 1").unwrap()), Some(Some(json!(1))));
        for different in [
            RequestKey::new("POST", "/x", &docker, b"", "uid 1"),
            RequestKey::new("GET", "/y", &docker, b"", "uid 1"),
            RequestKey::new("GET", "/x", &docker, b"{}", "uid 1"),
            RequestKey::new("GET", "/x", &docker, b"", "uid 2"),
            RequestKey::new("GET", "/x", &other, b"", "uid 1"),
        ] {
            assert_eq!(cache.get(&different.unwrap()), None);
        }
        assert!(RequestKey::new("GET", "/x", &docker, &vec![0; MAX_CACHED_BODY + 1], "c").is_none());
    }

    #[test]
    fn it_is_bounded_first_in_first_out() {
        let h = headers("docker");
        let key = |t| RequestKey::new("GET", t, &h, b"", "c").unwrap();
        let cache = DecisionCache::new(2);
        cache.insert(&key("/a"), Some(json!(1)));
        cache.insert(&key("/b"), None);
        cache.insert(&key("/c"), Some(json!(3)));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key("/a")), None);
        assert_eq!(cache.get(&key("/b")), Some(None));
        assert_eq!(cache.get(&key("/c")), Some(Some(json!(3))));
    }

    #[test]
    fn non_deterministic_or_id_reading_policies_are_not_cached() {
        assert!(reason_not_to_cache(["decision := {\"allow\": true}"]).is_none());
        assert!(reason_not_to_cache(["allow if input.request.action == \"x\"\nx := input.request.headers[\"a\"]"])
            .is_none());
        assert!(reason_not_to_cache(["# time.now_ns in a comment\nallow := true"]).is_none());
        for code in [
            "t := time.now_ns()",
            "r := rand.intn(\"x\", 10)",
            "x := input.request.id",
            "x := input.request[\"id\"]",
            "x := json.marshal(input.request)",
            "x := walk(input)",
            "x := object.get(input, [\"request\", \"id\"], null)",
        ] {
            assert!(reason_not_to_cache([code]).is_some(), "{code}");
        }
    }
}
