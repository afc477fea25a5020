"""Keep/drop decisions of the dedup stage on hand-made keys (the Rust clustering is checked in test_native)."""

import numpy as np

from langmill.filters.dedup import decide_duplicates


def test_first_copy_wins_and_clusters_are_transitive():
    # 0 and 3 are exact copies; 1~2 share band 0, 2~4 share band 1 (a chain); 5 is short.
    text_hash = np.array([7, 1, 2, 7, 4, 9], dtype=np.uint64)
    n_words = np.array([50, 50, 50, 50, 50, 3], dtype=np.uint32)
    band_keys = np.array([[10, 20], [11, 21], [11, 22], [10, 20], [12, 22], [11, 21]], dtype=np.uint64)
    root, is_exact = decide_duplicates(text_hash, n_words, band_keys, min_words=5)
    assert root.tolist() == [0, 1, 1, 0, 1, 5]
    assert is_exact.tolist() == [False, False, False, True, False, False]


def test_exact_copies_of_a_near_duplicate_point_at_the_cluster_survivor():
    text_hash = np.array([1, 2, 2], dtype=np.uint64)
    n_words = np.array([20, 20, 20], dtype=np.uint32)
    band_keys = np.array([[5], [5], [5]], dtype=np.uint64)
    root, is_exact = decide_duplicates(text_hash, n_words, band_keys, min_words=5)
    assert root.tolist() == [0, 0, 0] and is_exact.tolist() == [False, False, True]


def test_empty_input():
    root, is_exact = decide_duplicates(np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros((0, 14), np.uint64), 5)
    assert root.size == 0 and is_exact.size == 0
