/* libzmq's side of `mq bench`, in C against libzmq's public API, so that
 * every send can be zero-copy (the `zmq` crate has no safe way to send one
 * buffer many times without copying it).
 *
 *   libzmq-perf local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT [curve]
 *   libzmq-perf __bench-role ROLE ENDPOINT SIZE COUNT SUBS HWM
 *   libzmq-perf io-pairs IO_THREADS PAIRS SIZE COUNT
 *   libzmq-perf version
 *
 * Built twice: by monocoque-cli's build script against the vendored libzmq
 * the `zmq-sys` crate compiles (the NULL rows and `mq bench ROLE ... --lib
 * libzmq`; `mq` carries the program and writes it out on first use), and by
 * `mq bench --curve` at run time with `cc ... -lzmq` against the system's
 * libzmq with libsodium (the CURVE rows; the vendored libzmq has no CURVE).
 *
 * The perf roles: their arguments and output are those of `mq bench
 * local-thr ...` (and of libzmq's own local_thr/remote_lat): the local side
 * binds, the remote side connects; local-thr prints the four throughput
 * lines, remote-lat the three latency lines (half the mean round trip).
 * With `curve` both sides use CURVE with libzmq's fixed test keys, the
 * local side being the server. Throughput sockets have no HWM and latency
 * sockets libzmq's default, as in `mq`. A remote side starts sending once
 * its handshake has completed (Monocoque's connect waits for its peer too),
 * so remote-lat's clock does not include the connection's set-up.
 *
 * The hidden roles are `mq __bench-role ROLE LIB ...`'s (monocoque-cli's
 * bench/roles.rs) line for line, without LIB: thr-recv, thr-send, lat-echo,
 * lat-ping, fan-pub, fan-sub, inproc-thr, inproc-lat, inproc-fan. A binding
 * role prints `endpoint: EP` once bound; results are `result: ...` and
 * `cpu: SECONDS` lines; a sending role closes only once the harness closes
 * its stdin (the receiver has everything). Every socket gets both HWMs at
 * HWM (0: no limit) and a receive timeout of 20 s.
 *
 * The same work as Monocoque's side, which sends a clone of one `Bytes` (a
 * reference count): every send is zero-copy, a message over one buffer
 * that libzmq does not own and never frees (zmq_msg_init_data with no free
 * function); REP sends back the very message it received; receivers
 * receive into one reused message and drop it (no copy out). `version`
 * prints the linked libzmq's version and whether it has CURVE.
 *
 * io-pairs is examples/io_threads.rs's libzmq side: PAIRS PUSH->PULL pairs
 * over tcp loopback in one context of IO_THREADS I/O threads, a sending and
 * a receiving thread a pair, all started together; it prints `result: R`,
 * all pairs' messages a second from the start to the last receive. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <zmq.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libzmq's CURVE test keys (test only: never for anything real). */
