// The C shim over hnswlib's HierarchicalNSW<float> (include/chnsw.h has the contract). Three things hnswlib does
// not do for us:
//
//   - the distance: our own space, 1 − a·b with CFeatureKernels' multi-versioned dot product (AVX-512, AVX2 or
//     baseline, chosen at run time), so this file is compiled for baseline x86-64 and runs on every CPU (hnswlib's
//     own AVX paths need the whole file built with -mavx, which would then fault on older CPUs);
//   - a checked save: hnswlib's saveIndex ignores write errors (a full disk leaves a short file); ours writes the
//     same byte layout with every write checked, fsyncs, and reports size and CRC-32C;
//   - a checked load: hnswlib's loadIndex trusts the bytes (damaged link lists crash later searches), so the size,
//     the CRC-32C and every header field are verified first; loadIndex only ever sees a file we wrote.
//
// hnswlib 0.6.2 quirks handled here: its loading constructor leaves num_deleted_ uninitialised (we construct empty,
// zero it, then call loadIndex); markDelete throws on an already deleted label; addPoint with an existing label
// silently updates that element (we refuse existing labels instead).

#include "chnsw.h"

#include <hnswlib/hnswlib.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "cfeaturekernels.h"

namespace {

thread_local std::string lastError;

/// Inner-product "distance" 1 − a·b over unit vectors, with the dimension as hnswlib's distance parameter.
class UnitSpace : public hnswlib::SpaceInterface<float> {
  public:
    explicit UnitSpace(size_t dim) : dim_(dim) {}
    size_t get_data_size() override { return dim_ * sizeof(float); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return distance; }
    void *get_dist_func_param() override { return &dim_; }

  private:
    static float distance(const void *a, const void *b, const void *param) {
        size_t dim = *static_cast<const size_t *>(param);
        return 1.0f - vfm_dot(static_cast<const float *>(a), static_cast<const float *>(b), (long)dim);
    }
    size_t dim_;
};

using Graph = hnswlib::HierarchicalNSW<float>;

int fail(int status, const std::string &message) {
    lastError = message;
    return status;
}

/// The status of a caught exception.
int failure(const std::exception &error) {
    std::string what = error.what();
    if (dynamic_cast<const std::bad_alloc *>(&error) || what.find("memory") != std::string::npos) {
        return fail(VHNSW_ERROR_MEMORY, "out of memory (" + what + ")");
    }
    return fail(VHNSW_ERROR_INTERNAL, "hnswlib: " + what);
}

std::string systemError(const char *path, const char *action) {
    return std::string("cannot ") + action + " " + path + ": " + std::strerror(errno);
}

/// The fixed-size header of hnswlib's file format, in its field order (HierarchicalNSW::saveIndex).
struct Header {
    size_t offsetLevel0, maxElements, count, sizeDataPerElement, labelOffset, offsetData;
    int maxLevel;
    hnswlib::tableint enterPoint;
    size_t maxM, maxM0, m;
    double mult;
    size_t efConstruction;
};
constexpr size_t headerBytes = 6 * sizeof(size_t) + sizeof(int) + sizeof(hnswlib::tableint) + 3 * sizeof(size_t) +
                               sizeof(double) + sizeof(size_t);

/// Writes through a buffer with every write checked, accumulating the CRC-32C.
class CheckedWriter {
  public:
    CheckedWriter(int fd) : fd_(fd) { buffer_.reserve(1 << 20); }
    template <typename T> bool pod(const T &value) { return bytes(&value, sizeof(T)); }
    bool bytes(const void *data, size_t count) {
        crc_ = vfm_crc32c(crc_, data, count);
        written_ += count;
        const char *p = static_cast<const char *>(data);
        if (count >= (1 << 20)) return flush() && raw(p, count);
        if (buffer_.size() + count > (1 << 20) && !flush()) return false;
        buffer_.insert(buffer_.end(), p, p + count);
        return true;
    }
    bool flush() {
        bool ok = raw(buffer_.data(), buffer_.size());
        buffer_.clear();
        return ok;
    }
    uint32_t crc() const { return crc_; }
    uint64_t written() const { return written_; }

