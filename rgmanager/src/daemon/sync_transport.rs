//! The configuration-sync transport: one TCP connection per message, on the daemon channel's
//! address (membership port + 1), with blocking std sockets on threads of their own (sync is
//! rare and small in count, and a 1 MB cluster.conf does not fit a UDP datagram).
//!
//! A sender connects, writes its frame, closes its side and reads until the receiver closes:
//! nothing comes back but, when the receiver could not authenticate the frame, the plain line
//! `RGMx authentication failed`, so that `ccs_sync` can say why a node refused. Answers travel
//! as messages of their own.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ccs::sync::Message;

use super::sync_wire::{self, FrameCodec, FrameError};
use crate::membership::NodeId;
use crate::node::SendFailure;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Writing or reading a frame (a file of megabytes included).
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends and receives sync frames for one node.
#[derive(Clone)]
pub struct Transport {
    codec: Arc<FrameCodec>,
    local: NodeId,
}

impl Transport {
    pub fn new(codec: FrameCodec, local: NodeId) -> Transport {
        Transport {
            codec: Arc::new(codec),
            local,
        }
    }

    /// Sends `msg` to `to` at `addr` from a thread; `failed` hears of a failure.
    pub fn send(
        &self,
        to: NodeId,
        addr: SocketAddr,
        msg: &Message,
        query: bool,
        failed: impl FnOnce(SendFailure) + Send + 'static,
    ) {
        let frame = self.codec.encode(self.local, msg, query);
        let spawned = std::thread::Builder::new()
            .name(format!("sync-to-{to}"))
            .spawn(move || {
                if let Err(why) = deliver(addr, &frame) {
                    failed(why);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("Configuration sync: cannot send to node {to}: {e}");
        }
    }

    /// Serves the sync port: each connection carries one message, handed to `deliver`
    /// (sender, message, query) once authenticated.
    pub fn listen(
        &self,
        listener: TcpListener,
        deliver: impl Fn(NodeId, Message, bool) + Send + Sync + 'static,
    ) {
        let codec = self.codec.clone();
        let local = self.local;
        let deliver = Arc::new(deliver);
        let spawned = std::thread::Builder::new()
            .name("sync-listen".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(stream) = conn else { continue };
                    let codec = codec.clone();
                    let deliver = deliver.clone();
                    let _ = std::thread::Builder::new()
                        .name("sync-conn".into())
                        .spawn(move || serve_conn(stream, &codec, local, &*deliver));
                }
            });
        if let Err(e) = spawned {
            tracing::error!("Configuration sync: cannot listen: {e}");
        }
    }
}

fn deliver(addr: SocketAddr, frame: &[u8]) -> Result<(), SendFailure> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| SendFailure::Unreachable(format!("{addr}: {e}")))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    if s.write_all(frame).is_err() {
        return Err(SendFailure::NoAnswer);
    }
    let _ = s.shutdown(Shutdown::Write);
    // The receiver closes once it has the frame; a refusal of our key comes back first.
    let mut back = Vec::new();
    let _ = s.take(256).read_to_end(&mut back);
    if back.starts_with(&sync_wire::AUTH_FAILED[..4]) {
        return Err(SendFailure::AuthRefused);
    }
    Ok(())
}

fn serve_conn(
    mut s: TcpStream,
    codec: &FrameCodec,
    local: NodeId,
    deliver: &(dyn Fn(NodeId, Message, bool) + Send + Sync),
) {
    let peer = s
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let frame = match sync_wire::read_frame(&mut s) {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!("configuration sync connection from {peer} dropped: {e}");
            return;
        }
    };
    match codec.decode(&frame) {
        Ok((from, msg, query)) => {
            if from != local {
                deliver(from, msg, query);
            }
        }
        Err(FrameError::BadMac) => {
            tracing::error!(
                "Refused a configuration transfer from {peer}: authentication failed \
                 (another cluster key? Every node needs the same /etc/cluster/authkey)"
            );
            let _ = s.write_all(sync_wire::AUTH_FAILED);
        }
        Err(e) => tracing::warn!("Refused a configuration transfer from {peer}: {e}"),
    }
}
