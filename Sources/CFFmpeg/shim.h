// FFmpeg 5.1 (Debian 12) for Swift. Owned by MediaIngest: no other target imports CFFmpeg.
// Swift cannot import function-like or compound-literal macros (AVERROR, AV_NOPTS_VALUE, AV_TIME_BASE_Q, av_err2str),
// bit fields of AVIndexEntry, nor call variadic functions (av_log): the static inline wrappers below stand in for
// them. `cff_rotate_rgb24` is the one piece of pixel work done here, in C, because a per-pixel loop in a debug
// Swift build is too slow for 4K/8K frames.
#ifndef VIGIL_CFFMPEG_SHIM_H
#define VIGIL_CFFMPEG_SHIM_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/dict.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libavutil/time.h>

static inline int cff_averror(int e) { return AVERROR(e); }
static inline int cff_averror_eof(void) { return AVERROR_EOF; }
static inline int cff_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cff_averror_exit(void) { return AVERROR_EXIT; }
static inline int cff_averror_etimedout(void) { return AVERROR(ETIMEDOUT); }
static inline int cff_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cff_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int cff_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int cff_averror_demuxer_not_found(void) { return AVERROR_DEMUXER_NOT_FOUND; }
static inline int cff_averror_protocol_not_found(void) { return AVERROR_PROTOCOL_NOT_FOUND; }
static inline int cff_averror_http_bad_request(void) { return AVERROR_HTTP_BAD_REQUEST; }
static inline int cff_averror_http_unauthorized(void) { return AVERROR_HTTP_UNAUTHORIZED; }
static inline int cff_averror_http_forbidden(void) { return AVERROR_HTTP_FORBIDDEN; }
static inline int cff_averror_http_not_found(void) { return AVERROR_HTTP_NOT_FOUND; }
static inline int cff_averror_http_other_4xx(void) { return AVERROR_HTTP_OTHER_4XX; }
static inline int cff_averror_http_server_error(void) { return AVERROR_HTTP_SERVER_ERROR; }
static inline int64_t cff_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cff_time_base_q(void) { return AV_TIME_BASE_Q; }

/// Number of index entries of `st` that are real frames: not discarded by an edit list, not empty (AVI drop slots).
static inline int cff_index_frame_count(AVStream *st) {
    int n = avformat_index_get_entries_count(st);
    int frames = 0;
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (e && !(e->flags & AVINDEX_DISCARD_FRAME) && e->size > 0) frames++;
    }
    return frames;
}

/// The byte offset just past the last frame the index of `st` lists (0 without an index with sizes). A local file
/// shorter than this has been cut off.
static inline int64_t cff_index_end(AVStream *st) {
    int n = avformat_index_get_entries_count(st);
    int64_t end = 0;
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (e && e->size > 0 && e->pos + e->size > end) end = e->pos + e->size;
    }
    return end;
}

/// Copies RGB24 `src` (w×h, rows `src_stride` bytes apart) into packed `dst`, mirrored left-right first when
/// `hflip`, then turned clockwise by `quarter_turns` × 90°. `dst` holds w×h×3 bytes; it is h wide and w high for odd
/// quarter turns.
static inline void cff_rotate_rgb24(const uint8_t *src, int src_stride, int w, int h, uint8_t *dst,
                                    int quarter_turns, int hflip) {
    int q = ((quarter_turns % 4) + 4) % 4;
    int dw = (q % 2) ? h : w;
    if (q == 0 && !hflip) {
        for (int y = 0; y < h; y++) memcpy(dst + (size_t)y * w * 3, src + (size_t)y * src_stride, (size_t)w * 3);
        return;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * src_stride;
        for (int x0 = 0; x0 < w; x0++) {
            int x = hflip ? (w - 1 - x0) : x0;
            int dx, dy;
            switch (q) {
            case 1: dx = h - 1 - y; dy = x; break;          // clockwise
            case 2: dx = w - 1 - x; dy = h - 1 - y; break;  // half turn
            case 3: dx = y; dy = w - 1 - x; break;          // counter-clockwise
            default: dx = x; dy = y; break;
            }
            const uint8_t *s = row + (size_t)x0 * 3;
            uint8_t *d = dst + ((size_t)dy * dw + dx) * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
}
#endif
