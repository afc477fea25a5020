//! C4 (kind 3): the line rules (long word, no terminal punctuation, ellipsis, few words, javascript,
//! policy) with the kept text, the whole-document rules (lorem ipsum, curly bracket) and the
//! sentences of the kept text.

use super::chars::CharSet;
use super::lower::lower_line;
use super::units::{count_sentences_line, ends_with_ellipsis, ends_with_terminal, for_each_word, strip};
use super::Scratch;

/// Settings (lists and params of `lm_textstats` kind 3).
pub struct C4 {
    pub terminal: Vec<Vec<u32>>,
    pub term_chars: CharSet,
    pub closing: CharSet,
    pub js: Vec<Vec<u8>>,
    pub policy: Vec<Vec<u8>>,
    pub max_word_length: i64,
    pub remove_no_terminal: bool,
    pub remove_ellipsis: bool,
    pub min_words_per_line: i64,
    pub drop_lorem: bool,
    pub drop_curly: bool,
}
/// Output columns: C4_COLUMNS of langmill/native/textstats.py.
pub const C4_COLS: usize = 9;

/// Fills `row` (C4_COLS) for one decoded document and, when lines were removed and `text_out` is
/// given, writes the kept text there and returns its length; else returns -1.
pub(super) fn stats(p: &C4, bytes: &[u8], s: &mut Scratch, row: &mut [i64], text_out: Option<&mut [u8]>) -> i64 {
    row.fill(0);
    let cps = &s.cps;
    let pos = &s.pos;
    let kept = &mut s.kept;
    kept.clear();
    let mut removed = [0i64; 6];
    let mut sentences = 0i64;
    let mut start = 0;
    for i in 0..=cps.len() {
        if !(i == cps.len() || cps[i] == 0x0A) {
            continue;
        }
        let (lo, hi) = (start, i);
        start = i + 1;
        let (slo, shi) = strip(cps, lo, hi);
        if slo == shi {
            if matches!(kept.last(), Some(Some(_))) {
                kept.push(None);
            }
            continue;
        }
        let (mut n_w, mut max_len) = (0i64, 0i64);
        for_each_word(cps, lo, hi, |a, b| {
            n_w += 1;
            max_len = max_len.max((b - a) as i64);
        });
        let rule = if n_w > 0 && max_len > p.max_word_length {
            Some(0)
        } else if p.remove_no_terminal && !ends_with_terminal(cps, lo, hi, &p.closing, &p.terminal) {
            Some(1)
        } else if p.remove_ellipsis && ends_with_ellipsis(cps, lo, hi, &p.closing) {
            Some(2)
        } else if n_w < p.min_words_per_line {
            Some(3)
        } else {
            let seg = &bytes[pos[lo] as usize..pos[hi] as usize];
            if p.drop_lorem && count_ascii_ci(seg, b"lorem ipsum") > 0 {
                row[0] = count_ascii_ci(bytes, b"lorem ipsum");
                return -1;
            }
            let need_low = !p.js.is_empty() || !p.policy.is_empty();
            if need_low {
                lower_line(bytes, cps, pos, lo, hi, &mut s.low);
            }
            if need_low && p.js.iter().any(|t| contains_bytes(&s.low, t)) {
                Some(4)
            } else if p.drop_curly && seg.contains(&b'{') {
                row[1] = bytes.iter().filter(|&&b| b == b'{').count() as i64;
                return -1;
            } else if need_low && p.policy.iter().any(|t| contains_bytes(&s.low, t)) {
                Some(5)
            } else {
                None
            }
        };
        match rule {
            Some(r) => removed[r] += 1,
            None => {
                kept.push(Some((pos[lo], pos[hi])));
                sentences += count_sentences_line(cps, lo, hi, &p.term_chars, p.closing_sentence());
            }
        }
    }
    while matches!(kept.last(), Some(None)) {
        kept.pop();
    }
    row[2..8].copy_from_slice(&removed);
    row[8] = sentences;
    let n_removed: i64 = removed.iter().sum();
    if n_removed == 0 {
        return -1;
    }
    match text_out {
        Some(out) => {
            let mut w = 0usize;
            for (k, item) in kept.iter().enumerate() {
                if k > 0 {
                    out[w] = b'\n';
                    w += 1;
                }
                if let Some((a, b)) = *item {
                    let seg = &bytes[a as usize..b as usize];
                    out[w..w + seg.len()].copy_from_slice(seg);
                    w += seg.len();
                }
            }
            w as i64
        }
        None => -1,
    }
}

impl C4 {
    /// The closers of count_sentences are CLOSING_CHARS, the same set as `closing`.
    #[inline(always)]
    fn closing_sentence(&self) -> &CharSet {
        &self.closing
    }
}

#[inline]
fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    let first = needle[0];
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return false,
            Some(k) => {
                i += k;
                if &hay[i..i + needle.len()] == needle {
                    return true;
                }
                i += 1;
            }
        }
    }
    false
}

/// Non-overlapping count of ASCII `needle` (lowercase) in `text.lower()`. Exact because the only
/// non-ASCII code points whose lowercase contains an ASCII letter are U+0130 (-> "i̇", the "i"
/// followed by U+0307) and U+212A (-> "k"); callers use needles for which neither can match.
fn count_ascii_ci(hay: &[u8], needle: &[u8]) -> i64 {
    let m = needle.len();
    if m == 0 || hay.len() < m {
        return 0;
    }
    let mut count = 0;
    let mut i = 0;
    while i + m <= hay.len() {
        if hay[i..i + m].eq_ignore_ascii_case(needle) {
            count += 1;
            i += m;
        } else {
            i += 1;
        }
    }
    count
}
