"""The Rust core (via langmill.native) against the plain Python reference."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from langmill import native

import reference_minhash as ref  # tests/ is on sys.path (pytest rootdir-relative import)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
UD = DATA / "text" / "ud"
LANGS = ("fi", "eu", "et", "is", "cy")

SMALL = dict(num_perm=64, ngram=3, seed=42, bands=8, rows=8)
DEFAULT = dict(num_perm=112, ngram=5, seed=1, bands=14, rows=8)


def assert_matches_reference(docs, native_input=None, **params):
    res = native.minhash(docs if native_input is None else native_input, **params)
    want = ref.minhash(docs, **params)
    n = len(docs)
    assert res.signatures.shape == (n, params["num_perm"]) and res.signatures.dtype == np.uint32
    assert res.band_keys.shape == (n, params["bands"]) and res.band_keys.dtype == np.uint64
    for i in range(n):
        assert res.n_words[i] == want["n_words"][i], f"n_words differ for doc {i}: {docs[i]!r:.80}"
        assert res.text_hash[i] == want["text_hash"][i], f"words differ for doc {i}: {docs[i]!r:.80}"
        assert res.signatures[i].tolist() == want["signatures"][i], f"signature differs for doc {i}"
        assert res.band_keys[i].tolist() == want["band_keys"][i], f"band keys differ for doc {i}"
    return res


def real_lines(per_lang: int = 60) -> list[str]:
    if not UD.is_dir():
        pytest.skip(f"real-text tests need {UD} (shared data not present)")
    lines = []
    for lang in LANGS:
        files = sorted(UD.glob(f"{lang}_*.txt"))
        if not files:
            pytest.skip(f"no UD text for language {lang!r} in {UD}")
        text = files[0].read_text(encoding="utf-8").splitlines()
        lines += [t for t in text if t.strip()][:per_lang]
    return lines


# --- xxh64 -----------------------------------------------------------------


def test_xxh64_matches_xxhash_package():
    rng = random.Random(1234)
    for seed in (0, 1, 2**31 - 1, 2**32 + 7, 2**63 + 5, 2**64 - 1):
        for length in range(0, 301):
            data = rng.randbytes(length)
            assert native.xxh64(data, seed) == xxhash.xxh64_intdigest(data, seed=seed), (seed, length)
    text = "Tämä on testi 🚀".encode()
    assert native.xxh64(bytearray(text)) == xxhash.xxh64_intdigest(text)
    assert native.xxh64(memoryview(text)) == xxhash.xxh64_intdigest(text)
    with pytest.raises(TypeError):
        native.xxh64("not bytes")


# --- word splitting ----------------------------------------------------------


def test_reference_words_follow_the_spec():
    assert ref.words("Hello, World!  x_y-z") == ["hello", "world", "x", "y", "z"]
    assert ref.words("ΣΊΣΥΦΟΣ «quoted» €5") == ["σίσυφοσ", "quoted", "5"]  # per-char lower: no final sigma
    assert ref.words("\t\n .,;:!? ") == []
    assert ref.words("naïve café\u00a0x") == ["naïve", "café", "x"]  # NBSP (Zs) splits
    assert ref.words("co\u00adop a\u200db") == ["co\u00adop", "a\u200db"]  # Cf does not split


def generated_ranges(name: str) -> list[tuple[int, int]]:
    """The (lo, hi) ranges of the static table `name` in src/unicode_tables.rs."""
    table = (REPO / "src" / "unicode_tables.rs").read_text().split(f"static {name}:")[1].split("];")[0]
    return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\(0x([0-9A-F]+), 0x([0-9A-F]+)\)", table)]


def test_generated_table_is_current():
    """src/unicode_tables.rs must equal what unicodedata says (regenerate otherwise)."""
    is_sep = [False] * 0x110000
    for lo, hi in generated_ranges("SEPARATOR_RANGES"):
        for cp in range(lo, hi + 1):
            is_sep[cp] = True
    wrong = [cp for cp in range(0x110000) if is_sep[cp] != (unicodedata.category(chr(cp)) in ref.SEPARATOR_CATEGORIES)]
    assert not wrong, f"{len(wrong)} code points disagree, e.g. {wrong[:5]}; run scripts/gen_unicode_tables.py"


def test_generated_joiner_tables_follow_the_python_rule():
    """The ZWNJ/ZWJ context tables of src/normalize.rs come from langmill/filters/normalize.py."""
    from langmill.filters.normalize import PICTOGRAPH_BLOCKS, _joining_letter

    letters = set()
    for lo, hi in generated_ranges("JOINING_LETTER_RANGES"):
        letters.update(range(lo, hi + 1))
    wrong = [cp for cp in range(0x110000) if (cp in letters) != _joining_letter(chr(cp))]
    assert not wrong, f"{len(wrong)} code points disagree, e.g. {wrong[:5]}; run scripts/gen_unicode_tables.py"
    assert generated_ranges("PICTOGRAPH_RANGES") == list(PICTOGRAPH_BLOCKS)


def test_words_match_reference_on_every_separator_boundary():
    # text_hash is xxh64 of the normalised words, so equal hashes mean equal words.
    rng = random.Random(7)
    # Unassigned (in Python's Unicode version) code points are left out: Rust's newer
    # Unicode data may give them lowercase mappings that Python does not know.
    pool = [chr(cp) for cp in range(0x20, 0x3000) if unicodedata.category(chr(cp)) not in ("Cs", "Cn")]
    docs = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 60))) for _ in range(300)]
    res = native.minhash(docs, signatures=False, band_keys=False)
    for i, d in enumerate(docs):
        assert res.text_hash[i] == ref.text_hash(d), repr(d)
        assert res.n_words[i] == len(ref.words(d)), repr(d)


# --- signatures on real text ------------------------------------------------


@pytest.mark.parametrize("params", [DEFAULT, SMALL], ids=["default", "small"])
def test_real_text_matches_reference(params):
    lines = real_lines()
    assert len(lines) >= 250
    # Single lines plus a few multi-line documents.
    docs = lines + [" ".join(lines[i : i + 15]) for i in range(0, len(lines), 15)]
    assert_matches_reference(docs, **params)


# --- adversarial inputs -------------------------------------------------------

ADVERSARIAL = [
    "",
    "word",
    "one two three four",  # ngram - 1 words for ngram=5
    "one two three four five",  # exactly ngram words
    "One, two; THREE -- four... five!",
    "!!! ... ??? --- *** ((( ))) «» “” 。、",
    "🙂🙃 emoji 👨‍👩‍👧 only 🚀🚀 between words 🇫🇮 flag",
    "Latin текст кириллицей και ελληνικά 中文字符 混合 हिन्दी देवनागरी पाठ",
    "ΑΘΗΝΑ Ὀδυσσεύς ΣΊΣΥΦΟΣ İstanbul ǅemal ß ﬁ straße ÅNGSTRÖM",
    "tabs\tand\nnewlines\r\nand\u2028line\u2029separators\u3000ideographic space",
    "a" * 1000,
    " ".join(["same"] * 50),
    "x\u0301\u0308 combining marks stay inside words d\u0303",
]


@pytest.mark.parametrize("params", [DEFAULT, SMALL], ids=["default", "small"])
def test_adversarial_texts_match_reference(params):
    assert_matches_reference(ADVERSARIAL, **params)


def test_densification_without_table_matches_reference():
    # num_perm > 1024 takes the table-free densification path in Rust.
    params = dict(num_perm=1100, ngram=2, seed=7, bands=10, rows=100)
    assert_matches_reference(ADVERSARIAL[:10], **params)


def test_short_docs_have_empty_signature():
    res = native.minhash(["", "one two three four"], **DEFAULT)
    assert (res.signatures == 0xFFFFFFFF).all()
    assert res.band_keys[0].tolist() == res.band_keys[1].tolist()
    assert res.text_hash[0] == xxhash.xxh64_intdigest(b"")


def test_ten_megabyte_document():
    para = ADVERSARIAL[7] + " " + " ".join(f"w{i}" for i in range(40)) + ". "
    reps = 10_000_000 // len(para.encode()) + 1
    big = para * reps
    small = para * (200_000 // len(para.encode()))
    res = native.minhash([big, small], **DEFAULT)
    # Every shingle of the big doc already occurs in two repetitions, so its
    # signature equals the 200 KB slice's, which the reference can afford.
    want = ref.minhash([small], **DEFAULT)
    assert res.signatures[0].tolist() == res.signatures[1].tolist() == want["signatures"][0]
    assert res.band_keys[1].tolist() == want["band_keys"][0]
    assert res.text_hash[1] == want["text_hash"][0]
    para_words = ref.words(para)
    assert res.n_words[0] == reps * len(para_words)
    assert res.text_hash[0] == xxhash.xxh64_intdigest(" ".join(para_words * reps).encode())


def test_lone_surrogate_does_not_crash():
    docs = ["bad \ud800 surrogate in the middle of five words", "\udfff", "fine text here ok five"]
    res = assert_matches_reference(docs, **SMALL)
    assert res.n_words.tolist() == [8, 0, 5]  # the surrogate became '?', a separator


def test_invalid_utf8_bytes_do_not_crash():
    raw = [b"valid words then \xff\xfe bad bytes \xc3 and more words", b"\xe2\x82", b"ok ok ok ok ok ok"]
    offsets = np.cumsum([0] + [len(r) for r in raw]).astype(np.int64)
    arr = pa.LargeStringArray.from_buffers(len(raw), pa.py_buffer(offsets), pa.py_buffer(b"".join(raw)))
    assert_matches_reference(raw, native_input=arr, **SMALL)


def test_input_kinds_sliced_arrays_and_nulls():
    docs = [None if i % 7 == 3 else f"doc {i} has words alpha beta gamma delta {i % 5}" for i in range(60)]
    expected = native.minhash([d or "" for d in docs], **SMALL)

    def same(res, rows):
        for field in ("signatures", "band_keys", "text_hash", "n_words"):
            assert np.array_equal(getattr(res, field), getattr(expected, field)[rows]), field

    same(native.minhash(docs, **SMALL), slice(None))
    arr = pa.array(docs, type=pa.string())
    same(native.minhash(arr, **SMALL), slice(None))
    same(native.minhash(arr.slice(5, 30), **SMALL), slice(5, 35))
    large = pa.array(docs, type=pa.large_string())
    same(native.minhash(large.slice(17), **SMALL), slice(17, None))
    chunked = pa.chunked_array([large.slice(0, 10), large.slice(10, 0), large.slice(10, 50)])
    same(native.minhash(chunked, **SMALL), slice(None))
    assert native.minhash(pa.chunked_array([], type=pa.string()), **SMALL).signatures.shape == (0, 64)
    same(native.minhash(pa.array([None] * 3), **SMALL), [3, 10, 17])

    pl = pytest.importorskip("polars")
    same(native.minhash(pl.Series(docs, dtype=pl.String), **SMALL), slice(None))
    same(native.minhash(pl.Series(docs, dtype=pl.String)[20:40], **SMALL), slice(20, 40))


def test_threads_agree():
    rng = random.Random(3)
    vocab = ["alpha", "βeta", "гамма", "δ", "x", "tämä", "on", "🙂", "日本", "and", "the", "of"]
    docs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 400))) for _ in range(3000)]
    one = native.minhash(docs, threads=1)
    two = native.minhash(docs, threads=2)
    auto = native.minhash(docs, threads=0)
    for field in ("signatures", "band_keys", "text_hash", "n_words"):
        assert np.array_equal(getattr(one, field), getattr(two, field)), field
        assert np.array_equal(getattr(one, field), getattr(auto, field)), field


def test_optional_outputs_and_signature_helper():
    docs = ["one two three four five six", "b c d e f g h"]
    full = native.minhash(docs)
    only_keys = native.minhash(docs, signatures=False)
    assert only_keys.signatures is None and np.array_equal(only_keys.band_keys, full.band_keys)
    none = native.minhash(docs, signatures=False, band_keys=False)
    assert none.band_keys is None and np.array_equal(none.text_hash, full.text_hash)
    sig = native.minhash_signatures(docs)
    assert sig.dtype == np.uint32 and np.array_equal(sig, full.signatures)


def test_argument_validation():
    with pytest.raises(ValueError, match="bands \\* rows"):
        native.minhash(["a"], num_perm=16, bands=3, rows=8)
    with pytest.raises(ValueError, match="ngram"):
        native.minhash(["a"], ngram=0)
    with pytest.raises(ValueError, match="num_perm"):
        native.minhash(["a"], num_perm=0)
    with pytest.raises(TypeError):
        native.minhash("a single string")
    with pytest.raises(TypeError):
        native.minhash(["ok", 5])
    with pytest.raises(TypeError):
        native.minhash(pa.array([1, 2]))
    with pytest.raises(ValueError, match="2-D"):
        native.cluster(np.zeros(3, dtype=np.uint64), np.ones(3, bool))
    with pytest.raises(ValueError, match="active"):
        native.cluster(np.zeros((3, 2), dtype=np.uint64), np.ones(4, bool))


# --- clustering ---------------------------------------------------------------


def test_cluster_matches_union_find_reference():
    rng = np.random.default_rng(11)
    n, bands = 4000, 6
    keys = rng.integers(0, 2**64, size=(n, bands), dtype=np.uint64)
    # Plant collisions: random pairs share one band key, plus a few long chains.
    for _ in range(1500):
        i, j = rng.integers(0, n, size=2)
        b = rng.integers(0, bands)
        keys[j, b] = keys[i, b]
    for start in range(0, 200, 20):
        for k in range(start, start + 19):
            keys[k + 1, k % bands] = keys[k, k % bands]
    active = rng.random(n) > 0.1
    want = ref.cluster(keys.tolist(), active.tolist())
    for threads in (1, 2):
        got = native.cluster(keys, active, threads=threads)
        assert got.dtype == np.uint32 and got.tolist() == want
    assert native.cluster(keys).tolist() == ref.cluster(keys.tolist(), [True] * n)
    assert native.cluster(keys.view(np.int64), active).tolist() == want
    assert native.cluster(np.zeros((0, 4), np.uint64), np.zeros(0, bool)).shape == (0,)
    assert native.cluster(np.zeros((3, 0), np.uint64)).tolist() == [0, 1, 2]


def test_near_duplicates_cluster_together():
    lines = real_lines(per_lang=80)
    docs = [" ".join(lines[i : i + 40]) for i in range(0, len(lines) - 40, 40)]
    variants = []
    for d in docs:
        ws = d.split(" ")
        ws[len(ws) // 2] = "MUUTETTU"
        variants.append(" ".join(ws))
    all_docs = docs + variants + [""] * 3
    res = native.minhash(all_docs, **DEFAULT)
    active = res.n_words >= DEFAULT["ngram"]
    roots = native.cluster(res.band_keys, active)
    n = len(docs)
    assert roots[n : 2 * n].tolist() == list(range(n)), "each variant joins its original"
    assert roots[:n].tolist() == list(range(n)), "distinct documents stay apart"
    assert roots[2 * n :].tolist() == [2 * n, 2 * n + 1, 2 * n + 2], "inactive docs stay alone"
    assert roots.tolist() == ref.cluster(res.band_keys.tolist(), active.tolist())


def test_union_find_over_edges_in_batches_matches_the_reference():
    rng = np.random.default_rng(3)
    n = 2_000
    edges = rng.integers(0, n, (1_500, 2))  # sparse: many components of several sizes, chains and stars
    parent = np.arange(n, dtype=np.uint32)
    for batch in np.array_split(edges, 7):  # in batches, as the clusters stage streams edge files
        native.union_edges(parent, batch[:, 0], batch[:, 1])
    roots = native.union_roots(parent)
    want = ref.union_edges(n, [tuple(e) for e in edges.tolist()])
    assert roots.tolist() == want and len(set(want)) < n - 500
    with pytest.raises(ValueError, match="not a node index"):
        native.union_edges(parent, np.array([n]), np.array([0]))
    with pytest.raises(TypeError, match="uint32"):
        native.union_edges(np.arange(3), [0], [1])


def test_bucket_edges_match_the_reference():
    rng = np.random.default_rng(5)
    n = 5_000
    band = rng.choice(np.array([0, 1, 2, 255], np.uint8), n)
    key = rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64)[rng.integers(0, 300, n)]  # full 64-bit keys, shared
    node = rng.permutation(10 * n)[:n].astype(np.int64) | (1 << 57) * rng.integers(0, 2, n)  # two generations
    start, to, exact = native.group_edges(band, key, node)
    got = sorted(zip(start.tolist(), to.tolist(), exact.tolist()))
    assert got == ref.group_edges(band.tolist(), key.tolist(), node.tolist()) and 0 < exact.sum() < len(got)
    assert [len(a) for a in native.group_edges(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64))] == [0, 0, 0]


def test_native_errors_become_python_exceptions():
    # Arrow does not validate offsets in from_buffers; Rust must reject them, not crash.
    offsets = np.array([0, 5, 3], dtype=np.int64)
    bad = pa.LargeStringArray.from_buffers(2, pa.py_buffer(offsets), pa.py_buffer(b"hello"))
    with pytest.raises(native.NativeError, match="invalid Arrow offsets"):
        native.minhash(bad)


# --- estimator quality ------------------------------------------------------


def _classic_minhash(shingle_hashes: np.ndarray, num_perm: int) -> np.ndarray:
    """Classic MinHash (num_perm independent hash functions) of uint64 shingle hashes."""
    m = np.uint64(0xFFFFFFFFFFFFFFFF)
    seeds = np.array([ref.mix64(0xC1A5 + i) for i in range(num_perm)], dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        z = shingle_hashes[None, :] ^ seeds
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & m
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & m
        z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(0xFFFFFFFF)).min(axis=1)


def test_estimated_jaccard_error_matches_classic_minhash():
    """OPH + densification vs classic MinHash of the same size on real document pairs:
    mean absolute error of the estimated Jaccard against the exact 5-gram Jaccard, and
    LSH (14 x 8) recall at Jaccard 0.8-0.9."""
    if not UD.is_dir():
        pytest.skip(f"needs {UD}")
    rng = random.Random(5)
    docs = []
    for path in sorted(UD.glob("*.txt")):
        lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        docs += [" ".join(lines[k : k + 15]) for k in range(0, min(len(lines), 15 * 60), 15)]
    pairs = []
    for i, d in enumerate(docs):
        ws = d.split()
        # Near duplicates: a fraction of the words replaced (J from ~0.3 to ~0.97) ...
        for f in rng.sample([0.003, 0.01, 0.015, 0.02, 0.025, 0.03, 0.05, 0.1, 0.2], 3):
            edited = [f"zz{rng.randrange(10**9)}" if rng.random() < f else w for w in ws]
            pairs.append((d, " ".join(edited)))
        # ... and unrelated pairs (J ~ 0).
        if i % 4 == 0:
            pairs.append((d, docs[rng.randrange(len(docs))]))
    flat = [t for p in pairs for t in p]
    num_perm = DEFAULT["num_perm"]
    sig = native.minhash(flat, **DEFAULT).signatures

    exact, est_oph, est_classic, band_hit_oph, band_hit_classic = [], [], [], [], []
    for k, (a, b) in enumerate(pairs):
        sets = []
        for t in (a, b):
            ws = ref.words(t)
            sets.append({" ".join(ws[i : i + 5]) for i in range(len(ws) - 4)})
        if not sets[0] or not sets[1]:
            continue
        exact.append(len(sets[0] & sets[1]) / len(sets[0] | sets[1]))
        sa, sb = sig[2 * k], sig[2 * k + 1]
        est_oph.append(float(np.mean(sa == sb)))
        ca, cb = (_classic_minhash(np.array([xxhash.xxh64_intdigest(s.encode()) for s in st], np.uint64), num_perm) for st in sets)
        est_classic.append(float(np.mean(ca == cb)))
        rows = lambda x: x[:112].reshape(14, 8)  # noqa: E731
        band_hit_oph.append(bool((rows(sa) == rows(sb)).all(axis=1).any()))
        band_hit_classic.append(bool((rows(ca) == rows(cb)).all(axis=1).any()))
    exact, est_oph, est_classic = map(np.array, (exact, est_oph, est_classic))
    assert len(exact) >= 800 and exact.min() < 0.05 and (exact > 0.95).any()
    mae_oph, mae_classic = np.abs(est_oph - exact).mean(), np.abs(est_classic - exact).mean()
    high = exact >= 0.5
    hi_oph, hi_classic = np.abs(est_oph - exact)[high].mean(), np.abs(est_classic - exact)[high].mean()
    assert high.sum() >= 500
    assert mae_oph <= 1.2 * mae_classic, (mae_oph, mae_classic)
    assert hi_oph <= 1.2 * hi_classic, (hi_oph, hi_classic)
    band = (exact >= 0.8) & (exact <= 0.9)
    assert band.sum() >= 150
    recall_oph = np.array(band_hit_oph)[band].mean()
    recall_classic = np.array(band_hit_classic)[band].mean()
    assert recall_oph >= recall_classic - 0.03, (recall_oph, recall_classic)
    print(
        f"pairs={len(exact)} MAE oph={mae_oph:.4f} classic={mae_classic:.4f}; "
        f"J>=0.5 ({high.sum()}): oph={hi_oph:.4f} classic={hi_classic:.4f}; "
        f"recall J 0.8-0.9 ({band.sum()}): oph={recall_oph:.3f} classic={recall_classic:.3f}"
    )
