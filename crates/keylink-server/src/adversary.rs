//! A dishonest operator, made testable.
//!
//! keylink's threat model lets the server do anything: serve old or forked
//! logs, drop or swap objects, replay relay frames. Devices must notice or
//! come to no harm. An [`Adversary`] sits where a dishonest operator would
//! — between the server's honest answer and the wire — so the simulator can
//! script those attacks against the real server and real devices. A server
//! runs without one unless its embedder installs it; the `keylink-server`
//! binary never does.

use keylink_keys::{AccountId, DeviceId};
use keylink_wire::server::{FailureCode, Request, Response};

/// A server's answer: a response, or a refusal with its code and message.
pub type Answer = Result<Response, (FailureCode, String)>;

/// What a dishonest operator does to answers and relayed frames.
pub trait Adversary: Send + Sync + std::fmt::Debug + 'static {
    /// Answer `request` without doing it (`Some`), or let the server do it
    /// (`None`, the default): a write the operator acknowledges and drops.
    fn intercept(&self, who: Option<(AccountId, DeviceId)>, request: &Request) -> Option<Answer> {
        let _ = (who, request);
        None
    }

    /// Change (or keep) the honest `answer` to `request`, sent on a
    /// connection authenticated as `who` (if it is).
    fn answer(
        &self,
        who: Option<(AccountId, DeviceId)>,
        request: &Request,
        answer: Answer,
    ) -> Answer;

    /// The frames to forward in place of one relayed `frame` on relay
    /// `channel` (the frame itself, by default): drop it, duplicate it, or
    /// send an earlier one.
    fn relay(&self, channel: &[u8; 16], frame: Vec<u8>) -> Vec<Vec<u8>> {
        let _ = channel;
        vec![frame]
    }
}
