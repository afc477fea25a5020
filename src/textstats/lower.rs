//! Python's `str.lower` on words and lines of a document (full mapping, final-sigma aware).

/// Appends `word.lower()` (Python semantics) of a word's bytes to `out`; returns its code points.
pub(super) fn push_lower_word(word: &[u8], out: &mut Vec<u8>) -> usize {
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
pub(super) fn lower_line(bytes: &[u8], cps: &[u32], pos: &[u32], lo: usize, hi: usize, out: &mut Vec<u8>) {
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
