//! Gopher quality (kind 1): words, tokens, '#', ellipses, bullet and ellipsis lines, alphabetic
//! tokens, distinct stop words, separator tokens (menus, breadcrumbs), garbled words (OCR noise) and
//! distinct lowercased words (keyword lists) of a document.

use super::chars::{is_alpha, CharSet};
use super::hashing::hash_bytes;
use super::lower::push_lower_word;
use super::units::{for_each_token, strip};
use super::Scratch;

/// Settings (lists of `lm_textstats` kind 1: bullet chars, closing chars, lowercased stop words,
/// separator chars).
pub struct GopherQuality {
    pub bullets: CharSet,
    /// Passed by the caller, unused since Gopher's ellipsis lines skip no closing quote.
    #[allow(dead_code)]
    pub closing: CharSet,
    pub stop_words: Vec<Vec<u8>>,
    /// A token made only of these code points, with a token before and after it on its line, is a
    /// separator ("|" in "Etusivu | Uutiset").
    pub separators: CharSet,
}
/// Output columns: GOPHER_QUALITY_COLUMNS of langmill/native/textstats.py.
pub const GQ_COLS: usize = 13;

/// Fills `row` (GQ_COLS) for one decoded document.
pub(super) fn stats(p: &GopherQuality, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    let cps = &s.cps;
    let (mut n_words, mut word_chars, mut n_tokens, mut n_alpha, mut n_stop, mut n_sep) = (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut n_garbled = 0i64;
    let check_sep = !p.separators.is_empty();
    // A separator counts when a token precedes and follows it on its line (it separates two
    // items): "A | B" counts, a table's outer "|", a "> quote" or "• item" at a line's start do not.
    let (mut prev_end, mut open_sep) = (None::<usize>, false);
    let check_stop = !s.stop.is_empty();
    s.doc_no += 1;
    let doc_no = s.doc_no;
    let pos = &s.pos;
    let stop = &s.stop;
    let seen = &mut s.stop_seen;
    // distinct lowercased words: each new one appended to `low` (its span in `spans`), found by hash
    let mut n_words_est = 0usize;
    for_each_token(cps, 0, cps.len(), |_, _, is_w| n_words_est += is_w as usize);
    s.table.reset(n_words_est);
    let (low, spans, table) = (&mut s.low, &mut s.word_spans, &mut s.table);
    low.clear();
    spans.clear();
    let mut n_distinct = 0i64;
    for_each_token(cps, 0, cps.len(), |a, b, is_w| {
        n_tokens += 1;
        if check_sep {
            let same_line = prev_end.is_some_and(|e| !cps[e..a].contains(&0x0A));
            n_sep += (open_sep && same_line) as i64;
            open_sep = same_line && cps[a..b].iter().all(|&c| p.separators.contains(c));
            prev_end = Some(b);
        }
        if !is_w {
            return;
        }
        n_words += 1;
        word_chars += (b - a) as i64;
        let word = &cps[a..b];
        if word.iter().any(|&c| is_alpha(c)) {
            n_alpha += 1;
            n_garbled += is_garbled(word) as i64;
        }
        let start = low.len();
        push_lower_word(&bytes[pos[a] as usize..pos[b] as usize], low);
        let h = hash_bytes(&low[start..]);
        let new_id = spans.len() as u32;
        let found = {
            let (low_ref, spans_ref): (&Vec<u8>, &Vec<(u32, u32)>) = (low, spans);
            table.find_or_insert(h, new_id, |j| {
                let (x, y) = spans_ref[j as usize];
                low_ref[x as usize..y as usize] == low_ref[start..]
            })
        };
        if found.is_none() {
            spans.push((start as u32, low.len() as u32));
            n_distinct += 1;
        }
        if check_stop {
            if let Some(&k) = stop.get(&low[start..]) {
                if seen[k as usize] != doc_no {
                    seen[k as usize] = doc_no;
                    n_stop += 1;
                }
            }
        }
        if found.is_some() {
            low.truncate(start); // a word seen before: its copy is not kept
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
    // reference_text.doc_lines: split on "\n", without the final empty piece
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
    row.copy_from_slice(&[n_words, word_chars, n_tokens, n_hash, n_ellipsis, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop, n_sep, n_garbled, n_distinct]);
}

#[inline(always)]
fn is_ascii_digit(cp: u32) -> bool {
    (0x30..=0x39).contains(&cp)
}

/// A word token (with a letter) that OCR noise or a legacy font encoding leaves: ASCII digits between
/// two letters ("koi5ra", "tal0n"; not "B4", "COVID-19", Basque "2007an", "1st"), or inside it a
/// character of `GARBLING` ("ko~ira", "sa|na") or a private-use one (a font's own encoding). Math,
/// code, units and key names ("x^2", "a_b", "4°C", "Ctrl+A", "AT&T") are not garbled.
fn is_garbled(word: &[u32]) -> bool {
    let mut state = 0u8; // 0: start, 1: after a letter, 2: in digits that follow a letter
    for &c in word {
        if GARBLING.contains(&c) || (0xE000..=0xF8FF).contains(&c) {
            return true;
        }
        state = if is_alpha(c) {
            if state == 2 {
                return true;
            }
            1
        } else if is_ascii_digit(c) && state >= 1 {
            2
        } else {
            0
        };
    }
    false
}

/// `GARBLING_CHARS` (langmill/native/textstats.py): | ! ; ` ~
const GARBLING: [u32; 5] = [0x7C, 0x21, 0x3B, 0x60, 0x7E];
