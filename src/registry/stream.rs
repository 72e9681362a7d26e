//! Blob bodies as streams: read from disk (or another registry) in chunks, hashed on the way, so a
//! layer is never held in memory whole and a wrong byte stops the upload before it commits.

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::digest::Digest;

const CHUNK: usize = 256 * 1024;

pub type ByteStream = BoxStream<'static, Result<Bytes, io::Error>>;

/// `len` bytes of a file from `offset`, in chunks.
pub fn file_range(path: PathBuf, offset: u64, len: u64) -> ByteStream {
    struct State {
        path: PathBuf,
        file: Option<tokio::fs::File>,
        offset: u64,
        left: u64,
    }
    let state = State {
        path,
        file: None,
        offset,
        left: len,
    };
    stream::try_unfold(state, |mut s| async move {
        if s.left == 0 {
            return Ok(None);
        }
        if s.file.is_none() {
            let mut file = tokio::fs::File::open(&s.path).await?;
            file.seek(io::SeekFrom::Start(s.offset)).await?;
            s.file = Some(file);
        }
        let want = (s.left as usize).min(CHUNK);
        let mut buf = BytesMut::zeroed(want);
        let Some(file) = s.file.as_mut() else {
            return Ok(None);
        };
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ends {} bytes early", s.path.display(), s.left),
            ));
        }
        buf.truncate(n);
        s.left -= n as u64;
        Ok(Some((buf.freeze(), s)))
    })
    .boxed()
}

/// Set when a verified stream found the wrong bytes, so the caller can tell a corrupt source
/// from a network failure (both end the request).
#[derive(Clone, Default)]
pub struct MismatchFlag(Arc<Mutex<Option<Digest>>>);

impl MismatchFlag {
    pub fn take(&self) -> Option<Digest> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }

    fn set(&self, actual: Digest) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(actual);
        }
    }
}

/// Passes `inner` through, counting bytes into `progress` and hashing them; the last chunk is
/// held back until the hash is known, and replaced by an error when it is not `expected`.
pub fn verified(
    inner: ByteStream,
    expected: Digest,
    progress: Arc<AtomicU64>,
    flag: MismatchFlag,
) -> ByteStream {
    struct State {
        inner: ByteStream,
        hasher: Sha256,
        held: Option<Bytes>,
        expected: Digest,
        progress: Arc<AtomicU64>,
        flag: MismatchFlag,
        done: bool,
    }
    let state = State {
        inner,
        hasher: Sha256::new(),
        held: None,
        expected,
        progress,
        flag,
        done: false,
    };
    stream::try_unfold(state, |mut s| async move {
        loop {
            if s.done {
                return Ok(None);
            }
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    s.hasher.update(&chunk);
                    if let Some(previous) = s.held.replace(chunk) {
                        s.progress
                            .fetch_add(previous.len() as u64, Ordering::Relaxed);
                        return Ok(Some((previous, s)));
                    }
                }
                Some(Err(e)) => return Err(e),
                None => {
                    s.done = true;
                    let actual = Digest::from_hasher(std::mem::take(&mut s.hasher));
                    if actual != s.expected {
                        s.flag.set(actual.clone());
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("blob {} hashes to {actual}", s.expected),
                        ));
                    }
                    match s.held.take() {
                        Some(last) => {
                            s.progress.fetch_add(last.len() as u64, Ordering::Relaxed);
                            return Ok(Some((last, s)));
                        }
                        None => return Ok(None),
                    }
                }
            }
        }
    })
    .boxed()
}

/// The result of compressing a layer on the fly.
#[derive(Debug, Clone, PartialEq)]
pub struct Compressed {
    pub digest: Digest,
    pub size: u64,
}

/// Gzips `inner` (an uncompressed layer) on the fly, checking the uncompressed bytes against
/// `diff_id` and recording the compressed digest and size in `result` at the end. The output is
/// deterministic (no timestamp in the header), so the same layer always gives the same digest.
pub fn gzipped(
    inner: ByteStream,
    diff_id: Digest,
    progress: Arc<AtomicU64>,
    flag: MismatchFlag,
    result: Arc<Mutex<Option<Compressed>>>,
) -> ByteStream {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    struct State {
        inner: ByteStream,
        encoder: Option<GzEncoder<Vec<u8>>>,
        raw: Sha256,
        packed: Sha256,
        packed_size: u64,
        diff_id: Digest,
        progress: Arc<AtomicU64>,
        flag: MismatchFlag,
        result: Arc<Mutex<Option<Compressed>>>,
    }
    let state = State {
        inner,
        encoder: Some(
            flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), Compression::fast()),
        ),
        raw: Sha256::new(),
        packed: Sha256::new(),
        packed_size: 0,
        diff_id,
        progress,
        flag,
        result,
    };
    stream::try_unfold(state, |mut s| async move {
        loop {
            let Some(encoder) = s.encoder.as_mut() else {
                return Ok(None);
            };
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    s.raw.update(&chunk);
                    s.progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    encoder.write_all(&chunk)?;
                    let out = std::mem::take(encoder.get_mut());
                    if !out.is_empty() {
                        s.packed.update(&out);
                        s.packed_size += out.len() as u64;
                        return Ok(Some((Bytes::from(out), s)));
                    }
                }
                Some(Err(e)) => return Err(e),
                None => {
                    let actual = Digest::from_hasher(std::mem::take(&mut s.raw));
                    if actual != s.diff_id {
                        s.flag.set(actual.clone());
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("layer {} hashes to {actual}", s.diff_id),
                        ));
                    }
                    let Some(encoder) = s.encoder.take() else {
                        return Ok(None);
                    };
                    let tail = encoder.finish()?;
                    s.packed.update(&tail);
                    s.packed_size += tail.len() as u64;
                    let digest = Digest::from_hasher(std::mem::take(&mut s.packed));
                    if let Ok(mut r) = s.result.lock() {
                        *r = Some(Compressed {
                            digest,
                            size: s.packed_size,
                        });
                    }
                    return Ok(Some((Bytes::from(tail), s)));
                }
            }
        }
    })
    .boxed()
}