static const char SERVER_PUBLIC[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char SERVER_SECRET[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char CLIENT_PUBLIC[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char CLIENT_SECRET[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

#define USAGE                                                                                     \
    "usage: libzmq-perf local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT [curve]\n" \
    "       libzmq-perf __bench-role ROLE ENDPOINT SIZE COUNT SUBS HWM\n" \
    "       libzmq-perf io-pairs IO_THREADS PAIRS SIZE COUNT\n"
#define HIDDEN_ROLE "__bench-role"
#define WAIT_MS 20000
#define MONITOR "inproc://libzmq-perf-monitor"
#define INPROC "inproc://mq-bench"

/* What the program is doing, for error messages. */
static const char *doing = "libzmq-perf";

static void fail(const char *what) {
    fprintf(stderr, "libzmq-perf: %s: %s: %s\n", doing, what, zmq_strerror(zmq_errno()));
    exit(1);
}

static void set(void *s, int option, const void *value, size_t len, const char *what) {
    if (zmq_setsockopt(s, option, value, len) != 0) fail(what);
}

static void set_int(void *s, int option, int value, const char *what) {
    set(s, option, &value, sizeof value, what);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The process's CPU time so far (user + system, every thread, dead ones
 * included), from /proc/self/stat as `mq`'s roles read it; zero where that
 * is missing. */
static double cpu_seconds(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0.0;
    char stat[4096];
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* Fields after the command name, which is in parentheses and may hold
     * spaces: state is the first, utime the 12th, stime the 13th. */
    char *rest = strrchr(stat, ')');
    unsigned long long utime = 0, stime = 0;
    if (!rest || sscanf(rest + 1, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
                        &stime) != 2)
        return 0.0;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

/* A socket of `type` with both HWMs at `hwm` (-1: libzmq's default), a
 * receive timeout, and CURVE (server or client) when asked. */
static void *open_socket(void *ctx, int type, int hwm, int curve, int server) {
    void *s = zmq_socket(ctx, type);
    if (!s) fail("socket");
    if (hwm >= 0) {
        set_int(s, ZMQ_SNDHWM, hwm, "ZMQ_SNDHWM");
        set_int(s, ZMQ_RCVHWM, hwm, "ZMQ_RCVHWM");
    }
    set_int(s, ZMQ_RCVTIMEO, WAIT_MS, "ZMQ_RCVTIMEO");
    if (!curve) return s;
    if (!zmq_has("curve")) {
        fprintf(stderr, "libzmq-perf: this libzmq has no CURVE (built without libsodium)\n");
        exit(1);
    }
    if (server) {
        set_int(s, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER");
        set(s, ZMQ_CURVE_SECRETKEY, SERVER_SECRET, 40, "ZMQ_CURVE_SECRETKEY");
    } else {
        set(s, ZMQ_CURVE_SERVERKEY, SERVER_PUBLIC, 40, "ZMQ_CURVE_SERVERKEY");
        set(s, ZMQ_CURVE_PUBLICKEY, CLIENT_PUBLIC, 40, "ZMQ_CURVE_PUBLICKEY");
        set(s, ZMQ_CURVE_SECRETKEY, CLIENT_SECRET, 40, "ZMQ_CURVE_SECRETKEY");
    }
    return s;
}

/* Connects and returns once the ZMTP handshake (CURVE's included) has
 * completed; a failed handshake ends the program. */
static void connect_and_wait(void *ctx, void *s, const char *ep) {
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(s, MONITOR, events) != 0) fail("monitor");
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    if (!mon) fail("socket");
    set_int(mon, ZMQ_RCVTIMEO, WAIT_MS, "ZMQ_RCVTIMEO");
    if (zmq_connect(mon, MONITOR) != 0) fail("monitor connect");
    if (zmq_connect(s, ep) != 0) fail("connect");
    for (;;) {
        zmq_msg_t event, address;
        zmq_msg_init(&event);
        zmq_msg_init(&address);
        if (zmq_msg_recv(&event, mon, 0) < 0) fail("waiting for the handshake");
        if (zmq_msg_recv(&address, mon, 0) < 0) fail("waiting for the handshake");
        uint16_t id = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&event) >= 6) {
            memcpy(&id, zmq_msg_data(&event), 2);
            memcpy(&value, (char *)zmq_msg_data(&event) + 2, 4);
        }
        zmq_msg_close(&event);
        zmq_msg_close(&address);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) break;
        fprintf(stderr, "libzmq-perf: handshake with %s failed (event 0x%x, value 0x%x)\n", ep,
                (unsigned)id, (unsigned)value);
        exit(1);
    }
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
}

/* Sends `size` bytes of `buf` without copying them: libzmq only points at
 * the buffer (no free function; it lives as long as the program). */
static void send_zero_copy(void *s, char *buf, size_t size) {
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, buf, size, NULL, NULL) != 0) fail("zmq_msg_init_data");
    if (zmq_msg_send(&m, s, 0) < 0) fail("send");
}

/* Receives one message into `m` (its previous content is dropped) and
 * checks its size. */
