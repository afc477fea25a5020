//! Word splitting and normalisation for dedup.

use crate::unicode_tables::{ASCII_SEPARATOR_MASK, SEPARATOR_RANGES};
use std::sync::OnceLock;

/// Byte -> b' ' for an ASCII separator, the lowercased byte for an ASCII word char, and
/// 0xFF for any byte >= 0x80 (part of a multi-byte UTF-8 char: slow path).
static BYTE_CLASS: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut c = 0;
    while c < 128 {
        t[c] = if (ASCII_SEPARATOR_MASK >> c) & 1 == 1 { b' ' } else { (c as u8).to_ascii_lowercase() };
        c += 1;
    }
    t
};

/// splitmix64's output function (a bijective 64-bit mix).
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of one normalised word: its bytes zero-padded to a multiple of 8, read as
/// little-endian u64 chunks c_0, c_1, ...; h = 0, then h = mix64(h ^ c) per chunk.
/// Words never contain NUL (a separator), so the padding is unambiguous and words of up
/// to 8 bytes never collide (mix64 is a bijection).
#[cfg_attr(not(test), allow(dead_code))]
pub fn word_hash(word: &[u8]) -> u64 {
    let mut h = 0u64;
    for chunk in word.chunks(8) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(buf));
    }
    h
}

/// [`word_hash`] of `buf[start..end]` (non-empty) using 8-byte loads; `buf` must hold
/// at least 8 bytes after `end - 1` (their content is masked off).
#[inline(always)]
fn word_hash_padded(buf: &[u8], start: usize, end: usize) -> u64 {
    let mut h = 0u64;
    let mut p = start;
    loop {
        let c = u64::from_le_bytes(buf[p..p + 8].try_into().unwrap());
        let r = end - p;
        if r <= 8 {
            return mix64(h ^ (c & (u64::MAX >> (64 - 8 * r))));
        }
        h = mix64(h ^ c);
        p += 8;
    }
}

/// Bitmaps over the Basic Multilingual Plane, built once per process from the
/// separator table and std's lowercase mapping (so they agree with the slow path).
struct BmpTables {
    /// Bit set: the code point is a separator.
    sep: Vec<u64>,
    /// Bit set: `to_lowercase` changes the code point (so it must be called).
    lower: Vec<u64>,
}

fn bmp_tables() -> &'static BmpTables {
    static T: OnceLock<BmpTables> = OnceLock::new();
    T.get_or_init(|| {
        let mut sep = vec![0u64; 1024];
        let mut lower = vec![0u64; 1024];
        for &(lo, hi) in SEPARATOR_RANGES.iter() {
            for cp in lo..=hi.min(0xFFFF) {
                sep[cp as usize >> 6] |= 1 << (cp & 63);
            }
        }
        for cp in 0..0x10000u32 {
            if let Some(c) = char::from_u32(cp) {
                let mut l = c.to_lowercase();
                if !(l.len() == 1 && l.next() == Some(c)) {
                    lower[cp as usize >> 6] |= 1 << (cp & 63);
                }
            }
        }
        BmpTables { sep, lower }
    })
}

#[inline(always)]
fn bit(map: &[u64], cp: u32) -> bool {
    (map[(cp >> 6) as usize] >> (cp & 63)) & 1 == 1
}

