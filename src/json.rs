//! A JSON helper shared by the modules that read documents of unknown shape.

use serde_json::Value;

/// The value at a path of object keys, or null: what `value["a"]["b"]` gives, without the
/// indexing operator the lint wall forbids.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    static NULL: Value = Value::Null;
    path.iter().try_fold(value, |v, key| v.get(key)).unwrap_or(&NULL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_are_null() {
        let v = serde_json::json!({"a": {"b": 1}, "s": "x"});
        assert_eq!(at(&v, &["a", "b"]), &serde_json::json!(1));
        assert_eq!(at(&v, &["a", "c"]), &Value::Null);
        assert_eq!(at(&v, &["s", "x"]), &Value::Null);
    }
}
