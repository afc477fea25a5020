//! Hashes of byte strings and token ids, and the open-addressing table behind every duplicate count.

pub(super) const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
pub(super) fn mix(h: u64) -> u64 {
    let h = (h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

pub(super) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().unwrap());
        h = (h.rotate_left(5) ^ v).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    mix(h)
}

const EMPTY: u32 = u32::MAX;

/// Open-addressing table of item indices keyed by (hash, caller-checked equality).
#[derive(Default)]
pub(super) struct Table {
    slots: Vec<(u64, u32)>,
    mask: usize,
}

impl Table {
    pub(super) fn reset(&mut self, n_items: usize) {
        let cap = (n_items * 2).max(16).next_power_of_two();
        self.slots.clear();
        self.slots.resize(cap, (0, EMPTY));
        self.mask = cap - 1;
    }

    /// The index of an equal item already in the table, or None after inserting `idx`.
    #[inline]
    pub(super) fn find_or_insert(&mut self, h: u64, idx: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = (h as usize) & self.mask;
        loop {
            let (sh, si) = self.slots[i];
            if si == EMPTY {
                self.slots[i] = (h, idx);
                return None;
            }
            if sh == h && eq(si) {
                return Some(si);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// (count of repeated items, their characters), as `_dup_stats` (items by index).
pub(super) fn dup_stats(
    table: &mut Table,
    n: usize,
    hash: impl Fn(usize) -> u64,
    eq: impl Fn(usize, usize) -> bool,
    chars: impl Fn(usize) -> i64,
) -> (i64, i64) {
    table.reset(n);
    let (mut n_dup, mut chars_dup) = (0, 0);
    for i in 0..n {
        if table.find_or_insert(hash(i), i as u32, |j| eq(i, j as usize)).is_some() {
            n_dup += 1;
            chars_dup += chars(i);
        }
    }
    (n_dup, chars_dup)
}
