//! Word splitting and normalisation for dedup.

use crate::unicode_tables::{ASCII_SEPARATOR_MASK, SEPARATOR_RANGES};

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
/// each word's byte span in `norm` in `spans`. Both buffers are cleared first so a
/// worker thread can reuse them across documents.
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
    fn splits_and_lowercases() {
        assert_eq!(words("Hello, World!  x_y-z"), ["hello", "world", "x", "y", "z"]);
        assert_eq!(words("  \t\n"), Vec::<String>::new());
        assert_eq!(words("ÄÖ€Σ"), ["äö", "σ"]);
        assert!(is_separator('\u{3000}') && !is_separator('\u{0301}'));
    }
}
