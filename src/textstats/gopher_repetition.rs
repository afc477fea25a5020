//! Gopher repetition (kind 2): duplicate paragraphs and lines, the most frequent token n-gram per
//! top n and the characters of repeated token n-grams per dup n (datatrove's definitions).

use super::hashing::{dup_stats, hash_bytes, mix, K};
use super::units::{for_each_token, line_bytes, split_newline_runs, strip};
use super::Scratch;

/// Settings (params of `lm_textstats` kind 2): the n of the top and of the duplicate n-gram columns.
pub struct GopherRepetition {
    pub top_ns: Vec<usize>,
    pub dup_ns: Vec<usize>,
}
/// Output columns before the n-gram ones: GOPHER_REPETITION_COLUMNS of langmill/native/textstats.py.
pub const GR_BASE_COLS: usize = 8;

/// Fills `row` (GR_BASE_COLS + top_ns.len() + dup_ns.len()) for one decoded document.
pub(super) fn stats(p: &GopherRepetition, bytes: &[u8], s: &mut Scratch, row: &mut [i64]) {
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
    row[..GR_BASE_COLS - 1].copy_from_slice(&[n_items[0], dup[0].0, dup[0].1, n_items[1], dup[1].0, dup[1].1, n_chars as i64]);

    // tokens (case kept) -> ids
    s.word_spans.clear();
    s.ids.clear();
    s.lens.clear();
    let (mut n_tok_est, mut n_words) = (0, 0i64);
    for_each_token(cps, 0, n_chars, |_, _, is_w| {
        n_tok_est += 1;
        n_words += is_w as i64;
    });
    row[GR_BASE_COLS - 1] = n_words; // the length that `by_length` thresholds go by
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
