/* http_parse.h - the debug endpoint's HTTP/1.1 request parser: bytes in, a
 * parsed request head or an error out. Pure: no allocation, no state, no
 * I/O, no other roost file; so it is tested alone (tests/test_debug.c) and
 * a fuzzer can drive it with nothing else linked.
 *
 * The head is everything up to and including the blank line. The parser
 * accepts what the endpoint serves and refuses the rest with the status
 * the answer should carry:
 *   - a request line "METHOD SP TARGET SP HTTP/1.x" (CRLF or bare LF line
 *     ends), at most ROOST_HTTP_MAX_LINE bytes (414 beyond: the target is
 *     what grows);
 *   - at most ROOST_HTTP_MAX_HEADERS header fields (431), each "name: value"
 *     with a token name and no line folding (400), the whole head at most
 *     ROOST_HTTP_MAX_HEAD bytes (431);
 *   - no request body: Transfer-Encoding (501) or a Content-Length other
 *     than 0 (413) is refused; HTTP/1.0 and 1.1 only (505); a method that
 *     is not a token (400).
 * The target is split at '?' into path and query; neither is decoded.
 */
#ifndef ROOST_HTTP_PARSE_H
#define ROOST_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* The library's own: not exported from libroost.so (a fuzzer or a test
 * links the object, or the static library, directly). */
#pragma GCC visibility push(hidden)

#define ROOST_HTTP_MAX_LINE 1024  /* request line, without its line end */
#define ROOST_HTTP_MAX_HEADERS 32 /* header fields */
#define ROOST_HTTP_MAX_HEAD 8192  /* the whole head, blank line included */

typedef struct roost__http_req {
    const char *method; /* pointers into the buffer parsed; not NUL-terminated */
    size_t method_len;
    const char *path; /* the target up to '?' */
    size_t path_len;
    const char *query; /* after '?' (NULL: no '?') */
    size_t query_len;
    int minor; /* HTTP/1.minor: 0 or 1 */
    int nheaders;
    bool keep_alive; /* 1.1 without "Connection: close", or 1.0 with "keep-alive" */
    bool head;       /* method HEAD: answer without the body */
} roost__http_req;

/* Parse the head at the start of buf[0 .. len). Returns the head's length
 * (> 0) and fills *out when it is complete; 0 when it is not yet (read
 * more; never 0 once len reaches ROOST_HTTP_MAX_HEAD: that is 431); or
 * minus the HTTP status to answer (-400, -413, -414, -431, -501, -505). */
long roost__http_parse(const char *buf, size_t len, roost__http_req *out);

/* The value of `name` (NUL-terminated, matched without case) in a query
 * string (a=1&b=2): true and *val, *val_len when present ("" for "b" alone
 * or "b="). Undecoded. */
bool roost__http_query(const char *query, size_t len, const char *name, const char **val, size_t *val_len);

#pragma GCC visibility pop

#endif
