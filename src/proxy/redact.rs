//! Response redaction: fields a decision lists under `redact` are removed from JSON responses.
//!
//! Only the responses a decision asks to redact are buffered, and only up to a cap: a response
//! that is larger, or that is not the JSON the decision expected, is refused rather than passed
//! on unredacted — a leak is worse than an error.

use crate::policy::decision::{FieldPath, Step};
use serde_json::Value;

/// Remove every field named by `paths` from `value`; returns how many were removed.
pub fn redact(value: &mut Value, paths: &[FieldPath]) -> usize {
    paths.iter().map(|path| remove(value, &path.steps)).sum()
}

fn remove(value: &mut Value, steps: &[Step]) -> usize {
    match steps {
        [] => 0,
        [Step::Field(name)] => value.as_object_mut().and_then(|o| o.remove(name)).map_or(0, |_| 1),
        [Step::Field(name), rest @ ..] => value.get_mut(name).map_or(0, |inner| remove(inner, rest)),
        [Step::Each, rest @ ..] => match value {
            Value::Array(items) => items.iter_mut().map(|item| remove(item, rest)).sum(),
            _ => 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(texts: &[&str]) -> Vec<FieldPath> {
        texts.iter().map(|t| FieldPath::parse(t).unwrap()).collect()
    }

    #[test]
    fn removes_nested_and_listed_fields() {
        let mut v = json!({
            "Config": {"Env": ["A=1"], "Image": "busybox"},
            "Mounts": [{"Source": "/a", "Destination": "/b"}, {"Source": "/c"}]
        });
        let n = redact(&mut v, &paths(&["Config.Env", "Mounts[*].Source", "Missing.Field"]));
        assert_eq!(n, 3);
        assert_eq!(v, json!({"Config": {"Image": "busybox"}, "Mounts": [{"Destination": "/b"}, {}]}));
    }

    #[test]
    fn top_level_lists() {
        let mut v = json!([{"Id": "a", "Labels": {"x": "1"}}, {"Id": "b"}]);
        assert_eq!(redact(&mut v, &paths(&["[*].Labels"])), 1);
        assert_eq!(v, json!([{"Id": "a"}, {"Id": "b"}]));
    }

    #[test]
    fn shapes_that_do_not_match_are_left_alone() {
        let mut v = json!({"Config": "not an object"});
        assert_eq!(redact(&mut v, &paths(&["Config.Env", "[*].Id"])), 0);
        assert_eq!(v, json!({"Config": "not an object"}));
    }
}
