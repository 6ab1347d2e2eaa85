//! The body type of every request and response sockguard passes on.
//!
//! A body is either bytes sockguard holds (a JSON body it read for the policy, a redacted
//! response, a denial) or a stream it passes through without buffering (tar uploads, logs,
//! events). One enum instead of a boxed trait object keeps the streaming path free of an
//! allocation and a virtual call per frame.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The error of a streamed body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
#[derive(Debug)]
pub enum ProxyBody {
    /// Bytes held in full.
    Full(Full<Bytes>),
    /// A body streamed from the other side.
    Stream(Incoming),
    /// No body.
    Empty,
}

impl ProxyBody {
    pub fn bytes(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Full(Full::new(bytes.into()))
    }
}

impl From<Full<Bytes>> for ProxyBody {
    fn from(full: Full<Bytes>) -> ProxyBody {
        ProxyBody::Full(full)
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ProxyBody::Full(full) => Pin::new(full).poll_frame(cx).map_err(|never| match never {}),
            ProxyBody::Stream(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
            ProxyBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(full) => full.is_end_stream(),
            ProxyBody::Stream(incoming) => incoming.is_end_stream(),
            ProxyBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(full) => full.size_hint(),
            ProxyBody::Stream(incoming) => incoming.size_hint(),
            ProxyBody::Empty => SizeHint::with_exact(0),
        }
    }
}
