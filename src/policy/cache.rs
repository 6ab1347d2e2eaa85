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

/// Everything an input document is built from, but the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    hash: u64,
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    client: String,
}

impl RequestKey {
    /// The key of a request; `None` when its body is too large to cache.
    pub fn new(method: &str, target: &str, headers: &http::HeaderMap, body: &[u8], client: &str) -> Option<RequestKey> {
        if body.len() > MAX_CACHED_BODY {
            return None;
        }
        let headers: Vec<(String, Vec<u8>)> =
            headers.iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (method, target, &headers, body, client).hash(&mut hasher);
        Some(RequestKey {
            hash: hasher.finish(),
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.to_vec(),
            client: client.to_owned(),
        })
    }
}

impl std::hash::Hash for RequestKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
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
    map: HashMap<RequestKey, Option<Value>>,
    order: VecDeque<RequestKey>,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> DecisionCache {
        DecisionCache { capacity, entries: Mutex::new(Entries::default()) }
    }

    pub fn get(&self, key: &RequestKey) -> Option<Option<Value>> {
        self.entries.lock().ok()?.map.get(key).cloned()
    }

    pub fn insert(&self, key: RequestKey, decision: Option<Value>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.map.contains_key(&key) {
            return;
        }
        while entries.order.len() >= self.capacity {
            match entries.order.pop_front() {
                Some(old) => {
                    entries.map.remove(&old);
                }
                None => break,
            }
        }
        entries.order.push_back(key.clone());
        entries.map.insert(key, decision);
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(target: &str, body: &[u8], client: &str) -> RequestKey {
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", "docker".parse().unwrap());
        RequestKey::new("GET", target, &headers, body, client).unwrap()
    }

    #[test]
    fn every_part_of_the_request_is_in_the_key() {
        assert_eq!(key("/x", b"", "uid 1"), key("/x", b"", "uid 1"));
        assert_ne!(key("/x", b"", "uid 1"), key("/y", b"", "uid 1"));
        assert_ne!(key("/x", b"", "uid 1"), key("/x", b"{}", "uid 1"));
        assert_ne!(key("/x", b"", "uid 1"), key("/x", b"", "uid 2"));
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", "other".parse().unwrap());
        assert_ne!(key("/x", b"", "uid 1"), RequestKey::new("GET", "/x", &headers, b"", "uid 1").unwrap());
        assert!(RequestKey::new("GET", "/x", &headers, &vec![0; MAX_CACHED_BODY + 1], "c").is_none());
    }

    #[test]
    fn it_is_bounded_first_in_first_out() {
        let cache = DecisionCache::new(2);
        cache.insert(key("/a", b"", "c"), Some(json!(1)));
        cache.insert(key("/b", b"", "c"), None);
        cache.insert(key("/c", b"", "c"), Some(json!(3)));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key("/a", b"", "c")), None);
        assert_eq!(cache.get(&key("/b", b"", "c")), Some(None));
        assert_eq!(cache.get(&key("/c", b"", "c")), Some(Some(json!(3))));
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
