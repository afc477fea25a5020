//! Connected components of documents that share an LSH band key.

/// Union-find over document indices where every root is the smallest index of its
/// set (we always hang the larger root under the smaller one), so no final
/// "min of component" pass is needed.
pub struct MinUnionFind {
    parent: Vec<u32>,
}

impl MinUnionFind {
    pub fn new(n: usize) -> Self {
        MinUnionFind { parent: (0..n as u32).collect() }
    }

    #[inline]
    pub fn find(&mut self, x: u32) -> u32 {
        find(&mut self.parent, x)
    }

    #[inline]
    pub fn union(&mut self, a: u32, b: u32) {
        union(&mut self.parent, a, b)
    }
}

/// The root of `x` in a forest stored as parent indices (path halving: every visited node
/// skips to its grandparent).
#[inline]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let gp = parent[parent[x as usize] as usize];
        parent[x as usize] = gp;
        x = gp;
    }
    x
}

/// Joins the sets of `a` and `b`, hanging the larger root under the smaller one, so every root
/// stays the smallest index of its set.
#[inline]
fn union(parent: &mut [u32], a: u32, b: u32) {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

/// Adds the edges `a[i]`-`b[i]` to a forest kept by the caller in `parent` (parent[i] == i for
/// a node never linked). Called once per batch of edges, so a graph whose edges do not fit in
/// memory is clustered with memory for its nodes only. Returns false (and changes nothing) when
/// an endpoint is not a node index. (A parent that is not one, which only a caller that broke
/// the forest can cause, panics on the bounds check.)
pub fn union_edges(parent: &mut [u32], a: &[u32], b: &[u32]) -> bool {
    let n = parent.len();
    if a.len() != b.len() || a.iter().chain(b).any(|&x| x as usize >= n) {
        return false;
    }
    for (&x, &y) in a.iter().zip(b) {
        union(parent, x, y);
    }
    true
}

/// Replaces every parent by its root: afterwards parent[i] is the smallest node of i's set.
pub fn flatten(parent: &mut [u32]) {
    for i in 0..parent.len() {
        let r = find(parent, i as u32);
        parent[i] = r;
    }
}

/// Links active documents with equal keys in the given bands into `uf`.
fn link_bands(keys: &[u64], active: Option<&[u8]>, n: usize, n_bands: usize, bands: &[usize], uf: &mut MinUnionFind) {
    let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(n);
    for &j in bands {
        pairs.clear();
        for i in 0..n {
            if active.is_none_or(|a| a[i] != 0) {
                pairs.push((keys[i * n_bands + j], i as u32));
            }
        }
        // Sorting (rather than a hash map) keeps memory at 16 bytes per doc and is
        // cache friendly; equal keys end up adjacent.
        pairs.sort_unstable_by_key(|&(k, _)| k);
        for w in pairs.windows(2) {
            if w[0].0 == w[1].0 {
                uf.union(w[0].1, w[1].1);
            }
        }
    }
}

/// Writes for each document the smallest index in its connected component.
/// Bands are spread over threads, each with its own forest; the forests are merged
/// at the end (linking i to its local root preserves all connectivity).
pub fn cluster(keys: &[u64], active: Option<&[u8]>, n: usize, n_bands: usize, n_threads: usize, out_root: &mut [u32]) {
    let n_threads = n_threads.max(1).min(n_bands.max(1));
    let mut uf = MinUnionFind::new(n);
    if n_threads == 1 || n < 2 {
        let all: Vec<usize> = (0..n_bands).collect();
        link_bands(keys, active, n, n_bands, &all, &mut uf);
    } else {
        let forests: Vec<MinUnionFind> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n_threads)
                .map(|t| {
                    scope.spawn(move || {
                        let mine: Vec<usize> = (t..n_bands).step_by(n_threads).collect();
                        let mut local = MinUnionFind::new(n);
                        link_bands(keys, active, n, n_bands, &mine, &mut local);
                        local
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for mut local in forests {
            for i in 0..n as u32 {
                let r = local.find(i);
                if r != i {
                    uf.union(i, r);
                }
            }
        }
    }
    for (i, r) in out_root.iter_mut().enumerate() {
        *r = uf.find(i as u32);
    }
}

/// The key of a row that holds a whole-text hash (see `group_edges`).
pub const WHOLE_TEXT: u8 = 255;

/// Duplicate edges of one dedup bucket. Rows are (band, key, node); rows with equal (band, key)
/// form a group, and every member but the group's smallest node gets an edge to that node. Writes
/// the edges to `from`/`to` (at most n of them) and, per edge, whether its group is a whole-text
/// hash (`band == WHOLE_TEXT`: an exact copy) to `exact`; returns the number written. Sorting a
/// u32 index (4 bytes per row) rather than the rows keeps a bucket's memory near its input size.
pub fn group_edges(band: &[u8], key: &[u64], node: &[i64], from: &mut [i64], to: &mut [i64], exact: &mut [u8]) -> usize {
    let n = band.len();
    let mut index: Vec<u32> = (0..n as u32).collect();
    index.sort_unstable_by_key(|&i| (band[i as usize], key[i as usize], node[i as usize]));
    let mut written = 0;
    let mut first = 0usize;
    for pos in 1..n {
        let (a, b) = (index[first] as usize, index[pos] as usize);
        if band[a] == band[b] && key[a] == key[b] {
            from[written] = node[b];
            to[written] = node[a];
            exact[written] = (band[a] == WHOLE_TEXT) as u8;
            written += 1;
        } else {
            first = pos;
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_and_inactive() {
        // 4 docs, 2 bands: 0-2 share band 0, 2-3 share band 1, doc 1 is inactive
        // although it shares band 0 with doc 3.
        let keys = [1, 10, 3, 20, 1, 30, 3, 30];
        let active = [1u8, 0, 1, 1];
        let mut root = [0u32; 4];
        cluster(&keys, Some(&active), 4, 2, 1, &mut root);
        assert_eq!(root, [0, 1, 0, 0]);
        let mut root2 = [0u32; 4];
        cluster(&keys, Some(&active), 4, 2, 2, &mut root2);
        assert_eq!(root, root2);
    }

    #[test]
    fn edges_in_batches() {
        // 0-3, then 3-1 and 4-2 in a second batch: {0, 1, 3} and {2, 4}.
        let mut parent: Vec<u32> = (0..5).collect();
        assert!(union_edges(&mut parent, &[3], &[0]));
        assert!(union_edges(&mut parent, &[3, 4], &[1, 2]));
        flatten(&mut parent);
        assert_eq!(parent, [0, 0, 2, 0, 2]);
        assert!(!union_edges(&mut parent, &[5], &[0]));
    }

    #[test]
    fn groups_point_at_their_smallest_node() {
        // band 0 key 7: nodes 30, 10, 20 -> 30->10, 20->10; band 1 key 7 is another group;
        // whole-text key 7: 50 -> 40, exact.
        let band = [0u8, 0, 1, 0, WHOLE_TEXT, WHOLE_TEXT];
        let key = [7u64, 7, 7, 7, 7, 7];
        let node = [30i64, 10, 30, 20, 50, 40];
        let (mut from, mut to, mut exact) = ([0i64; 6], [0i64; 6], [0u8; 6]);
        let m = group_edges(&band, &key, &node, &mut from, &mut to, &mut exact);
        assert_eq!(m, 3);
        assert_eq!((&from[..3], &to[..3], &exact[..3]), (&[20i64, 30, 50][..], &[10i64, 10, 40][..], &[0u8, 0, 1][..]));
    }
}