  private:
    bool raw(const char *p, size_t count) {
        while (count > 0) {
            ssize_t n = ::write(fd_, p, count);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            p += n;
            count -= (size_t)n;
        }
        return true;
    }
    int fd_;
    std::vector<char> buffer_;
    uint32_t crc_ = 0;
    uint64_t written_ = 0;
};

bool readFully(int fd, void *data, size_t count) {
    char *p = static_cast<char *>(data);
    while (count > 0) {
        ssize_t n = ::read(fd, p, count);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        count -= (size_t)n;
    }
    return true;
}

} // namespace

struct vhnsw_index {
    std::unique_ptr<UnitSpace> space;
    Graph *graph = nullptr;
    size_t dim = 0;

    /// The internal id of `label`, or −1.
    long internalID(uint64_t label) const {
        // Labels inserted in order on one thread are their internal ids: skip the hash lookup then.
        if (label < graph->cur_element_count && graph->getExternalLabel((hnswlib::tableint)label) == label) {
            return (long)label;
        }
        auto found = graph->label_lookup_.find(label);
        return found == graph->label_lookup_.end() ? -1 : (long)found->second;
    }
};

extern "C" {

const char *vhnsw_last_error(void) { return lastError.c_str(); }

int vhnsw_create(size_t dim, size_t m, size_t ef_construction, size_t capacity, uint64_t seed, vhnsw_index **out) {
    *out = nullptr;
    if (dim == 0 || m < 2 || m > 10000 || ef_construction == 0 || capacity == 0 || capacity > UINT32_MAX) {
        return fail(VHNSW_ERROR_ARGUMENT, "dimension, M, ef_construction or capacity out of range");
    }
    try {
        auto index = std::make_unique<vhnsw_index>();
        index->dim = dim;
        index->space = std::make_unique<UnitSpace>(dim);
        index->graph = new Graph(index->space.get(), capacity, m, ef_construction, (size_t)seed);
        *out = index.release();
        return VHNSW_OK;
    } catch (const std::exception &error) {
        return failure(error);
    }
}

void vhnsw_free(vhnsw_index *index) {
    if (!index) return;
    delete index->graph;
    delete index;
}

int vhnsw_add(vhnsw_index *index, const float *vector, uint64_t label) {
    try {
        Graph *g = index->graph;
        if (g->cur_element_count >= g->max_elements_) return fail(VHNSW_ERROR_FULL, "the graph is full");
        if (g->label_lookup_.count(label)) return fail(VHNSW_ERROR_ARGUMENT, "the label exists");
        g->addPoint(vector, label);
        return VHNSW_OK;
    } catch (const std::exception &error) {
        return failure(error);
    }
}

int vhnsw_add_batch(
    vhnsw_index *index, const float *vectors, size_t stride, const uint64_t *labels, size_t count, int threads) {
    Graph *g = index->graph;
    if (g->cur_element_count + count > g->max_elements_) return fail(VHNSW_ERROR_FULL, "the graph is too small");
    for (size_t r = 0; r < count; r++) {
        if (g->label_lookup_.count(labels[r])) return fail(VHNSW_ERROR_ARGUMENT, "a label exists");
    }
    if (threads <= 1 || count < 2) {
        for (size_t r = 0; r < count; r++) {
            int status = vhnsw_add(index, vectors + r * stride, labels[r]);
            if (status != VHNSW_OK) return status;
        }
        return VHNSW_OK;
    }
    std::atomic<size_t> next(0);
    std::mutex errorLock;
    int status = VHNSW_OK;
    std::string message;
    auto work = [&]() {
        for (size_t r = next++; r < count; r = next++) {
            try {
                g->addPoint(vectors + r * stride, labels[r]);
            } catch (const std::exception &error) {
                std::lock_guard<std::mutex> hold(errorLock);
                if (status == VHNSW_OK) {
                    status = failure(error);
                    message = lastError;
                }
                next = count;
            }
        }
    };
    try {
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; t++) pool.emplace_back(work);
        work();
        for (auto &thread : pool) thread.join();
    } catch (const std::exception &error) {
        return failure(error); // a thread could not be started (the started ones have been joined by then)
    }
    if (status != VHNSW_OK) lastError = message;
    return status;
}

void vhnsw_set_ef(vhnsw_index *index, size_t ef) { index->graph->setEf(ef < 1 ? 1 : ef); }

