//! Java `.properties` text, parsed exactly as `java.util.Properties.load(Reader)`
//! does: Flume's RPC clients (`flume-ng avro-client -P file`) read their client
//! properties files that way, so the same file must mean the same here.
//!
//! Parsing has two steps, as in the JDK: the text is split into logical lines
//! (comments and blank lines dropped, continuation lines joined), then each
//! logical line is split into a key and a value, whose escapes are decoded.

use std::fmt;

/// One key/value pair and the 1-based line number where its logical line starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// The 1-based line where the property's logical line starts.
    pub line: usize,
    /// The key, escapes decoded.
    pub key: String,
    /// The value, escapes decoded, leading white space dropped.
    pub value: String,
}

/// A malformed `\uXXXX` escape (Java's `IllegalArgumentException`) or a
/// `\uXXXX` escape that leaves a lone UTF-16 surrogate, which a Rust string
/// cannot hold. `line` is where the logical line starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertiesError {
    /// The 1-based line where the bad logical line starts.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PropertiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for PropertiesError {}

/// Parses properties text. Returns pairs in file order (duplicates kept; the
/// caller applies them in order so the last wins, as Java does).
///
/// A UTF-8 byte order mark at the very start is skipped: editors on Windows
/// write one, and Java, which does not skip it, would make it part of the
/// first key, so that a file's first setting fails as an unknown key whose
/// name looks right.
pub fn parse_properties(text: &str) -> Result<Vec<Property>, PropertiesError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    logical_lines(text)
        .into_iter()
        .map(|(line, chars)| {
            let (key, value) = split_key_value(&chars);
            Ok(Property { line, key: unescape(key, line)?, value: unescape(value, line)? })
        })
        .collect()
}

/// Java's `Properties` whitespace: space, tab and form feed.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits `text` into logical lines, each with the number of the natural line
/// of its first char, as `Properties.LineReader.readLine` of JDK 9 and later
/// does: leading whitespace skipped, comment and blank lines dropped, a natural
/// line ending in an odd number of backslashes joined (without that backslash
/// and the next line's leading whitespace) to the next one. Escapes are left
/// for `unescape`.
///
/// Like the JDK, a `#` or `!` is a comment while the logical line is still
/// empty, so also after a line holding just a backslash (JDK 8 differs there).
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    let mut lines = Vec::new();
    let mut buf = Vec::new(); // the logical line so far
    let mut line_no = 1; // the natural line of the current char
    let mut start = 1; // the natural line of `buf`'s first char
    let mut skip_blank = true; // at the start of a natural line
    let mut continued = false; // at the start of a continuation line
    let mut comment = false; // in a comment line
    let mut backslash = false; // `buf` ends in an odd number of backslashes
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let this_line = line_no;
        let last = chars.peek().is_none();
        let eol = c == '\n' || c == '\r';
        if eol {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            line_no += 1;
        }
        if comment {
            if eol {
                comment = false;
                skip_blank = true;
            }
            continue;
        }
        if skip_blank {
            // A blank line is skipped, except where it ends a continuation.
            if is_blank(c) || (eol && !continued) {
                continue;
            }
            skip_blank = false;
            continued = false;
        }
        if !eol {
            if buf.is_empty() {
                if c == '#' || c == '!' {
                    comment = true;
                    continue;
                }
                start = this_line;
            }
            buf.push(c);
            backslash = c == '\\' && !backslash;
        } else if buf.is_empty() {
            skip_blank = true;
        } else if backslash && !last {
            buf.pop();
            backslash = false;
            skip_blank = true;
            continued = true;
        } else {
            // Like the JDK, a backslash before the final line end (`\n` or
            // `\r`, not `\r\n`) is dropped even if that empties the line.
            if backslash {
                buf.pop();
            }
            backslash = false;
            lines.push((start, std::mem::take(&mut buf)));
            skip_blank = true;
        }
    }
    // The text ended inside a logical line (no line end at the end).
    if !buf.is_empty() {
        if backslash {
            buf.pop();
        }
        lines.push((start, buf));
    }
    lines
}

