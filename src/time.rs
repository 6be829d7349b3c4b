//! Deadlines that cannot overflow. Pure.
//!
//! `Instant + Duration` panics when the sum does not fit, so a setting such as
//! `ping_interval = Duration::MAX` used to kill the thread that computed its deadline.
//! Every deadline in the crate is made here instead: a sum that does not fit saturates to
//! an instant so far away that it is never reached, so a huge duration means "never".

use std::time::{Duration, Instant};

/// How far away "never" is: a century, which every platform's `Instant` can represent
/// from now.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + d`, or, if that does not fit, an instant that will not be reached.
pub(crate) fn deadline(now: Instant, d: Duration) -> Instant {
    if let Some(t) = now.checked_add(d) {
        return t;
    }
    // Each step is tried only if the longer one does not fit; an hour always does.
    [NEVER, NEVER / 100, Duration::from_secs(3600)]
        .into_iter()
        .find_map(|far| now.checked_add(far))
        .unwrap_or(now)
}

/// `deadline(Instant::now(), d)`.
pub(crate) fn after(d: Duration) -> Instant {
    deadline(Instant::now(), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_far_away() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        for d in [
            Duration::MAX,
            Duration::MAX / 2,
            Duration::from_secs(u64::MAX),
        ] {
            let t = deadline(now, d);
            assert!(t >= now + Duration::from_secs(365 * 24 * 3600), "{d:?}");
        }
        assert!(after(Duration::MAX) > Instant::now());
    }
}
