//! Just enough JSON (RFC 8259) for events as JSON lines:
//!
//! ```text
//! {"headers":{"host":"web-1","topic":"clicks"},"body":"hello"}
//! ```
//!
//! `parse` reads any JSON value (strings with every escape, `\uXXXX` surrogate
//! pairs included; objects; arrays, numbers, booleans and null too, so that an
//! error can say what was found); `write_string` and `write_event` write.

use std::fmt::Write as _;

/// A JSON value. Object members keep their order, duplicates included.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's text, checked against JSON's grammar but not converted.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Deepest nesting of arrays and objects accepted (the parser recurses).
const MAX_DEPTH: usize = 64;

/// Parses one JSON value, surrounded by optional whitespace. The error gives
/// the 1-based column (in characters) where the text went wrong.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser { text, pos: 0 };
    let result = p.skip_ws().and_then(|_| p.value(0)).and_then(|v| {
        p.skip_ws()?;
        match p.peek() {
            None => Ok(v),
            Some(_) => Err("unexpected text after the value".to_string()),
        }
    });
    result.map_err(|e| format!("column {}: {e}", text[..p.pos.min(text.len())].chars().count() + 1))
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next char.
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> Result<(), String> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        Ok(())
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}', found {}", byte as char, self.found()))
        }
    }

    fn found(&self) -> String {
        match self.text[self.pos..].chars().next() {
            None => "the end of the line".to_string(),
            Some(c) => format!("{:?}", c),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            _ => Err(format!("expected a value, found {}", self.found())),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, String> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(format!("expected a value, found {}", self.found()))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.expect(b'{')?;
        self.skip_ws()?;
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(format!("expected a member name in quotes, found {}", self.found()));
            }
            let name = self.string()?;
            self.skip_ws()?;
            self.expect(b':')?;
            self.skip_ws()?;
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws()?;
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}', found {}", self.found())),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.expect(b'[')?;
        self.skip_ws()?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws()?;
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(format!("expected ',' or ']', found {}", self.found())),
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match digits(self) {
            0 => return Err(format!("expected a digit, found {}", self.found())),
            n if n > 1 && self.text.as_bytes()[int_start] == b'0' => {
                self.pos = int_start + 1;
                return Err("a number with a leading zero".into());
            }
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(format!("expected a digit after '.', found {}", self.found()));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(format!("expected a digit in the exponent, found {}", self.found()));
            }
        }
        Ok(Value::Number(self.text[start..self.pos].to_string()))
    }

    /// A string, from its opening quote to past its closing one.
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the run of plain chars at once.
            let rest = &self.text[self.pos..];
            let run = rest.find(|c: char| c == '"' || c == '\\' || c < ' ').unwrap_or(rest.len());
            out.push_str(&rest[..run]);
            self.pos += run;
            match self.peek() {
                None => return Err("a string without its closing quote".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(c) => return Err(format!("control character U+{c:04X} in a string (write it as \\u{c:04x})")),
            }
        }
    }

    /// The char of the escape after a backslash.
    fn escape(&mut self) -> Result<char, String> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\x08',
            Some(b'f') => '\x0c',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                return match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate: a low one must follow, as \uXXXX.
                        if !self.text[self.pos..].starts_with("\\u") {
                            return Err(format!("\\u{unit:04x} (a high surrogate) without a low surrogate after it"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(format!(
                                "\\u{unit:04x} (a high surrogate) followed by \\u{low:04x}, not a low surrogate"
                            ));
                        }
                        let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        Ok(char::from_u32(code).expect("a surrogate pair is a char"))
                    }
                    0xdc00..=0xdfff => Err(format!("\\u{unit:04x} is a lone low surrogate")),
                    _ => Ok(char::from_u32(unit).expect("not a surrogate")),
                };
            }
            _ => return Err(format!("bad escape: backslash then {}", self.found())),
        };
        self.pos += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.text.as_bytes().get(self.pos..self.pos + 4).unwrap_or(&[]);
        let text = std::str::from_utf8(digits).unwrap_or("");
        if digits.len() != 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err("\\u needs 4 hex digits".into());
        }
        self.pos += 4;
        Ok(u32::from_str_radix(text, 16).expect("4 hex digits"))
    }
}

/// Appends `s` as a JSON string, quotes included. Control characters are
/// escaped, everything else is written as it is (UTF-8).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends one event as a JSON line (with its newline):
/// `{"headers":{"k":"v"},"body":"..."}`. `body` is the body's text or its base64.
pub fn write_event<'a>(out: &mut String, headers: impl IntoIterator<Item = (&'a str, &'a str)>, body: &str) {
    out.push_str("{\"headers\":{");
    for (i, (key, value)) in headers.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_string(out, value);
    }
    out.push_str("},\"body\":");
    write_string(out, body);
    out.push_str("}\n");
}

/// An event read from a JSON line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonEvent {
    /// The headers in the order written; a repeated name keeps its last value.
    pub headers: Vec<(String, String)>,
    /// The `body` member's text (empty if there is none).
    pub body: String,
}

