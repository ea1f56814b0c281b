/* fuzz_http.c - libFuzzer target for the debug endpoint's request parser
 * (src/http_parse.c: roost__http_parse, roost__http_query), a pure function
 * of its bytes, built alone with nothing else of roost linked.
 *
 *   make fuzz [FUZZ_SECONDS=60]     clang -fsanitize=fuzzer,address,undefined;
 *                                   seeds in tests/fuzz/corpus, new finds in
 *                                   build/fuzz/corpus, crashes in build/fuzz
 *   build/fuzz/replay_http DIR|FILE...  every input through the same checks,
 *                                   without libFuzzer (make check runs it on
 *                                   tests/fuzz/corpus, also under ASan)
 *
 * Beyond what the sanitizers catch (a read past the input, which libFuzzer
 * hands over in a buffer of exactly its size), each input must keep the
 * parser's contract (http_parse.h); a broken rule aborts with a message:
 *   - the result is a head length in 1 .. min(len, ROOST_HTTP_MAX_HEAD), 0
 *     (incomplete, only while len < ROOST_HTTP_MAX_HEAD), or one of the
 *     statuses -400, -413, -414, -431, -501, -505;
 *   - a parsed head's method, path and query lie inside the head, the
 *     method is a token ending before the path, "HEAD" sets head, the
 *     minor version is 0 or 1 and there are at most ROOST_HTTP_MAX_HEADERS
 *     headers;
 *   - the bytes after the head change nothing: parsing just the head gives
 *     the same result;
 *   - a head arriving in pieces is never refused early: every prefix cut at
 *     a line end, or just before one, parses as incomplete (0);
 *   - roost__http_query finds values inside the query it is given, and the
 *     same when asked twice.
 */
#include "http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond, ...)                              \
    do {                                               \
        if (!(cond)) {                                 \
            fprintf(stderr, "fuzz_http: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);              \
            fputc('\n', stderr);                       \
            abort();                                   \
        }                                              \
    } while (0)

static int inside(const char *p, size_t n, const char *lo, const char *hi) { return p >= lo && p + n <= hi; }

static void check_query(const char *q, size_t n) {
    static const char *const names[] = {"debug", "groups", "format", "seconds", ""};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = NULL, *v2 = NULL;
        size_t vn = 0, vn2 = 0;
        int found = roost__http_query(q, n, names[i], &v, &vn);
        if (!found) continue;
        EXPECT(v && inside(v, vn, q, q + n), "value of %s outside the query", names[i]);
        EXPECT(roost__http_query(q, n, names[i], &v2, &vn2) && v2 == v && vn2 == vn,
               "second lookup of %s differs", names[i]);
    }
}

static int is_status(long rc) {
    return rc == -400 || rc == -413 || rc == -414 || rc == -431 || rc == -501 || rc == -505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    roost__http_req r, r2;
    memset(&r, 0xa5, sizeof r);
    long rc = roost__http_parse(buf, size, &r);

    if (rc < 0) {
        EXPECT(is_status(rc), "status %ld", rc);
    } else if (rc == 0) {
        EXPECT(size < ROOST_HTTP_MAX_HEAD, "incomplete at %zu bytes", size);
    } else {
        size_t head = (size_t)rc;
        EXPECT(head <= size && head <= ROOST_HTTP_MAX_HEAD, "head %zu of %zu bytes", head, size);
        EXPECT(buf[head - 1] == '\n', "the head does not end a line");
        const char *end = buf + head;
        EXPECT(r.method == buf && r.method_len > 0 && inside(r.method, r.method_len, buf, end), "method");
        EXPECT(r.path && r.path_len > 0 && r.path[0] == '/' && inside(r.path, r.path_len, buf, end) &&
                   r.path > r.method + r.method_len,
               "path");
        EXPECT(!memchr(r.path, '?', r.path_len) && !memchr(r.path, ' ', r.path_len), "path holds ? or SP");
        if (r.query) {
            EXPECT(inside(r.query, r.query_len, buf, end) && r.query == r.path + r.path_len + 1 &&
                       r.query[-1] == '?',
                   "query");
            check_query(r.query, r.query_len);
        } else {
            EXPECT(r.query_len == 0, "query_len %zu without a query", r.query_len);
        }
        EXPECT(r.minor == 0 || r.minor == 1, "minor %d", r.minor);
        EXPECT(r.nheaders >= 0 && r.nheaders <= ROOST_HTTP_MAX_HEADERS, "%d headers", r.nheaders);
        EXPECT(r.head == (r.method_len == 4 && !memcmp(r.method, "HEAD", 4)), "head flag");

        /* What follows the head changes nothing. */
        memset(&r2, 0x5a, sizeof r2);
        EXPECT(roost__http_parse(buf, head, &r2) == rc, "the head alone parses differently");
        EXPECT(r2.method == r.method && r2.method_len == r.method_len && r2.path == r.path &&
                   r2.path_len == r.path_len && r2.query == r.query && r2.query_len == r.query_len &&
                   r2.minor == r.minor && r2.nheaders == r.nheaders && r2.keep_alive == r.keep_alive &&
                   r2.head == r.head,
               "the head alone fills out differently");

        /* Read in pieces: incomplete at every line end and just before. */
        for (size_t i = 0; i + 1 < head; i++) {
            if (buf[i] != '\n') continue;
            EXPECT(roost__http_parse(buf, i + 1, &r2) == 0, "refused or done at the line end %zu of %zu",
                   i + 1, head);
            EXPECT(roost__http_parse(buf, i, &r2) == 0, "refused or done at %zu of %zu", i, head);
        }
        EXPECT(roost__http_parse(buf, head - 1, &r2) == 0, "done one byte short of the head");
    }
    /* The whole input as a query string. */
    check_query(buf, size);
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* Without libFuzzer: each file named, or each file in each folder named,
 * through LLVMFuzzerTestOneInput, in a buffer of exactly its size. */
#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    char *tmp = malloc(cap);
    for (size_t got; tmp && (got = fread(tmp + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) tmp = realloc(tmp, cap *= 2);
    }
    fclose(f);
    if (!tmp) return 1;
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) return 1;
    memcpy(exact, tmp, n);
    free(tmp);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    int files = 0, errs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                errs += replay_file(path), files++;
            }
            if (d) closedir(d);
        } else {
            errs += replay_file(argv[i]), files++;
        }
    }
    printf("replay_http: %d inputs\n", files);
    return errs || files == 0;
}
#endif
