//! Native core of langmill: MinHash/LSH signatures, exact-dup hashes and clustering.
//!
//! The only consumer is `langmill/native.py` (via cffi). Every exported function
//! takes caller-owned buffers, never frees anything, and never unwinds across the
//! C boundary: panics are caught and reported as negative return codes.

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
/// Invalid numeric parameter (num_perm, ngram, bands, rows).
const LM_ERR_PARAM: i32 = -2;
/// Arrow offsets are negative or decreasing.
const LM_ERR_OFFSETS: i32 = -3;
/// Internal panic (a bug); caught so it cannot unwind into Python.
const LM_ERR_PANIC: i32 = -4;
/// Output size does not fit in memory addressing.
const LM_ERR_OVERFLOW: i32 = -5;

fn resolve_threads(n_threads: u32) -> usize {
    if n_threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        n_threads as usize
    }
}

fn guarded(f: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(LM_ERR_PANIC)
}

/// `len` items at `ptr` (NULL allowed when `len == 0`).
pub(crate) unsafe fn in_slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], i32> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() {
        Err(LM_ERR_NULL)
    } else {
        Ok(std::slice::from_raw_parts(ptr, len))
    }
}

/// The `n` documents of an Arrow large_string array: `offsets` (n+1 entries, absolute into
/// `data`) and `data`. Errors when a pointer is NULL or the offsets are negative or decreasing.
pub(crate) unsafe fn arrow_docs<'a>(offsets: *const i64, data: *const u8, n: usize) -> Result<(&'a [i64], Vec<&'a [u8]>), i32> {
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

/// Builds `&mut [T]` from a possibly-NULL pointer; `Err` when required but NULL.
unsafe fn out_slice<'a, T>(ptr: *mut T, len: usize, required: bool) -> Result<Option<&'a mut [T]>, i32> {
    if ptr.is_null() {
        return if required && len > 0 { Err(LM_ERR_NULL) } else { Ok(None) };
    }
    Ok(Some(std::slice::from_raw_parts_mut(ptr, len)))
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
            return LM_ERR_PARAM;
        }
        if n == 0 {
            return LM_OK;
        }
        if offsets.is_null() || out_text_hash.is_null() || out_n_words.is_null() {
            return LM_ERR_NULL;
        }
        let (Some(sig_len), Some(keys_len)) = (n.checked_mul(num_perm as usize), n.checked_mul(bands as usize)) else {
            return LM_ERR_OVERFLOW;
        };
        let docs = match arrow_docs(offsets, data, n) {
            Ok((_, docs)) => docs,
            Err(code) => return code,
        };

        let outs = (|| -> Result<minhash::Outputs<'_>, i32> {
            Ok(minhash::Outputs {
                sig: out_slice(out_sig, sig_len, false)?,
                band_keys: if bands == 0 { None } else { out_slice(out_band_keys, keys_len, false)? },
                text_hash: out_slice(out_text_hash, n, true)?.unwrap_or_default(),
                n_words: out_slice(out_n_words, n, true)?.unwrap_or_default(),
            })
        })();
        let outs = match outs {
            Ok(o) => o,
            Err(code) => return code,
        };
        let params = minhash::Params::new(num_perm as usize, ngram as usize, bands as usize, rows as usize, seed);
        minhash::run(&params, &docs, outs, resolve_threads(n_threads));
        LM_OK
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
            return LM_OK;
        }
        if n > u32::MAX as usize {
            return LM_ERR_OVERFLOW;
        }
        let Some(keys_len) = n.checked_mul(bands as usize) else {
            return LM_ERR_OVERFLOW;
        };
        if out_root.is_null() || (keys_len > 0 && band_keys.is_null()) {
            return LM_ERR_NULL;
        }
        let keys: &[u64] = if keys_len == 0 { &[] } else { std::slice::from_raw_parts(band_keys, keys_len) };
        let act = if active.is_null() { None } else { Some(std::slice::from_raw_parts(active, n)) };
        let roots = std::slice::from_raw_parts_mut(out_root, n);
        cluster::cluster(keys, act, n, bands as usize, resolve_threads(n_threads), roots);
        LM_OK
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
            return LM_OK;
        }
        if offsets.is_null() || out_flags.is_null() || (!out_data.is_null() && out_offsets.is_null()) {
            return LM_ERR_NULL;
        }
        let (offs, docs) = match arrow_docs(offsets, data, n) {
            Ok(parsed) => parsed,
            Err(code) => return code,
        };
        let (first, last) = (offs[0] as usize, offs[n] as usize);
        let flags = std::slice::from_raw_parts_mut(out_flags, n);
        let out = if out_data.is_null() {
            None
        } else {
            Some((std::slice::from_raw_parts_mut(out_data, last - first), std::slice::from_raw_parts_mut(out_offsets, n + 1)))
        };
        normalize::run(&docs, out, flags, resolve_threads(n_threads));
        LM_OK
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

/// Quality-filter text statistics (src/textstats.rs) for `n` documents stored as an Arrow
/// large_string array (`offsets`: n+1 absolute entries into `data`), as integer counts.
///
/// `kind` picks the filter: 1 Gopher quality, 2 Gopher repetition, 3 C4, 4 FineWeb quality.
/// Language settings come as string lists: `lists` holds every item followed by one b'\n'
/// (items contain no newline), `list_counts` (n_lists) the item count of each list. Numeric
/// settings come in `params` (n_params). `out` is n*n_cols, row-major; n_cols must be the
/// kind's column count. Per kind (lists; params -> columns):
///   1: [bullet chars, closing chars, stop words]; [] -> 9: n_words, word_chars, n_hash,
///      n_ellipsis, n_lines, n_bullet_lines, n_ellipsis_lines, n_alpha_words, n_stop_words
///   2: []; [k_top, top ns (k_top), dup ns] -> 9 + len(ns): n_paras, n_dup_paras, para_chars,
///      dup_para_chars, n_lines, n_dup_lines, line_chars, dup_line_chars, word_chars, then
///      count*chars of the top n-gram per top n (0 unless repeated), covered chars per dup n
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
        textstats::entry(
            kind, offsets, data, n, lists, lists_len, list_counts, n_lists, params, n_params,
            resolve_threads(n_threads), out, n_cols, out_text_len, out_text,
        )
    })
}
