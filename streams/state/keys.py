"""Every Redis key streamrec writes, in one dependency-free module (a versioned contract).

Frontends may read these keys directly; docs/redis-schema.md documents each one. All keys
of one user share the hash tag ``{u:<id>}``, all keys of one item ``{i:<id>}``, so every
script or transaction touches a single Redis Cluster slot. Ids are escaped so that no id
(braces, colons and percent signs included) can leave its place in the layout.
"""

from __future__ import annotations

LAYOUT_VERSION = "v1"
NAMESPACE = f"sr:{LAYOUT_VERSION}"
_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A"})


def escape(identifier: str) -> str:
    """Percent-encode the four characters that carry meaning in a key; reversible."""
    return identifier.translate(_ESCAPES)


def unescape(escaped: str) -> str:
    from urllib.parse import unquote

    return unquote(escaped)


def _user(user_id: str, part: str) -> str:
    return f"{NAMESPACE}:{{u:{escape(user_id)}}}:{part}"


def _item(item_id: str, part: str) -> str:
    return f"{NAMESPACE}:{{i:{escape(item_id)}}}:{part}"


# --- per user --------------------------------------------------------------------------
def user_state(user_id: str) -> str:
    """Hash: count, sum, sumsq of the user's ratings; ver (bumped by every change);
    f:<partition> fences; topn_at / topn_ver (when and from which ver the lists were made);
    h:<partition> / hb:<partition> the history cap's count and its redo base."""
    return _user(user_id, "state")


def user_ratings(user_id: str) -> str:
    """Hash: item id → the user's current rating (text)."""
    return _user(user_id, "ratings")


def user_pairs(user_id: str) -> str:
    """Hash: partner id → 48 bytes, six little-endian float64 co-rating sums from this
    user's side: n, Σr_u, Σr_v, Σr_u², Σr_v², Σr_u·r_v (see docs/algorithm.md)."""
    return _user(user_id, "pairs")


def user_neighbours(user_id: str) -> str:
    """Sorted set: neighbour id → Pearson similarity (the K most similar, positive)."""
    return _user(user_id, "nbrs")


def user_topn(user_id: str) -> str:
    """Sorted set: item id → predicted rating; the user's top-N, highest first."""
    return _user(user_id, "topn")


def user_history(user_id: str) -> str:
    """Hash: item id → 24 bytes, little-endian: float64 rating (NaN = retracted), int64
    source offset (ratings topic), int64 place in the user's counted sequence (from 1; 0 =
    not in the co-occurrence counts; streams.algo.itemcf.cooccurrence)."""
    return _user(user_id, "history")


def user_item_topn(user_id: str) -> str:
    """Sorted set: item id → item-to-item score from the user's recent items."""
    return _user(user_id, "topn:item")


def user_item_reasons(user_id: str) -> str:
    """Hash: item id on the item-to-item list → the recent item that put it there."""
    return _user(user_id, "topn:item:why")


def user_content_topn(user_id: str) -> str:
    """Sorted set: item id → cosine of the item with the user's content profile."""
    return _user(user_id, "topn:content")


def user_embedding_topn(user_id: str) -> str:
    """Sorted set: item id → b_i + p_u · q_i from the embedding learned online."""
    return _user(user_id, "topn:emb")


def user_embedding(user_id: str) -> str:
    """Hash: row → (factors + 1) little-endian float64, [b_u, p_u...]; c:<partition>
    fences (ratings topic offsets); at → when the content and embedding lists were made."""
    return _user(user_id, "emb")


def user_embedding_ratings(user_id: str) -> str:
    """Hash: item id → the user's current rating (text) as the embedding path saw it: what
    a retraction unlearns, what the content profile is made of."""
    return _user(user_id, "emb:rated")


def user_served(user_id: str) -> str:
    """Hash: doc → the served list as the HTTP API returns it for the stored size (JSON,
    ``items`` last); ends → uint32 little-endian, the byte offset where each item of
    ``doc`` ends, so the first n items are ``doc[:ends[n-1]] + "]}"``; v → the
    ``served_seq`` read before its source lists (a fusion from older lists never
    overwrites one from newer lists)."""
    return _user(user_id, "served")


# --- per item --------------------------------------------------------------------------
def item_raters(item_id: str) -> str:
    """Hash: user id → 24 bytes, little-endian: float64 rating (NaN = retracted), int64
    source offset of the event that set it, int64 join sequence (fan-out cap; −1 = left
    out by the history cap: pairs with no one)."""
    return _item(item_id, "raters")


