//! Native core of langmill: whitespace/control normalisation and PII hints (`normalize`),
//! quality-filter text statistics (`textstats`), dedup words, MinHash/LSH signatures and
//! exact-dup hashes (`text`, `minhash`, `xxh64`) and clustering (`cluster`).
//!
//! The only consumer is the `langmill.native` package (via cffi; `langmill/native/_abi.py` holds
//! the error codes). This file is the whole C boundary: each exported `lm_*` function turns its
//! raw pointers and lengths into slices and typed parameters here, then calls a safe function of
//! its module. Every exported function takes caller-owned buffers, never frees anything, and
//! never unwinds across the C boundary: panics are caught and reported as negative return codes.

mod cluster;
mod minhash;
mod normalize;
mod text;
mod textstats;
mod unicode_tables;
mod word_tables;
mod xxh64;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
const LM_OK: i32 = 0;
/// A required pointer was NULL.
const LM_ERR_NULL: i32 = -1;
/// Invalid parameter (num_perm, ngram, bands, rows; textstats kind, settings or column count).
const LM_ERR_PARAM: i32 = -2;
/// Arrow offsets are negative or decreasing.
const LM_ERR_OFFSETS: i32 = -3;
/// Internal panic (a bug); caught so it cannot unwind into Python.
const LM_ERR_PANIC: i32 = -4;
/// Output size does not fit in memory addressing (or a document is too long for textstats).
const LM_ERR_OVERFLOW: i32 = -5;

fn resolve_threads(n_threads: u32) -> usize {
    if n_threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        n_threads as usize
    }
}

/// Runs `f`, turning its error or a panic into a return code.
fn guarded(f: impl FnOnce() -> Result<(), i32>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => LM_OK,
        Ok(Err(code)) => code,
        Err(_) => LM_ERR_PANIC,
    }
}

/// `len` items at `ptr` (NULL allowed when `len == 0`).
unsafe fn in_slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], i32> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() {
        Err(LM_ERR_NULL)
    } else {
        Ok(std::slice::from_raw_parts(ptr, len))
    }
}

/// `len` writable items at `ptr` (NULL allowed when `len == 0`).
unsafe fn out_slice<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], i32> {
    if len == 0 {
        Ok(&mut [])
    } else if ptr.is_null() {
        Err(LM_ERR_NULL)
    } else {
        Ok(std::slice::from_raw_parts_mut(ptr, len))
    }
}

/// `len` writable items at `ptr`, or None when `ptr` is NULL (an output the caller skips).
unsafe fn opt_out_slice<'a, T>(ptr: *mut T, len: usize) -> Option<&'a mut [T]> {
    (!ptr.is_null()).then(|| std::slice::from_raw_parts_mut(ptr, len))
}

/// The `n` documents of an Arrow large_string array: `offsets` (n+1 entries, absolute into
/// `data`) and `data`. Errors when a pointer is NULL or the offsets are negative or decreasing.
unsafe fn arrow_docs<'a>(offsets: *const i64, data: *const u8, n: usize) -> Result<(&'a [i64], Vec<&'a [u8]>), i32> {
    let Some(n_off) = n.checked_add(1) else {
        return Err(LM_ERR_OVERFLOW);
    };
    let offs = in_slice(offsets, n_off)?;
    if offs[0] < 0 || offs.windows(2).any(|w| w[1] < w[0]) {
        return Err(LM_ERR_OFFSETS);
    }
    let bytes = in_slice(data, offs[n] as usize)?;
    Ok((offs, offs.windows(2).map(|w| &bytes[w[0] as usize..w[1] as usize]).collect()))
}