static void recv_size(void *s, zmq_msg_t *m, size_t size, long n, long count) {
    if (zmq_msg_recv(m, s, 0) < 0) {
        fprintf(stderr, "libzmq-perf: %s: recv after %ld of %ld messages: %s\n", doing, n, count,
                zmq_strerror(zmq_errno()));
        exit(1);
    }
    if (zmq_msg_size(m) != size) {
        fprintf(stderr, "libzmq-perf: %s: received %zu bytes, expected %zu\n", doing,
                zmq_msg_size(m), size);
        exit(1);
    }
}

/* REP: receives a request into `m` and sends that very message back. */
static void echo(void *s, zmq_msg_t *m, size_t size, long n, long count) {
    recv_size(s, m, size, n, count);
    if (zmq_msg_send(m, s, 0) < 0) fail("send");
}

/* The one buffer every message points at. */
static char *payload;

/* The perf roles (`mq bench local-thr ...`). */
static int perf(const char *role, const char *ep, size_t size, long count, int curve) {
    int local = strncmp(role, "local-", 6) == 0;
    void *ctx = zmq_ctx_new();
    if (!ctx) fail("zmq_ctx_new");
    zmq_msg_t m;
    zmq_msg_init(&m);

    if (strcmp(role, "local-thr") == 0) {
        void *s = open_socket(ctx, ZMQ_PULL, 0, curve, local);
        if (zmq_bind(s, ep) != 0) fail("bind");
        /* The clock runs from the first message to the last. */
        recv_size(s, &m, size, 0, count);
        double t0 = seconds();
        for (long n = 1; n < count; n++) recv_size(s, &m, size, n, count);
        double elapsed = seconds() - t0;
        double rate = count > 1 ? (double)(count - 1) / elapsed : 0.0;
        printf("message size: %zu [B]\n", size);
        printf("message count: %ld\n", count);
        printf("mean throughput: %.0f [msg/s]\n", rate);
        printf("mean throughput: %.3f [Mb/s]\n", rate * (double)size * 8.0 / 1e6);
        zmq_close(s);
    } else if (strcmp(role, "remote-thr") == 0) {
        void *s = open_socket(ctx, ZMQ_PUSH, 0, curve, local);
        connect_and_wait(ctx, s, ep);
        for (long n = 0; n < count; n++) send_zero_copy(s, payload, size);
        zmq_close(s); /* the default linger: ctx_term waits until all left */
    } else if (strcmp(role, "local-lat") == 0) {
        void *s = open_socket(ctx, ZMQ_REP, -1, curve, local);
        if (zmq_bind(s, ep) != 0) fail("bind");
        for (long n = 0; n < count; n++) echo(s, &m, size, n, count);
        zmq_close(s);
    } else {
        void *s = open_socket(ctx, ZMQ_REQ, -1, curve, local);
        connect_and_wait(ctx, s, ep);
        double t0 = seconds();
        for (long n = 0; n < count; n++) {
            send_zero_copy(s, payload, size);
            recv_size(s, &m, size, n, count);
        }
        double elapsed = seconds() - t0;
        printf("message size: %zu [B]\n", size);
        printf("roundtrip count: %ld\n", count);
        printf("average latency: %.3f [us]\n", elapsed * 1e6 / (double)count / 2.0);
        zmq_close(s);
    }
    fflush(stdout);
    zmq_msg_close(&m);
    zmq_ctx_term(ctx);
    return 0;
}

/* ---- The hidden roles (`mq __bench-role`, bench/roles.rs). ---- */

/* Prints `endpoint: EP`, the endpoint `s` is bound to (a wildcard port
 * resolved). */
static void announce(void *s) {
    char ep[1024];
    size_t len = sizeof ep;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0) fail("ZMQ_LAST_ENDPOINT");
    printf("endpoint: %s\n", ep);
    fflush(stdout);
}

/* Waits until the harness closes our stdin: the peer has everything, so
 * closing now loses nothing in flight. */
