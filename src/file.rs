//! Files read into memory, each under a bound: a path that names something huge (or endless,
//! as `/dev/zero`) gets an error, never the process's memory.

use std::io::{self, Read};
use std::path::Path;

/// The event payload: GitHub caps webhook payloads at 25 MB.
pub const MAX_EVENT_PAYLOAD: u64 = 32 << 20;
/// A CA bundle: the system's whole bundle is about 200 KiB.
pub const MAX_CA_FILE: u64 = 4 << 20;
/// A release-notes template: GitHub keeps at most 125,000 characters of a release body.
pub const MAX_TEMPLATE: u64 = 1 << 20;
/// `.tagship.yml`: a few KiB of settings; one this large is no settings file.
pub const MAX_SETTINGS_FILE: u64 = 1 << 20;
/// A file to attach to the image (`attach`), read whole (its digest names it before it is
/// sent): SBOMs of large images run to tens of megabytes.
pub const MAX_ATTACHMENT: u64 = 128 << 20;
/// A vulnerability scan report (`scan-report`): a full Trivy report of a large image, every
/// package listed, is tens of MiB.
pub const MAX_SCAN_REPORT: u64 = 128 << 20;
/// A GitHub Action's `action.yml` (`action-file`): a few KiB of inputs and their descriptions.
pub const MAX_ACTION_FILE: u64 = 1 << 20;
/// A Docker Hub full description (`hub-description`): Docker Hub takes 25,000 bytes; a file
/// up to this size is read so that one too long is said (or cut) rather than unread.
pub const MAX_HUB_DESCRIPTION: u64 = 1 << 20;
/// An OpenVEX document given in `attach` that the scan gate reads: kilobytes as tools write them.
pub const MAX_OPENVEX: u64 = 16 << 20;

/// What `reader` holds when that is at most `limit` bytes; `None` when it holds more, found by
/// reading one byte past `limit`, never the rest. `expected` (a length from metadata or a
/// header, possibly a lie) only sizes the first allocation, and never beyond `limit`.
pub fn read_limited(reader: impl Read, expected: u64, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let capacity = usize::try_from(expected.min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// The whole file, when it is at most `limit` bytes; reading stops at the first byte past it.
pub fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    read_limited(file, 0, limit)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {}, the most tagship reads for it",
                crate::output::human_bytes(limit)
            ),
        )
    })
}

/// [`read_at_most`], as UTF-8 text.
pub fn read_text_at_most(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_at_most(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// The size and SHA-256 (lower-case hex) of the file at `path`, read in chunks, never whole;
/// an error when it holds more than `limit` bytes.
pub fn sha256_at_most(path: &Path, limit: u64) -> io::Result<(u64, String)> {
    use sha2::Digest as _;
    let mut file = std::fs::File::open(path)?.take(limit.saturating_add(1));
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    if size > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {}, the most tagship takes of it",
                crate::output::human_bytes(limit)
            ),
        ));
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_at_most_the_limit() {
        assert_eq!(
            read_limited(&b"four"[..], 4, 4).unwrap(),
            Some(b"four".to_vec())
        );
        assert_eq!(
            read_limited(&b"four"[..], 1 << 40, 8).unwrap(),
            Some(b"four".to_vec())
        );
        assert_eq!(read_limited(&b"five!"[..], 4, 4).unwrap(), None);
        // An endless reader: one byte past the limit answers, whatever length was claimed.
        assert_eq!(
            read_limited(std::io::repeat(0), u64::MAX, 4 << 20).unwrap(),
            None
        );
    }

    #[test]
    fn hashes_in_chunks_up_to_the_limit() {
        let (size, hex) = sha256_at_most(Path::new("/dev/null"), 0).unwrap();
        assert_eq!(size, 0);
        assert_eq!(
            hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // An endless file stops one byte past the limit, whatever its size would be.
        let err = sha256_at_most(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn stops_past_the_limit() {
        let err = read_at_most(Path::new("/dev/zero"), 1 << 10).unwrap_err();
        assert!(err.to_string().contains("larger than 1 KiB"), "{err}");
        let path = std::env::temp_dir().join(format!("tagship-file-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_at_most(&path, 10).unwrap(), b"0123456789");
        assert!(read_at_most(&path, 9).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
