//! FineWeb quality (kind 4): lines ending with terminal punctuation, short lines, duplicate line
//! characters, characters, newlines and words of a document.

use super::chars::CharSet;
use super::hashing::{dup_stats, hash_bytes};
use super::units::{ends_with_terminal, for_each_word, line_bytes, strip};
use super::Scratch;

/// Settings (lists and params of `lm_textstats` kind 4).
pub struct FineWeb {
    pub terminal: Vec<Vec<u32>>,
    pub closing: CharSet,
    pub short_line_length: i64,
}
/// Output columns: FINEWEB_QUALITY_COLUMNS of langmill/native/textstats.py.
pub const FW_COLS: usize = 7;

/// Non-blank stripped lines of the document (reference_text.non_blank_lines) into s.lines, and
/// their byte hashes into s.line_hash.
fn collect_lines(bytes: &[u8], s: &mut Scratch) {
    s.lines.clear();
    s.line_hash.clear();
    let cps = &s.cps;
    let pos = &s.pos;
    let mut start = 0;
    for i in 0..=cps.len() {
        if i == cps.len() || cps[i] == 0x0A {
            let (lo, hi) = strip(cps, start, i);
            if lo < hi {
                s.lines.push((lo as u32, hi as u32));
                s.line_hash.push(hash_bytes(&bytes[pos[lo] as usize..pos[hi] as usize]));
            }
            start = i + 1;
        }
    }
}

/// Fills `row` (FW_COLS) for one decoded document.
pub(super) fn stats(p: &FineWeb, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    collect_lines(bytes, s);
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
