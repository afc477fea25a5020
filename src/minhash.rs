//! One-permutation MinHash (OPH) signatures with optimal densification, LSH band keys
//! and exact-dup hashes for a batch of documents.
//!
//! Algorithm (bit-for-bit mirrored by `tests/reference_minhash.py`):
//! 1. Words: see `text::hash_words`; each normalised word is hashed once (`text::word_hash`).
//! 2. Shingle hash: `ngram` consecutive word hashes folded by
//!    `h = rotl((h ^ w) * GOLDEN, 31)` from `h = k1`, then `x = mix64(h)`
//!    (splitmix64's finalizer); `(k1, k2)` are the first two outputs of splitmix64(seed).
//! 3. One permutation hashing: bin `(x >> 32) * num_perm >> 32`, value `x as u32`;
//!    each bin keeps its minimum value.
//! 4. Optimal densification (Shrivastava 2017): an empty bin `i` copies the value of
//!    the non-empty bin `j` that comes first in bin `i`'s own random order of all bins,
//!    i.e. the non-empty `j` with the smallest `mix64(k2 ^ (i << 32 | j))`.
//!
//! Documents with fewer than `ngram` words keep an all-`u32::MAX` signature.

use crate::text::{hash_words, mix64};
use crate::xxh64::xxh64;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// splitmix64: a tiny, well-specified generator so the Python reference can
/// reproduce the derived keys exactly.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
}


const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Priority of bin `j` in the densification order of bin `i` (smaller = earlier).
/// A bijection of `(i, j)`, so there are never ties.
#[inline(always)]
fn dens_priority(k2: u64, i: usize, j: usize) -> u64 {
    mix64(k2 ^ ((i as u64) << 32 | j as u64))
}

/// Empty-bin marker in `Scratch::empty` (0 = bin filled). Ranks are < MAX_TABLE_BINS,
/// so `rank | EMPTY == EMPTY` and a signed 16-bit min finds the best filled bin.
const EMPTY: i16 = 0x7FFF;
/// Largest `num_perm` with a precomputed densification table (2 x num_perm^2 x 2 bytes).
const MAX_TABLE_BINS: usize = 1024;

/// For each bin `i`: all bins sorted by `dens_priority(k2, i, .)` and their ranks.
struct DensTable {
    k: usize,
    k2: u64,
    order: Vec<u16>, // k*k: order[i*k + r] = bin with rank r for bin i
    rank: Vec<i16>,  // k*k: rank[i*k + j]
}

impl DensTable {
    fn build(k: usize, k2: u64) -> DensTable {
        let mut order = vec![0u16; k * k];
        let mut rank = vec![0i16; k * k];
        let mut tmp: Vec<(u64, u16)> = Vec::with_capacity(k);
        for i in 0..k {
            tmp.clear();
            tmp.extend((0..k).map(|j| (dens_priority(k2, i, j), j as u16)));
            tmp.sort_unstable();
            for (r, &(_, j)) in tmp.iter().enumerate() {
                order[i * k + r] = j;
                rank[i * k + j as usize] = r as i16;
            }
        }
        DensTable { k, k2, order, rank }
    }

    /// Cached per (num_perm, seed): one build serves every batch of a pipeline.
    fn get(k: usize, k2: u64) -> Arc<DensTable> {
        static CACHE: Mutex<Vec<Arc<DensTable>>> = Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cache.iter().find(|t| t.k == k && t.k2 == k2) {
            return Arc::clone(t);
        }
        let t = Arc::new(DensTable::build(k, k2));
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push(Arc::clone(&t));
        t
    }
}

pub struct Params {
    pub num_perm: usize,
    pub ngram: usize,
    pub bands: usize,
    pub rows: usize,
    k1: u64,
    k2: u64,
    table: Option<Arc<DensTable>>,
}

impl Params {
    pub fn new(num_perm: usize, ngram: usize, bands: usize, rows: usize, seed: u64) -> Params {
        let mut rng = SplitMix64(seed);
        let k1 = rng.next_u64();
        let k2 = rng.next_u64();
        let table = (num_perm <= MAX_TABLE_BINS).then(|| DensTable::get(num_perm, k2));
        Params { num_perm, ngram, bands, rows, k1, k2, table }
    }
}

/// Output slices for a contiguous block of documents (row-major per document).
pub struct Outputs<'a> {
    pub sig: Option<&'a mut [u32]>,
    pub band_keys: Option<&'a mut [u64]>,
    pub text_hash: &'a mut [u64],
    pub n_words: &'a mut [u32],
}