static void released(void) {
    char sink[256];
    while (read(0, sink, sizeof sink) > 0) {
    }
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Prints `result: P50 P99`, the median and 99th percentile round trip in
 * microseconds, leaving out the first trip (it includes the connection's
 * set-up) as `mq`'s roles do. */
static void print_percentiles(uint64_t *rtts, long count) {
    uint64_t *sorted = rtts;
    long n = count;
    if (count > 1) {
        sorted = rtts + 1;
        n = count - 1;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, by_value);
    double at[2] = {0.5, 0.99}, us[2];
    for (int i = 0; i < 2; i++) {
        long k = (long)((double)(n - 1) * at[i] + 0.5);
        us[i] = n > 0 ? (double)sorted[k] / 1e3 : 0.0;
    }
    printf("result: %.3f %.3f\n", us[0], us[1]);
}

/* `count` round trips of `size` bytes on a REQ; each trip's time in ns. */
static uint64_t *round_trips(void *s, size_t size, long count) {
    uint64_t *rtts = calloc((size_t)count, sizeof *rtts);
    if (!rtts) fail("calloc");
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (long n = 0; n < count; n++) {
        double t = seconds();
        send_zero_copy(s, payload, size);
        recv_size(s, &m, size, n, count);
        rtts[n] = (uint64_t)((seconds() - t) * 1e9);
    }
    zmq_msg_close(&m);
    return rtts;
}

/* XPUB (verbose): waits until `n` subscriptions arrived. */
static void wait_subscribers(void *s, int n) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int i = 0; i < n; i++)
        if (zmq_msg_recv(&m, s, 0) < 0) fail("waiting for subscribers");
    zmq_msg_close(&m);
}

/* A thread's work: a socket, what to receive or send, and what it saw. */
struct job {
    pthread_t thread;
    void *socket;
    size_t size;
    long count;
    double first, last;
};

/* One SUB: receives `count` messages, noting the first and last arrival. */
static void *subscriber(void *arg) {
    struct job *j = arg;
    zmq_msg_t m;
    zmq_msg_init(&m);
    recv_size(j->socket, &m, j->size, 0, j->count);
    j->first = seconds();
    for (long n = 1; n < j->count; n++) recv_size(j->socket, &m, j->size, n, j->count);
    j->last = seconds();
    zmq_msg_close(&m);
    zmq_close(j->socket);
    return NULL;
}

/* `subs` SUB sockets, connected, each on its own thread. */
static struct job *start_subscribers(void *ctx, const char *ep, size_t size, long count, int subs,
                                     int hwm) {
    struct job *jobs = calloc((size_t)subs, sizeof *jobs);
    if (!jobs) fail("calloc");
    for (int i = 0; i < subs; i++) {
        void *s = open_socket(ctx, ZMQ_SUB, hwm, 0, 0);
        set(s, ZMQ_SUBSCRIBE, "", 0, "ZMQ_SUBSCRIBE");
        if (zmq_connect(s, ep) != 0) fail("connect");
        jobs[i] = (struct job){.socket = s, .size = size, .count = count};
    }
    for (int i = 0; i < subs; i++)
        if (pthread_create(&jobs[i].thread, NULL, subscriber, &jobs[i]) != 0) fail("thread");
    return jobs;
}

/* Joins the subscribers; returns msg/s (messages published per second,
 * every one reaching every subscriber) from the first arrival to the last. */
static double join_subscribers(struct job *jobs, long count, int subs) {
    double first = 0.0, last = 0.0;
    for (int i = 0; i < subs; i++) {
        pthread_join(jobs[i].thread, NULL);
        if (i == 0 || jobs[i].first < first) first = jobs[i].first;
        if (i == 0 || jobs[i].last > last) last = jobs[i].last;
    }
    free(jobs);
    double span = last - first;
    return (double)count / (span > 1e-9 ? span : 1e-9);
}

