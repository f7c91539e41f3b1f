//! An attachment's bytes on their way from one side to the other: a stream with the length the
//! source declared, never held whole in memory.
//!
//! A download ([`crate::sir::SirApi::download_attachment`], [`crate::jira::JiraApi::download_attachment`])
//! answers an [`AttachmentBody`] as soon as the response headers arrive; the upload on the other
//! side sends it on chunk by chunk as it is read, so a 100 MiB attachment costs the Lambda a few
//! buffers, not 100 MiB. The length is known before any byte moves (SIR's upload URL is issued for
//! it, S3 refuses a PUT without `Content-Length`, Jira's multipart body is sent with one), and the
//! stream checks it: a source that ends early or runs long fails the transfer instead of storing
//! a different file.
//!
//! A stream can be sent once. An upload that may need a second attempt (Jira answering 429 to
//! the first) takes an [`AttachmentSource`], which opens the download again for it.

use std::fmt;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};

use crate::error::Result;

/// The chunk size of a body made from bytes in memory.
pub const IN_MEMORY_CHUNK_BYTES: usize = 64 * 1024;

/// What a chunk of an attachment's stream fails with.
pub type ChunkError = Box<dyn std::error::Error + Send + Sync>;

/// The bytes of one attachment, as a stream of the declared length.
pub struct AttachmentBody {
    length: u64,
    chunks: BoxStream<'static, std::result::Result<Bytes, ChunkError>>,
}

impl fmt::Debug for AttachmentBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentBody")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// The stream ended at a length other than the declared one.
#[derive(Debug, thiserror::Error)]
#[error("the attachment was declared as {declared} bytes but its stream {ended}")]
pub struct LengthMismatch {
    pub declared: u64,
    ended: String,
}

impl AttachmentBody {
    /// Bytes already in memory (tests, small bodies), streamed in chunks of
    /// [`IN_MEMORY_CHUNK_BYTES`] as a download would be.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> AttachmentBody {
        let bytes: Bytes = bytes.into();
        let length = bytes.len();
        let chunks = (0..length)
            .step_by(IN_MEMORY_CHUNK_BYTES)
            .map(move |start| Ok(bytes.slice(start..length.min(start + IN_MEMORY_CHUNK_BYTES))));
        AttachmentBody {
            length: length as u64,
            chunks: futures_util::stream::iter(chunks.collect::<Vec<_>>()).boxed(),
        }
    }

    /// `chunks` declared as `length` bytes.
    pub fn from_stream<S, E>(length: u64, chunks: S) -> AttachmentBody
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<ChunkError>,
    {
        AttachmentBody {
            length,
            chunks: chunks.map(|chunk| chunk.map_err(Into::into)).boxed(),
        }
    }

    /// The body of `response`, declared as `length` bytes; a chunk's error goes through
    /// `on_error` (e.g. to drop a presigned URL from it).
    pub(crate) fn from_response(
        response: reqwest::Response,
        length: u64,
        on_error: fn(reqwest::Error) -> ChunkError,
    ) -> AttachmentBody {
        AttachmentBody {
            length,
            chunks: response
                .bytes_stream()
                .map(move |c| c.map_err(on_error))
                .boxed(),
        }
    }

    /// The length `response` declares: its `Content-Length` header (read as such, since a
    /// response answered in process has no body size hint), else the body's exact size.
    pub(crate) fn declared_length(response: &reqwest::Response) -> Option<u64> {
        response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .or_else(|| response.content_length())
    }

    /// The declared length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The declared length as the SDK's `i64`, `None` beyond it.
    pub fn length_i64(&self) -> Option<i64> {
        i64::try_from(self.length).ok()
    }

    /// The stream as a request body that fails unless it carries exactly the declared length.
    /// The request must say the length itself (`Content-Length`, or the multipart part's).
    pub fn into_request_body(self) -> reqwest::Body {
        reqwest::Body::wrap_stream(ExactLength {
            declared: self.length,
            seen: 0,
            done: false,
            chunks: self.chunks,
        })
    }

    /// Every byte, in memory, checked against the declared length (tests, small bodies).
    pub async fn into_bytes(self) -> std::result::Result<Bytes, ChunkError> {
        let declared = self.length;
        let mut stream = ExactLength {
            declared,
            seen: 0,
            done: false,
            chunks: self.chunks,
        };
        let mut all = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(1 << 20));
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(all))
    }
}

