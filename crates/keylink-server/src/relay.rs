//! The relay: single-use channels that pair two streams and forward opaque
//! frames between them.
//!
//! A device opens a channel and keeps its stream; another joins it by id
//! within the expiry. From then on, every frame one side sends is written to
//! the other, one at a time (QUIC flow control bounds what is buffered).
//! When either side ends or fails — a linking handshake that fails closes
//! its stream — the channel is closed on both. An id is never reused: after
//! a join, or after it expires, joining it again is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keylink_net::{RecvHalf, SendHalf, read_frame, write_frame};

use crate::adversary::Adversary;
use tokio::sync::oneshot;

/// How long an opened channel waits for the other side, by default.
pub const CHANNEL_TTL: Duration = Duration::from_secs(300);
/// Largest frame the relay forwards (linking messages are small).
pub const MAX_RELAY_FRAME: usize = 64 << 10;
/// Longest a paired channel stays open.
pub const MAX_PAIRED_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);
/// Most bytes a paired channel forwards, both ways together.
pub const MAX_PAIRED_BYTES: usize = 16 << 20;

/// The joining side's stream, handed to the opener.
pub type Peer = (SendHalf, RecvHalf);

/// A waiting channel: when it was opened, and where to hand the joiner.
type Waiting = (Instant, oneshot::Sender<Peer>);

/// Open channels waiting for their second side.
pub struct Relay {
    waiting: Mutex<HashMap<[u8; 16], Waiting>>,
    max_channels: usize,
    ttl: Duration,
}

impl Relay {
    /// A relay holding at most `max_channels` waiting channels.
    pub fn new(max_channels: usize, ttl: Duration) -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
            max_channels,
            ttl,
        }
    }

    /// How long a channel waits for its second side.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Register channel `id`; the receiver yields the joiner's stream.
    /// `None` if the relay is full.
    pub fn open(&self, id: [u8; 16], now: Instant) -> Option<oneshot::Receiver<Peer>> {
        let mut w = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ttl = self.ttl;
        w.retain(|_, (t, tx)| now.duration_since(*t) < ttl && !tx.is_closed());
        if w.len() >= self.max_channels {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        w.insert(id, (now, tx));
        Some(rx)
    }

    /// Take channel `id` for joining: once only, and only before it expires.
    pub fn join(&self, id: &[u8; 16], now: Instant) -> Option<oneshot::Sender<Peer>> {
        let mut w = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (opened, tx) = w.remove(id)?;
        (now.duration_since(opened) < self.ttl && !tx.is_closed()).then_some(tx)
    }

    /// Channels waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }
}

/// Forward frames both ways until either side ends or fails, then close both.
pub async fn pump(a: Peer, b: Peer, channel: [u8; 16], adversary: Option<Arc<dyn Adversary>>) {
    let ((mut a_send, mut a_recv), (mut b_send, mut b_recv)) = (a, b);
    {
        let budget = std::sync::atomic::AtomicUsize::new(MAX_PAIRED_BYTES);
        let a_to_b = forward(
            &mut a_recv,
            &mut b_send,
            &budget,
            adversary.as_deref(),
            &channel,
        );
        let b_to_a = forward(
            &mut b_recv,
            &mut a_send,
            &budget,
            adversary.as_deref(),
            &channel,
        );
        // The first side to stop, the lifetime or the byte budget ends the
        // channel for both.
        tokio::select! {
            biased;
            () = a_to_b => {}
            () = b_to_a => {}
            () = tokio::time::sleep(MAX_PAIRED_LIFETIME) => {}
        }
    }
    let _ = a_send.finish();
    let _ = b_send.finish();
    a_recv.stop(0);
    b_recv.stop(0);
}

async fn forward(
    from: &mut RecvHalf,
    to: &mut SendHalf,
    budget: &std::sync::atomic::AtomicUsize,
    adversary: Option<&dyn Adversary>,
    channel: &[u8; 16],
) {
    use std::sync::atomic::Ordering;
    while let Ok(Some(frame)) = read_frame(from, MAX_RELAY_FRAME).await {
        let spent = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(frame.len())
        });
        if spent.is_err() {
            break;
        }
        let frames = match adversary {
            Some(a) => a.relay(channel, frame),
            None => vec![frame],
        };
        for (i, f) in frames.iter().enumerate() {
            // What the adversary adds is charged too.
            if i > 0
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(f.len())
                    })
                    .is_err()
            {
                return;
            }
            if write_frame(to, f).await.is_err() {
                return;
            }
        }
    }
}
