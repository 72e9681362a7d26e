//! Splits one list entry (`type=semver,"pattern=\d{1,3}"`) into its comma-separated fields.
//!
//! CSV with relaxed quotes, as csv-parse reads docker/metadata-action's entries, but read once:
//! metadata-action parses each line twice and loses the quotes the first time, so a quoted comma
//! inside a regex splits the field. Here a quoted field keeps its commas.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a quote opened at column {column} is never closed")]
pub struct UnclosedQuote {
    pub column: usize,
}

pub fn split(line: &str) -> Result<Vec<String>, UnclosedQuote> {
    let mut fields = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        let mut field = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == ' ' || c == '\t' {
                chars.next();
            } else {
                break;
            }
        }
        if let Some(&(start, '"')) = chars.peek() {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                if c == '"' {
                    if let Some(&(_, '"')) = chars.peek() {
                        chars.next();
                        field.push('"');
                        continue;
                    }
                    closed = true;
                    break;
                }
                field.push(c);
            }
            if !closed {
                return Err(UnclosedQuote { column: start + 1 });
            }
        }
        // Unquoted text, or text after a closing quote (kept as is: relaxed quotes).
        let mut at_comma = false;
        for (_, c) in chars.by_ref() {
            if c == ',' {
                at_comma = true;
                break;
            }
            field.push(c);
        }
        fields.push(field);
        if !at_comma {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields() {
        let cases: [(&str, &[&str]); 7] = [
            ("type=raw,value=foo", &["type=raw", "value=foo"]),
            (
                r#"type=match,"pattern=\d{1,3}",group=0"#,
                &["type=match", r"pattern=\d{1,3}", "group=0"],
            ),
            (
                r#"type=raw,"value=a ""b""""#,
                &["type=raw", r#"value=a "b""#],
            ),
            ("type=raw, value=x", &["type=raw", "value=x"]),
            ("value=foo#bar", &["value=foo#bar"]),
            (r#"value=a"b"#, &[r#"value=a"b"#]),
            ("a,,b", &["a", "", "b"]),
        ];
        for (line, want) in cases {
            assert_eq!(split(line).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn reports_an_unclosed_quote() {
        assert_eq!(
            split(r#"type=raw,"value=x"#),
            Err(UnclosedQuote { column: 10 })
        );
    }
}
