//! The `Link` header (RFC 8288), as registries and GitHub page their lists with it.

/// The `rel="next"` target of a `Link` header (RFC 8288): targets may hold commas, `rel` may
/// list several relations and be quoted or not, in any case.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let after = &rest[rest.find('<')? + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params = &after[end + 1..];
        // This link's parameters run to the next comma outside quotes.
        let mut quoted = false;
        let cut = params
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(params.len(), |(i, _)| i);
        let is_next = params[..cut].split(';').any(|param| {
            param.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &params[cut..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r/v2/a/tags/list?n=2>; rel="prev""#),
            None
        );
        // A comma inside the target, several links, `rel` unquoted or listing several.
        assert_eq!(
            next_link(r#"</a?x=1,2>; rel="prev", </b?last=a,b>; REL=next"#).as_deref(),
            Some("/b?last=a,b")
        );
        assert_eq!(
            next_link(r#"<x>; title="a, b"; rel="first next""#).as_deref(),
            Some("x")
        );
        assert_eq!(next_link("garbage"), None);
    }
}