def item_joins(item_id: str) -> str:
    """Hash: join seq → user id, every rater's current join (the fan-out cap's windows).
    Next to the item's raters hash, in its hash tag; ``next_seq`` is on the fence hash."""
    return _item(item_id, "joins")


def item_fence(item_id: str) -> str:
    """Hash: <partition> → last by-item offset whose batch was applied to this item;
    c:<partition> → the same for the item-to-item path (ratings topic offsets); n → n(i),
    the item's counted interactions; s → the sum of their ratings; next_seq → the next
    join sequence; rn, rs → the number and the sum of the item's current ratings (all of
    them, for the user-based baseline; docs/algorithm.md); pw → its time-decayed rating
    count (the popular list); rv → user-based batches applied (orders their copies)."""
    return _item(item_id, "fence")


def item_cooccurrence(item_id: str) -> str:
    """Hash: partner item id → c(i, j), users whose counted interactions hold both."""
    return _item(item_id, "cooc")


def item_pair_sums(item_id: str) -> str:
    """Hash: partner item id → 48 bytes, six little-endian float64 co-rating sums over the
    users counting both, item i's rating first (only with item_cf_similarity=pearson)."""
    return _item(item_id, "isums")


def item_similar(item_id: str) -> str:
    """Sorted set: item id → cosine, the most similar items (re-scored when i is rated)."""
    return _item(item_id, "similar")


def item_similar_content(item_id: str) -> str:
    """Sorted set: item id → cosine of the content vectors (re-scored on catalogue change)."""
    return _item(item_id, "similar:content")


def item_similar_embedding(item_id: str) -> str:
    """Sorted set: item id → cosine of the learned embeddings (re-scored when i is rated)."""
    return _item(item_id, "similar:emb")


def item_meta(item_id: str) -> str:
    """Hash: title, attributes (JSON) from the items topic."""
    return _item(item_id, "meta")


# --- per partition of the by-item stream -----------------------------------------------
def partition_progress(topic: str, partition: int) -> str:
    """Hash: fence (last offset fully applied), intent_end (batch being applied)."""
    return f"{NAMESPACE}:{{p:{escape(topic)}:{partition}}}:progress"


# --- global ----------------------------------------------------------------------------
def partition_layout() -> str:
    """Hash: ratings, by_item → the partition counts the state was built with (a worker
    refuses another count: ``streamrec rebuild --yes`` changes it); revision → what the
    state holds (``streams.topics.STATE_REVISION``; a worker refuses an older one)."""
    return f"{NAMESPACE}:{{g}}:layout"


def rebuild_copy() -> str:
    """Hash: records → the size of the complete copy of ``ratings`` a rebuild that changes
    the partition count made (an interrupted rebuild resumes from it)."""
    return f"{NAMESPACE}:{{g}}:rebuild_copy"


def user_means() -> str:
    """Hash: user id → current mean rating (derived from user_state; for fast lookups)."""
    return f"{NAMESPACE}:{{g}}:means"


def user_counts() -> str:
    """Hash: user id → "<count> <sum>" of the user's current ratings, published with the
    mean (same ``ver``): the user's bias in the user-based baseline."""
    return f"{NAMESPACE}:{{g}}:counts"


def rating_totals() -> str:
    """Hash: n, s → the number and the sum of every current rating, kept equal to the sum
    of ``user_counts`` by the script that publishes it (the baseline's global mean)."""
    return f"{NAMESPACE}:{{g}}:totals"


def item_ratings() -> str:
    """Hash: item id → "<count> <sum>" of all the item's current ratings, copied from its
    fence hash (rn, rs) after each batch: the user-based baseline reads the biases of
    every item a user rated in one command."""
    return f"{NAMESPACE}:{{g}}:iratings"


def item_ratings_versions() -> str:
    """Hash: item id → the version (rv) of its copy in ``item_ratings`` (newer wins)."""
    return f"{NAMESPACE}:{{g}}:iratings:v"


def user_means_versions() -> str:
    """Hash: user id → the user's ``ver`` when its mean was published (newer wins)."""
    return f"{NAMESPACE}:{{g}}:means_ver"


def barrier(tag: str) -> str:
    """Counter: bumped before each replication wait (``STREAMREC_REDIS__WAIT_REPLICAS``) on
    the master that serves the hash tag ``{tag}``; its value means nothing."""
    return f"{NAMESPACE}:{{{tag}}}:barrier"


def stale_users() -> str:
    """Sorted set: user id → time marked stale; the refresher takes the oldest first."""
    return f"{NAMESPACE}:{{g}}:stale"


REFRESH_ROUND, FUSE_ROUND = "refresh", "fuse"  # what a round's busy member starts with