/// Same words as [`normalize_words`], faster: writes the normalised text (lowercased
/// words joined by single spaces) to `norm` and the [`word_hash`] of each word to
/// `word_hashes`. ASCII goes through a byte table without data-dependent branches;
/// other chars through BMP bitmaps, then the range table and `char::to_lowercase`.
/// `ends` is scratch space. Returns the length of the normalised text, `norm[..len]`
/// (`norm` itself is only grown, never shrunk, and holds stale bytes after `len`).
pub fn hash_words(text: &str, norm: &mut Vec<u8>, ends: &mut Vec<u32>, word_hashes: &mut Vec<u64>) -> usize {
    word_hashes.clear();
    let b = text.as_bytes();
    let n = b.len();
    // Lowercasing grows a char by at most 1.5x (e.g. U+0130 -> "i\u{307}", U+023A -> U+2C65),
    // and a joining space needs a separator byte before it; +16 leaves room for the
    // 8-byte loads of word_hash_padded. Kept initialised (only grows) so reads are safe.
    if norm.len() < 2 * n + 16 {
        norm.resize(2 * n + 16, 0);
    }
    if ends.len() < n / 2 + 2 {
        ends.resize(n / 2 + 2, 0);
    }
    let t = bmp_tables();
    let out = &mut norm[..];
    let mut pos = 0usize; // bytes written to `out`
    let mut nw = 0usize; // words ended so far; ends[w] = end of word w in `out`
    let mut prev_word = 0usize; // 1 when the last char was a word char
    let mut i = 0;
    while i < n {
        // ASCII run: a tight loop over raw pointers so that pos/nw/prev_word stay in
        // registers (spilling pos made this loop latency-bound through memory).
        {
            let (src, dst, ends_p) = (b.as_ptr(), out.as_mut_ptr(), ends.as_mut_ptr());
            let (mut j, mut p, mut w, mut prev) = (i, pos, nw, prev_word);
            while j < n {
                // SAFETY: j < n = b.len(); p <= 1.5 * j < out.len() (every input byte
                // adds at most 1.5 output bytes, see the sizing above); w <= words
                // ended before byte j <= j / 2 < ends.len().
                let m = unsafe { BYTE_CLASS[*src.add(j) as usize] };
                if m == 0xFF {
                    break;
                }
                // A separator writes a space that is kept only right after a word, so
                // runs of separators (and leading ones) collapse; word chars are kept.
                let is_word = (m != b' ') as usize;
                debug_assert!(p < out.len() && w < ends.len());
                unsafe {
                    *dst.add(p) = m;
                    *ends_p.add(w) = p as u32;
                }
                w += (1 - is_word) & prev;
                p += is_word | prev;
                prev = is_word;
                j += 1;
            }
            (i, pos, nw, prev_word) = (j, p, w, prev);
        }
        if i >= n {
            break;
        }
        let c = b[i];
        // Multi-byte char (the input is valid UTF-8).
        let (cp, len) = if c < 0xE0 {
            (((c as u32 & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
        } else if c < 0xF0 {
            (((c as u32 & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F), 3)
        } else {
            (
                ((c as u32 & 0x07) << 18)
                    | ((b[i + 1] as u32 & 0x3F) << 12)
                    | ((b[i + 2] as u32 & 0x3F) << 6)
                    | (b[i + 3] as u32 & 0x3F),
                4,
            )
        };
        let (sep, changes) = if cp < 0x10000 {
            (bit(&t.sep, cp), bit(&t.lower, cp))
        } else {
            // Unwrap cannot fail: decoded from valid UTF-8.
            (is_separator(char::from_u32(cp).unwrap()), true)
        };
        if sep {
            if prev_word == 1 {
                out[pos] = b' ';
                ends[nw] = pos as u32;
                nw += 1;
                pos += 1;
            }
            prev_word = 0;
        } else {
            if changes {
                let mut buf = [0u8; 4];
                for l in char::from_u32(cp).unwrap().to_lowercase() {
                    let e = l.encode_utf8(&mut buf).as_bytes();
                    out[pos..pos + e.len()].copy_from_slice(e);
                    pos += e.len();
                }
            } else {
                out[pos..pos + len].copy_from_slice(&b[i..i + len]);
                pos += len;
            }
            prev_word = 1;
        }
        i += len;
    }
    if prev_word == 1 {
        ends[nw] = pos as u32;
        nw += 1;
    } else {
        pos = pos.saturating_sub(1); // the trailing space
    }
    word_hashes.reserve(nw);
    let mut start = 0usize;
    for &e in &ends[..nw] {
        let e = e as usize;
        word_hashes.push(word_hash_padded(out, start, e));
        start = e + 1;
    }
    pos
}

/// True when `c` ends a word (Unicode categories Z*, Cc, P*, S*; see the generator).
#[inline]
pub fn is_separator(c: char) -> bool {
    let cp = c as u32;
    if cp < 128 {
        return (ASCII_SEPARATOR_MASK >> cp) & 1 == 1;
    }
    // Ranges are sorted and disjoint: find the last range starting at or before cp.
    let idx = SEPARATOR_RANGES.partition_point(|&(lo, _)| lo <= cp);
    idx > 0 && cp <= SEPARATOR_RANGES[idx - 1].1
}

/// Normalises `text` into `norm` (lowercased words joined by single spaces) and records
/// each word's byte span in `norm` in `spans`. (The plain version of [`hash_words`].) Both buffers are cleared first so a
/// worker thread can reuse them across documents.
#[cfg_attr(not(test), allow(dead_code))]
pub fn normalize_words(text: &str, norm: &mut String, spans: &mut Vec<(usize, usize)>) {
    norm.clear();
    spans.clear();
    let mut start: Option<usize> = None;
    for c in text.chars() {
        if is_separator(c) {
            if let Some(s) = start.take() {
                spans.push((s, norm.len()));
            }
            continue;
        }
        if start.is_none() {
            if !norm.is_empty() {
                norm.push(' ');
            }
            start = Some(norm.len());
        }
        if c.is_ascii() {
            norm.push(c.to_ascii_lowercase());
        } else {
            // Per-char lowercasing (no context rules such as Greek final sigma), which
            // is what the Python reference's `c.lower()` does too.
            norm.extend(c.to_lowercase());
        }
    }
    if let Some(s) = start {
        spans.push((s, norm.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &str) -> Vec<String> {
        let mut n = String::new();
        let mut s = Vec::new();
        normalize_words(t, &mut n, &mut s);
        s.iter().map(|&(a, b)| n[a..b].to_string()).collect()
    }

    #[test]
    fn hash_words_matches_normalize_words() {
        let mut samples: Vec<String> = vec![
            "Hello, World!  x_y-z".into(),
            "ÄÖ€Σ İstanbul Ⱥx ǅemal ß ﬁ 🙂word𝐀𝐁 \u{3000}a\u{2028}b".into(),
            String::new(),
            "  \t\n".into(),
            "x\u{0301}\u{0308} d\u{0303} 中文字符 混合 हिन्दी".into(),
        ];
        // Every code point below 0x3000 plus some astral ones, in pseudo-random mixes.
        let mut r = 12345u64;
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..60 {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let cp = if (r >> 60) == 0 { 0x10000 + (r >> 33) as u32 % 0x20000 } else { (r >> 33) as u32 % 0x3000 };
                if let Some(c) = char::from_u32(cp) {
                    s.push(c);
                }
            }
            samples.push(s);
        }
        let (mut n1, mut sp, mut n2, mut ends, mut hs) = (String::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Longest first, so later documents see stale bytes in the reused buffers.
        samples.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in &samples {
            normalize_words(s, &mut n1, &mut sp);
            let len = hash_words(s, &mut n2, &mut ends, &mut hs);
            assert_eq!(n1.as_bytes(), &n2[..len], "{s:?}");
            let want: Vec<u64> = sp.iter().map(|&(a, b)| word_hash(&n1.as_bytes()[a..b])).collect();
            assert_eq!(want, hs);
        }
    }

    #[test]
    fn splits_and_lowercases() {
        assert_eq!(words("Hello, World!  x_y-z"), ["hello", "world", "x", "y", "z"]);
        assert_eq!(words("  \t\n"), Vec::<String>::new());
        assert_eq!(words("ÄÖ€Σ"), ["äö", "σ"]);
        assert!(is_separator('\u{3000}') && !is_separator('\u{0301}'));
    }
}
