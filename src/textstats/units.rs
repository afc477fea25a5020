//! Text units on decoded code points (definitions: langmill/native/textstats.py): words, tokens,
//! stripped lines, line endings, sentences, and the newline-run splits of Gopher repetition.

use super::chars::{is_joiner, is_space, is_token_infix, is_word, CharSet};

/// Calls `f(start, end)` for every word of `cps[lo..hi]` (reference_text.words).
#[inline]
pub(super) fn for_each_word(cps: &[u32], lo: usize, hi: usize, mut f: impl FnMut(usize, usize)) {
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

/// Calls `f(start, end, is_word_token)` for every token of `cps[lo..hi]` (reference_text.tokens).
#[inline]
pub(super) fn for_each_token(cps: &[u32], lo: usize, hi: usize, mut f: impl FnMut(usize, usize, bool)) {
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
pub(super) fn strip(cps: &[u32], mut lo: usize, mut hi: usize) -> (usize, usize) {
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

/// reference_text.ends_with_terminal
#[inline]
pub(super) fn ends_with_terminal(cps: &[u32], lo: usize, hi: usize, closing: &CharSet, terminal: &[Vec<u32>]) -> bool {
    let end = core_end(cps, lo, hi, closing);
    end > lo && terminal.iter().any(|t| t.len() <= end - lo && cps[end - t.len()..end] == t[..])
}

/// reference_text.ends_with_ellipsis ("..." or "…")
#[inline]
pub(super) fn ends_with_ellipsis(cps: &[u32], lo: usize, hi: usize, closing: &CharSet) -> bool {
    let end = core_end(cps, lo, hi, closing);
    (end > lo && cps[end - 1] == 0x2026) || (end - lo >= 3 && cps[end - 3..end] == [0x2E, 0x2E, 0x2E])
}

/// reference_text.count_sentences for one line.
pub(super) fn count_sentences_line(cps: &[u32], lo: usize, hi: usize, term: &CharSet, closers: &CharSet) -> i64 {
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

#[inline]
pub(super) fn line_bytes<'a>(bytes: &'a [u8], pos: &[u32], l: (u32, u32)) -> &'a [u8] {
    &bytes[pos[l.0 as usize] as usize..pos[l.1 as usize] as usize]
}

/// Pieces of cps[lo..hi] between runs of at least `min_run` "\n" (re.split(r"\n{min_run,}")).
pub(super) fn split_newline_runs(cps: &[u32], lo: usize, hi: usize, min_run: usize, out: &mut Vec<(u32, u32)>) {
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
}