/// Splits a logical line into its raw (still escaped) key and value, as
/// `Properties.load0` does: the key ends at the first unescaped `=`, `:` or
/// whitespace; then whitespace, at most one `=` or `:`, and whitespace are
/// skipped; the rest, trailing whitespace included, is the value.
fn split_key_value(line: &[char]) -> (&[char], &[char]) {
    let mut key_end = line.len();
    let mut has_separator = false;
    let mut backslash = false;
    for (i, &c) in line.iter().enumerate() {
        if !backslash && (c == '=' || c == ':' || is_blank(c)) {
            key_end = i;
            has_separator = !is_blank(c);
            break;
        }
        backslash = c == '\\' && !backslash;
    }
    let mut value_start = (key_end + 1).min(line.len());
    while let Some(&c) = line.get(value_start) {
        if !is_blank(c) {
            if has_separator || (c != '=' && c != ':') {
                break;
            }
            has_separator = true;
        }
        value_start += 1;
    }
    (&line[..key_end], &line[value_start..])
}

/// Decodes the escapes of a key or value: `\t \n \r \f`, `\uXXXX` (exactly four
/// hex digits), and `\c` for any other `c`. Java strings are UTF-16, so `\uXXXX`
/// escapes are UTF-16 code units: a surrogate pair makes one char.
fn unescape(raw: &[char], line: usize) -> Result<String, PropertiesError> {
    let error = |message: &str| PropertiesError { line, message: message.to_string() };
    let mut units: Vec<u16> = Vec::with_capacity(raw.len());
    let mut chars = raw.iter().copied();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next() {
                Some('u') => {
                    let mut unit = 0;
                    for _ in 0..4 {
                        let digit = chars.next().and_then(|d| d.to_digit(16));
                        unit = unit * 16 + digit.ok_or_else(|| error("malformed \\uXXXX escape"))?;
                    }
                    units.push(unit as u16);
                    continue;
                }
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\x0c',
                Some(other) => other,
                None => break, // cannot happen: logical lines never end in a lone backslash
            },
            c => c,
        };
        units.extend(c.encode_utf16(&mut [0; 2]).iter());
    }
    String::from_utf16(&units).map_err(|_| error("lone UTF-16 surrogate in \\uXXXX escape"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let text = "\u{feff}batch-size = 5\nhosts = h1\n";
        assert_eq!(parse(text), [prop(1, "batch-size", "5"), prop(2, "hosts", "h1")]);
        assert_eq!(parse("\u{feff}# a comment first\nk=v"), [prop(2, "k", "v")]);
        assert_eq!(parse("\u{feff}"), []);
        // Only at the very start: elsewhere it is an ordinary character.
        assert_eq!(parse("k=\u{feff}v\n"), [prop(1, "k", "\u{feff}v")]);
        let mut config = crate::Config::default();
        config.load_properties_str("\u{feff}batch-size = 7\n").unwrap();
        assert_eq!(config.batch_size, 7);
    }

    fn prop(line: usize, key: &str, value: &str) -> Property {
        Property { line, key: key.to_string(), value: value.to_string() }
    }

    fn parse(text: &str) -> Vec<Property> {
        parse_properties(text).unwrap()
    }

    /// The (key, value) pairs, without line numbers.
    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).into_iter().map(|p| (p.key, p.value)).collect()
    }

    fn pair(text: &str) -> (String, String) {
        let mut all = pairs(text);
        assert_eq!(all.len(), 1, "{text:?} gave {all:?}");
        all.pop().unwrap()
    }

    fn kv(key: &str, value: &str) -> (String, String) {
        (key.to_string(), value.to_string())
    }

    fn error(text: &str) -> PropertiesError {
        parse_properties(text).unwrap_err()
    }

    #[test]
    fn flume_failover_client_example() {
        let text = "\
client.type = default_failover
hosts = h1 h2 h3
hosts.h1 = host1.example.org:41414
hosts.h2 = host2.example.org:41414
hosts.h3 = host3.example.org:41414
max-attempts = 3
batch-size = 100
connect-timeout = 20000
request-timeout = 20000
";
        assert_eq!(
            parse(text),
            vec![
                prop(1, "client.type", "default_failover"),
                prop(2, "hosts", "h1 h2 h3"),
                prop(3, "hosts.h1", "host1.example.org:41414"),
                prop(4, "hosts.h2", "host2.example.org:41414"),
                prop(5, "hosts.h3", "host3.example.org:41414"),
                prop(6, "max-attempts", "3"),
                prop(7, "batch-size", "100"),
                prop(8, "connect-timeout", "20000"),
                prop(9, "request-timeout", "20000"),
            ]
        );
    }

    #[test]
    fn flume_load_balancing_client_example() {
        let text = "\
client.type = default_loadbalance
hosts = h1 h2 h3
hosts.h1 = host1.example.org:41414
backoff = false
maxBackoff = 0
host-selector = round_robin
";
        assert_eq!(
            parse(text),
            vec![
                prop(1, "client.type", "default_loadbalance"),
                prop(2, "hosts", "h1 h2 h3"),
                prop(3, "hosts.h1", "host1.example.org:41414"),
                prop(4, "backoff", "false"),
                prop(5, "maxBackoff", "0"),
                prop(6, "host-selector", "round_robin"),
            ]
        );
    }

    #[test]
    fn empty_and_blank_texts_have_no_properties() {
        assert_eq!(parse(""), vec![]);
        assert_eq!(parse("\n\r\n\r"), vec![]);
        assert_eq!(parse("  \t\x0c \n   "), vec![]);
    }

    #[test]
    fn natural_lines_end_with_lf_cr_or_crlf() {
        assert_eq!(
            parse("a=1\nb=2\rc=3\r\nd=4"),
            vec![prop(1, "a", "1"), prop(2, "b", "2"), prop(3, "c", "3"), prop(4, "d", "4")]
        );
        // \n\r is two line ends, \r\n one.
        assert_eq!(parse("a=1\n\rb=2\r\n\r\nc=3"), vec![prop(1, "a", "1"), prop(3, "b", "2"), prop(5, "c", "3")]);
    }

    #[test]
    fn crlf_file() {
        let text = "# client\r\nclient.type = default\r\nhosts = h1\r\n\r\nhosts.h1 = a:1 \\\r\n  b\r\n";
        assert_eq!(
            parse(text),
            vec![prop(2, "client.type", "default"), prop(3, "hosts", "h1"), prop(5, "hosts.h1", "a:1 b")]
        );
    }

    #[test]
    fn comment_lines_start_with_hash_or_bang_after_leading_whitespace() {
        assert_eq!(parse("# one\n! two\n  # three\n\t! four\na=1\n#b=2\n  !c=3"), vec![prop(5, "a", "1")]);
        assert_eq!(parse("#"), vec![]);
        assert_eq!(parse("!\r\n#\r"), vec![]);
    }

    #[test]
    fn comment_characters_inside_a_line_are_not_comments() {
        assert_eq!(pair("a=1 # not a comment"), kv("a", "1 # not a comment"));
        assert_eq!(pair("a!b=#c"), kv("a!b", "#c"));
        assert_eq!(pair("a #b"), kv("a", "#b"));
        assert_eq!(pair("a = ! b"), kv("a", "! b"));
    }

    #[test]
    fn a_comment_line_ending_in_a_backslash_does_not_continue() {
        assert_eq!(parse("# comment \\\na=1"), vec![prop(2, "a", "1")]);
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(parse("\n\n  \n\t\na=1\n \x0c \n\nb=2\n\n"), vec![prop(5, "a", "1"), prop(8, "b", "2")]);
    }

    #[test]
    fn leading_whitespace_is_skipped() {
        assert_eq!(parse(" \t\x0c a=1"), vec![prop(1, "a", "1")]);
    }

    #[test]
    fn continuation_lines_are_joined_without_leading_whitespace() {
        assert_eq!(pair("hosts = h1 \\\n        h2 \\\n\t h3"), kv("hosts", "h1 h2 h3"));
        assert_eq!(pair("a=x\\\ny"), kv("a", "xy"));
        // The continuation may hold the rest of the key or the separator.
        assert_eq!(pair("ke\\\n  y = v"), kv("key", "v"));
        assert_eq!(pair("key \\\n  = v"), kv("key", "v"));
    }

    #[test]
    fn a_line_holding_just_a_backslash_vanishes() {
        // The logical line is still empty, so (as in JDK 9 and later) a
        // following `#` or `!` starts a comment; the line reported is the one
        // of the first char kept.
        assert_eq!(parse("\\\nkey=v"), vec![prop(2, "key", "v")]);
        assert_eq!(parse(" \\\n \\\r\n  key=v"), vec![prop(3, "key", "v")]);
        assert_eq!(parse("\\\n# comment\nkey=v"), vec![prop(3, "key", "v")]);
        assert_eq!(parse("\\\n  !x=y"), vec![]);
    }

    #[test]
    fn continuation_lines_are_not_comments() {
        assert_eq!(pair("a=1\\\n# not a comment"), kv("a", "1# not a comment"));
        assert_eq!(pair("a=1\\\n  !2"), kv("a", "1!2"));
    }

    #[test]
    fn continuation_needs_an_odd_number_of_backslashes() {
        assert_eq!(pairs("a=1\\\\\nb=2"), vec![kv("a", "1\\"), kv("b", "2")]);
        assert_eq!(pairs("a=1\\\\\\\nb=2"), vec![kv("a", "1\\b=2")]);
        assert_eq!(pairs("a=1\\\\\\\\\nb=2"), vec![kv("a", "1\\\\"), kv("b", "2")]);
    }

    #[test]
    fn continuation_across_crlf_and_cr() {
        assert_eq!(pairs("a=1\\\r\n  2\r\nb=3"), vec![kv("a", "12"), kv("b", "3")]);
        assert_eq!(pairs("a=1\\\r  2\rb=3"), vec![kv("a", "12"), kv("b", "3")]);
    }

    #[test]
    fn a_blank_continuation_line_ends_the_logical_line() {
        assert_eq!(parse("a=1\\\n\nb=2"), vec![prop(1, "a", "1"), prop(3, "b", "2")]);
        assert_eq!(parse("a=1\\\n   \nb=2"), vec![prop(1, "a", "1"), prop(3, "b", "2")]);
    }

    #[test]
    fn continuation_lines_report_the_first_line() {
        let text = "# header\n\na = 1 \\\n    2 \\\n    3\nb = 4\\\r\n5\r\nc=6";
        assert_eq!(parse(text), vec![prop(3, "a", "1 2 3"), prop(6, "b", "45"), prop(8, "c", "6")]);
    }

    #[test]
    fn a_file_ending_in_a_backslash() {
        assert_eq!(pair("a=1\\"), kv("a", "1"));
        assert_eq!(pair("a=1\\\n"), kv("a", "1"));
        assert_eq!(pair("a=1\\\r\n"), kv("a", "1"));
        assert_eq!(pair("a=1\\\n   "), kv("a", "1"));
        assert_eq!(pair("a=1\\\\"), kv("a", "1\\"));
        assert_eq!(pair("a=1\\\\\\"), kv("a", "1\\"));
        // As in the JDK, a lone backslash at the end makes an empty key.
        assert_eq!(parse("a=1\n\\"), vec![prop(1, "a", "1"), prop(2, "", "")]);
        assert_eq!(parse("\\\n"), vec![prop(1, "", "")]);
        assert_eq!(parse("\\\r"), vec![prop(1, "", "")]);
        assert_eq!(parse("\\\n  "), vec![]);
        assert_eq!(parse("\\\r\n"), vec![]);
    }

    #[test]
    fn key_ends_at_the_first_unescaped_equals_colon_or_whitespace() {
        assert_eq!(pair("a=b"), kv("a", "b"));
        assert_eq!(pair("a:b"), kv("a", "b"));
        assert_eq!(pair("a b"), kv("a", "b"));
        assert_eq!(pair("a\tb"), kv("a", "b"));
        assert_eq!(pair("a\x0cb"), kv("a", "b"));
        assert_eq!(pair("a=b=c:d"), kv("a", "b=c:d"));
        assert_eq!(pair("a:b=c"), kv("a", "b=c"));
        assert_eq!(pair("=b"), kv("", "b"));
        assert_eq!(pair(":b"), kv("", "b"));
    }

    #[test]
    fn separator_is_whitespace_then_at_most_one_equals_or_colon_then_whitespace() {
        assert_eq!(pair("a = b"), kv("a", "b"));
        assert_eq!(pair("a \t: \x0c b"), kv("a", "b"));
        assert_eq!(pair("a   b"), kv("a", "b"));
        assert_eq!(pair("a = = b"), kv("a", "= b"));
        assert_eq!(pair("a==b"), kv("a", "=b"));
        assert_eq!(pair("a := b"), kv("a", "= b"));
        assert_eq!(pair("a  :b"), kv("a", "b"));
    }

    #[test]
    fn trailing_whitespace_of_the_value_is_kept() {
        assert_eq!(pair("a = b \t "), kv("a", "b \t "));
        assert_eq!(pair("a = b  \r\n"), kv("a", "b  "));
    }

    #[test]
    fn a_key_without_a_value_has_an_empty_value() {
        assert_eq!(pair("key"), kv("key", ""));
        assert_eq!(pair("key="), kv("key", ""));
        assert_eq!(pair("key:"), kv("key", ""));
        assert_eq!(pair("key   "), kv("key", ""));
        assert_eq!(pair("key = "), kv("key", ""));
        assert_eq!(pair("key\n"), kv("key", ""));
    }

    #[test]
    fn escaped_separators_belong_to_the_key() {
        assert_eq!(pair("a\\=b=c"), kv("a=b", "c"));
        assert_eq!(pair("a\\:b:c"), kv("a:b", "c"));
        assert_eq!(pair("a\\ b c"), kv("a b", "c"));
        assert_eq!(pair("a\\\\=b"), kv("a\\", "b"));
        assert_eq!(pair("\\#a=b"), kv("#a", "b"));
        assert_eq!(pair("\\!a=b"), kv("!a", "b"));
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(pair("k\\tk=\\t\\n\\r\\f"), kv("k\tk", "\t\n\r\x0c"));
        assert_eq!(pair("a=\\=\\:\\ \\\\\\#\\!"), kv("a", "=: \\#!"));
        // Any other escaped char is itself.
        assert_eq!(pair("\\a\\b=\\x\\y\\z"), kv("ab", "xyz"));
        // An escaped space keeps the value's leading whitespace.
        assert_eq!(pair("a = \\  b"), kv("a", "  b"));
    }

    #[test]
    fn unicode_escapes() {
        assert_eq!(pair("\\u0041\\u00e9=\\u00E9t\\u00e9"), kv("Aé", "été"));
        assert_eq!(pair("a=\\u0000"), kv("a", "\0"));
        assert_eq!(pair("a=\\u00411"), kv("a", "A1"));
        assert_eq!(pair("a=\\u20AC"), kv("a", "€"));
    }

    #[test]
    fn a_surrogate_pair_makes_one_char() {
        assert_eq!(pair("a=\\uD83D\\uDE00"), kv("a", "😀"));
        assert_eq!(pair("\\ud83d\\ude00=x"), kv("😀", "x"));
    }

    #[test]
    fn a_lone_surrogate_is_an_error() {
        for text in ["a=\\uD83D", "a=\\uDE00", "a=\\uD83Dx", "a=\\uDE00\\uD83D", "\\uD800=x"] {
            let e = error(text);
            assert_eq!(e.line, 1, "{text:?}");
            assert!(e.message.contains("surrogate"), "{text:?}: {e:?}");
        }
    }

    #[test]
    fn malformed_unicode_escapes_are_errors() {
        for text in ["a=\\u", "a=\\u12", "a=\\u123", "a=\\u12G4", "a=\\u 123", "a=\\u+123", "\\u12=3456", "a=\\uéééé"]
        {
            assert_eq!(
                error(text),
                PropertiesError { line: 1, message: "malformed \\uXXXX escape".to_string() },
                "{text:?}"
            );
        }
    }

    #[test]
    fn errors_report_the_line_where_the_logical_line_starts() {
        assert_eq!(error("a=1\n\n# c\nb = x \\\n  \\u12").line, 4);
        assert_eq!(error("a=1\r\nb=\\u00zz\r\n").line, 2);
        assert_eq!(error("a=1\nb=\\uD800").to_string(), "line 2: lone UTF-16 surrogate in \\uXXXX escape");
    }

    #[test]
    fn non_ascii_text_is_kept() {
        assert_eq!(
            parse("clé = valeur été\n名前=値 \n😀:🎉"),
            vec![prop(1, "clé", "valeur été"), prop(2, "名前", "値 "), prop(3, "😀", "🎉")]
        );
        // Non-ASCII whitespace is not a separator.
        assert_eq!(pair("a\u{a0}b=c"), kv("a\u{a0}b", "c"));
    }

    #[test]
    fn duplicates_are_kept_in_file_order() {
        assert_eq!(parse("a=1\nb=2\na=3"), vec![prop(1, "a", "1"), prop(2, "b", "2"), prop(3, "a", "3")]);
    }
}
