//! [`PeerLife`]: where a peer is in its life in the switch, as one state machine.
//!
//! Two things happen to a peer, partly at the same time, on different threads:
//!
//! * its **admission**: pending → adding (the reactors' `add_peer` calls began, so
//!   `remove_peer` is owed) → over (added or not);
//! * its **removal**: live → requested (with a reason) → finishing (one caller claimed the
//!   last step: out of the peer set, `remove_peer`) → removed.
//!
//! They meet at one point: a removal must not go on while the peer is being admitted
//! (the connection's recv thread may still wait at the admission gate, so stopping the
//! connection could wait for ever), and it must not wait for the admission either (the
//! admission may wait for another removal). So a removal requested during admission is
//! noted as waiting, and whoever finishes the admission is told to resume it: exactly
//! once, because both sides decide under one lock.
//!
//! Every transition is a named method below; the state is private, so these are the only
//! ways it changes.

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use crate::error::Error;
use crate::latch::Latch;

/// Something to do once a peer is fully removed.
pub(super) type AfterRemoval = Box<dyn FnOnce() + Send>;

/// Where a peer is in its life: admitted → (added to reactors) → removal requested →
/// finished (out of the peer set, `remove_peer` run) → removed. See the module docs.
pub(super) struct PeerLife {
    state: Mutex<State>,
    /// Open when admission is over (the peer was added to reactors, or not).
    admitted: Latch,
    /// Open when the peer is fully removed (after `remove_peer` returned).
    removed: Latch,
}

/// Both halves of a peer's life, decided together under one lock.
struct State {
    admission: Admission,
    removal: Removal,
    /// What runs once the peer is fully removed (run, and emptied, on `Removed`).
    after_removal: Vec<AfterRemoval>,
}

/// The admission half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    /// Being admitted; the reactors' `add_peer` calls have not begun.
    Pending {
        /// A removal was requested meanwhile and waits for the admission to end.
        removal_waiting: bool,
    },
    /// The reactors' `add_peer` calls began (so `remove_peer` is owed); admission is not
    /// over yet.
    Adding {
        /// As in `Pending`.
        removal_waiting: bool,
    },
    /// Admission is over.
    Over {
        /// Whether the reactors' `add_peer` calls began.
        added: bool,
    },
}

/// The removal half.
#[derive(Debug)]
enum Removal {
    /// Nobody asked to remove the peer.
    Live,
    /// The first request to remove the peer, with its reason (for `remove_peer`).
    Requested(Error),
    /// One caller claimed the last step of the removal.
    Finishing,
    /// Out of the peer set, `remove_peer` returned.
    Removed,
}

impl PeerLife {
    /// A peer being admitted, that nobody asked to remove.
    pub(super) fn new() -> Self {
        PeerLife {
            state: Mutex::new(State {
                admission: Admission::Pending {
                    removal_waiting: false,
                },
                removal: Removal::Live,
                after_removal: Vec::new(),
            }),
            admitted: Latch::new(),
            removed: Latch::new(),
        }
    }

    // --- admission ---

    /// The reactors' `add_peer` calls begin (so `remove_peer` is owed).
    pub(super) fn mark_added(&self) {
        let mut s = self.state.lock();
        s.admission = match s.admission {
            Admission::Pending { removal_waiting } | Admission::Adding { removal_waiting } => {
                Admission::Adding { removal_waiting }
            }
            Admission::Over { .. } => Admission::Over { added: true },
        };
    }

    /// Whether the reactors' `add_peer` calls began.
    pub(super) fn was_added(&self) -> bool {
        match self.state.lock().admission {
            Admission::Pending { .. } => false,
            Admission::Adding { .. } => true,
            Admission::Over { added } => added,
        }
    }

    /// Admission is over. True if a removal was waiting for that: the caller must have
    /// it resumed (with `Peer::queue_resume`). Only the first call can return true.
    pub(super) fn finish_admission(&self) -> bool {
        let waiting = {
            let mut s = self.state.lock();
            let (added, waiting) = match s.admission {
                Admission::Pending { removal_waiting } => (false, removal_waiting),
                Admission::Adding { removal_waiting } => (true, removal_waiting),
                Admission::Over { added } => (added, false),
            };
            s.admission = Admission::Over { added };
            waiting
        };
        self.admitted.open();
        waiting
    }

    /// Whether a removal may go on now; if admission is not over, the removal is noted
    /// as waiting (and resumed by whoever finishes the admission), and this is false.
    /// The removal must not wait itself: the admission may wait for another removal.
    pub(super) fn removal_may_proceed(&self) -> bool {
        let mut s = self.state.lock();
        match s.admission {
            Admission::Pending { .. } => {
                s.admission = Admission::Pending {
                    removal_waiting: true,
                };
                false
            }
            Admission::Adding { .. } => {
                s.admission = Admission::Adding {
                    removal_waiting: true,
                };
                false
            }
            Admission::Over { .. } => true,
        }
    }

    /// Ready once admission is over.
    pub(super) fn admitted(&self) -> &Receiver<()> {
        self.admitted.signal()
    }

    // --- removal ---

    /// The first request to remove the peer: true, and `reason` is kept. Later requests
    /// (and requests once the removal is finishing) change nothing.
    pub(super) fn request_removal(&self, reason: Error) -> bool {
        let mut s = self.state.lock();
        match s.removal {
            Removal::Live => {
                s.removal = Removal::Requested(reason);
                true
            }
            Removal::Requested(_) | Removal::Finishing | Removal::Removed => false,
        }
    }

