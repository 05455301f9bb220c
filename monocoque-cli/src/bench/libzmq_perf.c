/* libzmq's four perf roles against the system's libzmq, for the CURVE rows
 * of `mq bench --curve` (the `zmq` crate's vendored libzmq has no CURVE).
 * `mq` embeds this file and builds it with `cc ... -lzmq` when asked; it
 * needs a libzmq built with libsodium (Debian: libzmq3-dev).
 *
 *   libzmq-perf local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT [curve]
 *   libzmq-perf version
 *
 * The roles, their arguments and their output are those of `mq bench
 * local-thr ...` (and of libzmq's own local_thr/remote_lat): the local side
 * binds, the remote side connects; local-thr prints the four throughput
 * lines, remote-lat the three latency lines (half the mean round trip).
 * With `curve` both sides use CURVE with libzmq's fixed test keys, the
 * local side being the server. `version` prints the linked libzmq's version
 * and whether it has CURVE.
 *
 * The same work as Monocoque's side: every send is zero-copy (a message
 * over one buffer that libzmq does not own, as Monocoque sends a clone of
 * one `Bytes`); local-lat sends back the very message it received.
 * Throughput sockets have no HWM and latency sockets libzmq's default, as
 * in `mq`. A remote side starts sending once its handshake has completed
 * (Monocoque's connect waits for its peer too), so remote-lat's clock does
 * not include the connection's set-up. Every wait gives up after 20 s, as
 * `mq`'s do. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <zmq.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* libzmq's CURVE test keys (test only: never for anything real). */
static const char SERVER_PUBLIC[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char SERVER_SECRET[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char CLIENT_PUBLIC[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char CLIENT_SECRET[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

#define USAGE "usage: libzmq-perf local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT [curve]\n"
#define WAIT_MS 20000
#define MONITOR "inproc://libzmq-perf-monitor"

static void fail(const char *what) {
    fprintf(stderr, "libzmq-perf: %s: %s\n", what, zmq_strerror(zmq_errno()));
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

static void recv_size(void *s, zmq_msg_t *m, size_t size, long n, long count) {
    if (zmq_msg_recv(m, s, 0) < 0) {
        fprintf(stderr, "libzmq-perf: recv after %ld of %ld messages: %s\n", n, count,
                zmq_strerror(zmq_errno()));
        exit(1);
    }
    if (zmq_msg_size(m) != size) {
        fprintf(stderr, "libzmq-perf: received %zu bytes, expected %zu\n", zmq_msg_size(m), size);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        printf("libzmq %d.%d.%d\ncurve: %s\n", major, minor, patch, zmq_has("curve") ? "yes" : "no");
        return 0;
    }
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "curve") == 0)) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *role = argv[1], *ep = argv[2];
    char *end;
    unsigned long long size_arg = strtoull(argv[3], &end, 10);
    if (*argv[3] == '\0' || *end != '\0') {
        fputs(USAGE, stderr);
        return 2;
    }
    long count = strtol(argv[4], &end, 10);
    if (*argv[4] == '\0' || *end != '\0' || count < 1) {
        fputs(USAGE, stderr);
        return 2;
    }
    size_t size = (size_t)size_arg;
    int curve = argc == 6;
    int local = strncmp(role, "local-", 6) == 0;
    if (strcmp(role, "local-thr") && strcmp(role, "remote-thr") && strcmp(role, "local-lat") &&
        strcmp(role, "remote-lat")) {
        fprintf(stderr, "libzmq-perf: unknown role %s\n", role);
        fputs(USAGE, stderr);
        return 2;
    }
    char *buf = calloc(size ? size : 1, 1);
    if (!buf) fail("calloc");
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
        for (long n = 0; n < count; n++) send_zero_copy(s, buf, size);
        zmq_close(s); /* the default linger: ctx_term waits until all left */
    } else if (strcmp(role, "local-lat") == 0) {
        void *s = open_socket(ctx, ZMQ_REP, -1, curve, local);
        if (zmq_bind(s, ep) != 0) fail("bind");
        for (long n = 0; n < count; n++) {
            recv_size(s, &m, size, n, count);
            if (zmq_msg_send(&m, s, 0) < 0) fail("send");
        }
        zmq_close(s);
    } else {
        void *s = open_socket(ctx, ZMQ_REQ, -1, curve, local);
        connect_and_wait(ctx, s, ep);
        double t0 = seconds();
        for (long n = 0; n < count; n++) {
            send_zero_copy(s, buf, size);
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
    free(buf);
    return 0;
}
