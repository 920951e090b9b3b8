//! A strict JSON tree for policy documents.
//!
//! `serde_json::Value` silently keeps the last of two equal keys; two parsers
//! that disagree on which duplicate wins are a classic policy-confusion attack,
//! so this tree rejects duplicate keys outright. It also keeps object keys in
//! document order so that error paths and re-serialised documents read the way
//! the author wrote them. Nesting depth is bounded by serde_json's recursion
//! limit (128), so hostile input cannot overflow the stack.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value with ordered, duplicate-free objects.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses `bytes` as one JSON document. Non-UTF-8 input, trailing data,
    /// duplicate keys and excessive nesting are all errors.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Json, String> {
        serde_json::from_slice::<Json>(bytes).map_err(|e| e.to_string())
    }

    /// The JSON type name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Converts to a `serde_json::Value` (for output); object order is kept
    /// because the workspace builds serde_json with `preserve_order`.
    pub(crate) fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::Value::Number(n.clone()),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(a) => serde_json::Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => serde_json::Value::Object(
                o.iter().map(|(k, v)| (k.clone(), v.to_value())).collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Json>()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value::<Json>()?;
            out.push((key, value));
        }
        Ok(Json::Object(out))
    }
}

/// A location inside a JSON document, printed JSONPath-style:
/// `$.Statement[0].Condition.StringEquals["ward:SourceIp"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(String);

impl JsonPath {
    /// The document root, `$`.
    pub fn root() -> JsonPath {
        JsonPath(String::from("$"))
    }

    /// The path of member `key` of the object at `self`.
    pub fn key(&self, key: &str) -> JsonPath {
        let plain = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !key.starts_with(|c: char| c.is_ascii_digit());
        if plain {
            JsonPath(format!("{}.{key}", self.0))
        } else {
            JsonPath(format!(
                "{}[{}]",
                self.0,
                serde_json::Value::String(key.to_owned())
            ))
        }
    }

    /// The path of element `i` of the array at `self`.
    pub fn index(&self, i: usize) -> JsonPath {
        JsonPath(format!("{}[{i}]", self.0))
    }

    pub(crate) fn from_string(s: String) -> JsonPath {
        JsonPath(s)
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<Json, &str>) {
        let got = Json::parse(input.as_bytes());
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "input {input}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "input {input}: error {g:?} lacks {e:?}"),
            (g, e) => panic!("input {input}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn parses_and_rejects() {
        check(
            r#"{"a":1,"b":[true,null]}"#,
            Ok(Json::Object(vec![
                ("a".into(), Json::Number(1.into())),
                ("b".into(), Json::Array(vec![Json::Bool(true), Json::Null])),
            ])),
        );
        check(r#"{"a":1,"a":2}"#, Err("duplicate key \"a\""));
        check(r#"{"a":1} x"#, Err("trailing characters"));
        check(r#"{"a":"#, Err("EOF"));
        check(&"[".repeat(200), Err("recursion limit"));
        assert!(Json::parse(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn paths() {
        let p = JsonPath::root()
            .key("Statement")
            .index(0)
            .key("Condition")
            .key("ward:SourceIp");
        assert_eq!(p.as_str(), r#"$.Statement[0].Condition["ward:SourceIp"]"#);
        assert_eq!(JsonPath::root().key("").as_str(), r#"$[""]"#);
    }
}
