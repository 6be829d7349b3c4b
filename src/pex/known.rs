//! What the address book knows of one address, and Go's rules for when it is bad
//! (`p2p/addrbook.go`'s `knownAddress`, itself bitcoind's). Pure: times are seconds since
//! the Unix epoch, passed in.
//!
//! Go v0.12.1's `isBad` has its first two tests inverted (an address tried in the last
//! minute counts as bad, one tried within 30 days as "over a month old"), and Go never
//! calls `MarkGood` or `MarkAttempt`, so no address ever becomes good or bad there. We
//! implement the rules as Go's comment states them, and the reactor marks attempts and
//! successes.

use super::address::NetAddress;

/// Seconds since the Unix epoch.
pub(crate) type Secs = u64;

const MINUTE: Secs = 60;
const DAY: Secs = 24 * 60 * MINUTE;

/// Days without an announcement after which an address is assumed gone.
pub(crate) const MISSING_DAYS: Secs = 30;
/// Failed attempts, never having succeeded, after which an address is bad.
pub(crate) const RETRIES: u32 = 3;
/// Failed attempts since the last success after which an address is bad, if that
/// success is older than [`MIN_BAD_DAYS`].
pub(crate) const MAX_FAILURES: u32 = 10;
/// Days since the last success before [`MAX_FAILURES`] make an address bad.
pub(crate) const MIN_BAD_DAYS: Secs = 7;

/// Which table an address is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Heard of, never connected (up to 4 new buckets).
    New,
    /// Connected to at least once (one old bucket).
    Old,
}

/// One address the book knows.
#[derive(Clone, Debug)]
pub(crate) struct Known {
    pub addr: NetAddress,
    /// Who told us first.
    pub src: NetAddress,
    /// Failed attempts since the last success.
    pub attempts: u32,
    pub last_attempt: Option<Secs>,
    pub last_success: Option<Secs>,
    /// The last time someone announced it to us.
    pub last_seen: Secs,
    pub table: Table,
    /// The buckets of its table it is in.
    pub buckets: Vec<usize>,
}

impl Known {
    pub fn new(addr: NetAddress, src: NetAddress, now: Secs) -> Self {
        Known {
            addr,
            src,
            attempts: 0,
            last_attempt: None,
            last_success: None,
            last_seen: now,
            table: Table::New,
            buckets: Vec::new(),
        }
    }

    /// A dial to it is starting (or failed: the count is of attempts since a success).
    pub fn mark_attempt(&mut self, now: Secs) {
        self.last_attempt = Some(now);
        self.attempts = self.attempts.saturating_add(1);
    }

    /// We connected to it (which also counts as seeing it announced, as in bitcoind).
    pub fn mark_good(&mut self, now: Secs) {
        self.last_attempt = Some(now);
        self.last_success = Some(now);
        self.last_seen = now;
        self.attempts = 0;
    }

    /// Whether it is worthless (Go's rules, as its comment states them): if its last
    /// attempt is more than 10 minutes in the future; not if tried in the last minute;
    /// otherwise if unannounced for 30 days, if it failed 3 times and never succeeded,
    /// or if it failed 10 times and last succeeded over 7 days ago.
    pub fn is_bad(&self, now: Secs) -> bool {
        // From the future (a clock that was wrong): bad, as in bitcoind, or it would
        // look "just tried" for ever and never be evicted.
        if self
            .last_attempt
            .is_some_and(|t| t > now.saturating_add(10 * MINUTE))
        {
            return true;
        }
        if self
            .last_attempt
            .is_some_and(|t| now.saturating_sub(t) < MINUTE)
        {
            return false;
        }
        if now.saturating_sub(self.last_seen) > MISSING_DAYS * DAY {
            return true;
        }
        match self.last_success {
            None => self.attempts >= RETRIES,
            Some(t) => now.saturating_sub(t) > MIN_BAD_DAYS * DAY && self.attempts >= MAX_FAILURES,
        }
    }

    /// When it was last tried (never: as old as can be), for choosing what to evict.
    pub fn age_key(&self) -> Secs {
        self.last_attempt.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(now: Secs) -> Known {
        let a = NetAddress::from(std::net::SocketAddr::from(([1, 2, 3, 4], 5)));
        Known::new(a, a, now)
    }

    const T0: Secs = 1_000_000_000;

    #[test]
    fn three_failures_without_a_success_make_it_bad_once_a_minute_passed() {
        let mut k = known(T0);
        for i in 0..RETRIES {
            assert!(!k.is_bad(T0 + 2 * MINUTE), "after {i} attempts");
            k.mark_attempt(T0);
        }
        assert!(!k.is_bad(T0 + 30), "tried in the last minute: not yet");
        assert!(k.is_bad(T0 + MINUTE + 1));
        k.mark_good(T0 + 2 * MINUTE);
        assert!(!k.is_bad(T0 + 10 * MINUTE), "a success clears it");
    }

    #[test]
    fn ten_failures_make_it_bad_only_a_week_after_the_last_success() {
        let mut k = known(T0);
        k.mark_good(T0);
        for _ in 0..MAX_FAILURES {
            k.mark_attempt(T0 + DAY);
        }
        assert!(!k.is_bad(T0 + 2 * DAY), "succeeded 2 days ago");
        k.last_seen = T0 + 7 * DAY; // still announced
        assert!(
            k.is_bad(T0 + 8 * DAY),
            "10 failures, last success 8 days ago"
        );
    }

    #[test]
    fn unannounced_for_thirty_days_it_is_bad() {
        let k = known(T0);
        assert!(!k.is_bad(T0 + MISSING_DAYS * DAY));
        assert!(k.is_bad(T0 + MISSING_DAYS * DAY + 1));
        // A clock that went backwards is not "a month old".
        assert!(!k.is_bad(T0 - DAY));
    }
}