long vhnsw_search(const vhnsw_index *index, const float *query, size_t k, uint64_t *labels, float *distances) {
    try {
        auto found = index->graph->searchKnn(query, k);
        long n = (long)found.size();
        for (long i = n - 1; i >= 0; i--) {
            labels[i] = found.top().second;
            distances[i] = found.top().first;
            found.pop();
        }
        return n;
    } catch (const std::exception &error) {
        return -failure(error);
    }
}

int vhnsw_scores(const vhnsw_index *index, const float *query, uint64_t first_label, size_t count, float *scores) {
    const Graph *g = index->graph;
    for (size_t i = 0; i < count; i++) {
        long id = index->internalID(first_label + i);
        if (id < 0 || g->isMarkedDeleted((hnswlib::tableint)id)) {
            scores[i] = NAN;
        } else {
            auto row = reinterpret_cast<const float *>(g->getDataByInternalId((hnswlib::tableint)id));
            scores[i] = vfm_dot(query, row, (long)index->dim);
        }
    }
    return VHNSW_OK;
}

int vhnsw_vector(const vhnsw_index *index, uint64_t label, float *out) {
    long id = index->internalID(label);
    if (id < 0) return fail(VHNSW_ERROR_NOT_FOUND, "no element has this label");
    std::memcpy(out, index->graph->getDataByInternalId((hnswlib::tableint)id), index->dim * sizeof(float));
    return VHNSW_OK;
}

int vhnsw_mark_deleted(vhnsw_index *index, uint64_t label) {
    long id = index->internalID(label);
    if (id < 0) return fail(VHNSW_ERROR_NOT_FOUND, "no element has this label");
    try {
        if (!index->graph->isMarkedDeleted((hnswlib::tableint)id)) index->graph->markDelete(label);
        return VHNSW_OK;
    } catch (const std::exception &error) {
        return failure(error);
    }
}

int vhnsw_is_deleted(const vhnsw_index *index, uint64_t label) {
    long id = index->internalID(label);
    if (id < 0) return -VHNSW_ERROR_NOT_FOUND;
    return index->graph->isMarkedDeleted((hnswlib::tableint)id) ? 1 : 0;
}

int vhnsw_resize(vhnsw_index *index, size_t capacity) {
    if (capacity < index->graph->cur_element_count || capacity == 0 || capacity > UINT32_MAX) {
        return fail(VHNSW_ERROR_ARGUMENT, "capacity below the element count");
    }
    try {
        index->graph->resizeIndex(capacity);
        return VHNSW_OK;
    } catch (const std::exception &error) {
        return failure(error);
    }
}

size_t vhnsw_count(const vhnsw_index *index) { return index->graph->cur_element_count; }
size_t vhnsw_deleted_count(const vhnsw_index *index) { return index->graph->num_deleted_; }
size_t vhnsw_capacity(const vhnsw_index *index) { return index->graph->max_elements_; }
size_t vhnsw_dimension(const vhnsw_index *index) { return index->dim; }

size_t vhnsw_memory_bytes(const vhnsw_index *index) {
    const Graph *g = index->graph;
    size_t bytes = g->max_elements_ * (g->size_data_per_element_ + sizeof(void *) + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < g->cur_element_count; i++) {
        if (g->element_levels_[i] > 0) bytes += g->size_links_per_element_ * g->element_levels_[i] + 1;
    }
    // The label map: a node (next pointer, key, value, cached hash) per element plus the bucket array.
    bytes += g->label_lookup_.size() * (2 * sizeof(void *) + sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint)) +
             g->label_lookup_.bucket_count() * sizeof(void *);
    bytes += Graph::max_update_element_locks * sizeof(std::mutex);
    bytes += g->max_elements_ * sizeof(unsigned short); // one visited list
    return bytes;
}

