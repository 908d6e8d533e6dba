#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

#include <zlib.h>

/// inflateInit2 is a macro Swift cannot call: this starts a stream that reads the gzip format
/// (window bits 15 + 16), the one HTTP's `Content-Encoding: gzip` names.
static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