/// MinHash signatures, LSH band keys, exact-dup text hashes and word counts for
/// `n` documents stored as an Arrow large_string array (`offsets` has n+1 entries,
/// absolute into `data`). `out_sig` (n*num_perm) and `out_band_keys` (n*bands) may
/// be NULL to skip them; `out_text_hash` and `out_n_words` (n each) are required.
/// `n_threads == 0` uses all available cores. Returns 0 or a negative LM_ERR_* code.
///
/// # Safety
/// All pointers must be valid for the sizes above, and `data` for `offsets[n]` bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_minhash(
    offsets: *const i64,
    data: *const u8,
    n: usize,
    num_perm: u32,
    ngram: u32,
    seed: u64,
    bands: u32,
    rows: u32,
    n_threads: u32,
    out_sig: *mut u32,
    out_band_keys: *mut u64,
    out_text_hash: *mut u64,
    out_n_words: *mut u32,
) -> i32 {
    guarded(|| {
        if num_perm == 0 || ngram == 0 || rows == 0 || (bands as u64) * (rows as u64) > num_perm as u64 {
            return Err(LM_ERR_PARAM);
        }
        if n == 0 {
            return Ok(());
        }
        if offsets.is_null() || out_text_hash.is_null() || out_n_words.is_null() {
            return Err(LM_ERR_NULL);
        }
        let (Some(sig_len), Some(keys_len)) = (n.checked_mul(num_perm as usize), n.checked_mul(bands as usize)) else {
            return Err(LM_ERR_OVERFLOW);
        };
        let (_, docs) = arrow_docs(offsets, data, n)?;
        let outs = minhash::Outputs {
            sig: opt_out_slice(out_sig, sig_len),
            band_keys: if bands == 0 { None } else { opt_out_slice(out_band_keys, keys_len) },
            text_hash: out_slice(out_text_hash, n)?,
            n_words: out_slice(out_n_words, n)?,
        };
        let params = minhash::Params::new(num_perm as usize, ngram as usize, bands as usize, rows as usize, seed);
        minhash::run(&params, &docs, outs, resolve_threads(n_threads));
        Ok(())
    })
}

/// Connected components of active documents linked by equal keys in the same band.
/// `band_keys` is n*bands, row-major; `active` (n bytes, nonzero = active) may be
/// NULL for "all active". Writes the smallest document index of each component to
/// `out_root` (n). `n_threads == 0` uses all available cores.
///
/// # Safety
/// All non-NULL pointers must be valid for the sizes above.
#[no_mangle]
pub unsafe extern "C" fn lm_cluster(
    band_keys: *const u64,
    active: *const u8,
    n: usize,
    bands: u32,
    n_threads: u32,
    out_root: *mut u32,
) -> i32 {
    guarded(|| {
        if n == 0 {
            return Ok(());
        }
        if n > u32::MAX as usize {
            return Err(LM_ERR_OVERFLOW);
        }
        let Some(keys_len) = n.checked_mul(bands as usize) else {
            return Err(LM_ERR_OVERFLOW);
        };
        if out_root.is_null() {
            return Err(LM_ERR_NULL);
        }
        let keys = in_slice(band_keys, keys_len)?;
        let act = if active.is_null() { None } else { Some(std::slice::from_raw_parts(active, n)) };
        let roots = out_slice(out_root, n)?;
        cluster::cluster(keys, act, n, bands as usize, resolve_threads(n_threads), roots);
        Ok(())
    })
}

/// Adds `m` edges `a[i]`-`b[i]` to a union-find forest of `n` nodes that the caller owns
/// (`parent`, n u32; start with parent[i] = i). Edges may come in any number of calls, so only
/// the nodes need to be in memory. Every root is the smallest node of its set. Returns
/// LM_ERR_PARAM when an endpoint is >= n (nothing is changed then); a parent >= n, which only a
/// caller that wrote into the forest can cause, comes back as LM_ERR_PANIC.
///
/// # Safety
/// `parent` must be valid for n u32s, `a` and `b` for m u32s each.
#[no_mangle]
pub unsafe extern "C" fn lm_union_edges(parent: *mut u32, n: usize, a: *const u32, b: *const u32, m: usize) -> i32 {
    guarded(|| {
        if n > u32::MAX as usize {
            return Err(LM_ERR_OVERFLOW);
        }
        if n == 0 && m == 0 {
            return Ok(());
        }
        let parent = out_slice(parent, n)?;
        let (a, b) = (in_slice(a, m)?, in_slice(b, m)?);
        if cluster::union_edges(parent, a, b) {
            Ok(())
        } else {
            Err(LM_ERR_PARAM)
        }
    })
}

