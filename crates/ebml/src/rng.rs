//! SplitMix64: the one small, seeded, deterministic pseudo-random generator of the workspace
//! (not for cryptography). It lives here, in the crate every other one depends on, so that
//! kvs-local's fault injection, kvs-sdk's retry jitter and kvs-fixtures' synthetic media draw
//! from the same generator: the same seed gives the same numbers on every machine.

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state advanced by a constant, each
/// output a mix of the new state.
///
/// ```
/// use kvs_ebml::rng::SplitMix64;
///
/// // The reference output seeded with 0.
/// assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    /// The state, advanced by a constant on every draw.
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n == 0`), by multiply-shift (Lemire), bias below 2^-64 * n.
    pub fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()).wrapping_mul(u128::from(n));
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// A number in `low..=high` (`low` if the range is empty), by remainder.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        let span = high.saturating_sub(low).saturating_add(1);
        let span = u64::try_from(span).unwrap_or(u64::MAX);
        let draw = self.next_u64().checked_rem(span).unwrap_or(0);
        low.saturating_add(usize::try_from(draw).unwrap_or(0))
    }

    /// Whether an event of probability `p` happens: true with probability `p` (clamped to
    /// `0.0..=1.0`; NaN counts as 1.0). Always draws one number.
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1): exact, every value equally likely.
        let bits = self.next_u64() >> 11;
        #[allow(clippy::cast_precision_loss)]
        let unit = bits as f64 / 9_007_199_254_740_992.0;
        p.is_nan() || unit < p
    }

    /// `len` random bytes: each draw's eight bytes, little-endian, in order.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            for b in self.next_u64().to_le_bytes() {
                if out.len() < len {
                    out.push(b);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_bounded() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            let x = a.below(1000);
            assert_eq!(x, b.below(1000));
            assert!(x < 1000);
            let r = a.range(5, 9);
            assert_eq!(r, b.range(5, 9));
            assert!((5..=9).contains(&r));
        }
        assert_eq!(SplitMix64::new(1).below(0), 0);
        assert_eq!(SplitMix64::new(1).range(7, 3), 7);
        let mut c = SplitMix64::new(3);
        assert!((0..1000).all(|_| c.chance(1.0) && !c.chance(0.0)));
        assert!((0..100).all(|_| c.chance(f64::NAN) && c.chance(2.0) && !c.chance(-1.0)));
        let hits = (0..10_000).filter(|_| c.chance(0.5)).count();
        assert!((4500..5500).contains(&hits), "{hits}");
        // The reference output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let first = SplitMix64::new(9).next_u64().to_le_bytes();
        assert_eq!(SplitMix64::new(9).bytes(11)[..8], first);
        assert_eq!(SplitMix64::new(9).bytes(11).len(), 11);
    }
}
