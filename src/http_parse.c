/* http_parse.c - the debug endpoint's request parser (http_parse.h).
 *
 * The one idea: the head is read line by line, each line checked against
 * the limits before anything else, so that no input, however long or
 * malformed, costs more than one pass over at most ROOST_HTTP_MAX_HEAD
 * bytes, and every refusal carries the status that says why. The parser
 * keeps no state between calls: the connection calls it again on the whole
 * buffer after each read, which costs a rescan of at most 8 KB.
 */
#include "http_parse.h"
#include <string.h>

/* RFC 9110 tchar: the characters of a method or header name. */
static bool http_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool http_ieq(const char *a, size_t n, const char *lit) {
    if (strlen(lit) != n) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)lit[i];
        if (x >= 'A' && x <= 'Z') x |= 0x20;
        if (x != y) return false;
    }
    return true;
}

/* Does the comma-separated list v[0 .. n) hold the token `tok` (lower case)? */
static bool http_list_has(const char *v, size_t n, const char *tok) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s && http_ieq(v + s, e - s, tok)) return true;
    }
    return false;
}

/* The request line: "METHOD SP TARGET SP HTTP/1.x". */
static long http_request_line(const char *p, size_t n, roost__http_req *r) {
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p) return -400;
    for (const char *q = p; q < sp1; q++)
        if (!http_tchar((unsigned char)*q)) return -400;
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t) return -400;
    for (const char *q = t; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) return -400;
    const char *v = sp2 + 1;
    size_t vn = (size_t)(end - v);
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
        v[7] > '9')
        return -400;
    if (v[5] != '1' || v[7] > '1') return -505;
    if (*t != '/') return -400; /* origin form only: no proxy requests, no "*" */
    r->method = p, r->method_len = (size_t)(sp1 - p);
    r->path = t;
    const char *qm = memchr(t, '?', (size_t)(sp2 - t));
    r->path_len = (size_t)((qm ? qm : sp2) - t);
    r->query = qm ? qm + 1 : NULL;
    r->query_len = qm ? (size_t)(sp2 - qm - 1) : 0;
    r->minor = v[7] - '0';
    r->keep_alive = r->minor == 1;
    r->head = r->method_len == 4 && memcmp(p, "HEAD", 4) == 0;
    return 0;
}

/* One header field "name: value" (OWS around the value). */
static long http_header(const char *p, size_t n, roost__http_req *r) {
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p) return -400;
    for (const char *q = p; q < colon; q++)
        if (!http_tchar((unsigned char)*q)) return -400; /* also refuses folding and "name :" */
    size_t nn = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    for (const char *q = v; q < end; q++)
        if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) return -400;
    size_t vn = (size_t)(end - v);
    if (http_ieq(p, nn, "transfer-encoding")) return -501;
    if (http_ieq(p, nn, "content-length")) {
        if (!vn) return -400;
        for (size_t i = 0; i < vn; i++)
            if (v[i] < '0' || v[i] > '9') return -400;
        for (size_t i = 0; i < vn; i++)
            if (v[i] != '0') return -413;
    }
    if (http_ieq(p, nn, "connection")) {
        if (http_list_has(v, vn, "close"))
            r->keep_alive = false;
        else if (http_list_has(v, vn, "keep-alive"))
            r->keep_alive = true;
    }
    return 0;
}

long roost__http_parse(const char *buf, size_t len, roost__http_req *out) {
    roost__http_req r;
    memset(&r, 0, sizeof r);
    size_t pos = 0;
    int line = 0;
    if (len > ROOST_HTTP_MAX_HEAD) len = ROOST_HTTP_MAX_HEAD; /* what lies beyond cannot be ours */
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        /* The limits first, complete line or not. */
        if (line == 0 && n > ROOST_HTTP_MAX_LINE + 1) return -414;
        if (line > ROOST_HTTP_MAX_HEADERS + 1) return -431;
        if (!nl) return len >= ROOST_HTTP_MAX_HEAD ? -431 : 0;
        const char *p = buf + pos;
        if (n && p[n - 1] == '\r') n--;
        if (memchr(p, '\r', n) || memchr(p, '\0', n)) return -400;
        pos += (size_t)(nl - p) + 1;
        if (line == 0) {
            if (n > ROOST_HTTP_MAX_LINE) return -414;
            long rc = http_request_line(p, n, &r);
            if (rc) return rc;
        } else if (n == 0) {
            r.nheaders = line - 1;
            *out = r;
            return (long)pos;
        } else {
            if (line > ROOST_HTTP_MAX_HEADERS) return -431;
            long rc = http_header(p, n, &r);
            if (rc) return rc;
        }
        line++;
    }
}

bool roost__http_query(const char *query, size_t len, const char *name, const char **val, size_t *val_len) {
    size_t nn = strlen(name), i = 0;
    while (query && i < len) {
        size_t s = i;
        while (i < len && query[i] != '&') i++;
        const char *eq = memchr(query + s, '=', i - s);
        size_t kn = eq ? (size_t)(eq - (query + s)) : i - s;
        if (kn == nn && http_ieq(query + s, kn, name)) {
            *val = eq ? eq + 1 : query + i;
            *val_len = eq ? (size_t)(query + i - (eq + 1)) : 0;
            return true;
        }
        i++;
    }
    return false;
}
