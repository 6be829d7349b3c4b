//! The book is saved whenever the switch stops, however the ensure loop learns of it
//! (found by review: a loop waking between stop's mark and its signal left without
//! saving).

mod support;

use std::time::Duration;

use mconn::pex::{AddrBook, PexConfig, PexReactor};
use mconn::Switch;
use support::switch::{config, node_info};
use support::watchdog;

#[test]
fn the_book_is_saved_whenever_the_switch_stops() {
    let _w = watchdog("book_saved_at_stop", Duration::from_secs(300));
    let d = support::temp_dir("stopsave");
    let mut unsaved = Vec::new();
    const TRIALS: usize = 400;
    for trial in 0..TRIALS {
        let path = d.join(format!("book-{trial}.json"));
        let switch = Switch::new(config(), node_info("saver")).expect("switch");
        let pex = PexReactor::new(
            AddrBook::new(false),
            PexConfig::default()
                .ensure_period(Duration::from_millis(1))
                .book_file(&path),
        );
        switch.add_reactor("pex", pex.clone()).expect("pex");
        pex.start(&switch).expect("start");
        std::thread::sleep(Duration::from_micros(200 + (trial as u64 * 37) % 3000));
        if trial % 2 == 0 {
            switch.stop();
        } else {
            drop(switch); // the last handle
        }
        if !path.exists() {
            unsaved.push(trial);
        }
    }
    assert!(
        unsaved.is_empty(),
        "{} of {TRIALS} stops left no book file (trials {unsaved:?})",
        unsaved.len()
    );
    let _ = std::fs::remove_dir_all(&d);
}