/// The chunks, failing the stream when they come to more or fewer bytes than declared.
struct ExactLength {
    declared: u64,
    seen: u64,
    done: bool,
    chunks: BoxStream<'static, std::result::Result<Bytes, ChunkError>>,
}

impl Stream for ExactLength {
    type Item = std::result::Result<Bytes, ChunkError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = self.chunks.as_mut().poll_next(cx);
        let declared = self.declared;
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen = self.seen.saturating_add(chunk.len() as u64);
                if self.seen > declared {
                    self.done = true;
                    let ended = format!("ran past it ({} bytes so far)", self.seen);
                    return Poll::Ready(Some(Err(LengthMismatch { declared, ended }.into())));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.done = true;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                self.done = true;
                if self.seen == declared {
                    Poll::Ready(None)
                } else {
                    let ended = format!("ended after {} bytes", self.seen);
                    Poll::Ready(Some(Err(LengthMismatch { declared, ended }.into())))
                }
            }
        }
    }
}

/// Where an upload gets its bytes, from the start, for each attempt.
#[async_trait]
pub trait AttachmentSource: Send + Sync {
    /// The attachment's bytes from the first one (a new download each call).
    async fn open(&self) -> Result<AttachmentBody>;
}

/// A source whose first body is already open (its length was needed before the upload); later
/// attempts open `source` again.
pub struct OpenedFirst<'a> {
    first: Mutex<Option<AttachmentBody>>,
    source: &'a dyn AttachmentSource,
}

impl fmt::Debug for OpenedFirst<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedFirst").finish_non_exhaustive()
    }
}

impl<'a> OpenedFirst<'a> {
    pub fn new(first: AttachmentBody, source: &'a dyn AttachmentSource) -> OpenedFirst<'a> {
        OpenedFirst {
            first: Mutex::new(Some(first)),
            source,
        }
    }
}

#[async_trait]
impl AttachmentSource for OpenedFirst<'_> {
    async fn open(&self) -> Result<AttachmentBody> {
        let first = match self.first.lock() {
            Ok(mut first) => first.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match first {
            Some(body) => Ok(body),
            None => self.source.open().await,
        }
    }
}

/// Bytes in memory as a source (tests, small bodies).
#[derive(Debug, Clone)]
pub struct InMemory(pub Bytes);

#[async_trait]
impl AttachmentSource for InMemory {
    async fn open(&self) -> Result<AttachmentBody> {
        Ok(AttachmentBody::from_bytes(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(length: u64, parts: &[&'static [u8]]) -> AttachmentBody {
        let parts: Vec<std::result::Result<Bytes, ChunkError>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        AttachmentBody::from_stream(length, futures_util::stream::iter(parts))
    }

    #[tokio::test]
    async fn a_stream_of_the_declared_length_passes_through_whole() {
        let body = chunked(6, &[b"abc", b"", b"def"]);
        assert_eq!(body.length(), 6);
        assert_eq!(
            body.into_bytes().await.unwrap(),
            Bytes::from_static(b"abcdef")
        );
    }

    #[tokio::test]
    async fn a_stream_ending_early_or_running_long_fails() {
        let short = chunked(7, &[b"abc", b"def"]).into_bytes().await;
        let error = short.unwrap_err().to_string();
        assert!(
            error.contains("declared as 7") && error.contains("ended after 6"),
            "{error}"
        );
        let long = chunked(5, &[b"abc", b"def"]).into_bytes().await;
        let error = long.unwrap_err().to_string();
        assert!(
            error.contains("declared as 5") && error.contains("ran past"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_first_open_gives_the_opened_body_and_later_ones_open_again() {
        let again = InMemory(Bytes::from_static(b"again"));
        let source = OpenedFirst::new(AttachmentBody::from_bytes("first"), &again);
        let first = source.open().await.unwrap().into_bytes().await.unwrap();
        let second = source.open().await.unwrap().into_bytes().await.unwrap();
        assert_eq!((&first[..], &second[..]), (&b"first"[..], &b"again"[..]));
    }
}
