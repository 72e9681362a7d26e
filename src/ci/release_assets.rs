//! `release-assets`: each glob found on disk (relative to the workspace, or to the working
//! directory when typed on the command line), each file hashed in chunks and never held whole,
//! then the `SHA256SUMS` over them generated (`plan::assets`). Everything a person can get wrong
//! here is an error naming the line: a glob that matches nothing, two files of one name, a name
//! GitHub would rename, a file too large for a release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::assets::{self, AssetFile, MAX_ASSET_BYTES, SUMS_NAME};
use crate::plan::{InputError, InputLine};

/// GitHub keeps at most 1000 assets on a release.
const MAX_ASSETS: usize = 1000;

/// The files `lines` name under `base`, hashed, with `SHA256SUMS` last (none for no lines).
/// `input` is the setting as its interface names it.
pub fn read(input: &str, lines: Vec<InputLine>, base: &Path) -> Result<Vec<AssetFile>, InputError> {
    // By name: the release holds one asset of each name.
    let mut found: BTreeMap<String, (PathBuf, InputLine)> = BTreeMap::new();
    for line in lines {
        let pattern = line.text.trim().to_string();
        let fail = |problem: String| InputError {
            input: input.to_string(),
            at: Some(line.clone()),
            value: Some(pattern.clone()),
            problem,
        };
        let full = if Path::new(&pattern).is_absolute() {
            pattern.clone()
        } else {
            // The base is a path, not a pattern: a `[` in it matches itself.
            format!(
                "{}/{pattern}",
                glob::Pattern::escape(&base.to_string_lossy())
            )
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = glob::glob_with(&full, options)
            .map_err(|e| fail(format!("is not a glob pattern ({e})")))?;
        let mut files = 0;
        let mut directories = 0;
        for path in paths {
            let path = path.map_err(|e| fail(format!("cannot read {e}")))?;
            if path.is_dir() {
                directories += 1;
                continue;
            }
            files += 1;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name == SUMS_NAME {
                return Err(fail(format!(
                    "matches {}, and tagship writes {SUMS_NAME} itself over the other assets: leave it out",
                    path.display()
                )));
            }
            if let Some(problem) = assets::name_problem(&name) {
                return Err(fail(format!(
                    "matches {}: {problem}, and would not find it again by its name; rename the file",
                    path.display()
                )));
            }
            match found.get(&name) {
                Some((other, _)) if *other == path => {}
                Some((other, _)) => {
                    return Err(fail(format!(
                        "matches {} and another line matches {}: a release holds one asset of each name; rename one of them",
                        path.display(),
                        other.display()
                    )));
                }
                None => {
                    found.insert(name, (path, line.clone()));
                }
            }
        }
        if files == 0 {
            return Err(fail(if directories > 0 {
                "matches only directories: name the files in them (for example dist/*)".to_string()
            } else {
                format!(
                    "matches no file (looked in {}): build the files before this step, or fix the pattern",
                    base.display()
                )
            }));
        }
    }
    if found.len() > MAX_ASSETS {
        return Err(InputError::value(
            input,
            format!("{} files", found.len()),
            format!("a GitHub release holds at most {MAX_ASSETS} assets"),
        ));
    }
    let mut files = Vec::new();
    for (name, (path, line)) in found {
        let (size, hex) =
            crate::file::sha256_at_most(&path, MAX_ASSET_BYTES).map_err(|e| InputError {
                input: input.to_string(),
                at: Some(line.clone()),
                value: Some(line.text.trim().to_string()),
                problem: format!("cannot read {} ({e})", path.display()),
            })?;
        if size == 0 {
            return Err(InputError {
                input: input.to_string(),
                at: Some(line.clone()),
                value: Some(line.text.trim().to_string()),
                problem: format!(
                    "matches {}, which is empty: a release takes no empty file (GitHub refuses one); build it before this step, or leave it out",
                    path.display()
                ),
            });
        }
        let shown = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        files.push(AssetFile {
            content_type: assets::content_type(&name).to_string(),
            name,
            path: Some(shown),
            location: Some(path),
            size,
            digest: format!("sha256:{hex}"),
            generated: None,
        });
    }
    Ok(assets::with_sums(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, number: usize) -> InputLine {
        InputLine {
            text: text.into(),
            number,
        }
    }

    fn workspace(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagship-assets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dist/sub")).unwrap();
        std::fs::write(dir.join("dist/app-linux-amd64.tar.gz"), b"amd64").unwrap();
        std::fs::write(dir.join("dist/app-linux-arm64.tar.gz"), b"arm64").unwrap();
        std::fs::write(dir.join("dist/sbom.spdx.json"), b"{}").unwrap();
        std::fs::write(dir.join("dist/sub/sbom.spdx.json"), b"{\"other\":1}").unwrap();
        dir
    }

    #[test]
    fn globs_find_the_files_and_sums_cover_them() {
        let base = workspace("found");
        let files = read(
            "release-assets",
            vec![
                line("dist/*.tar.gz", 1),
                line("dist/sbom.spdx.json", 2),
                line("dist/app-*-amd64.tar.gz", 3),
            ],
            &base,
        )
        .unwrap();
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "app-linux-amd64.tar.gz",
                "app-linux-arm64.tar.gz",
                "sbom.spdx.json",
                "SHA256SUMS"
            ],
            "matched twice is listed once"
        );
        assert_eq!(
            files[0].path.as_deref(),
            Some("dist/app-linux-amd64.tar.gz")
        );
        assert_eq!(files[0].size, 5);
        assert_eq!(
            files[0].digest,
            format!(
                "sha256:{:x}",
                <sha2::Sha256 as sha2::Digest>::digest(b"amd64")
            )
        );
        assert_eq!(
            files[0].location.as_deref(),
            Some(base.join("dist/app-linux-amd64.tar.gz").as_path())
        );
        let sums = files[3].generated.as_deref().unwrap();
        assert_eq!(sums.lines().count(), 3);
        assert!(sums.contains("  sbom.spdx.json\n"), "{sums}");
    }

    #[test]
    fn what_a_person_gets_wrong_is_named() {
        let base = workspace("wrong");
        let problem = |lines: Vec<InputLine>| read("release-assets", lines, &base).unwrap_err();
        let e = problem(vec![line("dist/*.zip", 4)]);
        assert_eq!(e.at.as_ref().map(|l| l.number), Some(4));
        assert!(e.problem.starts_with("matches no file"), "{}", e.problem);
        let e = problem(vec![line("dist/su*", 1)]);
        assert!(
            e.problem.starts_with("matches only directories"),
            "{}",
            e.problem
        );
        let e = problem(vec![
            line("dist/sbom.spdx.json", 1),
            line("dist/sub/*.json", 2),
        ]);
        assert!(
            e.problem.contains("one asset of each name"),
            "{}",
            e.problem
        );
        std::fs::write(base.join("dist/my app.zip"), b"x").unwrap();
        let e = problem(vec![line("dist/my*.zip", 1)]);
        assert!(e.problem.contains("GitHub renames"), "{}", e.problem);
        std::fs::write(base.join("dist/SHA256SUMS"), b"x").unwrap();
        let e = problem(vec![line("dist/SHA*", 1)]);
        assert!(
            e.problem.contains("writes SHA256SUMS itself"),
            "{}",
            e.problem
        );
        std::fs::write(base.join("dist/empty.txt"), b"").unwrap();
        let e = problem(vec![line("dist/*.txt", 3)]);
        assert!(e.problem.contains("which is empty"), "{}", e.problem);
        assert_eq!(e.at.as_ref().map(|l| l.number), Some(3));
        let e = problem(vec![line("dist/[", 1)]);
        assert!(
            e.problem.starts_with("is not a glob pattern"),
            "{}",
            e.problem
        );
    }

    #[test]
    fn a_base_with_glob_characters_is_a_path() {
        let base = workspace("brackets[1]");
        let files = read(
            "release-assets",
            vec![line("dist/sbom.spdx.json", 1)],
            &base,
        )
        .unwrap();
        assert_eq!(files.len(), 2);
    }
}
