//! The canonical field names of every JSON request body the engine decodes.
//!
//! The engine decodes bodies with Go's `encoding/json`, which matches object keys to struct
//! fields case-insensitively. To show a policy the field the engine will read, the input builder
//! folds each key to its canonical name; this module holds those names, one tree per body (keyed
//! by the specification's operation id). Maps (labels, driver options, port maps) are not
//! structs: their keys are data and are never folded.
//!
//! The trees live in `body_schemas.json`, generated from the API specifications in
//! `spec/docker-api/` by `UPDATE_SCHEMAS=1 cargo test --test spec` and checked against them by the
//! same test. Encoding: `null` is a leaf (or a value of unknown structure), `{"f": {...}}` an
//! object with known fields, `{"m": shape}` a map whose values have `shape`, `{"l": shape}` a
//! list whose items have `shape`.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The shape of a JSON value in a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A scalar, or a value whose structure is not known: nothing inside it is folded.
    Leaf,
    /// A Go struct: keys fold to the canonical field names.
    Fields(Fields),
    /// A Go map: keys are data; values have the inner shape.
    Map(Box<Shape>),
    /// A list whose items have the inner shape.
    List(Box<Shape>),
}

/// The fields of a struct, with an index from folded name to canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    fields: HashMap<String, Shape>,
    folded: HashMap<String, String>,
}

/// The shape of a leaf, for lookups that find nothing.
pub static LEAF: Shape = Shape::Leaf;

impl Fields {
    fn new(fields: HashMap<String, Shape>) -> Fields {
        let folded = fields.keys().map(|name| (fold_key(name), name.clone())).collect();
        Fields { fields, folded }
    }

    /// The canonical field a key decodes into: an exact match first, else a match under
    /// Unicode simple case folding, as Go's decoder does. `None` for keys the struct lacks.
    pub fn canonical<'a>(&'a self, key: &str) -> Option<(&'a str, &'a Shape)> {
        if let Some((name, shape)) = self.fields.get_key_value(key) {
            return Some((name.as_str(), shape));
        }
        let name = self.folded.get(&fold_key(key))?;
        self.fields.get_key_value(name).map(|(n, s)| (n.as_str(), s))
    }
}

/// Fold a key for comparison the way Go's `bytes.EqualFold` does for the field names in the
/// Docker API. Every canonical name is ASCII, and the only non-ASCII characters whose simple
/// case-fold orbit contains an ASCII letter are U+017F LATIN SMALL LETTER LONG S (`s`) and U+212A
/// KELVIN SIGN (`k`); every other non-ASCII character cannot equal an ASCII name and is kept.
pub fn fold_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{017F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// All body shapes, keyed by operation id.
#[derive(Debug)]
pub struct Schemas {
    bodies: HashMap<String, Shape>,
}

impl Schemas {
    /// Parse the encoded trees.
    pub fn parse(json: &str) -> Result<Schemas, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let object = value.as_object().ok_or("the schema file is not an object")?;
        let bodies =
            object.iter().map(|(op, shape)| Ok((op.clone(), decode(shape)?))).collect::<Result<_, String>>()?;
        Ok(Schemas { bodies })
    }

    /// The shape of the body of an operation.
    pub fn body(&self, operation: &str) -> Option<&Shape> {
        self.bodies.get(operation)
    }

    /// The operation ids this file describes.
    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.bodies.keys().map(String::as_str)
    }
}

fn decode(value: &serde_json::Value) -> Result<Shape, String> {
    let Some(object) = value.as_object() else {
        return if value.is_null() { Ok(Shape::Leaf) } else { Err(format!("bad shape {value}")) };
    };
    match object.iter().next() {
        Some((tag, inner)) if object.len() == 1 => match tag.as_str() {
            "f" => {
                let fields = inner.as_object().ok_or("'f' must hold an object")?;
                let fields = fields
                    .iter()
                    .map(|(name, shape)| Ok((name.clone(), decode(shape)?)))
                    .collect::<Result<_, String>>()?;
                Ok(Shape::Fields(Fields::new(fields)))
            }
            "m" => Ok(Shape::Map(Box::new(decode(inner)?))),
            "l" => Ok(Shape::List(Box::new(decode(inner)?))),
            other => Err(format!("unknown shape tag {other:?}")),
        },
        _ => Err(format!("bad shape {value}")),
    }
}

static EMBEDDED: LazyLock<Result<Schemas, String>> =
    LazyLock::new(|| Schemas::parse(include_str!("body_schemas.json")));

/// The schemas compiled into the binary. An error here means the binary was built from a broken
/// file; callers treat it as a failure to read the body (fail closed), and a test checks it.
pub fn embedded() -> Result<&'static Schemas, &'static str> {
    EMBEDDED.as_ref().map_err(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_load_and_know_the_create_body() {
        let schemas = embedded().unwrap();
        let Some(Shape::Fields(create)) = schemas.body("ContainerCreate") else { panic!() };
        let (name, host) = create.canonical("hostconfig").unwrap();
        assert_eq!(name, "HostConfig");
        let Shape::Fields(host) = host else { panic!() };
        assert_eq!(host.canonical("PRIVILEGED").unwrap().0, "Privileged");
        assert!(matches!(create.canonical("Labels").unwrap().1, Shape::Map(_)));
        assert!(matches!(host.canonical("Binds").unwrap().1, Shape::List(_)));
    }

    #[test]
    fn go_folds_long_s_and_kelvin() {
        assert_eq!(fold_key("Hoſtconfig"), "hostconfig");
        assert_eq!(fold_key("\u{212A}ernelMemory"), "kernelmemory");
        // other non-ASCII letters are never equal to an ASCII name
        assert_eq!(fold_key("Ünit"), "Ünit".to_ascii_lowercase());
    }

    #[test]
    fn exact_match_wins_over_folded() {
        let fields = Fields::new(HashMap::from([("Foo".to_string(), Shape::Leaf)]));
        assert_eq!(fields.canonical("Foo").unwrap().0, "Foo");
        assert_eq!(fields.canonical("fOO").unwrap().0, "Foo");
        assert!(fields.canonical("Bar").is_none());
    }
}
