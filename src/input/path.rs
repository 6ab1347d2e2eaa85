//! Path and query canonicalisation: what the engine will route, read the way the engine reads it.
//!
//! The engine (Go `net/http` + its router) percent-decodes the path once, matches routes on the
//! decoded text, answers a path with `.`/`..` segments or `//` with a redirect instead of routing
//! it, and accepts an optional `/v{version}` prefix. A policy must see exactly the path the engine
//! will route, so this module decodes once, strips one version prefix, and refuses
//! (`request_path_ambiguous`) anything that could be read two ways: dot segments, empty segments,
//! a second version prefix, invalid escapes, invalid UTF-8, or `;` in the query (Go rejects it).
//! The bytes forwarded upstream are always the client's original ones.

use std::collections::BTreeMap;

/// Why a path or query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path does not start with '/'")]
    NotAbsolute,
    #[error("the path holds an invalid percent-escape")]
    BadEscape,
    #[error("the decoded path is not valid UTF-8")]
    NotUtf8,
    #[error("the path holds a '.' or '..' segment")]
    DotSegment,
    #[error("the path holds an empty segment ('//')")]
    EmptySegment,
    #[error("the path holds a NUL byte")]
    Nul,
    #[error("the path holds a second API version prefix")]
    SecondVersion,
    #[error("the query holds ';', which the engine rejects")]
    QuerySemicolon,
    #[error("the query holds an invalid percent-escape or invalid UTF-8")]
    BadQuery,
}

/// A request target as the engine will route it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Decoded path without the version prefix, e.g. `/containers/create`.
    pub path: String,
    /// The version from a `/v1.41` prefix, if any.
    pub api_version: Option<String>,
    /// Query parameters, decoded; every value a list, in order of appearance.
    pub query: BTreeMap<String, Vec<String>>,
}

impl Target {
    /// The path's segments (`["containers", "create"]`); a trailing slash gives a final "".
    pub fn segments(&self) -> Vec<&str> {
        self.path.strip_prefix('/').unwrap_or(&self.path).split('/').collect()
    }
}

/// Canonicalise a raw path and optional raw query.
pub fn canonicalize(raw_path: &str, raw_query: Option<&str>) -> Result<Target, PathError> {
    if !raw_path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = percent_decode(raw_path.as_bytes(), false).ok_or(PathError::BadEscape)?;
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    if decoded.contains('\0') {
        return Err(PathError::Nul);
    }
    check_segments(&decoded)?;
    let (api_version, path) = match split_version(&decoded) {
        Some((version, rest)) => (Some(version.to_owned()), rest.to_owned()),
        None => (None, decoded),
    };
    if split_version(&path).is_some() {
        return Err(PathError::SecondVersion);
    }
    let query = parse_query(raw_query.unwrap_or(""))?;
    Ok(Target { path, api_version, query })
}

/// Refuse `.`, `..` and empty segments; a single trailing slash is kept (the router sees it).
fn check_segments(path: &str) -> Result<(), PathError> {
    let inner = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = inner.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => return Err(PathError::DotSegment),
            "" if i != last => return Err(PathError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// Split `/v1.41/rest` into `("1.41", "/rest")`, as the router's `/v{version:[0-9.]+}` does.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let after_v = path.strip_prefix("/v")?;
    let end = after_v.find('/')?;
    let (version, rest) = after_v.split_at(end);
    let is_version = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    is_version.then_some((version, rest))
}

/// Parse a query the way Go's `url.ParseQuery` does, refusing what it refuses.
fn parse_query(raw: &str) -> Result<BTreeMap<String, Vec<String>>, PathError> {
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            return Err(PathError::QuerySemicolon);
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query_part(key)?;
        let value = decode_query_part(value)?;
        query.entry(key).or_default().push(value);
    }
    Ok(query)
}

fn decode_query_part(part: &str) -> Result<String, PathError> {
    let bytes = percent_decode(part.as_bytes(), true).ok_or(PathError::BadQuery)?;
    String::from_utf8(bytes).map_err(|_| PathError::BadQuery)
}

/// Strict percent-decoding: a `%` not followed by two hex digits is an error, as in Go.
/// With `plus_is_space`, `+` decodes to a space (query encoding).
fn percent_decode(input: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex_value(*bytes.next()?)?;
                let lo = hex_value(*bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<(Option<String>, String), PathError> {
        canonicalize(raw, None).map(|t| (t.api_version, t.path))
    }

    #[test]
    fn strips_one_version_prefix() {
        assert_eq!(path("/v1.41/containers/json"), Ok((Some("1.41".into()), "/containers/json".into())));
        assert_eq!(path("/containers/json"), Ok((None, "/containers/json".into())));
        assert_eq!(path("/v1.41/v1.41/containers/json"), Err(PathError::SecondVersion));
        assert_eq!(path("/v1.41%2Fv1.41/containers/json"), Err(PathError::SecondVersion));
        // a segment that only looks a little like a version is an ordinary segment
        assert_eq!(path("/vx/containers"), Ok((None, "/vx/containers".into())));
    }

    #[test]
    fn decodes_once_like_the_engine() {
        // %2F becomes '/', which the engine's router then sees as a separator
        assert_eq!(path("/v1.41/containers/a%2Fb/json"), Ok((Some("1.41".into()), "/containers/a/b/json".into())));
        // %252F decodes once to %2F and stays that way
        assert_eq!(path("/containers/a%252Fb/json"), Ok((None, "/containers/a%2Fb/json".into())));
        // the version prefix itself may be encoded
        assert_eq!(path("/%761.41/info"), Ok((Some("1.41".into()), "/info".into())));
    }

    #[test]
    fn refuses_what_the_engine_would_not_route() {
        assert_eq!(path("/v1.41/containers/x/../create"), Err(PathError::DotSegment));
        assert_eq!(path("/v1.41/containers/x/..%2F..%2Fcontainers/create"), Err(PathError::DotSegment));
        assert_eq!(path("/v1.41/containers/%2e%2e/create"), Err(PathError::DotSegment));
        assert_eq!(path("/v1.41/./info"), Err(PathError::DotSegment));
        assert_eq!(path("//v1.41/containers/create"), Err(PathError::EmptySegment));
        assert_eq!(path("/v1.41//containers/create"), Err(PathError::EmptySegment));
        assert_eq!(path("/containers%2F%2Fjson"), Err(PathError::EmptySegment));
        assert_eq!(path("/containers/%zz/json"), Err(PathError::BadEscape));
        assert_eq!(path("/containers/%4"), Err(PathError::BadEscape));
        assert_eq!(path("/containers/%ff/json"), Err(PathError::NotUtf8));
        assert_eq!(path("/containers/%00/json"), Err(PathError::Nul));
        assert_eq!(path("containers/json"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn keeps_a_trailing_slash() {
        assert_eq!(path("/networks/"), Ok((None, "/networks/".into())));
        let t = canonicalize("/networks/", None).unwrap();
        assert_eq!(t.segments(), vec!["networks", ""]);
    }

    #[test]
    fn parses_queries_like_go() {
        let t = canonicalize("/containers/create", Some("name=web&x=1&x=2&flag&sp=a+b%20c")).unwrap();
        assert_eq!(t.query["name"], vec!["web"]);
        assert_eq!(t.query["x"], vec!["1", "2"]);
        assert_eq!(t.query["flag"], vec![""]);
        assert_eq!(t.query["sp"], vec!["a b c"]);
        assert_eq!(canonicalize("/x", Some("force=0;force=1")), Err(PathError::QuerySemicolon));
        assert_eq!(canonicalize("/x", Some("a=%zz")), Err(PathError::BadQuery));
    }
}
