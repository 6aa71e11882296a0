// An opaque C API over hnswlib's HierarchicalNSW (Debian's header-only libhnswlib-dev 0.6.2) for Swift: a graph of
// unit vectors searched by inner product (= cosine on normalised vectors), with labels, soft deletion, resizing and
// a checked file format. Only `Memory` (HNSWVectorIndex) imports this target.
//
// No C++ exception crosses this boundary: every call that can fail returns a VHNSW_* status and leaves a message
// for `vhnsw_last_error()` (per thread). Distances are hnswlib's: 1 − a·b (smaller is closer).
//
// Thread-safety (hnswlib's): searches, `vhnsw_scores` and `vhnsw_save` may run concurrently with each other;
// `vhnsw_add` and `vhnsw_add_batch` may run concurrently with each other; everything else (and adding while
// searching) needs the caller's exclusive lock. HNSWVectorIndex holds a reader-writer lock around them.
#ifndef VIGIL_CHNSW_H
#define VIGIL_CHNSW_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes.
enum {
    VHNSW_OK = 0,
    /// An allocation failed (std::bad_alloc or hnswlib's "Not enough memory").
    VHNSW_ERROR_MEMORY = 1,
    /// A file could not be opened, written, flushed or read; errno's text is in the message.
    VHNSW_ERROR_IO = 2,
    /// A file is not a graph this shim wrote (size, checksum or header fields disagree).
    VHNSW_ERROR_CORRUPT = 3,
    /// An argument is out of range (dimension 0, M < 2, a label that exists, capacity below the count, …).
    VHNSW_ERROR_ARGUMENT = 4,
    /// The graph is at capacity: resize first.
    VHNSW_ERROR_FULL = 5,
    /// No element has this label.
    VHNSW_ERROR_NOT_FOUND = 6,
    /// Any other exception hnswlib threw.
    VHNSW_ERROR_INTERNAL = 7,
};

/// A graph (opaque).
typedef struct vhnsw_index vhnsw_index;

/// The message of the calling thread's last failure ("" when none).
const char *vhnsw_last_error(void);

/// A new empty graph of `dim`-value vectors with room for `capacity` elements; M links per node (2M on layer 0),
/// `ef_construction` candidates while inserting, levels drawn from a generator seeded with `seed`.
int vhnsw_create(size_t dim, size_t m, size_t ef_construction, size_t capacity, uint64_t seed, vhnsw_index **out);
/// Frees the graph (NULL is ignored).
void vhnsw_free(vhnsw_index *index);

/// Inserts `vector` (`dim` floats, expected unit length) under the new label `label`.
int vhnsw_add(vhnsw_index *index, const float *vector, uint64_t label);
/// Inserts `count` vectors (row r at `vectors + r·stride`) with labels `labels[r]`, on `threads` threads (≤ 1: the
/// calling thread, in order, deterministic for a given seed; more: hnswlib's concurrent insertion, not
/// deterministic). The graph must have room for all of them.
int vhnsw_add_batch(
    vhnsw_index *index, const float *vectors, size_t stride, const uint64_t *labels, size_t count, int threads);
/// Sets the search breadth ef (candidates kept while searching; a search uses max(ef, k)).
void vhnsw_set_ef(vhnsw_index *index, size_t ef);
/// The `k` nearest non-deleted elements to `query`, closest first: labels and distances (1 − dot). Returns how
/// many were found (≤ k) or −status.
long vhnsw_search(const vhnsw_index *index, const float *query, size_t k, uint64_t *labels, float *distances);
/// scores[i] = query · vector(first_label + i) for `count` consecutive labels, NaN for deleted or absent labels
/// (exact brute force over the stored vectors, for very selective filters).
int vhnsw_scores(const vhnsw_index *index, const float *query, uint64_t first_label, size_t count, float *scores);
/// Copies the stored vector of `label` into `out` (`dim` floats).
int vhnsw_vector(const vhnsw_index *index, uint64_t label, float *out);
/// Marks `label` deleted: searches skip it, the graph keeps routing through it. Deleting twice is fine.
int vhnsw_mark_deleted(vhnsw_index *index, uint64_t label);
/// 1 when `label` is marked deleted, 0 when live, −VHNSW_ERROR_NOT_FOUND when absent.
int vhnsw_is_deleted(const vhnsw_index *index, uint64_t label);
/// Grows (or shrinks, not below the count) the room to `capacity` elements.
int vhnsw_resize(vhnsw_index *index, size_t capacity);

/// Elements inserted (deleted ones included).
size_t vhnsw_count(const vhnsw_index *index);
/// Elements marked deleted.
size_t vhnsw_deleted_count(const vhnsw_index *index);
/// Room, in elements.
size_t vhnsw_capacity(const vhnsw_index *index);
/// Values per vector.
size_t vhnsw_dimension(const vhnsw_index *index);
/// Bytes the graph holds (vectors and layer-0 links for the whole capacity, upper-layer links, label map, locks).
size_t vhnsw_memory_bytes(const vhnsw_index *index);

/// Writes the graph to `path` in hnswlib's own file format (created or truncated; the caller writes to a
/// temporary name and renames), flushed with fsync; reports the file's size and CRC-32C.
int vhnsw_save(const vhnsw_index *index, const char *path, uint64_t *bytes, uint32_t *crc);
/// Reads a graph written by `vhnsw_save`: the file must have exactly `bytes` bytes with CRC-32C `crc` and header
/// fields that fit `dim`, before hnswlib parses it (so damaged or foreign bytes are an error, never a crash).
/// The loaded graph has room for max(`capacity`, its count) elements.
int vhnsw_load(const char *path, size_t dim, uint64_t bytes, uint32_t crc, size_t capacity, vhnsw_index **out);

#ifdef __cplusplus
}
#endif
#endif
