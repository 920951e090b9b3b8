//! A small XML writer for the Query API's replies: elements and escaped
//! text, in AWS's shapes (`<XResponse xmlns=…><XResult>…</XResult>
//! <ResponseMetadata><RequestId>…`, lists as `<Name><member>…`).

use serde_json::Value;

/// The XML declaration every reply starts with.
pub const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// An XML document under construction.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

/// `s` escaped for XML text (values never go in attributes); characters XML 1.0
/// cannot carry (controls other than tab, LF, CR) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// [`escape`], appended to `out` (text needing no escape is copied as is).
pub fn escape_into(out: &mut String, s: &str) {
    let plain = |b: u8| b >= 0x20 && !matches!(b, b'<' | b'>' | b'&') && b < 0x80;
    if s.bytes().all(plain) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

impl Xml {
    /// An empty document.
    pub fn new() -> Xml {
        Xml::default()
    }

    /// A document starting with the XML declaration (a whole reply).
    pub fn document() -> Xml {
        let mut out = String::with_capacity(1024);
        out.push_str(PROLOG);
        Xml { out }
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Xml {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Xml {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Xml {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name)
    }

    /// `<name>…</name>` from a JSON scalar (strings as they are, numbers
    /// and booleans as written); nothing for null or a missing value.
    pub fn field(&mut self, name: &str, v: &Value) -> &mut Xml {
        match v {
            Value::String(s) => self.text(name, s),
            Value::Bool(b) => self.text(name, if *b { "true" } else { "false" }),
            Value::Number(n) => self.text(name, &n.to_string()),
            _ => self,
        }
    }

    /// `<name><member>…</member>…</name>`, each member written by `each`.
    pub fn members(&mut self, name: &str, items: &Value, each: impl Fn(&mut Xml, &Value)) {
        self.open(name);
        for v in items.as_array().map(Vec::as_slice).unwrap_or_default() {
            self.open("member");
            each(self, v);
            self.close("member");
        }
        self.close(name);
    }

    /// `<name><member>s</member>…</name>` for a list of strings.
    pub fn strings(&mut self, name: &str, items: &Value) {
        self.members(name, items, |x, v| {
            if let Some(s) = v.as_str() {
                escape_into(&mut x.out, s);
            }
        });
    }

    /// Appends already-formed XML.
    pub fn out_raw(&mut self, xml: &str) -> &mut Xml {
        self.out.push_str(xml);
        self
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_shapes() {
        let mut x = Xml::new();
        x.open("A").text("B", "<&>'\u{1}").close("A");
        assert_eq!(x.finish(), "<A><B>&lt;&amp;&gt;'\u{FFFD}</B></A>");
        assert_eq!(escape("plain text/x=1"), "plain text/x=1");
        assert_eq!(escape("é<\r\t\u{FFFE}"), "é&lt;&#xD;\t\u{FFFD}");
        let mut x = Xml::document();
        x.text("A", "b");
        assert_eq!(x.finish(), format!("{PROLOG}<A>b</A>"));
        let mut x = Xml::new();
        x.strings("L", &serde_json::json!(["a", "b"]));
        assert_eq!(x.finish(), "<L><member>a</member><member>b</member></L>");
    }
}