/* The in-process runs' "the measuring side is done" signal. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;

static void signal_done(void) {
    pthread_mutex_lock(&done_lock);
    done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

static void wait_done(void) {
    pthread_mutex_lock(&done_lock);
    while (!done) pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
}

/* inproc PUSH: sends `count` messages, closes once the receiver is done. */
static void *inproc_sender(void *arg) {
    struct job *j = arg;
    for (long n = 0; n < j->count; n++) send_zero_copy(j->socket, payload, j->size);
    wait_done();
    zmq_close(j->socket);
    return NULL;
}

/* inproc REP: echoes `count` requests, closes once the requester is done. */
static void *inproc_echo(void *arg) {
    struct job *j = arg;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (long n = 0; n < j->count; n++) echo(j->socket, &m, j->size, n, j->count);
    zmq_msg_close(&m);
    wait_done();
    zmq_close(j->socket);
    return NULL;
}

static int hidden(const char *role, const char *ep, size_t size, long count, int subs, int hwm) {
    void *ctx = zmq_ctx_new();
    if (!ctx) fail("zmq_ctx_new");
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (strcmp(role, "thr-recv") == 0) {
        void *s = open_socket(ctx, ZMQ_PULL, hwm, 0, 0);
        if (zmq_bind(s, ep) != 0) fail("bind");
        announce(s);
        recv_size(s, &m, size, 0, count);
        double t0 = seconds(), cpu0 = cpu_seconds();
        for (long n = 1; n < count; n++) recv_size(s, &m, size, n, count);
        double elapsed = seconds() - t0, cpu = cpu_seconds() - cpu0;
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        printf("result: %.6f\n", count > 1 ? (double)(count - 1) / elapsed : 0.0);
        printf("cpu: %.6f\n", cpu);
    } else if (strcmp(role, "thr-send") == 0) {
        void *s = open_socket(ctx, ZMQ_PUSH, hwm, 0, 0);
        if (zmq_connect(s, ep) != 0) fail("connect");
        double cpu0 = cpu_seconds();
        for (long n = 0; n < count; n++) send_zero_copy(s, payload, size);
        released();
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        printf("cpu: %.6f\n", cpu_seconds() - cpu0);
    } else if (strcmp(role, "lat-echo") == 0) {
        void *s = open_socket(ctx, ZMQ_REP, 1000, 0, 0);
        if (zmq_bind(s, ep) != 0) fail("bind");
        announce(s);
        for (long n = 0; n < count; n++) echo(s, &m, size, n, count);
        released();
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
    } else if (strcmp(role, "lat-ping") == 0) {
        void *s = open_socket(ctx, ZMQ_REQ, 1000, 0, 0);
        if (zmq_connect(s, ep) != 0) fail("connect");
        uint64_t *rtts = round_trips(s, size, count);
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        print_percentiles(rtts, count);
        free(rtts);
    } else if (strcmp(role, "fan-pub") == 0) {
        void *s = open_socket(ctx, ZMQ_XPUB, hwm, 0, 0);
        set_int(s, ZMQ_XPUB_VERBOSE, 1, "ZMQ_XPUB_VERBOSE");
        if (zmq_bind(s, ep) != 0) fail("bind");
        announce(s);
        wait_subscribers(s, subs);
        for (long n = 0; n < count; n++) send_zero_copy(s, payload, size);
        released();
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
    } else if (strcmp(role, "fan-sub") == 0) {
        struct job *jobs = start_subscribers(ctx, ep, size, count, subs, hwm);
        double rate = join_subscribers(jobs, count, subs);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        printf("result: %.6f\n", rate);
    } else if (strcmp(role, "inproc-thr") == 0) {
        void *pull = open_socket(ctx, ZMQ_PULL, hwm, 0, 0);
        if (zmq_bind(pull, INPROC) != 0) fail("bind");
        void *push = open_socket(ctx, ZMQ_PUSH, hwm, 0, 0);
        if (zmq_connect(push, INPROC) != 0) fail("connect");
        double cpu0 = cpu_seconds();
        struct job sender = {.socket = push, .size = size, .count = count};
        if (pthread_create(&sender.thread, NULL, inproc_sender, &sender) != 0) fail("thread");
        recv_size(pull, &m, size, 0, count);
        double t0 = seconds();
        for (long n = 1; n < count; n++) recv_size(pull, &m, size, n, count);
        double elapsed = seconds() - t0;
        signal_done();
        pthread_join(sender.thread, NULL);
        zmq_close(pull);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        printf("result: %.6f\n", count > 1 ? (double)(count - 1) / elapsed : 0.0);
        printf("cpu: %.6f\n", cpu_seconds() - cpu0);
    } else if (strcmp(role, "inproc-lat") == 0) {
        void *rep = open_socket(ctx, ZMQ_REP, 1000, 0, 0);
        if (zmq_bind(rep, INPROC) != 0) fail("bind");
        void *req = open_socket(ctx, ZMQ_REQ, 1000, 0, 0);
        if (zmq_connect(req, INPROC) != 0) fail("connect");
        struct job echoer = {.socket = rep, .size = size, .count = count};
        if (pthread_create(&echoer.thread, NULL, inproc_echo, &echoer) != 0) fail("thread");
        uint64_t *rtts = round_trips(req, size, count);
        signal_done();
        pthread_join(echoer.thread, NULL);
        zmq_close(req);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        print_percentiles(rtts, count);
        free(rtts);
    } else if (strcmp(role, "inproc-fan") == 0) {
        void *s = open_socket(ctx, ZMQ_XPUB, hwm, 0, 0);
        set_int(s, ZMQ_XPUB_VERBOSE, 1, "ZMQ_XPUB_VERBOSE");
        if (zmq_bind(s, INPROC) != 0) fail("bind");
        struct job *jobs = start_subscribers(ctx, INPROC, size, count, subs, hwm);
        wait_subscribers(s, subs);
        for (long n = 0; n < count; n++) send_zero_copy(s, payload, size);
        double rate = join_subscribers(jobs, count, subs);
        zmq_close(s);
        zmq_msg_close(&m);
        zmq_ctx_term(ctx);
        printf("result: %.6f\n", rate);
    } else {
        fprintf(stderr, "libzmq-perf: unknown role %s\n", role);
        return 2;
    }
    fflush(stdout);
    return 0;
}