/// Reads `{"headers":{...},"body":"..."}`: an object with at most the
/// members `headers` (an object of strings) and `body` (a string), as Flume's
/// HTTP source takes them. Either may be left out.
pub fn parse_event(line: &str) -> Result<JsonEvent, String> {
    let members = match parse(line)? {
        Value::Object(members) => members,
        other => return Err(format!("expected an object, found {}", other.kind())),
    };
    let mut event = JsonEvent { headers: Vec::new(), body: String::new() };
    for (name, value) in members {
        match (name.as_str(), value) {
            ("body", Value::String(body)) => event.body = body,
            ("body", other) => return Err(format!("\"body\" must be a string, not {}", other.kind())),
            ("headers", Value::Object(headers)) => {
                event.headers.clear();
                for (key, value) in headers {
                    let Value::String(value) = value else {
                        return Err(format!("header {key:?} must be a string, not {}", value.kind()));
                    };
                    event.headers.retain(|(k, _)| *k != key);
                    event.headers.push((key, value));
                }
            }
            ("headers", other) => return Err(format!("\"headers\" must be an object, not {}", other.kind())),
            (other, _) => return Err(format!("unknown member {other:?} (an event has \"headers\" and \"body\")")),
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.to_string())
    }

    #[test]
    fn values() {
        assert_eq!(parse(" null ").unwrap(), Value::Null);
        assert_eq!(parse("true").unwrap(), Value::Bool(true));
        assert_eq!(parse("false").unwrap(), Value::Bool(false));
        for n in ["0", "-0", "12", "-3.25", "1e5", "1E+5", "2.5e-3"] {
            assert_eq!(parse(n).unwrap(), Value::Number(n.to_string()));
        }
        assert_eq!(parse("[]").unwrap(), Value::Array(vec![]));
        assert_eq!(
            parse("[1, \"a\" ,[null]]").unwrap(),
            Value::Array(vec![Value::Number("1".into()), s("a"), Value::Array(vec![Value::Null])])
        );
        assert_eq!(
            parse("{\"a\":{}, \"b\" : \"c\",\"a\":1}").unwrap(),
            Value::Object(vec![
                ("a".into(), Value::Object(vec![])),
                ("b".into(), s("c")),
                ("a".into(), Value::Number("1".into()))
            ])
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(parse(r#""a\"b\\c\/d\b\f\n\r\t""#).unwrap(), s("a\"b\\c/d\x08\x0c\n\r\t"));
        assert_eq!(parse(r#""\u0041\u00e9\u20AC""#).unwrap(), s("Aé€"));
        assert_eq!(parse(r#""\ud83d\ude00 \uD834\uDD1E""#).unwrap(), s("😀 𝄞"));
        assert_eq!(parse("\"déjà 😀\"").unwrap(), s("déjà 😀"));
        assert_eq!(parse(r#""\u0000""#).unwrap(), s("\0"));
    }

    #[test]
    fn malformed_text_is_refused_with_a_column() {
        for (bad, column) in [
            ("", 1),
            ("{", 2),
            ("{\"a\"}", 5),
            ("{\"a\":1,}", 8),
            ("{a:1}", 2),
            ("[1 2]", 4),
            ("\"abc", 5),
            ("\"a\tb\"", 3),
            (r#""\x""#, 3),
            (r#""\u12""#, 4),
            (r#""\ud83d""#, 8),
            (r#""\ud83dx""#, 8),
            (r#""\ud83d\u0041""#, 14),
            (r#""\ude00""#, 8),
            ("01", 2),
            ("-", 2),
            ("1.", 3),
            ("1e", 3),
            ("tru", 1),
            ("{} x", 4),
            ("é", 1),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("column {column}:")), "{bad:?}: {e}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn events() {
        assert_eq!(
            parse_event(r#"{"headers":{"host":"web-1","t":"a","t":"b"},"body":"hi"}"#).unwrap(),
            JsonEvent { headers: vec![("host".into(), "web-1".into()), ("t".into(), "b".into())], body: "hi".into() }
        );
        assert_eq!(parse_event(r#"{"body":"x"}"#).unwrap(), JsonEvent { headers: vec![], body: "x".into() });
        assert_eq!(parse_event("{}").unwrap(), JsonEvent { headers: vec![], body: String::new() });
        for (bad, why) in [
            ("[]", "expected an object"),
            (r#"{"body":1}"#, "\"body\" must be a string"),
            (r#"{"headers":[]}"#, "\"headers\" must be an object"),
            (r#"{"headers":{"a":null}}"#, "header \"a\" must be a string"),
            (r#"{"body":"x","time":1}"#, "unknown member \"time\""),
        ] {
            let e = parse_event(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn written_events_read_back() {
        let body: String = (0u32..0x300).filter_map(char::from_u32).chain("😀\u{7f}\"\\".chars()).collect();
        let mut line = String::new();
        write_event(&mut line, [("k\n\"", "v\u{1}"), ("host", "web-1")], &body);
        assert!(line.ends_with("}\n") && !line[..line.len() - 1].contains('\n'));
        assert_eq!(
            parse_event(line.trim_end()).unwrap(),
            JsonEvent { headers: vec![("k\n\"".into(), "v\u{1}".into()), ("host".into(), "web-1".into())], body }
        );
        let mut out = String::new();
        write_string(&mut out, "a\u{8}");
        assert_eq!(out, "\"a\\u0008\"");
    }
}