/// The duplicate edges of one dedup bucket's `n` key rows (`band`, `key`, `node`; see
/// `cluster::group_edges`) into `out_from`, `out_to` and `out_exact` (room for n each); the number
/// of edges goes to `out_count`. LM_ERR_OVERFLOW when n does not fit a u32 index.
///
/// # Safety
/// The inputs must be valid for n items each, the outputs for n items each, `out_count` for one.
#[no_mangle]
pub unsafe extern "C" fn lm_group_edges(
    band: *const u8,
    key: *const u64,
    node: *const i64,
    n: usize,
    out_from: *mut i64,
    out_to: *mut i64,
    out_exact: *mut u8,
    out_count: *mut usize,
) -> i32 {
    guarded(|| {
        if n > u32::MAX as usize {
            return Err(LM_ERR_OVERFLOW);
        }
        if out_count.is_null() {
            return Err(LM_ERR_NULL);
        }
        let (band, key, node) = (in_slice(band, n)?, in_slice(key, n)?, in_slice(node, n)?);
        let (from, to, exact) = (out_slice(out_from, n)?, out_slice(out_to, n)?, out_slice(out_exact, n)?);
        *out_count = cluster::group_edges(band, key, node, from, to, exact);
        Ok(())
    })
}

/// Rewrites the forest of `lm_union_edges` so that parent[i] is i's root (the smallest node of
/// its set). LM_ERR_PARAM when a parent is >= n.
///
/// # Safety
/// `parent` must be valid for n u32s.
#[no_mangle]
pub unsafe extern "C" fn lm_union_roots(parent: *mut u32, n: usize) -> i32 {
    guarded(|| {
        if n == 0 {
            return Ok(());
        }
        let parent = out_slice(parent, n)?;
        if parent.iter().any(|&p| p as usize >= n) {
            return Err(LM_ERR_PARAM);
        }
        cluster::flatten(parent);
        Ok(())
    })
}

/// Whitespace/control normalisation of `n` documents (Arrow large_string: `offsets`, `data`)
/// into `out_offsets` (n+1) and `out_data` (at least `offsets[n] - offsets[0]` bytes), and
/// per-document hint flags (`normalize::HINT_*`) into `out_flags` (n). With `out_data` NULL,
/// only the flags are computed (of the input). Returns 0 or a negative LM_ERR_* code.
///
/// # Safety
/// All non-NULL pointers must be valid for the sizes above.
#[no_mangle]
pub unsafe extern "C" fn lm_normalize(
    offsets: *const i64,
    data: *const u8,
    n: usize,
    n_threads: u32,
    out_offsets: *mut i64,
    out_data: *mut u8,
    out_flags: *mut u8,
) -> i32 {
    guarded(|| {
        if n == 0 {
            if !out_offsets.is_null() {
                *out_offsets = 0;
            }
            return Ok(());
        }
        if offsets.is_null() || out_flags.is_null() || (!out_data.is_null() && out_offsets.is_null()) {
            return Err(LM_ERR_NULL);
        }
        let (offs, docs) = arrow_docs(offsets, data, n)?;
        let (first, last) = (offs[0] as usize, offs[n] as usize);
        let flags = out_slice(out_flags, n)?;
        let out = match opt_out_slice(out_data, last - first) {
            Some(text) => Some((text, out_slice(out_offsets, n + 1)?)),
            None => None,
        };
        normalize::run(&docs, out, flags, resolve_threads(n_threads));
        Ok(())
    })
}

/// XXH64 of `len` bytes at `data` (NULL allowed when `len == 0`).
///
/// # Safety
/// `data` must be valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_xxh64(data: *const u8, len: usize, seed: u64) -> u64 {
    let bytes: &[u8] = if len == 0 || data.is_null() { &[] } else { std::slice::from_raw_parts(data, len) };
    // Cannot panic (pure arithmetic on a valid slice), so no unwind guard is needed.
    xxh64::xxh64(bytes, seed)
}