int vhnsw_save(const vhnsw_index *index, const char *path, uint64_t *bytes, uint32_t *crc) {
    const Graph *g = index->graph;
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail(VHNSW_ERROR_IO, systemError(path, "create"));
    CheckedWriter out(fd);
    // HierarchicalNSW::saveIndex's layout, field by field.
    bool ok = out.pod(g->offsetLevel0_) && out.pod(g->max_elements_) && out.pod(g->cur_element_count) &&
              out.pod(g->size_data_per_element_) && out.pod(g->label_offset_) && out.pod(g->offsetData_) &&
              out.pod(g->maxlevel_) && out.pod(g->enterpoint_node_) && out.pod(g->maxM_) && out.pod(g->maxM0_) &&
              out.pod(g->M_) && out.pod(g->mult_) && out.pod(g->ef_construction_);
    ok = ok && out.bytes(g->data_level0_memory_, g->cur_element_count * g->size_data_per_element_);
    for (size_t i = 0; ok && i < g->cur_element_count; i++) {
        int levels = g->element_levels_[i];
        unsigned int size = levels > 0 ? (unsigned int)(g->size_links_per_element_ * levels) : 0;
        ok = out.pod(size) && (size == 0 || out.bytes(g->linkLists_[i], size));
    }
    ok = ok && out.flush();
    if (!ok || ::fsync(fd) != 0) {
        std::string message = systemError(path, "write");
        ::close(fd);
        return fail(VHNSW_ERROR_IO, message);
    }
    if (::close(fd) != 0) return fail(VHNSW_ERROR_IO, systemError(path, "close"));
    *bytes = out.written();
    *crc = out.crc();
    return VHNSW_OK;
}

int vhnsw_load(const char *path, size_t dim, uint64_t bytes, uint32_t crc, size_t capacity, vhnsw_index **out) {
    *out = nullptr;
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(VHNSW_ERROR_IO, systemError(path, "open"));
    // 1. Size and checksum of the whole file.
    uint64_t seen = 0;
    uint32_t sum = 0;
    std::vector<char> chunk(1 << 20);
    Header h{};
    bool haveHeader = false;
    while (true) {
        ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            std::string message = systemError(path, "read");
            ::close(fd);
            return fail(VHNSW_ERROR_IO, message);
        }
        if (n == 0) break;
        sum = vfm_crc32c(sum, chunk.data(), (size_t)n);
        seen += (uint64_t)n;
    }
    if (seen != bytes || sum != crc) {
        ::close(fd);
        return fail(VHNSW_ERROR_CORRUPT, "its size or checksum differs from the one recorded when it was saved");
    }
    // 2. The header fields must describe a graph of this dimension.
    if (::lseek(fd, 0, SEEK_SET) == 0 && seen >= headerBytes) {
        char raw[headerBytes];
        if (readFully(fd, raw, headerBytes)) {
            char *p = raw;
            auto take = [&p](auto &field) {
                std::memcpy(&field, p, sizeof(field));
                p += sizeof(field);
            };
            take(h.offsetLevel0), take(h.maxElements), take(h.count), take(h.sizeDataPerElement);
            take(h.labelOffset), take(h.offsetData), take(h.maxLevel), take(h.enterPoint), take(h.maxM);
            take(h.maxM0), take(h.m), take(h.mult), take(h.efConstruction);
            haveHeader = true;
        }
    }
    ::close(fd);
    size_t links0 = h.maxM0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    bool valid = haveHeader && h.offsetLevel0 == 0 && h.m >= 2 && h.m <= 10000 && h.maxM == h.m &&
                 h.maxM0 == 2 * h.m && h.offsetData == links0 && h.labelOffset == links0 + dim * sizeof(float) &&
                 h.sizeDataPerElement == h.labelOffset + sizeof(hnswlib::labeltype) && h.count <= h.maxElements &&
                 h.maxElements <= UINT32_MAX && h.maxLevel >= -1 && h.maxLevel < 256 && std::isfinite(h.mult) &&
                 h.mult > 0 && (h.count == 0 || h.enterPoint < h.count) &&
                 headerBytes + h.count * (h.sizeDataPerElement + sizeof(unsigned int)) <= bytes;
    if (!valid) return fail(VHNSW_ERROR_CORRUPT, "its header does not describe a graph of this dimension");
    // 3. hnswlib parses the verified file.
    try {
        auto index = std::make_unique<vhnsw_index>();
        index->dim = dim;
        index->space = std::make_unique<UnitSpace>(dim);
        Graph *g = new Graph(index->space.get());
        g->num_deleted_ = 0;
        g->metric_distance_computations = 0;
        g->metric_hops = 0;
        g->loadIndex(path, index->space.get(), capacity > h.count ? capacity : (h.count > 0 ? h.count : 1));
        index->graph = g;
        *out = index.release();
        return VHNSW_OK;
    } catch (const std::exception &error) {
        // A half-loaded graph holds uninitialised pointers: leak it rather than free them.
        return failure(error);
    }
}

} // extern "C"