/// A blob's response body as a byte stream, cut at `size` bytes: one byte more is an error, so a
/// registry cannot feed an upload (or a digest check) without end. Fewer bytes are left to the
/// digest check to refuse.
pub fn from_response<S>(body: S, size: u64) -> ByteStream
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    let mut seen: u64 = 0;
    body.map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the registry sent more than the {size} bytes the blob's descriptor says"),
            ));
        }
        Ok(chunk)
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>, io::Error> {
        let parts: Vec<Bytes> = s
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(parts.concat())
    }

    #[tokio::test]
    async fn passes_good_bytes_and_stops_bad_ones_before_the_last_chunk() {
        let good = Digest::of(b"hello world");
        let progress = Arc::new(AtomicU64::new(0));
        let flag = MismatchFlag::default();
        let out = collect(verified(
            chunks(&[b"hello ", b"world"]),
            good.clone(),
            progress.clone(),
            flag.clone(),
        ))
        .await
        .unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(progress.load(Ordering::Relaxed), 11);
        assert_eq!(flag.take(), None);

        let mut seen = Vec::new();
        let mut s = verified(
            chunks(&[b"hello ", b"w0rld"]),
            good,
            Arc::default(),
            flag.clone(),
        );
        let mut failed = false;
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => seen.extend_from_slice(&b),
                Err(_) => failed = true,
            }
        }
        assert!(failed);
        assert_eq!(seen, b"hello ", "the last chunk never leaves");
        assert_eq!(flag.take(), Some(Digest::of(b"hello w0rld")));
    }

    #[tokio::test]
    async fn gzips_deterministically_and_checks_the_diff_id() {
        let layer: &'static [u8] = b"layer bytes layer bytes layer bytes";
        let run = || async {
            let result = Arc::new(Mutex::new(None));
            let out = collect(gzipped(
                chunks(&[layer]),
                Digest::of(layer),
                Arc::default(),
                MismatchFlag::default(),
                result.clone(),
            ))
            .await
            .unwrap();
            let compressed = result.lock().unwrap().clone().unwrap();
            (out, compressed)
        };
        let (out, compressed) = run().await;
        assert_eq!(compressed.digest, Digest::of(&out));
        assert_eq!(compressed.size, out.len() as u64);
        assert_eq!(run().await.1, compressed, "same input, same digest");
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&out[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, layer);
        let flag = MismatchFlag::default();
        let bad = collect(gzipped(
            chunks(&[layer]),
            Digest::of(b"other"),
            Arc::default(),
            flag.clone(),
            Arc::default(),
        ))
        .await;
        assert!(bad.is_err());
        assert!(flag.take().is_some());
    }

    #[tokio::test]
    async fn cuts_a_response_past_its_size() {
        let chunks: Vec<Result<Bytes, reqwest::Error>> = vec![
            Ok(Bytes::from_static(b"abcd")),
            Ok(Bytes::from_static(b"ef")),
            Ok(Bytes::from_static(b"g")),
        ];
        let err = collect(from_response(stream::iter(chunks), 6))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than the 6 bytes"), "{err}");
        let exact: Vec<Result<Bytes, reqwest::Error>> = vec![Ok(Bytes::from_static(b"abcdef"))];
        assert_eq!(
            collect(from_response(stream::iter(exact), 6))
                .await
                .unwrap(),
            b"abcdef"
        );
    }

    #[tokio::test]
    async fn reads_file_ranges() {
        let dir = std::env::temp_dir().join(format!("tagship-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(
            collect(file_range(path.clone(), 2, 5)).await.unwrap(),
            b"23456"
        );
        assert!(
            collect(file_range(path, 8, 5)).await.is_err(),
            "a short file is an error"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
