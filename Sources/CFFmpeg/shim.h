// FFmpeg 5.1 (Debian 12) for Swift. Owned by MediaIngest: no other target imports CFFmpeg.
// Swift cannot import function-like or compound-literal macros (AVERROR, AV_NOPTS_VALUE, AV_TIME_BASE_Q, av_err2str)
// nor call variadic functions (av_log): the static inline wrappers below stand in for them.
#ifndef VIGIL_CFFMPEG_SHIM_H
#define VIGIL_CFFMPEG_SHIM_H
#include <errno.h>
#include <stdio.h>
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

static inline int cff_averror(int e) { return AVERROR(e); }
static inline int cff_averror_eof(void) { return AVERROR_EOF; }
static inline int cff_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cff_averror_exit(void) { return AVERROR_EXIT; }
static inline int cff_averror_etimedout(void) { return AVERROR(ETIMEDOUT); }
static inline int cff_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int64_t cff_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cff_time_base_q(void) { return AV_TIME_BASE_Q; }
#endif