/* io-pairs: the start line every pair's threads wait at, with the main
 * thread. */
static pthread_barrier_t pairs_start;

/* io-pairs PUSH: sends `count` messages zero-copy, then closes. */
static void *pair_sender(void *arg) {
    struct job *j = arg;
    pthread_barrier_wait(&pairs_start);
    for (long n = 0; n < j->count; n++) send_zero_copy(j->socket, payload, j->size);
    zmq_close(j->socket);
    return NULL;
}

/* io-pairs PULL: receives `count` messages into one reused message. */
static void *pair_receiver(void *arg) {
    struct job *j = arg;
    zmq_msg_t m;
    zmq_msg_init(&m);
    pthread_barrier_wait(&pairs_start);
    for (long n = 0; n < j->count; n++) recv_size(j->socket, &m, j->size, n, j->count);
    zmq_msg_close(&m);
    zmq_close(j->socket);
    return NULL;
}

/* io-pairs: `pairs` PUSH->PULL pairs over tcp in one context of `threads`
 * I/O threads, both HWMs at libzmq's default; prints the aggregate rate. */
static int io_pairs(int threads, int pairs, size_t size, long count) {
    void *ctx = zmq_ctx_new();
    if (!ctx) fail("zmq_ctx_new");
    if (zmq_ctx_set(ctx, ZMQ_IO_THREADS, threads) != 0) fail("ZMQ_IO_THREADS");
    struct job *jobs = calloc((size_t)pairs * 2, sizeof *jobs);
    if (!jobs) fail("calloc");
    if (pthread_barrier_init(&pairs_start, NULL, (unsigned)pairs * 2 + 1) != 0) fail("barrier");
    for (int i = 0; i < pairs; i++) {
        void *pull = open_socket(ctx, ZMQ_PULL, -1, 0, 0);
        if (zmq_bind(pull, "tcp://127.0.0.1:*") != 0) fail("bind");
        char ep[256];
        size_t len = sizeof ep;
        if (zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len) != 0) fail("ZMQ_LAST_ENDPOINT");
        void *push = open_socket(ctx, ZMQ_PUSH, -1, 0, 0);
        if (zmq_connect(push, ep) != 0) fail("connect");
        jobs[2 * i] = (struct job){.socket = push, .size = size, .count = count};
        jobs[2 * i + 1] = (struct job){.socket = pull, .size = size, .count = count};
        if (pthread_create(&jobs[2 * i].thread, NULL, pair_sender, &jobs[2 * i]) != 0 ||
            pthread_create(&jobs[2 * i + 1].thread, NULL, pair_receiver, &jobs[2 * i + 1]) != 0)
            fail("thread");
    }
    pthread_barrier_wait(&pairs_start);
    double t0 = seconds();
    for (int i = 0; i < pairs * 2; i++) pthread_join(jobs[i].thread, NULL);
    double elapsed = seconds() - t0;
    free(jobs);
    pthread_barrier_destroy(&pairs_start);
    zmq_ctx_term(ctx);
    printf("result: %.6f\n", (double)pairs * (double)count / (elapsed > 1e-9 ? elapsed : 1e-9));
    fflush(stdout);
    return 0;
}