/// Per-thread scratch space, reused across documents.
struct Scratch {
    norm: Vec<u8>,
    ends: Vec<u32>,
    word_hashes: Vec<u64>,
    sig: Vec<u32>,
    empty: Vec<i16>,
    filled: Vec<u32>,
    key_bytes: Vec<u8>,
}

/// Fills the empty bins of `sig` (`empty[i] != 0`) from the filled ones; `n_filled > 0`.
fn densify(p: &Params, sig: &mut [u32], empty: &[i16], n_filled: usize, filled: &mut Vec<u32>) {
    let k = p.num_perm;
    if n_filled == k {
        return;
    }
    match &p.table {
        Some(t) => {
            for i in 0..k {
                if empty[i] == 0 {
                    continue;
                }
                let order = &t.order[i * k..(i + 1) * k];
                let j = if n_filled * 4 >= k {
                    // Expected scan length (k + 1) / (n_filled + 1) <= ~4.
                    *order.iter().find(|&&j| empty[j as usize] == 0).unwrap() as usize
                } else {
                    // Few filled bins: branch-free min of the ranks of the filled bins.
                    let ranks = &t.rank[i * k..(i + 1) * k];
                    let best = ranks.iter().zip(empty).map(|(&r, &e)| r | e).min().unwrap();
                    order[best as usize] as usize
                };
                sig[i] = sig[j];
            }
        }
        None => {
            filled.clear();
            filled.extend((0..k as u32).filter(|&j| empty[j as usize] == 0));
            for i in 0..k {
                if empty[i] == 0 {
                    continue;
                }
                let j = *filled.iter().min_by_key(|&&j| dens_priority(p.k2, i, j as usize)).unwrap();
                sig[i] = sig[j as usize];
            }
        }
    }
}

/// OPH signature of the shingles of `word_hashes` into `sig` (densified); `sig` is
/// left all `u32::MAX` when there are fewer than `ngram` words.
fn signature(p: &Params, word_hashes: &[u64], sig: &mut [u32], empty: &mut [i16], filled: &mut Vec<u32>) {
    sig.fill(u32::MAX);
    if word_hashes.len() < p.ngram {
        return;
    }
    empty.fill(EMPTY);
    assert!(sig.len() == p.num_perm && empty.len() == p.num_perm);
    let k = p.num_perm as u64;
    for win in word_hashes.windows(p.ngram) {
        let mut h = p.k1;
        for &w in win {
            h = (h ^ w).wrapping_mul(GOLDEN).rotate_left(31);
        }
        let x = mix64(h);
        // bin < k: (x >> 32) < 2^32, so (x >> 32) * k >> 32 < k (and fits in u64).
        let bin = (((x >> 32) * k) >> 32) as usize;
        let v = x as u32;
        debug_assert!(bin < sig.len() && bin < empty.len());
        // SAFETY: bin < k == sig.len() == empty.len().
        unsafe {
            let m = sig.get_unchecked_mut(bin);
            *m = (*m).min(v); // branch-free: the comparison is unpredictable
            *empty.get_unchecked_mut(bin) = 0;
        }
    }
    let n_filled = empty.iter().filter(|&&e| e == 0).count();
    densify(p, sig, empty, n_filled, filled);
}

fn process_doc(
    p: &Params,
    raw: &[u8],
    s: &mut Scratch,
    sig_out: Option<&mut [u32]>,
    keys_out: Option<&mut [u64]>,
) -> (u64, u32) {
    // Invalid UTF-8 is replaced (U+FFFD is a separator) instead of failing the batch.
    let text: Cow<str> = match std::str::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let len = hash_words(&text, &mut s.norm, &mut s.ends, &mut s.word_hashes);
    let text_hash = xxh64(&s.norm[..len], 0);
    let n_words = u32::try_from(s.word_hashes.len()).unwrap_or(u32::MAX);

    if sig_out.is_none() && keys_out.is_none() {
        return (text_hash, n_words);
    }
    let sig: &mut [u32] = match sig_out {
        Some(out) => out,
        None => &mut s.sig[..],
    };
    signature(p, &s.word_hashes, sig, &mut s.empty, &mut s.filled);
    if let Some(keys) = keys_out {
        for (j, key) in keys.iter_mut().enumerate() {
            s.key_bytes.clear();
            for v in &sig[j * p.rows..(j + 1) * p.rows] {
                s.key_bytes.extend_from_slice(&v.to_le_bytes());
            }
            *key = xxh64(&s.key_bytes, j as u64);
        }
    }
    (text_hash, n_words)
}

