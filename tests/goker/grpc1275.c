/* grpc 1275 (GoKer blocking kernel), ported to roost.
 *
 * The test starts a task that reads the stream, which waits on the
 * stream's receive buffer channel; CloseStream should put a message there
 * and does not. The test gives up after a timer: the reader waits for
 * good. Fix: CloseStream sends the message. */
#include "bug.h"
#include <stdbool.h>

typedef struct recv_buffer {
    roost_chan_t *c;
} recv_buffer;

typedef struct stream {
    recv_buffer *recv; /* trReader.recv */
} stream;

typedef struct read_args {
    stream *s;
    roost_chan_t *donec;
} read_args;

static void stream_read(void *arg) {
    read_args *a = arg;
    bool v;
    roost_chan_recv(NULL, a->s->recv->c, &v); /* G2 blocks here */
    roost_chan_close(a->donec);
    roost_chan_unref(a->donec);
    free(a);
}

static void close_stream(stream *s, bool fix) {
    if (!fix) return; /* the message is never sent */
    bool t = true;
    roost_case_t cs[] = {{.chan = s->recv->c, .op = ROOST_SEND, .elem = &t}};
    roost_select(NULL, cs, 1, 0);
}

static void inflight_stream_closing(void *arg) {
    bool fix = arg != NULL;
    stream *s = bug_alloc(sizeof *s);
    s->recv = bug_alloc(sizeof *s->recv);
    MUST(roost_chan_make(sizeof(bool), 0, &s->recv->c));
    roost_chan_t *donec;
    MUST(roost_chan_make(1, 0, &donec));
    read_args *a = bug_alloc(sizeof *a);
    a->s = s, a->donec = roost_chan_ref(donec);
    MUST(roost_go(stream_read, a));
    close_stream(s, fix);
    roost_ctx_t *timeout;
    MUST(roost_ctx_with_timeout(NULL, ROOST_MS, &timeout));
    roost_case_t cs[] = {{.chan = donec, .op = ROOST_RECV},
                         {.chan = roost_ctx_done(timeout), .op = ROOST_RECV}};
    roost_select(NULL, cs, 2, 0);
    roost_ctx_unref(timeout);
    roost_chan_unref(donec);
}

static void leaky(void) { MUST(roost_go(inflight_stream_closing, NULL)); }
static void fixed(void) { MUST(roost_go(inflight_stream_closing, (void *)1)); }

BUG_MAIN(leaky, fixed)
