//! Code points: the lenient UTF-8 decoder, the character classes of `word_tables.rs` and the
//! code point sets that come from the language settings (bullets, closing and terminal characters).

use crate::word_tables::{ALPHA, BLOCKS, BLOCK_INDEX, SPACE, WORD};

#[inline(always)]
fn class(cp: u32) -> u8 {
    if cp < 0x110000 {
        BLOCKS[BLOCK_INDEX[(cp >> 8) as usize] as usize][(cp & 0xFF) as usize]
    } else {
        0
    }
}

#[inline(always)]
pub(super) fn is_word(cp: u32) -> bool {
    class(cp) & WORD != 0
}

#[inline(always)]
pub(super) fn is_space(cp: u32) -> bool {
    class(cp) & SPACE != 0
}

/// General Category L* (`str.isalpha`).
#[inline(always)]
pub(super) fn is_alpha(cp: u32) -> bool {
    class(cp) & ALPHA != 0
}

/// `WORD_JOINERS` (langmill/native/textstats.py): ' ’ - ‐ : .
#[inline(always)]
pub(super) fn is_joiner(cp: u32) -> bool {
    matches!(cp, 0x27 | 0x2019 | 0x2D | 0x2010 | 0x3A | 0x2E)
}

/// `TOKEN_INFIXES` (langmill/native/textstats.py): , ! ? ( ) [ ] < > = / " « » “ ” „
#[inline(always)]
pub(super) fn is_token_infix(cp: u32) -> bool {
    matches!(cp, 0x2C | 0x21 | 0x3F | 0x28 | 0x29 | 0x5B | 0x5D | 0x3C | 0x3E | 0x3D | 0x2F | 0x22 | 0xAB | 0xBB | 0x201C | 0x201D | 0x201E)
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

    pub fn is_empty(&self) -> bool {
        self.ascii == 0 && self.other.is_empty()
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
pub(super) fn decode(b: &[u8], cps: &mut Vec<u32>, pos: &mut Vec<u32>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_accepts_surrogates() {
        let mut c = Vec::new();
        let mut p = Vec::new();
        decode(b"a\xed\xa0\x80b\xffc", &mut c, &mut p);
        assert_eq!(c, [0x61, 0xD800, 0x62, 0xFFFD, 0x63]);
        assert_eq!(p, [0, 1, 4, 5, 6, 7]);
    }
}
