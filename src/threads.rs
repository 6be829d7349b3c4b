//! The threads mconn owns: each is named, runs under an unwind guard, and knows whether
//! it runs user callbacks.
//!
//! # Why "callback threads" matter
//!
//! A connection's recv thread calls `on_receive` and `on_error`; a switch's workers call
//! reactors. Any of those callbacks may call `stop()` on any connection or switch, and a
//! `stop()` that waited for another callback thread could wait in a cycle (A's `on_error`
//! stops B while B's stops A). So `stop()` on a callback thread never waits for a thread
//! that runs callbacks: it starts the stop and returns, and the threads are joined by
//! whoever calls `stop()` outside callbacks, or by the last handle's drop.

use std::any::Any;
use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::{self, JoinHandle};

use log::error;

thread_local! {
    static CALLBACK_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as one that runs user callbacks, for the rest of its life.
pub(crate) fn mark_callback_thread() {
    CALLBACK_THREAD.with(|c| c.set(true));
}

/// Whether the current thread runs user callbacks (see the module docs).
pub(crate) fn on_callback_thread() -> bool {
    CALLBACK_THREAD.with(|c| c.get())
}

/// Spawns a thread named `name` (with `stack` bytes of stack, or the default). A panic
/// that escapes `f` is caught and logged at ERROR, so it never passes silently; threads
/// that must turn a panic into an error for someone catch it themselves first.
pub(crate) fn spawn<F>(name: &str, stack: Option<usize>, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let mut b = thread::Builder::new().name(name.to_string());
    if let Some(s) = stack {
        b = b.stack_size(s);
    }
    let name = name.to_string();
    b.spawn(move || {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            error!("thread {name} panicked: {}", panic_text(&*p));
        }
    })
}

/// The message of a panic payload.
pub(crate) fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}

/// Runs `f`, turning a panic into `Err(text)`.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&*p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_threads_survive_panics_and_keep_their_names() {
        let h = spawn("mconn-test", Some(128 * 1024), || {
            assert_eq!(thread::current().name(), Some("mconn-test"));
            assert!(!on_callback_thread());
            mark_callback_thread();
            assert!(on_callback_thread());
            panic!("deliberate");
        })
        .unwrap();
        assert!(h.join().is_ok(), "the guard caught the panic");
        assert!(!on_callback_thread(), "the mark is per thread");
        assert_eq!(catch(|| panic!("x{}", 1)), Err::<(), _>("x1".to_string()));
        assert_eq!(catch(|| 5), Ok(5));
    }
}
