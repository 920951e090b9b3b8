//! The Query API's parameters: an `application/x-www-form-urlencoded`
//! body (or a GET's query string) parsed strictly — a name twice, an
//! oversized name or value, too many parameters or bytes that are not
//! UTF-8 are refused — and read through [`Params`], which knows AWS's
//! list (`Names.member.N`) and map (`Tags.member.N.Key`/`.Value`)
//! encodings and refuses, once an action has read what it takes, any
//! parameter it did not read.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

use super::QueryError;

/// Most parameters one request carries.
pub const MAX_PARAMS: usize = 1000;
/// Longest parameter name.
pub const MAX_NAME: usize = 256;
/// Longest parameter value (a policy document is at most 131072 bytes
/// after URL decoding in AWS; ward's body cap bounds the whole request).
pub const MAX_VALUE: usize = 131_072;
/// Most members of one list.
pub const MAX_MEMBERS: usize = 1000;

/// Parsed parameters, each to be taken at most once.
#[derive(Debug, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

fn decode(raw: &str, what: &str) -> Result<String, QueryError> {
    let plus = raw.replace('+', " ");
    percent_decode(plus.as_bytes())
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            QueryError::validation(format!("a parameter {what} is not percent-encoded UTF-8"))
        })
}

impl Params {
    /// Parses `a=1&b=2` (form encoding: `+` is a space). Empty pieces
    /// (`a=1&&b=2`) are skipped as AWS does; a name without `=` has the
    /// empty value.
    pub fn parse(raw: &[u8]) -> Result<Params, QueryError> {
        let raw = std::str::from_utf8(raw)
            .map_err(|_| QueryError::validation("the request parameters are not UTF-8"))?;
        let mut map = BTreeMap::new();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let k = decode(k, "name")?;
            if k.is_empty() || k.len() > MAX_NAME {
                return Err(QueryError::validation(format!(
                    "parameter names are 1 to {MAX_NAME} bytes"
                )));
            }
            let v = decode(v, "value")?;
            if v.len() > MAX_VALUE {
                return Err(QueryError::validation(format!(
                    "parameter {k} is longer than {MAX_VALUE} bytes"
                )));
            }
            if map.len() >= MAX_PARAMS {
                return Err(QueryError::validation(format!(
                    "a request carries at most {MAX_PARAMS} parameters"
                )));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(QueryError::validation(format!(
                    "parameter {k} is given more than once"
                )));
            }
        }
        Ok(Params { map })
    }

    /// A parameter's value without taking it.
    pub fn peek(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Takes an optional parameter.
    pub fn opt(&mut self, name: &str) -> Option<String> {
        self.map.remove(name)
    }

    /// Takes a required, non-empty parameter.
    pub fn req(&mut self, name: &str) -> Result<String, QueryError> {
        match self.map.remove(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(QueryError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy \
                 constraint: Member must not be null",
                lower_first(name)
            ))),
        }
    }

    /// Takes an optional boolean (`true`/`false`).
    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, QueryError> {
        match self.opt(name).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(QueryError::validation(format!(
                "{name} must be true or false"
            ))),
        }
    }

    /// Takes an optional integer.
    pub fn int(&mut self, name: &str) -> Result<Option<i64>, QueryError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| QueryError::validation(format!("{name} must be an integer"))),
        }
    }

    /// Takes the list `prefix.member.1`, `prefix.member.2`, … (numbered
    /// from 1 with no gaps; an entry past a gap is left unread, and so
    /// refused as unknown).
    pub fn list(&mut self, prefix: &str) -> Result<Vec<String>, QueryError> {
        let mut out = Vec::new();
        for n in 1..=MAX_MEMBERS {
            match self.map.remove(&format!("{prefix}.member.{n}")) {
                Some(v) => out.push(v),
                None => return Ok(out),
            }
        }
        Err(QueryError::validation(format!(
            "{prefix} has more than {MAX_MEMBERS} members"
        )))
    }

    /// Takes the list of structures `prefix.member.N.field` for `fields`
    /// (each member needs the first field; the others are optional).
    pub fn structs(
        &mut self,
        prefix: &str,
        fields: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, QueryError> {
        let mut out = Vec::new();
        for n in 1..=MAX_MEMBERS {
            let mut row: Vec<Option<String>> = fields
                .iter()
                .map(|f| self.map.remove(&format!("{prefix}.member.{n}.{f}")))
                .collect();
            if row.iter().all(Option::is_none) {
                return Ok(out);
            }
            if row[0].is_none() {
                return Err(QueryError::validation(format!(
                    "{prefix}.member.{n}.{} is required",
                    fields[0]
                )));
            }
            row.shrink_to_fit();
            out.push(row);
        }
        Err(QueryError::validation(format!(
            "{prefix} has more than {MAX_MEMBERS} members"
        )))
    }

    /// Takes `prefix.member.N.Key`/`.Value` as ward's `[{key, value}]`.
    pub fn tags(&mut self, prefix: &str) -> Result<Vec<serde_json::Value>, QueryError> {
        Ok(self
            .structs(prefix, &["Key", "Value"])?
            .into_iter()
            .map(|mut r| {
                let value = r.pop().flatten().unwrap_or_default();
                let key = r.pop().flatten().unwrap_or_default();
                serde_json::json!({"key": key, "value": value})
            })
            .collect())
    }

    /// Refuses whatever the action did not read.
    pub fn done(self) -> Result<(), QueryError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(QueryError::validation(format!(
                "unknown parameter {k} for this action"
            ))),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_maps_and_refusals() {
        let mut p = Params::parse(
            b"A=1&Tags.member.1.Key=k&Tags.member.1.Value=v+w&Tags.member.2.Key=x\
              &Names.member.1=a%2Fb&Names.member.2=c&Names.member.4=gap",
        )
        .unwrap();
        assert_eq!(p.req("A").unwrap(), "1");
        let tags = p.tags("Tags").unwrap();
        assert_eq!(tags[0]["value"], "v w");
        assert_eq!(tags[1]["key"], "x");
        assert_eq!(tags[1]["value"], "");
        assert_eq!(p.list("Names").unwrap(), vec!["a/b", "c"]);
        assert!(p.done().is_err(), "the member past the gap is unknown");
        assert!(Params::parse(b"A=1&A=2").is_err());
        assert!(Params::parse(b"A=%FF").is_err());
        let long = format!("A={}", "x".repeat(MAX_VALUE + 1));
        assert!(Params::parse(long.as_bytes()).is_err());
        let mut p = Params::parse(b"Tags.member.1.Value=v").unwrap();
        assert!(p.tags("Tags").is_err());
        let mut p = Params::parse(b"B=").unwrap();
        assert!(p.req("B").is_err());
    }
}
