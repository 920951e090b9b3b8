//! What every command gets: the global flags and the environment, and for
//! API commands an authenticated client plus the output format, with helpers to
//! print the server's answer as JSON or as a table.

use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, Method};
use crate::config::{self, Env, Flags, Need, OutputFormat, Settings};
use crate::error::Failure;
use crate::output;

/// Most pages fetched by one `--all`.
const MAX_PAGES: usize = 100_000;

/// Global flags and environment.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) flags: Flags,
    pub(crate) env: Env,
}

impl Ctx {
    /// Resolved settings.
    pub(crate) fn settings(&self, need: Need) -> Result<Settings, Failure> {
        config::resolve(&self.flags, &self.env, need)
    }

    /// Settings for signed calls, with a role profile's credentials
    /// (`role_arn` + `source_profile`) assumed.
    pub(crate) fn signed_settings(&self) -> Result<Settings, Failure> {
        let s = self.settings(Need::Signed)?;
        crate::role::assume_profile(&self.flags, &self.env, s, 0)
    }

    /// An authenticated API client (SigV4, or mTLS without an access key).
    pub(crate) fn api(&self) -> Result<Api, Failure> {
        let s = self.signed_settings()?;
        Ok(Api {
            client: Client::authenticated(&s)?,
            output: s.output,
        })
    }

    /// A client for ward-ca's public, unauthenticated downloads.
    pub(crate) fn public(&self) -> Result<Client, Failure> {
        Client::anonymous(&self.settings(Need::Signed)?)
    }
}

/// An authenticated client and the output format.
pub(crate) struct Api {
    pub(crate) client: Client,
    pub(crate) output: OutputFormat,
}

/// Success.
pub(crate) type Done = Result<ExitCode, Failure>;

impl Api {
    /// `GET`, expecting a JSON answer.
    pub(crate) fn get(&self, segs: &[&str], query: &[(&str, &str)]) -> Result<Value, Failure> {
        let v = self.client.call(Method::Get, segs, query, None)?;
        self.expect(v)
    }

    /// Any method with an optional JSON body; `None` for 204.
    pub(crate) fn send(
        &self,
        method: Method,
        segs: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Option<Value>, Failure> {
        self.client.call(method, segs, query, body)
    }

    /// A call that must answer with JSON.
    pub(crate) fn send_for_json(
        &self,
        method: Method,
        segs: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<Value, Failure> {
        let v = self.send(method, segs, &[], body)?;
        self.expect(v)
    }

    fn expect(&self, v: Option<Value>) -> Result<Value, Failure> {
        v.ok_or_else(|| {
            Failure::Unexpected(format!(
                "{} answered with an empty body where a result was expected",
                self.client.base()
            ))
        })
    }

    /// Prints `v`: pretty JSON, or `render` of its typed form.
    pub(crate) fn show<T: DeserializeOwned>(
        &self,
        v: &Value,
        render: impl FnOnce(&T) -> String,
    ) -> Done {
        match self.output {
            OutputFormat::Json => output::print(&output::json(v)),
            OutputFormat::Table => output::print(&render(&typed::<T>(v)?)),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// For calls that answer 204: a line for people, nothing in JSON mode.
    pub(crate) fn done(&self, v: Option<Value>, msg: impl std::fmt::Display) -> Done {
        match (self.output, v) {
            (OutputFormat::Json, Some(v)) => output::print(&output::json(&v)),
            (OutputFormat::Json, None) => {}
            (OutputFormat::Table, _) => output::print(&format!("{msg}\n")),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Fetches a list; with `all`, follows `cursor` (a field of the answer,
    /// sent back as the `param` query parameter) and merges the `items`
    /// arrays of every page into the first page, without the cursor.
    pub(crate) fn list(
        &self,
        segs: &[&str],
        query: &[(&str, String)],
        items: &str,
        cursor: (&str, &str),
        all: bool,
    ) -> Result<Value, Failure> {
        let (field, param) = cursor;
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut first = self.get(segs, &q)?;
        if !all {
            return Ok(first);
        }
        let mut next = cursor_of(&first, field);
        let mut seen = std::collections::HashSet::new();
        let mut pages = 1;
        while let Some(c) = next {
            if !seen.insert(c.clone()) || pages >= MAX_PAGES {
                return Err(Failure::Unexpected(format!(
                    "the server repeated the page cursor {c:?}; stopping"
                )));
            }
            let mut q2: Vec<(&str, &str)> =
                q.iter().filter(|(k, _)| *k != param).copied().collect();
            q2.push((param, &c));
            let page = self.get(segs, &q2)?;
            next = cursor_of(&page, field);
            let more = match page.get(items) {
                Some(Value::Array(a)) => a.clone(),
                _ => {
                    return Err(Failure::Unexpected(format!(
                        "unexpected answer: no {items} array"
                    )))
                }
            };
            if let Some(Value::Array(a)) = first.get_mut(items) {
                a.extend(more);
            }
            pages += 1;
        }
        if let Some(o) = first.as_object_mut() {
            o.remove(field);
        }
        Ok(first)
    }
}

fn cursor_of(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the server's JSON as a protocol type.
pub(crate) fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, Failure> {
    T::deserialize(v)
        .map_err(|e| Failure::Unexpected(format!("unexpected answer from the server: {e}")))
}

/// Encodes a request body.
pub(crate) fn body<T: Serialize>(t: &T) -> Result<Option<Vec<u8>>, Failure> {
    serde_json::to_vec(t)
        .map(Some)
        .map_err(|e| Failure::Unexpected(format!("encoding the request: {e}")))
}

/// Tells people, on stderr, that a page was not the last.
pub(crate) fn more_hint(api: &Api, v: &Value, field: &str, flag: &str) {
    if api.output == OutputFormat::Table {
        if let Some(c) = cursor_of(v, field) {
            eprintln!("ward: more results: repeat with {flag} {c}, or use --all");
        }
    }
}
