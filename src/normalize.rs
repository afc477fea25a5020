//! Whitespace/control normalisation and cheap "might contain" hints, one pass per document.
//!
//! Mirrors `langmill/filters/normalize.py::fold_whitespace` (the plain Python reference):
//! CRLF and lone CR become LF; control characters (C0 but tab/LF, DEL, C1), zero-width
//! characters (U+200B, U+2060, U+FEFF) and bidi marks (LRM, RLM, ALM, U+202A..U+202E,
//! U+2066..U+2069) are removed; ZWNJ/ZWJ are removed unless they are spelling (`joiner_kept`);
//! runs of other whitespace (Python's `str.isspace`) become one space; lines are stripped; at
//! most one blank line in a row; the text is stripped. Output is never longer than the input.

use crate::unicode_tables::{JOINING_LETTER_RANGES, PICTOGRAPH_RANGES};

/// Bit flags describing a document (computed on the input text).
pub const HINT_MOJIBAKE: u8 = 1; // a Latin-1/cp1252-decoded UTF-8 byte pair may occur
pub const HINT_AT: u8 = 2; // contains '@' (e-mail candidate)
pub const HINT_IPV4: u8 = 4; // contains d{1,3}.d{1,3}.d{1,3}.d{1,3} in ASCII digits
pub const HINT_IPV6: u8 = 8; // contains "::" or at least 7 ':'

/// Controls, zero-width and bidi characters; ZWNJ/ZWJ (U+200C/D) too, unless `joiner_kept`.
fn is_removed(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x061C {
        // Most text is below U+061C, where only the C0/C1 controls are removed: test those alone.
        return matches!(cp, 0x00..=0x08 | 0x0B..=0x1F | 0x7F..=0x9F);
    }
    matches!(cp, 0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060 | 0x2066..=0x2069 | 0xFEFF)
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let cp = c as u32;
    let idx = ranges.partition_point(|&(lo, _)| lo <= cp);
    idx > 0 && cp <= ranges[idx - 1].1
}

/// Whether a ZWNJ/ZWJ between `before` and `after` (None at an edge) is spelling: between two
/// letters/marks of a script that uses joiners, or a ZWJ from a pictograph or VS16 to a
/// pictograph (emoji sequences). The rule and its ranges: langmill/filters/normalize.py.
fn joiner_kept(joiner: char, before: Option<char>, after: Option<char>) -> bool {
    let (Some(b), Some(a)) = (before, after) else { return false };
    if in_ranges(b, &JOINING_LETTER_RANGES) && in_ranges(a, &JOINING_LETTER_RANGES) {
        return true;
    }
    joiner == ZWJ && (b == '\u{FE0F}' || in_ranges(b, &PICTOGRAPH_RANGES)) && in_ranges(a, &PICTOGRAPH_RANGES)
}

/// `joiner_kept` for the joiner that ends just before `rest`, the unread tail of `text`. The
/// neighbours are looked up only here, so the per-character loop carries no previous character.
fn joiner_kept_at(text: &str, rest: &str, joiner: char) -> bool {
    let start = text.len() - rest.len() - joiner.len_utf8();
    joiner_kept(joiner, text[..start].chars().next_back(), rest.chars().next())
}

/// Python's `str.isspace()` minus '\n' and minus what `is_removed` drops first.
fn is_space(c: char) -> bool {
    matches!(c as u32, 0x09 | 0x20 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000)
}

fn is_mojibake_lead(c: char) -> bool {
    ('\u{00C2}'..='\u{00F4}').contains(&c)
}

fn is_mojibake_follow(c: char) -> bool {
    matches!(c as u32,
        0x80..=0xBF | 0x152 | 0x153 | 0x160 | 0x161 | 0x178 | 0x17D | 0x17E | 0x192 | 0x2C6 | 0x2DC
        | 0x2013 | 0x2014 | 0x2018..=0x201E | 0x2020..=0x2022 | 0x2026 | 0x2030 | 0x2039 | 0x203A
        | 0x20AC | 0x2122)
}

/// True when `b` holds ASCII "d{1,3}.d{1,3}.d{1,3}.d{1,3}" somewhere (a superset of IPv4s).
fn has_dotted_quad(b: &[u8]) -> bool {
    let mut groups = 0; // digit groups seen, each followed by a dot, in the current run
    let mut digits = 0;
    for &ch in b {
        if ch.is_ascii_digit() {
            digits += 1;
            if digits > 3 {
                // "1234.5.6.7" still contains "234.5.6.7": keep the last three digits.
                digits = 3;
                groups = 0;
            }
            if groups == 3 {
                return true;
            }
        } else if ch == b'.' && digits > 0 {
            groups += 1;
            digits = 0;
        } else {
            groups = 0;
            digits = 0;
        }
    }
    false
}

