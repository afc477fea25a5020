//! Text statistics behind the quality filters (`langmill/filters/quality.py`).
//!
//! Every definition (word, line, paragraph, sentence, "ends with terminal punctuation", ...)
//! is the one documented in `langmill/filters/text.py`, on Unicode code points, with the
//! character classes of `word_tables.rs` (generated from Python's `unicodedata`). The pure
//! Python reference is `tests/reference_quality.py`; `tests/test_textstats.py` compares them.
//!
//! Input bytes are decoded leniently: UTF-8 plus encoded surrogates (what Python's
//! `encode("utf-8", "surrogatepass")` produces for lone surrogates, which then count as one
//! code point of category Cs, exactly as in Python); any other invalid byte is one U+FFFD.
//! Lowercasing uses Rust's `str::to_lowercase` (full mapping, final-sigma aware, like Python's
//! `str.lower`) on runs of valid characters; it follows Rust's Unicode version, which may
//! differ from Python's for characters assigned after Unicode 14.
//!
//! All results are integer counts; the Python side divides and compares with thresholds.

use crate::word_tables::{ALPHA, BLOCKS, BLOCK_INDEX, SPACE, WORD};
use std::sync::Mutex;

// ----------------------------------------------------------------------------- characters

#[inline(always)]
fn class(cp: u32) -> u8 {
    if cp < 0x110000 {
        BLOCKS[BLOCK_INDEX[(cp >> 8) as usize] as usize][(cp & 0xFF) as usize]
    } else {
        0
    }
}

#[inline(always)]
fn is_word(cp: u32) -> bool {
    class(cp) & WORD != 0
}

#[inline(always)]
fn is_space(cp: u32) -> bool {
    class(cp) & SPACE != 0
}

/// `text.WORD_JOINERS`: ' ’ - ‐ : .
#[inline(always)]
fn is_joiner(cp: u32) -> bool {
    matches!(cp, 0x27 | 0x2019 | 0x2D | 0x2010 | 0x3A | 0x2E)
}

/// A set of code points: ASCII bitmask plus a sorted list for the rest.
#[derive(Default, Clone)]
pub struct CharSet {
    ascii: u128,
    other: Vec<u32>,
}

impl CharSet {
    pub fn new(cps: impl IntoIterator<Item = u32>) -> CharSet {
        let mut s = CharSet::default();
        for cp in cps {
            if cp < 128 {
                s.ascii |= 1u128 << cp;
            } else {
                s.other.push(cp);
            }
        }
        s.other.sort_unstable();
        s.other.dedup();
        s
    }

    #[inline(always)]
    pub fn contains(&self, cp: u32) -> bool {
        if cp < 128 {
            (self.ascii >> cp) & 1 == 1
        } else {
            !self.other.is_empty() && self.other.binary_search(&cp).is_ok()
        }
    }
}

/// Decodes `b` into code points and their byte offsets (`pos` gets one extra entry, `b.len()`).
pub fn decode(b: &[u8], cps: &mut Vec<u32>, pos: &mut Vec<u32>) {
    cps.clear();
    pos.clear();
    let n = b.len();
    let mut i = 0;
    while i < n {
        let c0 = b[i];
        if c0 < 0x80 {
            cps.push(c0 as u32);
            pos.push(i as u32);
            i += 1;
            continue;
        }
        let (len, min, init) = match c0 {
            0xC2..=0xDF => (2, 0x80, (c0 & 0x1F) as u32),
            0xE0..=0xEF => (3, 0x800, (c0 & 0x0F) as u32),
            0xF0..=0xF4 => (4, 0x10000, (c0 & 0x07) as u32),
            _ => (0, 0, 0),
        };
        let mut cp = init;
        let mut ok = len > 0 && i + len <= n;
        if ok {
            for k in 1..len {
                let c = b[i + k];
                if c & 0xC0 != 0x80 {
                    ok = false;
                    break;
                }
                cp = (cp << 6) | (c & 0x3F) as u32;
            }
            ok = ok && cp >= min && cp <= 0x10FFFF;
        }
        pos.push(i as u32);
        if ok {
            cps.push(cp);
            i += len;
        } else {
            cps.push(0xFFFD);
            i += 1;
        }
    }
    pos.push(n as u32);
}

/// Decodes a small list item (config strings) into code points.
pub fn decode_vec(b: &[u8]) -> Vec<u32> {
    let mut cps = Vec::new();
    let mut pos = Vec::new();
    decode(b, &mut cps, &mut pos);
    cps
}

