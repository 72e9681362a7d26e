//! The files a runner reads back after a step (`GITHUB_OUTPUT`, `GITHUB_ENV`). Also compiled into
//! tests/image/, which replays the workflows' shell steps, by `#[path]`.

use std::collections::BTreeMap;

/// Parses a `GITHUB_OUTPUT` file with the runner's rules: `NAME=VALUE`, or `NAME<<DELIMITER`
/// followed by lines up to a line that is exactly the delimiter. Anything else fails the step.
pub fn parse_output_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format!("empty name in `{line}`"));
                }
                outputs.insert(name.to_string(), value.to_string());
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("bad heredoc header `{line}`"));
                }
                let mut value = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delimiter => break,
                        Some(l) => value.push(l),
                        None => {
                            return Err(format!("heredoc `{name}` never ends with `{delimiter}`"));
                        }
                    }
                }
                outputs.insert(name.to_string(), value.join("\n"));
            }
            _ => {
                return Err(format!(
                    "line `{line}` is neither NAME=VALUE nor NAME<<DELIMITER"
                ));
            }
        }
    }
    Ok(outputs)
}