    /// Claims the last step of the removal: exactly one caller ever gets the reason
    /// (the first request's, or `Stopped` if none was made: a stop finishes peers nobody
    /// asked to remove); every other call gets `None`.
    pub(super) fn claim_finish(&self) -> Option<Error> {
        let mut s = self.state.lock();
        match std::mem::replace(&mut s.removal, Removal::Finishing) {
            Removal::Live => Some(Error::Stopped),
            Removal::Requested(reason) => Some(reason),
            Removal::Finishing => None,
            Removal::Removed => {
                s.removal = Removal::Removed;
                None
            }
        }
    }

    /// The peer is gone: out of the peer set, `remove_peer` returned. Runs what waited
    /// for that. Only for the caller that [claimed](Self::claim_finish) the removal.
    pub(super) fn mark_removed(&self) {
        self.removed.open();
        let waiting = {
            let mut s = self.state.lock();
            debug_assert!(matches!(s.removal, Removal::Finishing), "{:?}", s.removal);
            s.removal = Removal::Removed;
            std::mem::take(&mut s.after_removal)
        };
        // Outside the lock: what runs may look at this peer again.
        for f in waiting {
            f();
        }
    }

    /// Runs `f` once the peer is fully removed: now, if it is.
    pub(super) fn when_removed(&self, f: AfterRemoval) {
        let mut s = self.state.lock();
        match s.removal {
            Removal::Removed => {
                drop(s);
                f();
            }
            Removal::Live | Removal::Requested(_) | Removal::Finishing => s.after_removal.push(f),
        }
    }

    /// Ready once the peer is fully removed.
    pub(super) fn removed(&self) -> &Receiver<()> {
        self.removed.signal()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    use crossbeam_channel::TryRecvError;

    use super::*;

    fn is_open(r: &Receiver<()>) -> bool {
        matches!(r.try_recv(), Err(TryRecvError::Disconnected))
    }

    #[test]
    fn the_first_removal_request_wins_and_its_reason_goes_to_the_one_finisher() {
        let life = PeerLife::new();
        assert!(life.request_removal(Error::PeerClosed));
        assert!(
            !life.request_removal(Error::Stopped),
            "a second request is ignored"
        );
        match life.claim_finish() {
            Some(Error::PeerClosed) => {}
            other => panic!("the first request's reason: {other:?}"),
        }
        assert!(life.claim_finish().is_none(), "exactly one finisher");
        assert!(
            !life.request_removal(Error::Stopped),
            "too late once finishing"
        );
        life.mark_removed();
        assert!(life.claim_finish().is_none(), "still none once removed");
    }

    #[test]
    fn a_peer_nobody_asked_to_remove_is_finished_as_stopped() {
        let life = PeerLife::new();
        assert!(matches!(life.claim_finish(), Some(Error::Stopped)));
        assert!(life.claim_finish().is_none());
        assert!(!life.request_removal(Error::PeerClosed));
    }

    #[test]
    fn a_removal_during_admission_waits_and_is_resumed_exactly_once() {
        let life = PeerLife::new();
        assert!(!life.removal_may_proceed(), "admission not over: it waits");
        assert!(!life.removal_may_proceed(), "still waiting");
        assert!(!is_open(life.admitted()));
        assert!(life.finish_admission(), "the finisher resumes the removal");
        assert!(is_open(life.admitted()));
        assert!(!life.finish_admission(), "only once");
        assert!(
            life.removal_may_proceed(),
            "admission over: it goes on at once"
        );
        assert!(
            !life.finish_admission(),
            "a removal that went on is not resumed"
        );
    }

    #[test]
    fn an_admission_without_a_removal_resumes_nothing() {
        let life = PeerLife::new();
        assert!(!life.finish_admission());
        assert!(is_open(life.admitted()));
        assert!(life.removal_may_proceed());
    }

    #[test]
    fn added_is_remembered_through_the_end_of_admission() {
        let life = PeerLife::new();
        assert!(!life.was_added());
        assert!(!life.removal_may_proceed());
        life.mark_added();
        assert!(life.was_added());
        assert!(
            life.finish_admission(),
            "the waiting removal survives mark_added"
        );
        assert!(life.was_added());

        let refused = PeerLife::new();
        assert!(!refused.finish_admission());
        assert!(!refused.was_added(), "over without add_peer: nothing owed");
    }

    #[test]
    fn what_waits_for_the_removal_runs_once_when_it_is_done() {
        let life = PeerLife::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let count = |ran: &Arc<AtomicUsize>| -> AfterRemoval {
            let ran = ran.clone();
            Box::new(move || {
                ran.fetch_add(1, SeqCst);
            })
        };
        life.when_removed(count(&ran));
        assert!(life.request_removal(Error::Stopped));
        life.when_removed(count(&ran));
        assert!(life.claim_finish().is_some());
        life.when_removed(count(&ran));
        assert_eq!(
            ran.load(SeqCst),
            0,
            "nothing runs before the peer is removed"
        );
        assert!(!is_open(life.removed()));
        life.mark_removed();
        assert!(is_open(life.removed()));
        assert_eq!(ran.load(SeqCst), 3);
        life.when_removed(count(&ran));
        assert_eq!(ran.load(SeqCst), 4, "once removed, it runs at once");
    }
}