// ----------------------------------------------------------------------------- hashing

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn mix(h: u64) -> u64 {
    let h = (h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

fn hash_bytes(b: &[u8]) -> u64 {
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
struct Table {
    slots: Vec<(u64, u32)>,
    mask: usize,
}

impl Table {
    fn reset(&mut self, n_items: usize) {
        let cap = (n_items * 2).max(16).next_power_of_two();
        self.slots.clear();
        self.slots.resize(cap, (0, EMPTY));
        self.mask = cap - 1;
    }

    /// The index of an equal item already in the table, or None after inserting `idx`.
    #[inline]
    fn find_or_insert(&mut self, h: u64, idx: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
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

// ----------------------------------------------------------------------------- text units

/// Calls `f(start, end)` for every word of `cps[lo..hi]` (text.words).
#[inline]
fn for_each_word(cps: &[u32], lo: usize, hi: usize, mut f: impl FnMut(usize, usize)) {
    let mut i = lo;
    while i < hi {
        if !is_word(cps[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < hi {
            let c = cps[i];
            if is_word(c) {
                i += 1;
            } else if is_joiner(c) && i + 1 < hi && is_word(cps[i + 1]) {
                i += 2;
            } else {
                break;
            }
        }
        f(start, i);
    }
}

/// `text.TOKEN_INFIXES`: , ! ? ( ) [ ] < > = / " « » “ ” „
#[inline(always)]
fn is_token_infix(cp: u32) -> bool {
    matches!(cp, 0x2C | 0x21 | 0x3F | 0x28 | 0x29 | 0x5B | 0x5D | 0x3C | 0x3E | 0x3D | 0x2F | 0x22 | 0xAB | 0xBB | 0x201C | 0x201D | 0x201E)
}

/// Tokens of a run of non-word, non-space code points: maximal runs of two or more "." are one
/// token, every other code point is one.
#[inline]
fn punct_tokens(cps: &[u32], mut i: usize, hi: usize, f: &mut impl FnMut(usize, usize, bool)) {
    while i < hi {
        if cps[i] == 0x2E && i + 1 < hi && cps[i + 1] == 0x2E {
            let s = i;
            while i < hi && cps[i] == 0x2E {
                i += 1;
            }
            f(s, i, false);
        } else {
            f(i, i + 1, false);
            i += 1;
        }
    }
}

/// Calls `f(start, end, is_word_token)` for every token of `cps[lo..hi]` (text.tokens).
#[inline]
fn for_each_token(cps: &[u32], lo: usize, hi: usize, mut f: impl FnMut(usize, usize, bool)) {
    let mut a = lo;
    while a < hi {
        if is_space(cps[a]) {
            a += 1;
            continue;
        }
        let mut b = a + 1;
        while b < hi && !is_space(cps[b]) {
            b += 1;
        }
        // chunk [a, b): prefix [a, i), middle [i, j), suffix [j, b)
        let mut i = a;
        while i < b && !is_word(cps[i]) {
            i += 1;
        }
        let mut j = b;
        while j > i && !is_word(cps[j - 1]) {
            j -= 1;
        }
        punct_tokens(cps, a, i, &mut f);
        if i < j {
            let mut s = i;
            for k in i + 1..j - 1 {
                if is_token_infix(cps[k]) && is_word(cps[k - 1]) && is_word(cps[k + 1]) {
                    f(s, k, true);
                    f(k, k + 1, false);
                    s = k + 1;
                }
            }
            f(s, j, true);
        }
        punct_tokens(cps, j, b, &mut f);
        a = b;
    }
}

/// `line.strip()` as a code point range.
#[inline]
fn strip(cps: &[u32], mut lo: usize, mut hi: usize) -> (usize, usize) {
    while lo < hi && is_space(cps[lo]) {
        lo += 1;
    }
    while hi > lo && is_space(cps[hi - 1]) {
        hi -= 1;
    }
    (lo, hi)
}

/// End of `line.rstrip().rstrip(CLOSING_CHARS)`.
#[inline]
fn core_end(cps: &[u32], lo: usize, mut hi: usize, closing: &CharSet) -> usize {
    while hi > lo && is_space(cps[hi - 1]) {
        hi -= 1;
    }
    while hi > lo && closing.contains(cps[hi - 1]) {
        hi -= 1;
    }
    hi
}

/// text.ends_with_terminal
#[inline]
fn ends_with_terminal(cps: &[u32], lo: usize, hi: usize, closing: &CharSet, terminal: &[Vec<u32>]) -> bool {
    let end = core_end(cps, lo, hi, closing);
    end > lo && terminal.iter().any(|t| t.len() <= end - lo && cps[end - t.len()..end] == t[..])
}

/// text.ends_with_ellipsis ("..." or "…")
#[inline]
fn ends_with_ellipsis(cps: &[u32], lo: usize, hi: usize, closing: &CharSet) -> bool {
    let end = core_end(cps, lo, hi, closing);
    (end > lo && cps[end - 1] == 0x2026) || (end - lo >= 3 && cps[end - 3..end] == [0x2E, 0x2E, 0x2E])
}

/// text.count_sentences for one line.
fn count_sentences_line(cps: &[u32], lo: usize, hi: usize, term: &CharSet, closers: &CharSet) -> i64 {
    let mut total = 0;
    let mut has_word = false;
    let mut i = lo;
    while i < hi {
        let ch = cps[i];
        if term.contains(ch) {
            let mut j = i;
            while j < hi && term.contains(cps[j]) {
                j += 1;
            }
            while j < hi && closers.contains(cps[j]) {
                j += 1;
            }
            if j == hi || is_space(cps[j]) {
                if has_word {
                    total += 1;
                }
                has_word = false;
            }
            i = j;
            continue;
        }
        if is_word(ch) {
            has_word = true;
        }
        i += 1;
    }
    total + has_word as i64
}

/// Appends `word.lower()` (Python semantics) of a word's bytes to `out`; returns its code points.
fn push_lower_word(word: &[u8], out: &mut Vec<u8>) -> usize {
    if word.is_ascii() {
        out.extend(word.iter().map(|b| b.to_ascii_lowercase()));
        return word.len();
    }
    let start = out.len();
    match std::str::from_utf8(word) {
        Ok(s) => {
            if s.contains('\u{3A3}') {
                out.extend_from_slice(s.to_lowercase().as_bytes()); // final-sigma rule
            } else {
                let mut buf = [0u8; 4];
                for c in s.chars() {
                    for l in c.to_lowercase() {
                        out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        Err(_) => out.extend_from_slice(word), // unreachable: words hold only valid characters
    }
    out[start..].iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

/// `line.lower()` of cps[lo..hi] into `out` (bytes). Runs of valid characters are lowercased
/// with str::to_lowercase; a surrogate stops the final-sigma context exactly as in Python.
fn lower_line(bytes: &[u8], cps: &[u32], pos: &[u32], lo: usize, hi: usize, out: &mut Vec<u8>) {
    out.clear();
    let seg = &bytes[pos[lo] as usize..pos[hi] as usize];
    if seg.is_ascii() {
        out.extend(seg.iter().map(|b| b.to_ascii_lowercase()));
        return;
    }
    let mut i = lo;
    while i < hi {
        let mut j = i;
        while j < hi && !(0xD800..0xE000).contains(&cps[j]) {
            j += 1;
        }
        if j > i {
            let run = &bytes[pos[i] as usize..pos[j] as usize];
            match std::str::from_utf8(run) {
                Ok(s) => out.extend_from_slice(s.to_lowercase().as_bytes()),
                Err(_) => {
                    let mut buf = [0u8; 4];
                    for k in i..j {
                        match char::from_u32(cps[k]) {
                            Some(c) if &bytes[pos[k] as usize..pos[k + 1] as usize] == c.encode_utf8(&mut buf).as_bytes() => {
                                for l in c.to_lowercase() {
                                    out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                                }
                            }
                            _ => out.extend_from_slice(&bytes[pos[k] as usize..pos[k + 1] as usize]),
                        }
                    }
                }
            }
        }
        if j < hi {
            out.extend_from_slice(&bytes[pos[j] as usize..pos[j + 1] as usize]);
            j += 1;
        }
        i = j;
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

// ----------------------------------------------------------------------------- per filter

pub struct GopherQuality {
    pub bullets: CharSet,
    /// Passed by the caller, unused since Gopher's ellipsis lines skip no closing quote.
    #[allow(dead_code)]
    pub closing: CharSet,
    pub stop_words: Vec<Vec<u8>>,
}
pub const GQ_COLS: usize = 10;

pub struct GopherRepetition {
    pub top_ns: Vec<usize>,
    pub dup_ns: Vec<usize>,
}
pub const GR_BASE_COLS: usize = 7;

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
pub const C4_COLS: usize = 9;

pub struct FineWeb {
    pub terminal: Vec<Vec<u32>>,
    pub closing: CharSet,
    pub short_line_length: i64,
}
pub const FW_COLS: usize = 7;

pub enum Kernel {
    GopherQuality(GopherQuality),
    GopherRepetition(GopherRepetition),
    C4(C4),
    FineWeb(FineWeb),
}

impl Kernel {
    pub fn n_cols(&self) -> usize {
        match self {
            Kernel::GopherQuality(_) => GQ_COLS,
            Kernel::GopherRepetition(r) => GR_BASE_COLS + r.top_ns.len() + r.dup_ns.len(),
            Kernel::C4(_) => C4_COLS,
            Kernel::FineWeb(_) => FW_COLS,
        }
    }
}

#[derive(Default)]
struct Scratch {
    cps: Vec<u32>,
    pos: Vec<u32>,
    lines: Vec<(u32, u32)>,
    line_hash: Vec<u64>,
    paras: Vec<(u32, u32)>,
    table: Table,
    // words
    norm: Vec<u8>,
    word_spans: Vec<(u32, u32)>, // distinct normalised words in `norm`
    ids: Vec<u32>,
    lens: Vec<u32>,
    prefix: Vec<u64>,
    state: Vec<u64>,
    counts: Vec<(u32, u64)>,
    low: Vec<u8>,
    kept: Vec<Option<(u32, u32)>>,
    stop: std::collections::HashMap<Vec<u8>, u32>,
    stop_seen: Vec<u64>,
    doc_no: u64,
    items: Vec<(u32, u32)>,
}

/// (count of repeated items, their characters), as `_dup_stats` (items by index).
fn dup_stats(
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

fn gopher_quality(p: &GopherQuality, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    let cps = &s.cps;
    let (mut n_words, mut word_chars, mut n_tokens, mut n_alpha, mut n_stop) = (0i64, 0i64, 0i64, 0i64, 0i64);
    let check_stop = !s.stop.is_empty();
    s.doc_no += 1;
    let doc_no = s.doc_no;
    let pos = &s.pos;
    let norm = &mut s.norm;
    let stop = &s.stop;
    let seen = &mut s.stop_seen;
    for_each_token(cps, 0, cps.len(), |a, b, is_w| {
        n_tokens += 1;
        if !is_w {
            return;
        }
        n_words += 1;
        word_chars += (b - a) as i64;
        if cps[a..b].iter().any(|&c| class(c) & ALPHA != 0) {
            n_alpha += 1;
        }
        if check_stop {
            norm.clear();
            push_lower_word(&bytes[pos[a] as usize..pos[b] as usize], norm);
            if let Some(&k) = stop.get(norm.as_slice()) {
                if seen[k as usize] != doc_no {
                    seen[k as usize] = doc_no;
                    n_stop += 1;
                }
            }
        }
    });
    let n_hash = bytes.iter().filter(|&&b| b == b'#').count() as i64;
    let mut n_ellipsis = 0i64;
    let mut run = 0i64;
    for &c in cps.iter() {
        if c == 0x2E {
            run += 1;
        } else {
            n_ellipsis += run / 3;
            run = 0;
            if c == 0x2026 {
                n_ellipsis += 1;
            }
        }
    }
    n_ellipsis += run / 3;
    // text.doc_lines: split on "\n", without the final empty piece
    let (mut n_lines, mut n_bullet, mut n_ell_lines) = (0i64, 0i64, 0i64);
    let mut start = 0;
    for i in 0..=cps.len() {
        if i == cps.len() || cps[i] == 0x0A {
            if i == cps.len() && start == i {
                break;
            }
            n_lines += 1;
            let (lo, hi) = strip(cps, start, i);
            if lo < hi {
                n_bullet += p.bullets.contains(cps[lo]) as i64;
                n_ell_lines += ((cps[hi - 1] == 0x2026) || (hi - lo >= 3 && cps[hi - 3..hi] == [0x2E, 0x2E, 0x2E])) as i64;
            }
            start = i + 1;
        }
    }
    row.copy_from_slice(&[n_words, word_chars, n_tokens, n_hash, n_ellipsis, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop]);
}

/// Non-blank stripped lines of the document into s.lines (and their byte hashes).
fn collect_lines(bytes: &[u8], s: &mut Scratch, with_paras: bool) {
    s.lines.clear();
    s.line_hash.clear();
    s.paras.clear();
    let cps = &s.cps;
    let pos = &s.pos;
    let mut start = 0;
    let mut para_start: Option<usize> = None;
    for i in 0..=cps.len() {
        if i == cps.len() || cps[i] == 0x0A {
            let (lo, hi) = strip(cps, start, i);
            if lo < hi {
                if para_start.is_none() {
                    para_start = Some(s.lines.len());
                }
                s.lines.push((lo as u32, hi as u32));
                s.line_hash.push(hash_bytes(&bytes[pos[lo] as usize..pos[hi] as usize]));
            } else if let Some(p0) = para_start.take() {
                if with_paras {
                    s.paras.push((p0 as u32, s.lines.len() as u32));
                }
            }
            start = i + 1;
        }
    }
    if let Some(p0) = para_start {
        if with_paras {
            s.paras.push((p0 as u32, s.lines.len() as u32));
        }
    }
}

#[inline]
fn line_bytes<'a>(bytes: &'a [u8], pos: &[u32], l: (u32, u32)) -> &'a [u8] {
    &bytes[pos[l.0 as usize] as usize..pos[l.1 as usize] as usize]
}

/// Pieces of cps[lo..hi] between runs of at least `min_run` "\n" (re.split(r"\n{min_run,}")).
fn split_newline_runs(cps: &[u32], lo: usize, hi: usize, min_run: usize, out: &mut Vec<(u32, u32)>) {
    out.clear();
    let mut start = lo;
    let mut i = lo;
    while i < hi {
        if cps[i] != 0x0A {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < hi && cps[j] == 0x0A {
            j += 1;
        }
        if j - i >= min_run {
            out.push((start as u32, i as u32));
            start = j;
        }
        i = j;
    }
    out.push((start as u32, hi as u32));
}

fn gopher_repetition(p: &GopherRepetition, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    let cps = &s.cps;
    let pos = &s.pos;
    let n_chars = cps.len();
    row.fill(0);
    // paragraphs: re.split(r"\n{2,}", text.strip()); lines: re.split("\n+", text)
    let (slo, shi) = strip(cps, 0, n_chars);
    let mut dup = [(0i64, 0i64); 2];
    let mut n_items = [0i64; 2];
    for (u, (lo, hi, min_run)) in [(slo, shi, 2usize), (0, n_chars, 1usize)].into_iter().enumerate() {
        split_newline_runs(cps, lo, hi, min_run, &mut s.items);
        let items = &s.items;
        s.line_hash.clear();
        for &(a, b) in items.iter() {
            s.line_hash.push(hash_bytes(line_bytes(bytes, pos, (a, b))));
        }
        let hashes = &s.line_hash;
        let eq = |i: usize, j: usize| hashes[i] == hashes[j] && line_bytes(bytes, pos, items[i]) == line_bytes(bytes, pos, items[j]);
        dup[u] = dup_stats(&mut s.table, items.len(), |i| hashes[i], eq, |i| (items[i].1 - items[i].0) as i64);
        n_items[u] = items.len() as i64;
    }
    row[..GR_BASE_COLS].copy_from_slice(&[n_items[0], dup[0].0, dup[0].1, n_items[1], dup[1].0, dup[1].1, n_chars as i64]);

    // tokens (case kept) -> ids
    s.word_spans.clear();
    s.ids.clear();
    s.lens.clear();
    let mut n_tok_est = 0;
    for_each_token(cps, 0, n_chars, |_, _, _| n_tok_est += 1);
    s.table.reset(n_tok_est);
    {
        let (spans, ids, lens, table) = (&mut s.word_spans, &mut s.ids, &mut s.lens, &mut s.table);
        for_each_token(cps, 0, n_chars, |a, b, _| {
            let tb = &bytes[pos[a] as usize..pos[b] as usize];
            let h = hash_bytes(tb);
            let new_id = spans.len() as u32;
            let found = {
                let spans_ref: &Vec<(u32, u32)> = spans;
                table.find_or_insert(h, new_id, |j| {
                    let (x, y) = spans_ref[j as usize];
                    &bytes[x as usize..y as usize] == tb
                })
            };
            match found {
                Some(id) => ids.push(id),
                None => {
                    spans.push((pos[a], pos[b]));
                    ids.push(new_id);
                }
            }
            lens.push((b - a) as u32);
        });
    }
    let ids = &s.ids;
    let lens = &s.lens;
    let w = ids.len();
    s.prefix.clear();
    s.prefix.push(0);
    let mut acc = 0u64;
    for &l in lens.iter() {
        acc += l as u64;
        s.prefix.push(acc);
    }
    let prefix = &s.prefix;
    // n-gram hashes grow one token at a time: state[i] is the running hash of the n-gram
    // starting at token i, for n = 1, 2, ... (so each n costs O(tokens), not O(n tokens)).
    let max_n = p.top_ns.iter().chain(&p.dup_ns).copied().max().unwrap_or(0);
    if max_n == 0 || w == 0 {
        return;
    }
    s.state.clear();
    s.state.resize(w, 0x2545_F491_4F6C_DD1Du64);
    for n in 1..=max_n.min(w) {
        let m = w - n + 1;
        for i in 0..m {
            s.state[i] = (s.state[i].rotate_left(5) ^ ids[i + n - 1] as u64).wrapping_mul(K);
        }
        let state = &s.state;
        for (k, &tn) in p.top_ns.iter().enumerate() {
            if tn != n {
                continue;
            }
            s.table.reset(m);
            s.counts.clear();
            for i in 0..m {
                let gram = &ids[i..i + n];
                let slot = s.counts.len() as u32;
                let found = s.table.find_or_insert(mix(state[i]), slot, |j| {
                    let st = s.counts[j as usize].0 as usize;
                    ids[st..st + n] == *gram
                });
                match found {
                    Some(j) => s.counts[j as usize].1 += 1,
                    None => s.counts.push((i as u32, 1)),
                }
            }
            // Counter.most_common(1): the highest count, ties to the n-gram seen first
            let mut best = (0u64, 0u32);
            for &(st, cnt) in &s.counts {
                if cnt > best.0 {
                    best = (cnt, st);
                }
            }
            let st = best.1 as usize;
            let chars = prefix[st + n] - prefix[st] + (n as u64 - 1);
            row[GR_BASE_COLS + k] = (best.0 * chars) as i64;
        }
        for (k, &dn) in p.dup_ns.iter().enumerate() {
            if dn != n {
                continue;
            }
            s.table.reset(m);
            let mut chars = 0u64;
            let mut i = 0usize;
            while i < m {
                let gram = &ids[i..i + n];
                if s.table.find_or_insert(mix(state[i]), i as u32, |j| ids[j as usize..j as usize + n] == *gram).is_some() {
                    chars += prefix[i + n] - prefix[i];
                    i += n;
                } else {
                    i += 1;
                }
            }
            row[GR_BASE_COLS + p.top_ns.len() + k] = chars as i64;
        }
    }
}

fn c4(p: &C4, bytes: &[u8], s: &mut Scratch, row: &mut [i64], text_out: Option<&mut [u8]>) -> i64 {
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
    /// The closers of count_sentences are text.CLOSING_CHARS, the same set as `closing`.
    #[inline(always)]
    fn closing_sentence(&self) -> &CharSet {
        &self.closing
    }
}

fn fineweb(p: &FineWeb, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    collect_lines(bytes, s, false);
    let (lines, hashes, pos, cps) = (&s.lines, &s.line_hash, &s.pos, &s.cps);
    let mut n_punct = 0i64;
    let mut n_short = 0i64;
    for &(lo, hi) in lines.iter() {
        let (lo, hi) = (lo as usize, hi as usize);
        n_punct += ends_with_terminal(cps, lo, hi, &p.closing, &p.terminal) as i64;
        n_short += ((hi - lo) as i64 <= p.short_line_length) as i64;
    }
    let line_len = |i: usize| (lines[i].1 - lines[i].0) as i64;
    let line_eq = |i: usize, j: usize| hashes[i] == hashes[j] && line_bytes(bytes, pos, lines[i]) == line_bytes(bytes, pos, lines[j]);
    let (_, dup_chars) = dup_stats(&mut s.table, lines.len(), |i| hashes[i], line_eq, line_len);
    let n_newlines = bytes.iter().filter(|&&b| b == b'\n').count() as i64;
    let n_chars = cps.len() as i64 - n_newlines;
    let mut n_words = 0i64;
    for_each_word(cps, 0, cps.len(), |_, _| n_words += 1);
    row.copy_from_slice(&[lines.len() as i64, n_punct, n_short, dup_chars, n_chars, n_newlines, n_words]);
}

// ----------------------------------------------------------------------------- driver

struct Block<'a> {
    lo: usize,
    hi: usize,
    rows: &'a mut [i64],
    text_len: Option<&'a mut [i64]>,
    text: Option<&'a mut [u8]>,
}

fn process_block(k: &Kernel, docs: &[&[u8]], offs: &[i64], b: Block<'_>, s: &mut Scratch) {
    let cols = k.n_cols();
    let Block { lo, hi, rows, mut text_len, mut text } = b;
    let base = offs[lo];
    for d in lo..hi {
        let bytes = docs[d];
        decode(bytes, &mut s.cps, &mut s.pos);
        let row = &mut rows[(d - lo) * cols..(d - lo + 1) * cols];
        match k {
            Kernel::GopherQuality(p) => gopher_quality(p, bytes, s, row),
            Kernel::GopherRepetition(p) => gopher_repetition(p, bytes, s, row),
            Kernel::FineWeb(p) => fineweb(p, bytes, s, row),
            Kernel::C4(p) => {
                let out = text.as_deref_mut().map(|t| &mut t[(offs[d] - base) as usize..(offs[d + 1] - base) as usize]);
                let len = c4(p, bytes, s, row, out);
                if let Some(tl) = text_len.as_deref_mut() {
                    tl[d - lo] = len;
                }
            }
        }
    }
}

/// Runs kernel `k` over `docs` (Arrow offsets `offs`, n+1 entries), filling `rows`
/// (n * k.n_cols()) and, for C4, `text_len` (n) and `text` (offs[n] - offs[0] bytes).
pub fn run(
    k: &Kernel,
    docs: &[&[u8]],
    offs: &[i64],
    rows: &mut [i64],
    mut text_len: Option<&mut [i64]>,
    mut text: Option<&mut [u8]>,
    n_threads: usize,
) {
    let n = docs.len();
    if n == 0 {
        return;
    }
    let cols = k.n_cols();
    let total = (offs[n] - offs[0]) as usize;
    let n_threads = n_threads.max(1).min(n);
    let target = (total / (n_threads * 16)).max(64 * 1024);
    // Contiguous blocks of about `target` bytes.
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut rows_rest: &mut [i64] = rows;
    let mut lo = 0;
    while lo < n {
        let mut hi = lo + 1;
        while hi < n && ((offs[hi] - offs[lo]) as usize) < target {
            hi += 1;
        }
        let (r, rr) = std::mem::take(&mut rows_rest).split_at_mut((hi - lo) * cols);
        rows_rest = rr;
        let tl = match text_len.take() {
            Some(t) => {
                let (a, b) = t.split_at_mut(hi - lo);
                text_len = Some(b);
                Some(a)
            }
            None => None,
        };
        let tx = match text.take() {
            Some(t) => {
                let (a, b) = t.split_at_mut((offs[hi] - offs[lo]) as usize);
                text = Some(b);
                Some(a)
            }
            None => None,
        };
        blocks.push(Block { lo, hi, rows: r, text_len: tl, text: tx });
        lo = hi;
    }
    if n_threads == 1 || blocks.len() == 1 {
        let mut s = Scratch::default();
        init_scratch(k, &mut s);
        for b in blocks {
            process_block(k, docs, offs, b, &mut s);
        }
        return;
    }
    blocks.reverse();
    let queue = Mutex::new(blocks);
    std::thread::scope(|scope| {
        for _ in 0..n_threads {
            scope.spawn(|| {
                let mut s = Scratch::default();
                init_scratch(k, &mut s);
                loop {
                    let b = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    match b {
                        Some(b) => process_block(k, docs, offs, b, &mut s),
                        None => break,
                    }
                }
            });
        }
    });
}

fn init_scratch(k: &Kernel, s: &mut Scratch) {
    if let Kernel::GopherQuality(p) = k {
        for w in &p.stop_words {
            let next = s.stop.len() as u32;
            s.stop.entry(w.clone()).or_insert(next);
        }
        s.stop_seen = vec![0; s.stop.len()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &str) -> Vec<String> {
        let cps: Vec<u32> = t.chars().map(|c| c as u32).collect();
        let mut out = Vec::new();
        for_each_word(&cps, 0, cps.len(), |a, b| out.push(cps[a..b].iter().map(|&c| char::from_u32(c).unwrap()).collect()));
        out
    }

    #[test]
    fn word_definition() {
        assert_eq!(words("EU:ssa rock'n'roll Pekin-era 4.5. www.yle.fi"), ["EU:ssa", "rock'n'roll", "Pekin-era", "4.5", "www.yle.fi"]);
        assert_eq!(words("pakkasessa . -- 'lainaus' a--b #tag …"), ["pakkasessa", "lainaus", "a", "b", "tag"]);
        assert_eq!(words("नमस्ते दुनिया"), ["नमस्ते", "दुनिया"]);
    }

    #[test]
    fn token_definition() {
        let t = "(Pekin-era). EU:ssa Modify/New any[0] ... a...b \"x\" 4.5.";
        let cps: Vec<u32> = t.chars().map(|c| c as u32).collect();
        let mut out: Vec<(String, bool)> = Vec::new();
        for_each_token(&cps, 0, cps.len(), |a, b, w| out.push((cps[a..b].iter().map(|&c| char::from_u32(c).unwrap()).collect(), w)));
        let toks: Vec<&str> = out.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(toks, ["(", "Pekin-era", ")", ".", "EU:ssa", "Modify", "/", "New", "any", "[", "0", "]", "...", "a...b", "\"", "x", "\"", "4.5", "."]);
        assert_eq!(out.iter().filter(|(_, w)| *w).count(), 9);
    }

    #[test]
    fn decoder_accepts_surrogates() {
        let mut c = Vec::new();
        let mut p = Vec::new();
        decode(b"a\xed\xa0\x80b\xffc", &mut c, &mut p);
        assert_eq!(c, [0x61, 0xD800, 0x62, 0xFFFD, 0x63]);
        assert_eq!(p, [0, 1, 4, 5, 6, 7]);
    }
}

// ----------------------------------------------------------------------------- C ABI glue

/// Kernel ids of `lm_textstats`.
pub const KIND_GOPHER_QUALITY: u32 = 1;
pub const KIND_GOPHER_REPETITION: u32 = 2;
pub const KIND_C4: u32 = 3;
pub const KIND_FINEWEB_QUALITY: u32 = 4;

/// Splits the `lists` buffer (every item followed by one b'\n') into `counts.len()` lists.
fn split_lists<'a>(buf: &'a [u8], counts: &[u32]) -> Option<Vec<Vec<&'a [u8]>>> {
    let mut items = buf.split(|&b| b == b'\n');
    let mut out = Vec::with_capacity(counts.len());
    let mut used = 0usize;
    for &c in counts {
        let mut list = Vec::with_capacity(c as usize);
        for _ in 0..c {
            let it = items.next()?;
            used += it.len() + 1;
            list.push(it);
        }
        out.push(list);
    }
    (used == buf.len()).then_some(out)
}

fn char_set(items: &[&[u8]]) -> CharSet {
    CharSet::new(items.iter().flat_map(|it| decode_vec(it)))
}

/// Builds the kernel for `kind` from its string lists and integer params; None when the
/// numbers of lists/params do not fit the kind.
pub fn build_kernel(kind: u32, lists: &[Vec<&[u8]>], params: &[i64]) -> Option<Kernel> {
    let strings = |l: &[&[u8]]| l.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
    let cp_strings = |l: &[&[u8]]| l.iter().map(|s| decode_vec(s)).collect::<Vec<_>>();
    match kind {
        KIND_GOPHER_QUALITY if lists.len() == 3 && params.is_empty() => Some(Kernel::GopherQuality(GopherQuality {
            bullets: char_set(&lists[0]),
            closing: char_set(&lists[1]),
            stop_words: strings(&lists[2]),
        })),
        KIND_GOPHER_REPETITION if lists.is_empty() && !params.is_empty() => {
            let k_top = usize::try_from(params[0]).ok()?;
            let rest = params.get(1..)?;
            if k_top > rest.len() || rest.iter().any(|&x| x < 0) {
                return None;
            }
            Some(Kernel::GopherRepetition(GopherRepetition {
                top_ns: rest[..k_top].iter().map(|&x| x as usize).collect(),
                dup_ns: rest[k_top..].iter().map(|&x| x as usize).collect(),
            }))
        }
        KIND_C4 if lists.len() == 5 && params.len() == 6 => Some(Kernel::C4(C4 {
            terminal: cp_strings(&lists[0]),
            term_chars: char_set(&lists[1]),
            closing: char_set(&lists[2]),
            js: strings(&lists[3]),
            policy: strings(&lists[4]),
            max_word_length: params[0],
            remove_no_terminal: params[1] != 0,
            remove_ellipsis: params[2] != 0,
            min_words_per_line: params[3],
            drop_lorem: params[4] != 0,
            drop_curly: params[5] != 0,
        })),
        KIND_FINEWEB_QUALITY if lists.len() == 2 && params.len() == 1 => Some(Kernel::FineWeb(FineWeb {
            terminal: cp_strings(&lists[0]),
            closing: char_set(&lists[1]),
            short_line_length: params[0],
        })),
        _ => None,
    }
}

/// Parses the C arguments of `lm_textstats` and runs it (see lib.rs for the contract).
///
/// # Safety
/// As `lm_textstats`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn entry(
    kind: u32,
    offsets: *const i64,
    data: *const u8,
    n: usize,
    lists: *const u8,
    lists_len: usize,
    list_counts: *const u32,
    n_lists: u32,
    params: *const i64,
    n_params: u32,
    n_threads: usize,
    out: *mut i64,
    n_cols: u32,
    out_text_len: *mut i64,
    out_text: *mut u8,
) -> i32 {
    use crate::{arrow_docs, in_slice, LM_ERR_NULL, LM_ERR_OVERFLOW, LM_ERR_PARAM, LM_OK};
    let (lists_buf, counts, params) = match (in_slice(lists, lists_len), in_slice(list_counts, n_lists as usize), in_slice(params, n_params as usize)) {
        (Ok(l), Ok(c), Ok(p)) => (l, c, p),
        _ => return LM_ERR_NULL,
    };
    let Some(lists) = split_lists(lists_buf, counts) else {
        return LM_ERR_PARAM;
    };
    let Some(kernel) = build_kernel(kind, &lists, params) else {
        return LM_ERR_PARAM;
    };
    if kernel.n_cols() != n_cols as usize {
        return LM_ERR_PARAM;
    }
    if n == 0 {
        return LM_OK;
    }
    if offsets.is_null() || out.is_null() {
        return LM_ERR_NULL;
    }
    let Some(out_len) = n.checked_mul(n_cols as usize) else {
        return LM_ERR_OVERFLOW;
    };
    let (offs, docs) = match arrow_docs(offsets, data, n) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    if offs.windows(2).any(|w| w[1] - w[0] >= u32::MAX as i64) {
        return LM_ERR_OVERFLOW; // code point byte positions are u32
    }
    let rows = std::slice::from_raw_parts_mut(out, out_len);
    let is_c4 = matches!(kernel, Kernel::C4(_));
    let text_len = if is_c4 && !out_text_len.is_null() { Some(std::slice::from_raw_parts_mut(out_text_len, n)) } else { None };
    let span = (offs[n] - offs[0]) as usize;
    let text = if is_c4 && text_len.is_some() && span > 0 {
        if out_text.is_null() {
            return LM_ERR_NULL;
        }
        Some(std::slice::from_raw_parts_mut(out_text, span))
    } else {
        None
    };
    let mut text_len = text_len;
    if let Some(tl) = text_len.as_deref_mut() {
        tl.fill(-1);
    }
    run(&kernel, &docs, offs, rows, text_len, text, n_threads);
    LM_OK
}