/* A whole decimal number, or -1. */
static long long number(const char *text) {
    char *end;
    long long value = strtoll(text, &end, 10);
    return *text == '\0' || *end != '\0' || value < 0 ? -1 : value;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        printf("libzmq %d.%d.%d\ncurve: %s\n", major, minor, patch, zmq_has("curve") ? "yes" : "no");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "io-pairs") == 0) {
        long long threads = argc == 6 ? number(argv[2]) : -1, pairs = argc == 6 ? number(argv[3]) : -1;
        long long size = argc == 6 ? number(argv[4]) : -1, count = argc == 6 ? number(argv[5]) : -1;
        if (threads < 1 || threads > 64 || pairs < 1 || pairs > 1000 || size < 0 || count < 1) {
            fputs(USAGE, stderr);
            return 2;
        }
        doing = "io-pairs";
        payload = calloc(size ? (size_t)size : 1, 1);
        if (!payload) fail("calloc");
        return io_pairs((int)threads, (int)pairs, (size_t)size, (long)count);
    }
    int is_hidden = argc >= 2 && strcmp(argv[1], HIDDEN_ROLE) == 0;
    /* argv: [__bench-role] ROLE ENDPOINT SIZE COUNT (SUBS HWM | [curve]). */
    int at = is_hidden ? 2 : 1;
    int ok = is_hidden ? argc == 8 : (argc == 5 || (argc == 6 && strcmp(argv[5], "curve") == 0));
    long long size = ok ? number(argv[at + 2]) : -1, count = ok ? number(argv[at + 3]) : -1;
    long long subs = is_hidden && ok ? number(argv[6]) : 0, hwm = is_hidden && ok ? number(argv[7]) : 0;
    if (!ok || size < 0 || count < 1 || subs < 0 || hwm < 0 || subs > 100000) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *role = argv[at], *ep = argv[at + 1];
    doing = role;
    payload = calloc(size ? (size_t)size : 1, 1);
    if (!payload) fail("calloc");
    if (is_hidden)
        return hidden(role, ep, (size_t)size, (long)count, (int)subs,
                      hwm > 0x7fffffff ? 0x7fffffff : (int)hwm);
    if (strcmp(role, "local-thr") && strcmp(role, "remote-thr") && strcmp(role, "local-lat") &&
        strcmp(role, "remote-lat")) {
        fprintf(stderr, "libzmq-perf: unknown role %s\n", role);
        fputs(USAGE, stderr);
        return 2;
    }
    return perf(role, ep, (size_t)size, (long)count, argc == 6);
}
