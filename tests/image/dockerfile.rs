//! A Dockerfile as a builder reads it: instructions (continuation lines joined, comment lines
//! dropped, as Docker does, also inside a continuation) grouped into stages, and the build
//! context's `.dockerignore`. Shared by the rule checks and the replay.

use globset::{GlobBuilder, GlobMatcher};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub image: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

pub fn stages(dockerfile: &str) -> Vec<Stage> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let full = std::mem::take(&mut pending);
        let (keyword, args) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        instructions.push(Instruction {
            keyword: keyword.to_uppercase(),
            args: args.trim().to_string(),
        });
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction
                .args
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            stages.push(Stage {
                image: words.first().unwrap_or(&"").to_string(),
                name: match words.as_slice() {
                    [_, r#as, name, ..] if r#as.eq_ignore_ascii_case("as") => {
                        Some(name.to_lowercase())
                    }
                    _ => None,
                },
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// A COPY's or ADD's words without its flags: the sources, then the destination.
pub fn copy_paths(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        return serde_json::from_str(args).unwrap_or_default();
    }
    args.split_whitespace()
        .filter(|word| !word.starts_with("--"))
        .map(str::to_string)
        .collect()
}

/// The stage a `COPY --from=…` reads, if it is one.
pub fn copy_from(args: &str) -> Option<&str> {
    args.split_whitespace()
        .find_map(|word| word.strip_prefix("--from="))
}

/// `.dockerignore` with Docker's rules: patterns are matched against paths relative to the
/// context (a leading `/` or `./` dropped), `*` and `?` stay within one path segment, `**` spans
/// any number; a pattern that matches a directory excludes everything under it; `!pattern` takes
/// paths back in; the last pattern that matches decides.
pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut rules = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, excludes) = match line.strip_prefix('!') {
                Some(rest) => (rest.trim(), false),
                None => (line, true),
            };
            let pattern = pattern.trim_start_matches("./").trim_matches('/');
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| format!(".dockerignore pattern `{line}`: {e}"))?;
            rules.push((glob.compile_matcher(), excludes));
        }
        Ok(DockerIgnore { rules })
    }

    pub fn read(context: &Path) -> Result<DockerIgnore, String> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => DockerIgnore::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::parse(""),
            Err(e) => Err(format!(".dockerignore: {e}")),
        }
    }

    /// Whether `relative` (a path inside the context) is left out of the context.
    pub fn excludes(&self, relative: &Path) -> bool {
        let mut excluded = false;
        for (glob, excludes) in &self.rules {
            if relative
                .ancestors()
                .any(|path| !path.as_os_str().is_empty() && glob.is_match(path))
            {
                excluded = *excludes;
            }
        }
        excluded
    }
}

#[test]
fn dockerignore_follows_dockers_rules() {
    let ignore = DockerIgnore::parse(
        "# comment\ntarget\n/.git\n*.log\n!keep.log\ndocs/**/*.png\nbuild/\n!build/keep\n",
    )
    .unwrap();
    let cases = [
        ("target", true),
        ("target/release/tagship", true),
        ("src/target.rs", false),
        (".git/HEAD", true),
        ("app.log", true),
        ("keep.log", false),
        // `*` stays in one segment: the pattern is anchored at the context's root.
        ("logs/app.log", false),
        ("docs/a/b/c.png", true),
        ("docs/c.png", true),
        ("docs/c.md", false),
        ("build/out", true),
        ("build/keep", false),
        ("src/main.rs", false),
    ];
    for (path, expected) in cases {
        assert_eq!(ignore.excludes(Path::new(path)), expected, "{path}");
    }
    assert!(DockerIgnore::parse("[").is_err());
}
