//! Files tagship leaves for later steps and jobs, written whole or not at all: into a temporary
//! file beside the target, then renamed over it, so a run that fails half-way leaves the file as
//! it was (or absent), never half written.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use super::actions::OutputError;

/// Writes `text` to `path` (`what` names the file in an error), creating its directory.
pub fn write(what: &'static str, path: &Path, text: &str) -> Result<(), OutputError> {
    let error = |source| OutputError {
        what,
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names a directory, not a file",
        ))
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(error)?;
    // Hidden, and the process's own: two runs writing the same file do not share one.
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = dir.join(temp_name);
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error(e));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // reads back the files it wrote
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagship-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_whole_and_leaves_nothing_beside_it() {
        let dir = scratch("replace");
        let path = dir.join("out").join("tagship.env");
        write("the file", &path, "A=1\n").unwrap();
        write("the file", &path, "B=2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "B=2\n");
        assert_eq!(entries(&dir.join("out")), ["tagship.env"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = scratch("fail");
        // A directory where the file should be: the rename fails after the temporary file was
        // written.
        let path = dir.join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "kept").unwrap();
        let e = write("the dotenv file", &path, "A=1\n").unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot write the dotenv file {}: ",
                path.display()
            )),
            "{e}"
        );
        assert_eq!(entries(&dir), ["taken"]);
        assert_eq!(entries(&path), ["inside"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
