//! Hijacked connections: `attach`, `exec start` and BuildKit sessions after `101 UPGRADED`.
//!
//! Once the engine switches protocols, both connections become raw byte pipes and sockguard
//! copies between them, byte for byte, in both directions. End-of-input on one side is passed on
//! as a half-close of the other (`shutdown(SHUT_WR)`), and the other direction keeps flowing
//! until it ends too. This is what `docker exec` needs: the CLI closes its write side as soon as
//! it has no stdin to send, and still expects every byte of the output. No timeout applies.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// Join the client's and the engine's upgraded connections; runs until both directions end.
///
/// `_guard` keeps graceful shutdown waiting while the pipe is open.
pub fn spawn(client: OnUpgrade, upstream: OnUpgrade, request_id: String, _guard: mpsc::Sender<()>) {
    tokio::spawn(async move {
        let _guard = _guard;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(request.id = %request_id, error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((sent, received)) => {
                tracing::debug!(request.id = %request_id, bytes.sent = sent, bytes.received = received, "hijacked stream closed");
            }
            Err(e) => tracing::debug!(request.id = %request_id, error = %e, "hijacked stream ended with an error"),
        }
    });
}
