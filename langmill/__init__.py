"""langmill: training data and fine-tuned models for languages that have little of either."""

__version__ = "0.1.0"


def minhash_signatures(texts, *, num_perm: int = 112, ngram: int = 5, seed: int = 1):
    """MinHash signatures of `texts` as a uint32 numpy array of shape (len(texts), num_perm).

    Texts are lower-cased and split into words on Unicode whitespace, punctuation and symbols;
    shingles are `ngram` consecutive words. One-permutation MinHash with optimal densification
    (each shingle hashed once into one of `num_perm` bins; empty bins borrow from a seeded
    choice of filled ones): the fraction of equal slots of two signatures estimates the
    Jaccard similarity of their shingle sets. Computed by the Rust core on all cores.
    """
    from langmill import native

    return native.minhash_signatures(texts, num_perm=num_perm, ngram=ngram, seed=seed)
