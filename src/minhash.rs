//! MinHash signatures, LSH band keys and exact-dup hashes for a batch of documents.

use crate::text::normalize_words;
use crate::xxh64::xxh64;
use std::borrow::Cow;
use std::sync::Mutex;

/// Mersenne prime 2^61 - 1: reduction modulo it needs only shifts and adds.
pub(crate) const MERSENNE_P: u64 = (1u64 << 61) - 1;

/// splitmix64: a tiny, well-specified generator so the Python reference can
/// reproduce the permutation coefficients exactly.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Coefficients (a_i, b_i) of the `num_perm` hash permutations x -> (a x + b) mod P.
pub fn permutations(num_perm: usize, seed: u64) -> (Vec<u64>, Vec<u64>) {
    let mut rng = SplitMix64(seed);
    let mut a = Vec::with_capacity(num_perm);
    let mut b = Vec::with_capacity(num_perm);
    for _ in 0..num_perm {
        a.push(rng.next_u64() % (MERSENNE_P - 1) + 1);
        b.push(rng.next_u64() % MERSENNE_P);
    }
    (a, b)
}

/// (a * x + b) mod P for a, x, b < P.
#[inline(always)]
fn mul_add_mod_p(a: u64, x: u64, b: u64) -> u64 {
    let p = (a as u128) * (x as u128) + b as u128; // < 2^123
    let r = ((p as u64) & MERSENNE_P) + (p >> 61) as u64; // < 2^63
    let r = (r & MERSENNE_P) + (r >> 61); // <= P + 3
    if r >= MERSENNE_P {
        r - MERSENNE_P
    } else {
        r
    }
}

pub struct Params {
    pub num_perm: usize,
    pub ngram: usize,
    pub bands: usize,
    pub rows: usize,
    pub a: Vec<u64>,
    pub b: Vec<u64>,
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
    norm: String,
    spans: Vec<(usize, usize)>,
    sig: Vec<u32>,
    key_bytes: Vec<u8>,
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
    normalize_words(&text, &mut s.norm, &mut s.spans);
    let text_hash = xxh64(s.norm.as_bytes(), 0);
    let n_words = u32::try_from(s.spans.len()).unwrap_or(u32::MAX);

    if sig_out.is_none() && keys_out.is_none() {
        return (text_hash, n_words);
    }
    let sig: &mut [u32] = match sig_out {
        Some(out) => out,
        None => &mut s.sig[..],
    };
    sig.fill(u32::MAX);
    let bytes = s.norm.as_bytes();
    if s.spans.len() >= p.ngram {
        // Words are joined by single spaces in `norm`, so a shingle is one contiguous slice.
        for w in 0..=s.spans.len() - p.ngram {
            let shingle = &bytes[s.spans[w].0..s.spans[w + p.ngram - 1].1];
            let x = xxh64(shingle, 0) % MERSENNE_P;
            for ((m, &a), &b) in sig.iter_mut().zip(&p.a).zip(&p.b) {
                *m = (*m).min(mul_add_mod_p(a, x, b) as u32);
            }
        }
    }
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
        norm: String::new(),
        spans: Vec::new(),
        sig: vec![u32::MAX; p.num_perm],
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
    fn mod_p_matches_u128() {
        let mut r = SplitMix64(7);
        for _ in 0..10_000 {
            let a = r.next_u64() % MERSENNE_P;
            let x = r.next_u64() % MERSENNE_P;
            let b = r.next_u64() % MERSENNE_P;
            let want = ((a as u128 * x as u128 + b as u128) % MERSENNE_P as u128) as u64;
            assert_eq!(mul_add_mod_p(a, x, b), want);
        }
        let m = MERSENNE_P - 1;
        assert_eq!(mul_add_mod_p(m, m, m), ((m as u128 * m as u128 + m as u128) % MERSENNE_P as u128) as u64);
    }
}
