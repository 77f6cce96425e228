//! The deterministic random source behind `random_get`: xoshiro256**
//! (Blackman and Vigna), seeded through splitmix64. Small, fast, and the
//! same sequence on every machine; its 256-bit state is saved in snapshots.
//! Not cryptographic, by design: guests get reproducible randomness.

/// xoshiro256** state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Xoshiro256 {
    /// The generator for `seed` (any value, 0 included).
    pub fn from_seed(seed: u64) -> Xoshiro256 {
        let mut x = seed;
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Xoshiro256 { s }
    }

    /// A generator with a saved state; `None` for the all-zero state, which
    /// xoshiro cannot leave (splitmix64 seeding never produces it).
    pub fn from_state(s: [u64; 4]) -> Option<Xoshiro256> {
        (s != [0; 4]).then_some(Xoshiro256 { s })
    }

    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Fills `out` with the next bytes of the stream: 8 per step,
    /// little-endian, the unused tail of the last step discarded.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let word = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&word[..rest.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sequence() {
        // Reference values of the C implementation (xoshiro256starstar.c)
        // for the state {1, 2, 3, 4}.
        let mut r = Xoshiro256::from_state([1, 2, 3, 4]).unwrap();
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [11520, 0, 1509978240, 1215971899390074240],
            "xoshiro256** output"
        );
    }

    #[test]
    fn seeds_differ_and_repeat() {
        let a: Vec<u64> = {
            let mut r = Xoshiro256::from_seed(0);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Xoshiro256::from_seed(0);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Xoshiro256::from_seed(1);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(Xoshiro256::from_state([0; 4]).is_none());
    }

    #[test]
    fn fill_is_the_word_stream() {
        let mut r = Xoshiro256::from_seed(7);
        let mut bytes = [0u8; 13];
        r.fill(&mut bytes);
        let mut w = Xoshiro256::from_seed(7);
        let first = w.next_u64().to_le_bytes();
        let second = w.next_u64().to_le_bytes();
        assert_eq!(&bytes[..8], &first);
        assert_eq!(&bytes[8..], &second[..5]);
    }
}