def lists_busy() -> str:
    """Sorted set: a refresher or fuser round in progress ("<kind>:<pid>:<uuid>", kind
    ``REFRESH_ROUND`` or ``FUSE_ROUND``) → when it stops counting (its process may die
    mid-round). Marked before the round pops its users and cleared after its writes, so
    ``wait-idle`` never sees an empty queue while popped work is pending."""
    return f"{NAMESPACE}:{{g}}:lists:busy"


def similar_due(kind: str) -> str:
    """Sorted set: item id → when its similar list of ``kind`` ("cf" or "embedding") is
    due: rated again within the path's pace of its last re-scoring (``streams.engines.pace``)."""
    return f"{NAMESPACE}:{{g}}:similar:due:{kind}"


def similar_taken(kind: str) -> str:
    """Sorted set: item id → until when a worker that took it from ``similar_due`` holds it
    (a lease): it leaves when its list is written, and goes back to ``similar_due`` if the
    lease runs out first (the taker died or failed), so a crash loses no owed list."""
    return f"{NAMESPACE}:{{g}}:similar:taken:{kind}"


def served_due() -> str:
    """Sorted set: user id → when the oldest change not yet in their served list was
    produced; the worker's fuser takes the oldest first."""
    return f"{NAMESPACE}:{{g}}:served:due"


def served_seq() -> str:
    """Counter: bumped after every batch of source-list writes, before its users are
    queued; a fusion reads it before the lists, so the lists are at least that new."""
    return f"{NAMESPACE}:{{g}}:served:seq"


def served_times() -> str:
    """Sorted set: user id → when their served list was last fused (a change of the
    popular list re-fuses the oldest first)."""
    return f"{NAMESPACE}:{{g}}:served:at"


def served_popular() -> str:
    """Hash: doc, ends as in ``user_served`` without ``user_id``: what a user nobody knows
    is served (the reader puts the asked id in front)."""
    return f"{NAMESPACE}:{{g}}:served:popular"


def popular() -> str:
    """Sorted set: item id → time-decayed rating count (popularity fallback)."""
    return f"{NAMESPACE}:{{g}}:popular"


def stream_stats() -> str:
    """Hash: events (ratings applied so far), lists (lists written), stale_marks (users
    marked stale so far, re-marks included: the refresher's sign that the stream runs),
    mean_changes (batches that moved users' means), sweep_began and sweep_marks (the
    mean_changes and stale_marks at which the last convergence sweep began: the stream's
    stale and due lists had drained) and swept (the mean_changes at which the last
    finished sweep began: lists have converged when it is reached and no list is
    stale)."""
    return f"{NAMESPACE}:{{g}}:stats"


def item_counts() -> str:
    """Hash: item id → n(i), copied from each item's fence hash after a batch (one HMGET
    gives the counts a cosine row needs)."""
    return f"{NAMESPACE}:{{g}}:icounts"


def item_count_versions() -> str:
    """Hash: item id → version of its copy in ``item_counts`` / ``item_means`` (the count
    of batches applied to the item), so a late copy never overwrites a newer one."""
    return f"{NAMESPACE}:{{g}}:icounts:v"


def item_means() -> str:
    """Hash: item id → mean of its counted ratings (item_cf_similarity=pearson)."""
    return f"{NAMESPACE}:{{g}}:imeans"


def catalogue() -> str:
    """Set: every item id the items topic has described."""
    return f"{NAMESPACE}:{{g}}:catalogue"


def catalogue_version() -> str:
    """Counter: bumped by every catalogue change (workers reload their vectors on change)."""
    return f"{NAMESPACE}:{{g}}:catalogue_ver"


def embedding_items() -> str:
    """Hash: item id → (factors + 1) little-endian float64, [b_i, v_i...] (the id part;
    the neural variant adds the network's output for the item's attributes)."""
    return f"{NAMESPACE}:{{g}}:emb:items"


def embedding_model() -> str:
    """Hash: net → the network's weights (float64: W1, c, W2); mean → [count, sum] of all
    ratings (float64); shape → "variant,factors,hidden,features"; c:<partition> fences."""
    return f"{NAMESPACE}:{{g}}:emb:model"


def user_fence_field(partition: int) -> str:
    return f"f:{partition}"


def ratings_fence_field(partition: int) -> str:
    """Fence of a ratings-topic partition on a user or item (the paths that read ``ratings``
    directly: item-to-item and hybrid)."""
    return f"c:{partition}"


def all_keys_pattern() -> str:
    """For ``streamrec rebuild``: everything under this layout version."""
    return f"{NAMESPACE}:*"
