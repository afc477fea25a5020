//! Gopher quality (kind 1): words, tokens, '#', ellipses, bullet and ellipsis lines, alphabetic
//! tokens, distinct stop words and separator tokens (menus, breadcrumbs) of a document.

use super::chars::{is_alpha, CharSet};
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
pub const GQ_COLS: usize = 11;

/// Fills `row` (GQ_COLS) for one decoded document.
pub(super) fn stats(p: &GopherQuality, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
    let cps = &s.cps;
    let (mut n_words, mut word_chars, mut n_tokens, mut n_alpha, mut n_stop, mut n_sep) = (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let check_sep = !p.separators.is_empty();
    // A separator counts when a token precedes and follows it on its line (it separates two
    // items): "A | B" counts, a table's outer "|", a "> quote" or "• item" at a line's start do not.
    let (mut prev_end, mut open_sep) = (None::<usize>, false);
    let check_stop = !s.stop.is_empty();
    s.doc_no += 1;
    let doc_no = s.doc_no;
    let pos = &s.pos;
    let norm = &mut s.norm;
    let stop = &s.stop;
    let seen = &mut s.stop_seen;
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
        if cps[a..b].iter().any(|&c| is_alpha(c)) {
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
    row.copy_from_slice(&[n_words, word_chars, n_tokens, n_hash, n_ellipsis, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop, n_sep]);
}
