//! Every sealed frame recorded from Go v0.12.1 in
//! `tests/vectors/secret-connection-v0.12.1.txt` (the same file
//! `secret::tests::vectors::every_recorded_frame_seals_and_opens_identically` checks
//! `FrameCipher` against), resealed and reopened with [`SecretBox`]: as `SecretBox::new`
//! picks its build for this CPU, and in every build this CPU runs (the portable one
//! always). Frames on the wire are `tag(16) || ciphertext(1026)`, the plaintext
//! `BE16(len) || chunk || zeros`.

use crate::cipher::backend::Backend;
use crate::cipher::{AuthError, SecretBox};

/// The vector file, as recorded.
const TEXT: &str = include_str!("../../../tests/vectors/secret-connection-v0.12.1.txt");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// One `<sess>.<side>.frame` line: its name, nonce, chunk and sealed bytes.
struct Frame {
    name: String,
    nonce: [u8; 24],
    plain: Vec<u8>,
    sealed: Vec<u8>,
}

/// The shared secret and every frame line of the file.
fn load() -> ([u8; 32], Vec<Frame>) {
    let mut shared = None;
    let mut frames = Vec::new();
    for line in TEXT.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        if name == "shared" {
            shared = Some(hex(value).try_into().expect("32-byte shared secret"));
        } else if name.ends_with(".frame") {
            let field = |k: &str| {
                value
                    .split(' ')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("{name}: no {k}="))
            };
            let index = value.split(' ').next().expect("frame index");
            frames.push(Frame {
                name: format!("{name} {index} ({})", field("what")),
                nonce: hex(field("nonce")).try_into().expect("24-byte nonce"),
                plain: hex(field("plain")),
                sealed: hex(field("sealed")),
            });
        }
    }
    (shared.expect("the file gives the shared secret"), frames)
}

/// `BE16(len) || chunk || zero bytes`, 1026 bytes.
fn padded(chunk: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 1026];
    p[..2].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
    p[2..2 + chunk.len()].copy_from_slice(chunk);
    p
}

#[test]
fn every_recorded_frame_seals_and_opens_identically() {
    let (shared, frames) = load();
    assert_eq!(frames.len(), 76, "frame lines parsed");
    let boxes = Backend::all()
        .into_iter()
        .map(|b| SecretBox::with_backend(&shared, b));
    for sb in std::iter::once(SecretBox::new(&shared)).chain(boxes) {
        check_frames(&sb, &frames);
    }
}

/// Seals and opens every frame with `sb`, checking the recorded bytes.
fn check_frames(sb: &SecretBox, frames: &[Frame]) {
    for fr in frames {
        let mut body = padded(&fr.plain);
        let tag = sb.seal_in_place(&fr.nonce, &mut body);
        assert_eq!(fr.sealed.len(), 1042, "{}", fr.name);
        assert_eq!(tag[..], fr.sealed[..16], "{} {sb:?}: tag", fr.name);
        assert_eq!(body[..], fr.sealed[16..], "{} {sb:?}: ciphertext", fr.name);

        let mut recorded = fr.sealed[16..].to_vec();
        let tag: [u8; 16] = fr.sealed[..16].try_into().expect("16-byte tag");
        assert_eq!(sb.open_in_place(&fr.nonce, &mut recorded, &tag), Ok(()));
        assert_eq!(recorded, padded(&fr.plain), "{}: opened", fr.name);
    }
}

#[test]
fn a_recorded_frame_under_the_next_nonce_fails() {
    let (shared, frames) = load();
    let fr = &frames[0];
    let mut nonce = fr.nonce;
    nonce[23] = nonce[23].wrapping_add(2);
    let mut body = fr.sealed[16..].to_vec();
    let tag: [u8; 16] = fr.sealed[..16].try_into().expect("16-byte tag");
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&shared, backend);
        assert_eq!(sb.open_in_place(&nonce, &mut body, &tag), Err(AuthError));
        assert_eq!(body[..], fr.sealed[16..], "{backend:?}: left as it was");
    }
}