/// Kernel ids of `lm_textstats`.
pub const KIND_GOPHER_QUALITY: u32 = 1;
pub const KIND_GOPHER_REPETITION: u32 = 2;
pub const KIND_C4: u32 = 3;
pub const KIND_FINEWEB_QUALITY: u32 = 4;

/// Quality-filter text statistics (src/textstats/) for `n` documents stored as an Arrow
/// large_string array (`offsets`: n+1 absolute entries into `data`), as integer counts.
///
/// `kind` picks the filter (KIND_*): 1 Gopher quality, 2 Gopher repetition, 3 C4, 4 FineWeb
/// quality. Language settings come as string lists: `lists` holds every item followed by one
/// b'\n' (items contain no newline), `list_counts` (n_lists) the item count of each list.
/// Numeric settings come in `params` (n_params). `out` is n*n_cols, row-major; n_cols must be
/// the kind's column count. Per kind (lists; params -> columns):
///   1: [bullet chars, closing chars, stop words, separator chars]; [] -> 13: n_words,
///      word_chars, n_tokens, n_hash, n_ellipsis, n_lines, n_bullet_lines, n_ellipsis_lines,
///      n_alpha_words, n_stop_words, n_separators, n_garbled_words, n_distinct_words
///      (words are word tokens; distinct words are distinct lowercased ones;
///      stop words are distinct, lowercased; separators are tokens made only of separator chars
///      with a token before and after them on their line; garbled words have ASCII digits between
///      two letters, or one of | ! ; ` ~ or a private-use char inside)
///   2: []; [k_top, top ns (k_top), dup ns] -> 8 + len(ns): n_paras, n_dup_paras,
///      dup_para_chars, n_lines, n_dup_lines, dup_line_chars, n_chars, n_words, then count*chars of the
///      most frequent token n-gram per top n (0 only with fewer than n tokens), then the
///      characters of repeated token n-grams per dup n
///   3: [terminal strings, terminal chars, closing chars, javascript, policy];
///      [max_word_length, remove_no_terminal, remove_ellipsis, min_words_per_line,
///      drop_lorem, drop_curly] -> 9: lorem, curly, removed long_word, no_terminal_punct,
///      ellipsis, few_words, javascript, policy, sentences of the kept text.
///      If `out_text_len` (n) is not NULL, `out_text` (offsets[n]-offsets[0] bytes) gets the
///      kept text of each document with removed lines at its own input offset
///      (offsets[i]-offsets[0]) and out_text_len[i] its length; -1 when nothing was removed.
///   4: [terminal strings, closing chars]; [short_line_length] -> 7: n_lines, n_punct_lines,
///      n_short_lines, dup_line_chars, n_chars (without newlines), n_newlines, n_words
/// `n_threads == 0` uses all available cores. Returns 0 or a negative LM_ERR_* code.
///
/// # Safety
/// All pointers must be valid for the sizes above, and `data` for `offsets[n]` bytes.
#[no_mangle]
pub unsafe extern "C" fn lm_textstats(
    kind: u32,
    offsets: *const i64,
    data: *const u8,
    n: usize,
    lists: *const u8,
    lists_len: usize,
    list_counts: *const u32,
    n_lists: u32,
    params: *const i64,
    n_params: u32,
    n_threads: u32,
    out: *mut i64,
    n_cols: u32,
    out_text_len: *mut i64,
    out_text: *mut u8,
) -> i32 {
    guarded(|| {
        let lists_buf = in_slice(lists, lists_len)?;
        let counts = in_slice(list_counts, n_lists as usize)?;
        let params = in_slice(params, n_params as usize)?;
        let lists = split_lists(lists_buf, counts).ok_or(LM_ERR_PARAM)?;
        let kernel = textstats_kernel(kind, &lists, params).ok_or(LM_ERR_PARAM)?;
        if kernel.n_cols() != n_cols as usize {
            return Err(LM_ERR_PARAM);
        }
        if n == 0 {
            return Ok(());
        }
        if offsets.is_null() || out.is_null() {
            return Err(LM_ERR_NULL);
        }
        let out_len = n.checked_mul(n_cols as usize).ok_or(LM_ERR_OVERFLOW)?;
        let (offs, docs) = arrow_docs(offsets, data, n)?;
        if offs.windows(2).any(|w| w[1] - w[0] >= u32::MAX as i64) {
            return Err(LM_ERR_OVERFLOW); // code point byte positions are u32
        }
        let rows = out_slice(out, out_len)?;
        let is_c4 = matches!(kernel, textstats::Kernel::C4(_));
        let mut text_len = if is_c4 { opt_out_slice(out_text_len, n) } else { None };
        let span = (offs[n] - offs[0]) as usize;
        let text = if text_len.is_some() && span > 0 { Some(out_slice(out_text, span)?) } else { None };
        if let Some(tl) = text_len.as_deref_mut() {
            tl.fill(-1);
        }
        textstats::run(&kernel, &docs, offs, rows, text_len, text, resolve_threads(n_threads));
        Ok(())
    })
}

