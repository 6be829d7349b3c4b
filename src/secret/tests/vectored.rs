//! A vectored write seals the slices' bytes exactly as a plain write of them joined
//! would: the same frames, the same nonces, byte for byte (the MConnection hands large
//! messages to the SecretConnection's writer as slices); and reads back the same.

use std::io::IoSlice;

use proptest::prelude::*;

use crate::sealed_stream::{RecvState, SendState};
use crate::secret::frame::FrameCipher;
use crate::secret::nonce::Nonce;

fn sender() -> SendState<FrameCipher> {
    SendState::new(FrameCipher::new(&[9; 32]), Nonce::new([4; 24]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn slices_seal_as_their_bytes_joined(
        len in prop_oneof![0usize..3000, 60_000usize..200_000],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        seed in any::<u8>(),
    ) {
        let byte = |i: usize| (i as u8).wrapping_mul(seed) ^ (i >> 9) as u8;
        let data: Vec<u8> = (0..len).map(byte).collect();
        // Slices at the cuts, empty ones included (equal cuts).
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
        at.push(0);
        at.push(len);
        at.sort_unstable();
        let slices: Vec<&[u8]> = at.windows(2).map(|w| &data[w[0]..w[1]]).collect();

        let (mut plain, mut vectored) = (sender(), sender());
        let (mut want, mut got) = (Vec::new(), Vec::new());
        let mut taken = 0;
        while taken < len {
            let n = plain.write(&mut want, &data[taken..]).expect("write");
            // The slices from `taken` on.
            let mut skip = taken;
            let rest: Vec<IoSlice<'_>> = slices
                .iter()
                .map(|s| {
                    let from = skip.min(s.len());
                    skip -= from;
                    IoSlice::new(&s[from..])
                })
                .collect();
            let m = vectored.write_vectored(&mut got, &rest).expect("write_vectored");
            prop_assert_eq!(n, m);
            prop_assert!(n > 0);
            taken += n;
        }
        plain.flush(&mut want).expect("flush");
        vectored.flush(&mut got).expect("flush");
        prop_assert!(got == want, "{} vs {} bytes", got.len(), want.len());

        let mut recv = RecvState::new(FrameCipher::new(&[9; 32]), Nonce::new([4; 24]));
        let mut wire = &got[..];
        let mut back = vec![0u8; len];
        let mut read = 0;
        while read < len {
            read += recv.read(&mut wire, &mut back[read..]).expect("read");
        }
        prop_assert!(back == data);
    }
}
