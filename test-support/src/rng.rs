//! The one pseudo-random generator of the workspace's tests, benchmarks and fuzz targets:
//! SplitMix64. Tiny, no dependency, the same sequence on every platform for a given seed, good
//! enough for test data (not for anything secret).

/// SplitMix64 (Steele, Lea and Flood): each call advances the state by a fixed odd constant and
/// mixes it.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0); slightly biased for huge `n`, which tests do not
    /// mind.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index into a slice of `len` items (0 for an empty one).
    pub fn index(&mut self, len: usize) -> usize {
        // `below(len)` < len, which fits in usize.
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// A random item of a non-empty slice, copied.
    ///
    /// # Panics
    /// When `items` is empty: a test bug.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *self.pick_ref(items)
    }

    /// A random item of a non-empty slice, borrowed.
    ///
    /// # Panics
    /// When `items` is empty: a test bug.
    pub fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.index(items.len());
        &items[i]
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn the_sequence_is_the_published_one() {
        // The first outputs for seed 0, as every SplitMix64 implementation prints them.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_stays_in_range() {
        let mut g = SplitMix64::new(7);
        assert_eq!(g.below(0), 0);
        assert!((0..1000).all(|_| g.below(3) < 3));
    }
}