/// Splits the `lists` buffer of `lm_textstats` (every item followed by one b'\n') into
/// `counts.len()` lists; None unless the counts use up the buffer exactly.
fn split_lists<'a>(buf: &'a [u8], counts: &[u32]) -> Option<Vec<Vec<&'a [u8]>>> {
    let mut items = buf.split(|&b| b == b'\n');
    let mut out = Vec::with_capacity(counts.len());
    let mut used = 0usize;
    for &c in counts {
        let mut list = Vec::with_capacity(c as usize);
        for _ in 0..c {
            let it = items.next()?;
            used += it.len() + 1;
            list.push(it);
        }
        out.push(list);
    }
    (used == buf.len()).then_some(out)
}

/// The textstats kernel for `kind` from its string lists and integer params (see
/// `lm_textstats`); None when the numbers of lists/params do not fit the kind.
fn textstats_kernel(kind: u32, lists: &[Vec<&[u8]>], params: &[i64]) -> Option<textstats::Kernel> {
    use textstats::{decode_vec, CharSet, FineWeb, GopherQuality, GopherRepetition, Kernel, C4};
    let strings = |l: &[&[u8]]| l.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
    let cp_strings = |l: &[&[u8]]| l.iter().map(|s| decode_vec(s)).collect::<Vec<_>>();
    let char_set = |l: &[&[u8]]| CharSet::new(l.iter().flat_map(|it| decode_vec(it)));
    match kind {
        KIND_GOPHER_QUALITY if lists.len() == 4 && params.is_empty() => Some(Kernel::GopherQuality(GopherQuality {
            bullets: char_set(&lists[0]),
            closing: char_set(&lists[1]),
            stop_words: strings(&lists[2]),
            separators: char_set(&lists[3]),
        })),
        KIND_GOPHER_REPETITION if lists.is_empty() && !params.is_empty() => {
            let k_top = usize::try_from(params[0]).ok()?;
            let rest = params.get(1..)?;
            if k_top > rest.len() || rest.iter().any(|&x| x < 0) {
                return None;
            }
            Some(Kernel::GopherRepetition(GopherRepetition {
                top_ns: rest[..k_top].iter().map(|&x| x as usize).collect(),
                dup_ns: rest[k_top..].iter().map(|&x| x as usize).collect(),
            }))
        }
        KIND_C4 if lists.len() == 5 && params.len() == 6 => Some(Kernel::C4(C4 {
            terminal: cp_strings(&lists[0]),
            term_chars: char_set(&lists[1]),
            closing: char_set(&lists[2]),
            js: strings(&lists[3]),
            policy: strings(&lists[4]),
            max_word_length: params[0],
            remove_no_terminal: params[1] != 0,
            remove_ellipsis: params[2] != 0,
            min_words_per_line: params[3],
            drop_lorem: params[4] != 0,
            drop_curly: params[5] != 0,
        })),
        KIND_FINEWEB_QUALITY if lists.len() == 2 && params.len() == 1 => Some(Kernel::FineWeb(FineWeb {
            terminal: cp_strings(&lists[0]),
            closing: char_set(&lists[1]),
            short_line_length: params[0],
        })),
        _ => None,
    }
}
