//! The errors' conversions, clones and printed chains.

use super::*;

#[test]
fn errors_survive_a_trip_through_io_error() {
    let e: io::Error = Error::Secret(SecretError::FrameAuthFailed).into();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(matches!(
        Error::from(e),
        Error::Secret(SecretError::FrameAuthFailed)
    ));
    let plain = io::Error::new(io::ErrorKind::BrokenPipe, "x");
    assert!(matches!(Error::from(plain), Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe));
}

#[test]
fn an_error_at_an_address_names_it_once_and_keeps_its_kind() {
    let e = io_at(
        "connecting to 127.0.0.1:9",
        io::Error::from(io::ErrorKind::ConnectionRefused),
    );
    let text = chain(&e);
    assert!(text.contains("connecting to 127.0.0.1:9"), "{text}");
    assert_eq!(text.matches("refused").count(), 1, "{text}");
    assert!(matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused));
    if let Error::Io(io) = &e {
        // Walking the io::Error's own chain says it once too.
        assert_eq!(chain(io).matches("refused").count(), 1);
    }
}

#[test]
fn a_clone_says_the_same() {
    let os = Error::from(io::Error::from_raw_os_error(111));
    let custom = Error::from(io::Error::new(io::ErrorKind::TimedOut, "connecting: slow"));
    for e in [
        os,
        custom,
        Error::Rejected(RejectReason::Filtered("no".into())),
        Error::MessageTooLarge {
            channel: 3,
            size: 10,
            limit: 5,
        },
        Error::Stopped,
    ] {
        let c = e.clone();
        assert_eq!(c.to_string(), e.to_string());
        assert_eq!(format!("{c:?}"), format!("{e:?}"));
        if let (Error::Io(a), Error::Io(b)) = (&e, &c) {
            assert_eq!(a.kind(), b.kind());
            assert_eq!(a.raw_os_error(), b.raw_os_error());
        }
    }
}

/// The text a chain printer (anyhow's `{:#}`, or walking `source()`) shows.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out = format!("{out}: {s}");
        next = s.source();
    }
    out
}

#[test]
fn a_printed_chain_says_each_thing_once() {
    let e = Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
    let text = chain(&e);
    assert_eq!(text.matches("refused").count(), 1, "{text}");
    let secret = Error::Secret(SecretError::FrameAuthFailed);
    assert_eq!(chain(&secret).matches("authentication").count(), 1);
    // The inner types are errors of their own, usable with `?` into a boxed error.
    let boxed: Box<dyn std::error::Error> = Box::new(RejectReason::Duplicate);
    assert!(!boxed.to_string().is_empty());
    let boxed: Box<dyn std::error::Error> = Box::new(SecretError::FrameAuthFailed);
    assert!(!boxed.to_string().is_empty());
}
