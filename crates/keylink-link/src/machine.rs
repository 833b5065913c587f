//! The linking state machine, sans-IO: frames in through
//! [`Link::handle_frame`], frames out through [`Link::poll_transmit`],
//! decisions and results out through [`Link::poll_event`], time in through
//! [`Link::handle_timeout`]. It never touches a socket or a clock.
//!
//! Phases are values of [`Phase`]; every phase after key confirmation holds
//! a `Session`, which only a verified confirmation MAC can produce, and the
//! only way to send the root key ([`Link::device_added`]) is from such a
//! phase.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keylink_account::{Head, HeadRelation, LogState, compare_heads};
use keylink_keys::{DeviceId, DeviceIdentity, DevicePublicKeys, RootKey, SignatureContext};
use keylink_wire::Wire;
use keylink_wire::account::{DeviceName, DeviceRecord};
use keylink_wire::link::{AbortReason, JoinRequest, LinkFrame, LinkPayload, Welcome};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::code::{LinkCode, Shower, ShowerSecrets};
use crate::error::LinkError;
use crate::schedule::{Binding, Role, Sas, Session, Unconfirmed, transcript_hash};

/// How long each step may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// A network step (a reply from the other device, an append).
    pub step: Duration,
    /// The person at the existing device deciding.
    pub approval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            step: Duration::from_secs(60),
            approval: Duration::from_secs(300),
        }
    }
}

/// What the new device brings to a link.
pub struct NewDevice {
    /// Its identity (kept by the client before the link starts, so a retry
    /// after a crash links the same device again).
    pub identity: Arc<DeviceIdentity>,
    /// The name it asks for.
    pub name: DeviceName,
    /// A log head it already trusts, if it was linked before.
    pub known_head: Option<Head>,
}

/// Which device this is.
pub enum Side {
    /// Already in the account.
    Existing {
        /// This device's id (the approver).
        device: DeviceId,
    },
    /// Joining.
    New(NewDevice),
}

impl Side {
    fn is_new(&self) -> bool {
        matches!(self, Side::New(_))
    }
}

/// What the existing device shows the person before they approve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinInfo {
    /// The name the new device asks for (chosen by whoever holds it).
    pub name: DeviceName,
    /// Its public keys.
    pub keys: DevicePublicKeys,
    /// Its id: the fingerprint to show.
    pub device: DeviceId,
    /// The short authentication string the new device shows too.
    pub sas: Sas,
}

/// Something the driver must act on, or the result.
#[derive(Debug)]
pub enum Event {
    /// Keys confirmed in both directions: show this code to compare.
    Confirmed {
        /// The short authentication string.
        sas: Sas,
    },
    /// Existing device: ask the person; then [`Link::approve`] or [`Link::decline`].
    ApprovalRequested(JoinInfo),
    /// Existing device: append `AddDevice(record)` to the log (or find it
    /// already there), then call [`Link::device_added`].
    AddDevice {
        /// The device to add.
        record: DeviceRecord,
        /// A head the new device already trusts: check that the log holds
        /// it (a fork otherwise, [`Link::refuse_add`]) before appending.
        known_head: Option<Head>,
    },
    /// New device: verify this against the log from the server, store the
    /// key, then call [`Link::key_stored`].
    Welcome(Welcome),
    /// The link completed.
    Linked {
        /// The new device.
        device: DeviceId,
        /// The log head both now trust.
        head: Head,
    },
    /// The link failed; nothing more will happen.
    Failed(LinkError),
}

/// Where the handshake is. Public for inspection; the fields are private.
pub enum Phase {
    /// Shower: waiting for the scanner's hello.
    AwaitHello(Box<ShowerSecrets>, Binding),
    /// Scanner: hello sent, waiting for the shower's confirmation.
    AwaitConfirm(Box<PendingKeys>),
    /// Existing device: waiting for the join request.
    AwaitJoin(Confirmed),
    /// Existing device: waiting for the person.
    AwaitApproval(Confirmed, JoinRequest),
    /// Existing device: waiting for the driver's append.
    AwaitAppend(Confirmed, JoinRequest),
    /// Existing device: root key sent, waiting for the acknowledgement.
    AwaitAck(Confirmed, Head, DeviceId),
    /// New device: join sent, waiting for the welcome.
    AwaitWelcome(Confirmed),
    /// New device: welcome received, waiting for the driver to verify and
    /// store.
    AwaitStored(Confirmed, Head),
    /// Finished.
    Done,
    /// Failed.
    Failed,
}

