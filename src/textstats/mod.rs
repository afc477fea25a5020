//! Text statistics behind the quality filters (`langmill/filters/quality.py`): one kernel per
//! filter, integer counts per document; the Python side divides them and compares with thresholds.
//!
//! Every definition (word, token, line, paragraph, sentence, "ends with terminal punctuation", ...)
//! is the one documented in `langmill/native/textstats.py`, on Unicode code points, with the
//! character classes of `word_tables.rs` (generated from Python's `unicodedata` by
//! `scripts/gen_unicode_tables.py`). The pure Python references are `tests/reference_text.py`
//! and `tests/reference_quality.py`; `tests/test_textstats.py` compares them with these kernels.
//!
//! Input bytes are decoded leniently: UTF-8 plus encoded surrogates (what Python's
//! `encode("utf-8", "surrogatepass")` produces for lone surrogates, which then count as one
//! code point of category Cs, exactly as in Python); any other invalid byte is one U+FFFD.
//! Lowercasing uses Rust's `str::to_lowercase` (full mapping, final-sigma aware, like Python's
//! `str.lower`) on runs of valid characters; it follows Rust's Unicode version, which may
//! differ from Python's for characters assigned after Unicode 14.
//!
//! Files: `chars` (decoder, character classes, code point sets), `units` (words, tokens, lines,
//! sentences), `lower` (`str.lower`), `hashing` (hashes and the table behind duplicate counts),
//! one file per kernel (`gopher_quality`, `gopher_repetition`, `c4`, `fineweb`), and here the
//! kernel type, the per-thread scratch space and the multi-threaded driver. The C ABI
//! (`lm_textstats`, building a [`Kernel`] from the caller's settings) is in `lib.rs`.

mod c4;
mod chars;
mod fineweb;
mod gopher_quality;
mod gopher_repetition;
mod hashing;
mod lower;
mod units;

pub use c4::{C4, C4_COLS};
pub use chars::{decode_vec, CharSet};
pub use fineweb::{FineWeb, FW_COLS};
pub use gopher_quality::{GopherQuality, GQ_COLS};
pub use gopher_repetition::{GopherRepetition, GR_BASE_COLS};

use chars::decode;
use hashing::Table;
use std::sync::Mutex;

/// One kernel with its settings (built from the C ABI arguments in lib.rs).
pub enum Kernel {
    GopherQuality(GopherQuality),
    GopherRepetition(GopherRepetition),
    C4(C4),
    FineWeb(FineWeb),
}

impl Kernel {
    /// Output columns per document.
    pub fn n_cols(&self) -> usize {
        match self {
            Kernel::GopherQuality(_) => GQ_COLS,
            Kernel::GopherRepetition(r) => GR_BASE_COLS + r.top_ns.len() + r.dup_ns.len(),
            Kernel::C4(_) => C4_COLS,
            Kernel::FineWeb(_) => FW_COLS,
        }
    }
}

/// Per-thread scratch space, reused across documents.
#[derive(Default)]
struct Scratch {
    // every kernel: the decoded document and the byte offset of each code point (plus the end)
    cps: Vec<u32>,
    pos: Vec<u32>,
    table: Table,
    // FineWeb: non-blank stripped lines; FineWeb and Gopher repetition: hashes of lines/items
    lines: Vec<(u32, u32)>,
    line_hash: Vec<u64>,
    // Gopher quality: stop word -> id, last document that counted each id (its distinct words: `low`, `word_spans`)
    stop: std::collections::HashMap<Vec<u8>, u32>,
    stop_seen: Vec<u64>,
    doc_no: u64,
    // Gopher repetition
    items: Vec<(u32, u32)>,       // paragraphs, then lines
    word_spans: Vec<(u32, u32)>, // distinct tokens, as byte spans of the document
    ids: Vec<u32>,               // token -> id of its distinct token
    lens: Vec<u32>,              // token lengths in code points
    prefix: Vec<u64>,            // prefix sums of `lens`
    state: Vec<u64>,             // running n-gram hashes
    counts: Vec<(u32, u64)>,     // (first start, count) of each distinct n-gram
    // C4: the lowercased line, kept line spans (None = one blank line)
    low: Vec<u8>,
    kept: Vec<Option<(u32, u32)>>,
}

/// A contiguous run of documents and its slices of the outputs, processed by one thread.
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
            Kernel::GopherQuality(p) => gopher_quality::stats(p, bytes, s, row),
            Kernel::GopherRepetition(p) => gopher_repetition::stats(p, bytes, s, row),
            Kernel::FineWeb(p) => fineweb::stats(p, bytes, s, row),
            Kernel::C4(p) => {
                let out = text.as_deref_mut().map(|t| &mut t[(offs[d] - base) as usize..(offs[d + 1] - base) as usize]);
                let len = c4::stats(p, bytes, s, row, out);
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