pub fn hints(text: &str) -> u8 {
    let bytes = text.as_bytes();
    let mut flags = 0;
    if bytes.contains(&b'@') {
        flags |= HINT_AT;
    }
    if has_dotted_quad(bytes) {
        flags |= HINT_IPV4;
    }
    let colons = bytes.iter().filter(|&&b| b == b':').count();
    if colons >= 7 || bytes.windows(2).any(|w| w == b"::") {
        flags |= HINT_IPV6;
    }
    if !text.is_ascii() {
        let mut prev = '\0';
        for c in text.chars() {
            if is_mojibake_lead(prev) && (is_mojibake_follow(c) || (c == ' ' && (prev == '\u{00C2}' || prev == '\u{00C3}'))) {
                flags |= HINT_MOJIBAKE;
                break;
            }
            prev = c;
        }
    }
    flags
}

/// Appends the normalised `text` to `out`.
pub fn fold_whitespace(text: &str, out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut line_has_content = false;
    let mut newlines = 0usize;
    let mut wrote = false;
    let mut chars = text.chars();
    let mut buf = [0u8; 4];
    while let Some(mut c) = chars.next() {
        if c == '\r' {
            if chars.as_str().starts_with('\n') {
                continue; // the '\n' that follows ends the line
            }
            c = '\n';
        }
        if c == '\n' {
            newlines += 1;
            pending_space = false;
            line_has_content = false;
            continue;
        }
        if is_removed(c) && !((c == ZWNJ || c == ZWJ) && joiner_kept_at(text, chars.as_str(), c)) {
            continue;
        }
        if is_space(c) {
            pending_space = line_has_content;
            continue;
        }
        if newlines > 0 {
            if wrote {
                out.extend(std::iter::repeat_n(b'\n', newlines.min(2)));
            }
            newlines = 0;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        line_has_content = true;
        wrote = true;
    }
}

/// Computes the hints of `docs` and, when `out` = (data, offsets) is given, writes the
/// normalised documents there as an Arrow large_string array (data holds at least the input
/// bytes; output is never longer than its input). Work is split over `n_threads` threads; each
/// thread fills its own buffer and the buffers are concatenated in order.
pub fn run(docs: &[&[u8]], out: Option<(&mut [u8], &mut [i64])>, flags: &mut [u8], n_threads: usize) {
    let n = docs.len();
    let normalise = out.is_some();
    let chunk = n.div_ceil(n_threads.max(1)).max(1);
    let parts: Vec<(Vec<u8>, Vec<usize>)> = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .zip(flags.chunks_mut(chunk))
            .map(|(d, f)| {
                s.spawn(move || {
                    let (mut buf, mut lens) = (Vec::new(), Vec::with_capacity(d.len()));
                    for (doc, flag) in d.iter().zip(f.iter_mut()) {
                        let text = String::from_utf8_lossy(doc);
                        *flag = hints(&text);
                        if normalise {
                            let before = buf.len();
                            fold_whitespace(&text, &mut buf);
                            // Lossy decoding of invalid input could lengthen it: keep the bound,
                            // cutting at a character boundary.
                            let mut cut = before + doc.len();
                            if cut < buf.len() {
                                while cut > before && (buf[cut] & 0xC0) == 0x80 {
                                    cut -= 1;
                                }
                                buf.truncate(cut);
                            }
                            lens.push(buf.len() - before);
                        }
                    }
                    (buf, lens)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("normalise thread panicked")).collect()
    });
    if let Some((data, offsets)) = out {
        let (mut pos, mut i) = (0usize, 0usize);
        offsets[0] = 0;
        for (buf, lens) in parts {
            data[pos..pos + buf.len()].copy_from_slice(&buf);
            for len in lens {
                pos += len;
                i += 1;
                offsets[i] = pos as i64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        let mut v = Vec::new();
        fold_whitespace(s, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn folds_like_the_python_reference() {
        assert_eq!(fold("  a\t\tb  \r\n\r\n\r\n\n c\u{200b} d\x07 \n"), "a b\n\nc d");
        assert_eq!(fold("x\ry"), "x\ny");
        assert_eq!(fold(" \u{3000} "), "");
    }

    #[test]
    fn bidi_marks_go_and_joiners_stay_only_as_spelling() {
        assert_eq!(fold("\u{200E}\u{202B}a\u{2066}b\u{2069}\u{061C}\u{200F}"), "ab");
        assert_eq!(fold("می\u{200C}خواهم"), "می\u{200C}خواهم");
        assert_eq!(fold("क्\u{200D}ष"), "क्\u{200D}ष");
        assert_eq!(fold("👨\u{200D}👩\u{200D}👧 🏳\u{FE0F}\u{200D}🌈"), "👨\u{200D}👩\u{200D}👧 🏳\u{FE0F}\u{200D}🌈");
        assert_eq!(fold("Hel\u{200D}lo \u{200C}می\u{200C} 👨\u{200C}👩"), "Hello می 👨👩");
        assert_eq!(fold("\u{200C}\u{200D}\u{200E} \u{202E}"), "");
    }

    #[test]
    fn dotted_quads() {
        assert!(has_dotted_quad(b"at 192.0.2.17."));
        assert!(has_dotted_quad(b"1234.5.6.7"));
        assert!(!has_dotted_quad(b"1.2.3 and 4"));
    }
}