/// Keys derived by the scanner, not yet confirmed.
pub struct PendingKeys(Unconfirmed);

/// A confirmed session (opaque).
pub struct Confirmed(Session);

/// One link attempt, for one device.
pub struct Link {
    side: Side,
    phase: Phase,
    timeouts: Timeouts,
    deadline: Option<Instant>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

/// Whether a device (new or not) may scan `code`: checked before
/// connecting, so a code scanned on the wrong device is not used up.
///
/// # Errors
/// [`LinkError::WrongRole`].
pub fn check_scanner_role(code: &LinkCode, scanner_is_new: bool) -> Result<(), LinkError> {
    expected_role(code, scanner_is_new, Role::Scanner)
}

fn expected_role(code: &LinkCode, is_new: bool, role: Role) -> Result<(), LinkError> {
    let new_shows = code.shower() == Shower::NewDevice;
    let ok = match role {
        Role::Shower => is_new == new_shows,
        Role::Scanner => is_new != new_shows,
    };
    if ok {
        return Ok(());
    }
    Err(LinkError::WrongRole {
        expected: if new_shows {
            "a device already in the account"
        } else {
            "the new device"
        },
    })
}

fn check_binding(code: &LinkCode, binding: &Binding) -> Result<(), LinkError> {
    let direct = matches!(code.rendezvous(), crate::code::Rendezvous::Direct { .. });
    if direct != matches!(binding, Binding::Direct(_)) {
        return Err(LinkError::WrongBinding);
    }
    Ok(())
}

impl Link {
    /// The showing device, once the scanner's transport is up. Consumes the
    /// code's secrets: a code serves one attempt. `expires` is the code's
    /// expiry on the caller's clock.
    ///
    /// # Errors
    /// [`LinkError::WrongRole`], [`LinkError::WrongBinding`].
    pub fn shower(
        secrets: ShowerSecrets,
        binding: Binding,
        side: Side,
        expires: Instant,
        timeouts: Timeouts,
    ) -> Result<Self, LinkError> {
        expected_role(&secrets.code, side.is_new(), Role::Shower)?;
        check_binding(&secrets.code, &binding)?;
        Ok(Self {
            side,
            phase: Phase::AwaitHello(Box::new(secrets), binding),
            timeouts,
            deadline: Some(expires),
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The scanning device: derives the keys and queues its hello.
    ///
    /// # Errors
    /// [`LinkError::WrongRole`], [`LinkError::WrongBinding`],
    /// [`LinkError::LowOrderShare`].
    pub fn scanner(
        code: &LinkCode,
        binding: Binding,
        side: Side,
        now: Instant,
        timeouts: Timeouts,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, LinkError> {
        expected_role(code, side.is_new(), Role::Scanner)?;
        check_binding(code, &binding)?;
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        let share = keylink_keys::primitives::x25519_public(&secret);
        let transcript = transcript_hash(code, &binding, &share);
        let keys = Unconfirmed::derive(Role::Scanner, &secret, code.ephemeral(), code, transcript)?;
        let confirm = keys.my_confirmation()?;
        let mut link = Self {
            side,
            phase: Phase::AwaitConfirm(Box::new(PendingKeys(keys))),
            timeouts,
            deadline: Some(later(now, timeouts.step)),
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        link.send_frame(&LinkFrame::ScannerHello {
            ephemeral: share,
            confirm,
        });
        Ok(link)
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether the link has ended (linked or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            None
        } else {
            self.deadline
        }
    }

    /// Time passed: fail if the current step's deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.poll_timeout()
            && now >= d
        {
            if matches!(self.phase, Phase::AwaitHello(..)) {
                // Nobody scanned the code in its lifetime.
                self.fail(LinkError::CodeSpent, None);
            } else {
                self.fail(LinkError::Timeout, Some(AbortReason::Timeout));
            }
        }
    }

    /// The transport ended before the link did.
    pub fn handle_closed(&mut self) {
        if !self.is_finished() {
            // Before anyone scanned, the relay ending the channel means
            // its lifetime ran out.
            let err = if matches!(self.phase, Phase::AwaitHello(..)) {
                LinkError::CodeSpent
            } else {
                LinkError::Closed
            };
            self.fail(err, None);
        }
    }

    /// The app gives up (the person cancelled, or the app is closing).
    pub fn cancel(&mut self) {
        if !self.is_finished() {
            self.fail(LinkError::Cancelled, Some(AbortReason::Cancelled));
        }
    }

    fn send_frame(&mut self, frame: &LinkFrame) {
        self.out.push_back(frame.encode());
    }

    fn fail(&mut self, err: LinkError, tell: Option<AbortReason>) {
        // After the root key went out, a failure means the log already
        // holds the new device.
        let err = if matches!(self.phase, Phase::AwaitAck(..)) {
            LinkError::NotAcknowledged
        } else {
            err
        };
        if let Some(reason) = tell {
            self.send_frame(&LinkFrame::Abort { reason });
        }
        self.phase = Phase::Failed;
        self.deadline = None;
        // A welcome the driver has not taken yet is withdrawn: a failed
        // link hands out no key.
        self.events.retain(|e| !matches!(e, Event::Welcome(_)));
        self.events.push_back(Event::Failed(err));
    }

    /// A frame arrived from the other device.
    pub fn handle_frame(&mut self, bytes: &[u8], now: Instant) {
        if self.is_finished() {
            return;
        }
        let frame = match LinkFrame::decode(bytes) {
            Ok(f) => f,
            Err(keylink_wire::WireError::UnsupportedVersion { got }) => {
                return self.fail(
                    LinkError::UnsupportedVersion(got),
                    Some(AbortReason::Protocol),
                );
            }
            Err(_) => return self.fail(LinkError::Malformed, Some(AbortReason::Protocol)),
        };
        if let LinkFrame::Abort { reason } = frame {
            let err = match reason {
                AbortReason::Declined => LinkError::Declined,
                r => LinkError::PeerAborted(r),
            };
            return self.fail(err, None);
        }
        let root_sent = matches!(self.phase, Phase::AwaitAck(..));
        let phase = std::mem::replace(&mut self.phase, Phase::Failed);
        if let Err((err, reason)) = self.step(phase, frame, now) {
            // Once the root key went out, the log holds the new device:
            // whatever went wrong, that is what the person must know.
            let err = if root_sent {
                LinkError::NotAcknowledged
            } else {
                err
            };
            self.fail(err, Some(reason));
        }
    }

    fn step(&mut self, phase: Phase, frame: LinkFrame, now: Instant) -> Result<(), Fail> {
        match (phase, frame) {
            (
                Phase::AwaitHello(secrets, binding),
                LinkFrame::ScannerHello { ephemeral, confirm },
            ) => {
                let transcript = transcript_hash(&secrets.code, &binding, &ephemeral);
                let keys = Unconfirmed::derive(
                    Role::Shower,
                    &secrets.ephemeral_secret,
                    &ephemeral,
                    &secrets.code,
                    transcript,
                )
                .map_err(|e| (e, AbortReason::Protocol))?;
                let mine = keys
                    .my_confirmation()
                    .map_err(|e| (e, AbortReason::Protocol))?;
                let session = keys
                    .confirm(&confirm)
                    .map_err(|e| (e, AbortReason::ConfirmationFailed))?;
                self.send_frame(&LinkFrame::ShowerConfirm { confirm: mine });
                self.confirmed(session, now)
            }
            (Phase::AwaitConfirm(keys), LinkFrame::ShowerConfirm { confirm }) => {
                let session = keys
                    .0
                    .confirm(&confirm)
                    .map_err(|e| (e, AbortReason::ConfirmationFailed))?;
                self.confirmed(session, now)
            }
            (Phase::AwaitJoin(mut c), LinkFrame::Sealed { ciphertext }) => {
                let LinkPayload::Join(join) = c.0.open(&ciphertext).map_err(sealed_err)? else {
                    return Err(protocol("expected a join request"));
                };
                let message = join_message(c.0.transcript(), &join.keys, &join.name);
                join.keys
                    .verify(SignatureContext::Link, &message, &join.signature)
                    .map_err(|_| (LinkError::BadSignature, AbortReason::Protocol))?;
                if let Some(h) = &join.known_head {
                    Head::from_bytes(h)
                        .map_err(|_| (LinkError::Malformed, AbortReason::Protocol))?;
                }
                self.events.push_back(Event::ApprovalRequested(JoinInfo {
                    name: join.name.clone(),
                    keys: join.keys,
                    device: join.keys.device_id(),
                    sas: c.0.sas(),
                }));
                self.deadline = Some(later(now, self.timeouts.approval));
                self.phase = Phase::AwaitApproval(c, join);
                Ok(())
            }
            (Phase::AwaitWelcome(mut c), LinkFrame::Sealed { ciphertext }) => {
                let LinkPayload::Welcome(welcome) = c.0.open(&ciphertext).map_err(sealed_err)?
                else {
                    return Err(protocol("expected a welcome"));
                };
                let head = Head::from_bytes(&welcome.head)
                    .map_err(|_| (LinkError::Malformed, AbortReason::Protocol))?;
                self.deadline = Some(later(now, self.timeouts.step));
                self.events.push_back(Event::Welcome(welcome));
                self.phase = Phase::AwaitStored(c, head);
                Ok(())
            }
            (Phase::AwaitAck(mut c, sent, device), LinkFrame::Sealed { ciphertext }) => {
                let LinkPayload::Ack { head } = c.0.open(&ciphertext).map_err(sealed_err)? else {
                    return Err(protocol("expected an acknowledgement"));
                };
                let head = Head::from_bytes(&head)
                    .map_err(|_| (LinkError::NotAcknowledged, AbortReason::Protocol))?;
                if head.sequence < sent.sequence
                    || (head.sequence == sent.sequence && head.hash != sent.hash)
                {
                    return Err((LinkError::Fork, AbortReason::Fork));
                }
                self.phase = Phase::Done;
                self.deadline = None;
                self.events.push_back(Event::Linked { device, head });
                Ok(())
            }
            (_, LinkFrame::ScannerHello { .. }) => Err(protocol("a second hello")),
            (_, LinkFrame::ShowerConfirm { .. }) => Err(protocol("a stray confirmation")),
            (_, LinkFrame::Sealed { .. }) => Err(protocol("a message before its turn")),
            (_, LinkFrame::Abort { .. }) => Err(protocol("abort")),
        }
    }

    fn confirmed(&mut self, mut session: Session, now: Instant) -> Result<(), Fail> {
        self.events
            .push_back(Event::Confirmed { sas: session.sas() });
        // The new device waits for the person at the existing device as
        // well as for the network.
        self.deadline = Some(match self.side {
            Side::Existing { .. } => later(now, self.timeouts.step),
            Side::New(_) => later(
                later(now, self.timeouts.approval),
                self.timeouts.step.saturating_mul(2),
            ),
        });
        match &self.side {
            Side::Existing { .. } => {
                self.phase = Phase::AwaitJoin(Confirmed(session));
            }
            Side::New(n) => {
                let keys = n.identity.public_keys();
                let message = join_message(session.transcript(), &keys, &n.name);
                let join = JoinRequest {
                    keys,
                    name: n.name.clone(),
                    signature: n.identity.sign(SignatureContext::Link, &message),
                    known_head: n.known_head.map(|h| h.to_bytes()),
                };
                let ciphertext = session
                    .seal(&LinkPayload::Join(join))
                    .map_err(|e| (e, AbortReason::Protocol))?;
                self.send_frame(&LinkFrame::Sealed { ciphertext });
                self.phase = Phase::AwaitWelcome(Confirmed(session));
            }
        }
        Ok(())
    }

    /// Existing device: the person approved. Emits [`Event::AddDevice`].
    pub fn approve(&mut self, now: Instant) {
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::AwaitApproval(c, join) => {
                let known_head = join
                    .known_head
                    .as_ref()
                    .and_then(|h| Head::from_bytes(h).ok());
                self.events.push_back(Event::AddDevice {
                    record: DeviceRecord {
                        keys: join.keys,
                        name: join.name.clone(),
                    },
                    known_head,
                });
                self.deadline = Some(later(now, self.timeouts.step));
                self.phase = Phase::AwaitAppend(c, join);
            }
            other => self.phase = other,
        }
    }

    /// Existing device: the person declined. The new device is told.
    pub fn decline(&mut self) {
        if matches!(self.phase, Phase::AwaitApproval(..)) {
            self.fail(LinkError::Declined, Some(AbortReason::Declined));
        }
    }

    /// Existing device: the log refuses the new device before anything was
    /// appended — a fork against its known head ([`LinkError::Fork`]), or
    /// another reason.
    pub fn refuse_add(&mut self, err: LinkError) {
        if matches!(self.phase, Phase::AwaitAppend(..)) {
            let reason = if err == LinkError::Fork {
                AbortReason::Fork
            } else {
                AbortReason::AppendFailed
            };
            self.fail(err, Some(reason));
        }
    }

    /// Existing device: the append failed; nothing was added.
    pub fn append_failed(&mut self, why: String) {
        if matches!(self.phase, Phase::AwaitAppend(..)) {
            self.fail(
                LinkError::AppendFailed(why),
                Some(AbortReason::AppendFailed),
            );
        }
    }

    /// Existing device: `log` (verified, fetched after the append) holds the
    /// new device as current, and `root` is its current root key. Checks
    /// both and the new device's known head, then sends the welcome.
    pub fn device_added(&mut self, log: &LogState, root: &RootKey, now: Instant) {
        let (mut c, join) = match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::AwaitAppend(c, join) => (c, join),
            other => {
                self.phase = other;
                return;
            }
        };
        let Side::Existing { device: approver } = &self.side else {
            return self.fail(protocol("not the existing device").0, None);
        };
        let approver = *approver;
        let device = join.keys.device_id();
        if !log.is_current(&device) || !log.is_current(&approver) {
            return self.fail(
                LinkError::AppendFailed("the new device is not in the log".into()),
                Some(AbortReason::AppendFailed),
            );
        }
        let Some(account_key) = log.account_key(log.epoch()) else {
            return self.fail(
                LinkError::AppendFailed("no account key".into()),
                Some(AbortReason::AppendFailed),
            );
        };
        if root.epoch() != log.epoch() || !root.matches_account_key(log.account(), &account_key) {
            return self.fail(
                LinkError::AppendFailed("the root key is not the current epoch's".into()),
                Some(AbortReason::AppendFailed),
            );
        }
        if let Some(known) = join
            .known_head
            .as_ref()
            .and_then(|h| Head::from_bytes(h).ok())
        {
            match compare_heads(log, &known) {
                Ok(HeadRelation::Same | HeadRelation::Ahead) => {}
                Ok(HeadRelation::Behind) | Err(_) => {
                    return self.fail(LinkError::Fork, Some(AbortReason::Fork));
                }
            }
        }
        let head = log.head();
        let welcome = LinkPayload::Welcome(Welcome {
            account: *log.account(),
            root: root.duplicate(),
            head: head.to_bytes(),
            approver,
        });
        match c.0.seal(&welcome) {
            Ok(ciphertext) => self.send_frame(&LinkFrame::Sealed { ciphertext }),
            Err(e) => return self.fail(e, Some(AbortReason::Protocol)),
        }
        self.deadline = Some(later(now, self.timeouts.step.saturating_mul(2)));
        self.phase = Phase::AwaitAck(c, head, device);
    }

    /// New device: the log verified against the welcome and the key is
    /// stored; `head` is the head it verified. Sends the acknowledgement.
    pub fn key_stored(&mut self, head: Head) {
        let mut c = match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::AwaitStored(c, _) => c,
            other => {
                self.phase = other;
                return;
            }
        };
        let Side::New(n) = &self.side else {
            return self.fail(protocol("not the new device").0, None);
        };
        let device = n.identity.device_id();
        match c.0.seal(&LinkPayload::Ack {
            head: head.to_bytes(),
        }) {
            Ok(ciphertext) => self.send_frame(&LinkFrame::Sealed { ciphertext }),
            Err(e) => return self.fail(e, Some(AbortReason::Protocol)),
        }
        self.phase = Phase::Done;
        self.deadline = None;
        self.events.push_back(Event::Linked { device, head });
    }

    /// New device: what it was sent does not verify, or storing failed.
    pub fn welcome_rejected(&mut self, err: LinkError) {
        if matches!(self.phase, Phase::AwaitStored(..)) {
            let reason = match err {
                LinkError::StoreFailed(_) => AbortReason::StoreFailed,
                LinkError::Fork => AbortReason::Fork,
                _ => AbortReason::VerificationFailed,
            };
            self.fail(err, Some(reason));
        }
    }
}

type Fail = (LinkError, AbortReason);

/// `now + d`, saturating far in the future instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

fn protocol(what: &'static str) -> Fail {
    (LinkError::Unexpected { what }, AbortReason::Protocol)
}

fn sealed_err(e: LinkError) -> Fail {
    (e, AbortReason::Protocol)
}

/// What the new device signs: transcript hash ‖ Ed25519 key ‖ X25519 key ‖
/// name (UTF-8).
pub fn join_message(transcript: &[u8; 32], keys: &DevicePublicKeys, name: &DeviceName) -> Vec<u8> {
    [
        &transcript[..],
        keys.signing_key(),
        keys.agreement_key(),
        name.as_str().as_bytes(),
    ]
    .concat()
}