fn process_block(p: &Params, docs: &[&[u8]], out: Outputs<'_>, s: &mut Scratch) {
    let Outputs { mut sig, mut band_keys, text_hash, n_words } = out;
    for (i, raw) in docs.iter().enumerate() {
        let sig_i = sig.as_deref_mut().map(|v| &mut v[i * p.num_perm..(i + 1) * p.num_perm]);
        let keys_i = band_keys.as_deref_mut().map(|v| &mut v[i * p.bands..(i + 1) * p.bands]);
        let (h, w) = process_doc(p, raw, s, sig_i, keys_i);
        text_hash[i] = h;
        n_words[i] = w;
    }
}

/// Splits `docs` into blocks of roughly equal byte size and processes them on
/// `n_threads` scoped threads that pull blocks from a shared queue (documents vary
/// wildly in length, so static partitioning would leave threads idle).
pub fn run(p: &Params, docs: &[&[u8]], out: Outputs<'_>, n_threads: usize) {
    let n = docs.len();
    let total: usize = docs.iter().map(|d| d.len()).sum();
    let n_threads = n_threads.max(1).min(n.max(1));
    let target = (total / (n_threads * 16)).max(64 * 1024);

    let Outputs { mut sig, mut band_keys, mut text_hash, mut n_words } = out;
    let mut blocks: Vec<(&[&[u8]], Outputs<'_>)> = Vec::new();
    let mut rest = docs;
    while !rest.is_empty() {
        let mut len = 0;
        let mut bytes = 0;
        while len < rest.len() && len < 4096 && (len == 0 || bytes < target) {
            bytes += rest[len].len();
            len += 1;
        }
        let (d, r) = rest.split_at(len);
        rest = r;
        let s_blk = sig.take().map(|v| {
            let (h, t) = v.split_at_mut(len * p.num_perm);
            sig = Some(t);
            h
        });
        let k_blk = band_keys.take().map(|v| {
            let (h, t) = v.split_at_mut(len * p.bands);
            band_keys = Some(t);
            h
        });
        let (th, th_rest) = std::mem::take(&mut text_hash).split_at_mut(len);
        text_hash = th_rest;
        let (nw, nw_rest) = std::mem::take(&mut n_words).split_at_mut(len);
        n_words = nw_rest;
        blocks.push((d, Outputs { sig: s_blk, band_keys: k_blk, text_hash: th, n_words: nw }));
    }

    let new_scratch = || Scratch {
        norm: Vec::new(),
        ends: Vec::new(),
        word_hashes: Vec::new(),
        sig: vec![u32::MAX; p.num_perm],
        empty: vec![EMPTY; p.num_perm],
        filled: Vec::new(),
        key_bytes: Vec::with_capacity(4 * p.rows),
    };
    if n_threads == 1 || blocks.len() <= 1 {
        let mut s = new_scratch();
        for (d, o) in blocks {
            process_block(p, d, o, &mut s);
        }
        return;
    }
    let queue = Mutex::new(blocks.into_iter());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut s = new_scratch();
                    loop {
                        // Recover from poisoning: a panicking worker only poisons the
                        // queue; the panic itself is re-raised by join below.
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        match next {
                            Some((d, o)) => process_block(p, d, o, &mut s),
                            None => break,
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_direct_densification_agree() {
        let k = 64;
        let mut with_table = Params::new(k, 5, 0, 1, 9);
        let mut rng = SplitMix64(3);
        let mut filled = Vec::new();
        for trial in 0..300 {
            let n_filled = 1 + trial % k;
            let mut empty = vec![EMPTY; k];
            let mut base = vec![u32::MAX; k];
            for _ in 0..n_filled {
                let j = (rng.next_u64() % k as u64) as usize;
                empty[j] = 0;
                base[j] = rng.next_u64() as u32;
            }
            let n_filled = empty.iter().filter(|&&e| e == 0).count();
            let mut a = base.clone();
            densify(&with_table, &mut a, &empty, n_filled, &mut filled);
            let table = with_table.table.take();
            let mut b = base.clone();
            densify(&with_table, &mut b, &empty, n_filled, &mut filled);
            with_table.table = table;
            assert_eq!(a, b);
            assert!(a.iter().zip(&empty).all(|(&v, &e)| e != 0 || v != u32::MAX || base.contains(&v)));
        }
    }

    #[test]
    fn densified_values_come_from_filled_bins() {
        let p = Params::new(112, 5, 0, 1, 1);
        let words: Vec<u64> = (0..12).map(mix64).collect();
        let mut sig = vec![0u32; 112];
        let mut empty = vec![EMPTY; 112];
        signature(&p, &words, &mut sig, &mut empty, &mut Vec::new());
        let filled: Vec<u32> = (0..112).filter(|&i| empty[i] == 0).map(|i| sig[i]).collect();
        assert_eq!(filled.len(), 8); // 8 shingles, no collisions for this seed
        assert!(sig.iter().all(|v| filled.contains(v)));
    }
}
