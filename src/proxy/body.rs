//! Body types: the boxed body every response uses, and the wrapper that counts what was
//! sent so the access line is written once the body is done.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::proxy::access::AccessRecord;

/// Any error a body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request sent upstream and every response sent to clients.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: Bytes) -> Body {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response body that counts its bytes and writes the access line when it is dropped,
/// that is when the last byte was sent or the client went away.
pub struct Logged {
    inner: Body,
    sent: u64,
    record: Option<AccessRecord>,
}

impl Logged {
    /// Wraps `inner`; `record` is written when the body ends.
    pub fn new(inner: Body, record: AccessRecord) -> Logged {
        Logged {
            inner,
            sent: 0,
            record: Some(record),
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            record.write(self.sent, self.inner.is_end_stream());
        }
    }
}

/// An error reading the client's request body: the client, not the upstream, broke the
/// exchange, so it is answered with 400 and no upstream is blamed.
#[derive(Debug, thiserror::Error)]
#[error("reading the client's request body: {0}")]
pub struct ClientBodyError(#[source] pub BoxError);

/// A request body that says when it has been read to its end (or failed, or was dropped),
/// so the wait for the upstream's answer can start only then: a slow upload is the
/// client's time, not the upstream's.
pub struct Finished {
    inner: Body,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Finished {
    /// Wraps `inner`; the receiver resolves when the body is finished.
    pub fn new(inner: Body) -> (Finished, tokio::sync::oneshot::Receiver<()>) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let mut body = Finished {
            inner,
            done: Some(sender),
        };
        if body.inner.is_end_stream() {
            body.finish();
        }
        (body, receiver)
    }

    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl HttpBody for Finished {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(context);
        if matches!(poll, Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.finish();
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
