/* A general libzmq peer for tests/curve_libzmq.rs, built there with
 * `gcc ... -lzmq -lpthread` against the system's libzmq (Debian's
 * libzmq3-dev, CURVE through libsodium).
 *
 *   zmq_peer TYPE bind|connect ENDPOINT [OPTION...] ACTION [N]
 *
 * TYPE: req rep dealer router push pull pub sub.
 * OPTION:
 *   --curve-server SECRET              CURVE server with this secret key
 *   --curve-client SERVER PUBLIC SECRET  CURVE client (Z85 keys)
 *   --plain-server                     PLAIN server
 *   --plain USER PASS                  PLAIN client
 *   --zap-allow CRED                   run a ZAP handler (a REP on
 *                                      inproc://zeromq.zap.01) admitting a
 *                                      CURVE client key (Z85) or USER:PASS
 *   --zap-user-id ID                   the user id it gives (default "")
 *   --zap-deny CODE                    the status for everyone else (400);
 *                                      alone: a handler that admits nobody
 *   --subscribe PREFIX                 for sub
 *   --timeout MS                       each wait (5000); the whole run is
 *                                      cut at 4x this by SIGALRM
 * ACTION:
 *   request N   send N messages ["curve", "request I"], check each echo
 *   echo N      receive N messages, print them, send each back
 *   send N      send N messages ["curve", "message I"]
 *   recv N      receive N messages and print them
 *   publish     send "tick I" every 5 ms until stdin has input or EOF
 *   refused     wait for a failed handshake; fail on a successful one
 *
 * Prints one `key=value` line per fact: endpoint= after a bind, event=NAME
 * value=V for each monitor event, zap=MECHANISM cred=... status=CODE per ZAP
 * request, user-id= then frames=a|b (binary frames as 0xHEX) per received
 * message, refused=NAME value=V, published=N, and ok at the end.
 * Exit 0 on success, 1 on a failure, 2 on a usage error, 3 when this
 * libzmq has no CURVE.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static const char *zap_allow = NULL;
static const char *zap_user_id = "";
static const char *zap_deny = "400";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int handshake_ok = 0;
static const char *failure = NULL;
static unsigned failure_value = 0;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&lock);
}

static int fail(const char *what) {
    say("error=%s: %s", what, zmq_strerror(zmq_errno()));
    return 1;
}

/* A frame as text: printable bytes as they are, anything else as 0xHEX. */
static void frame_text(zmq_msg_t *m, char *out, size_t cap) {
    const unsigned char *d = zmq_msg_data(m);
    size_t n = zmq_msg_size(m), printable = 1;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x20 || d[i] > 0x7e || d[i] == '|') printable = 0;
    if (printable) {
        snprintf(out, cap, "%.*s", (int)n, (const char *)d);
        return;
    }
    size_t at = (size_t)snprintf(out, cap, "0x");
    for (size_t i = 0; i < n && at + 3 < cap; i++) at += (size_t)snprintf(out + at, cap - at, "%02x", d[i]);
}

/* Receives one whole message into parts (at most cap); returns the count. */
static int recv_parts(void *s, zmq_msg_t *parts, int cap) {
    int n = 0, more = 1;
    while (more) {
        if (n == cap) return -1;
        zmq_msg_init(&parts[n]);
        if (zmq_msg_recv(&parts[n], s, 0) < 0) return -1;
        more = zmq_msg_more(&parts[n]);
        n++;
    }
    return n;
}

static void print_parts(zmq_msg_t *parts, int n) {
    const char *user = zmq_msg_gets(&parts[0], "User-Id");
    char line[4096] = "", frame[1024];
    for (int i = 0; i < n; i++) {
        frame_text(&parts[i], frame, sizeof frame);
        if (i) strncat(line, "|", sizeof line - strlen(line) - 1);
        strncat(line, frame, sizeof line - strlen(line) - 1);
    }
    say("user-id=%s", user ? user : "");
    say("frames=%s", line);
}

static int send_frames(void *s, const char *a, const char *b) {
    if (zmq_send(s, a, strlen(a), ZMQ_SNDMORE) < 0) return -1;
    return zmq_send(s, b, strlen(b), 0);
}

/* The ZAP handler: on its own thread with the REP main bound (handed over
 * at pthread_create, a full barrier, as libzmq allows). Ends at ETERM. */
static void *zap_handler(void *rep) {
    for (;;) {
        zmq_msg_t f[8];
        int n = recv_parts(rep, f, 8);
        if (n < 0) break;
        char mech[32] = "", cred[256] = "";
        if (n >= 6) snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&f[5]), (char *)zmq_msg_data(&f[5]));
        if (strcmp(mech, "CURVE") == 0 && n == 7 && zmq_msg_size(&f[6]) == 32)
            zmq_z85_encode(cred, zmq_msg_data(&f[6]), 32);
        else if (strcmp(mech, "PLAIN") == 0 && n == 8)
            snprintf(cred, sizeof cred, "%.*s:%.*s", (int)zmq_msg_size(&f[6]), (char *)zmq_msg_data(&f[6]),
                     (int)zmq_msg_size(&f[7]), (char *)zmq_msg_data(&f[7]));
        int ok = zap_allow && cred[0] && strcmp(cred, zap_allow) == 0;
        const char *status = ok ? "200" : zap_deny;
        say("zap=%s cred=%s status=%s", mech, cred, status);
        zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        zmq_send(rep, status, strlen(status), ZMQ_SNDMORE);
        zmq_send(rep, ok ? "OK" : "denied", ok ? 2 : 6, ZMQ_SNDMORE);
        zmq_send(rep, ok ? zap_user_id : "", ok ? strlen(zap_user_id) : 0, ZMQ_SNDMORE);
        zmq_send(rep, "", 0, 0);
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    }
    zmq_close(rep);
    return NULL;
}

static const char *event_name(unsigned e) {
    switch (e) {
    case ZMQ_EVENT_CONNECTED: return "CONNECTED";
    case ZMQ_EVENT_CONNECT_DELAYED: return "CONNECT_DELAYED";
    case ZMQ_EVENT_CONNECT_RETRIED: return "CONNECT_RETRIED";
    case ZMQ_EVENT_LISTENING: return "LISTENING";
    case ZMQ_EVENT_BIND_FAILED: return "BIND_FAILED";
    case ZMQ_EVENT_ACCEPTED: return "ACCEPTED";
    case ZMQ_EVENT_ACCEPT_FAILED: return "ACCEPT_FAILED";
    case ZMQ_EVENT_CLOSED: return "CLOSED";
    case ZMQ_EVENT_CLOSE_FAILED: return "CLOSE_FAILED";
    case ZMQ_EVENT_DISCONNECTED: return "DISCONNECTED";
    case ZMQ_EVENT_MONITOR_STOPPED: return "MONITOR_STOPPED";
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return "HANDSHAKE_FAILED_NO_DETAIL";
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "HANDSHAKE_SUCCEEDED";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return "HANDSHAKE_FAILED_PROTOCOL";
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return "HANDSHAKE_FAILED_AUTH";
    default: return "OTHER";
    }
}

/* The monitor: prints every event and records handshake results for
 * `refused`. Same hand-over as the ZAP handler; ends at MONITOR_STOPPED
 * or ETERM. */
static void *monitor(void *pair) {
    for (;;) {
        zmq_msg_t f[2];
        int n = recv_parts(pair, f, 2);
        if (n < 0) break;
        if (n == 2 && zmq_msg_size(&f[0]) == 6) {
            const unsigned char *d = zmq_msg_data(&f[0]);
            unsigned short event;
            unsigned value;
            memcpy(&event, d, 2);
            memcpy(&value, d + 2, 4);
            const char *name = event_name(event);
            say("event=%s value=%u", name, value);
            pthread_mutex_lock(&lock);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) handshake_ok = 1;
            if (!failure && (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                             event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
                failure = name;
                failure_value = value;
            }
            pthread_cond_broadcast(&changed);
            pthread_mutex_unlock(&lock);
        }
        int stopped = n == 2 && zmq_msg_size(&f[0]) == 6 && *(unsigned char *)zmq_msg_data(&f[0]) == 0 &&
                      ((unsigned char *)zmq_msg_data(&f[0]))[1] == (ZMQ_EVENT_MONITOR_STOPPED >> 8);
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
        if (stopped) break;
    }
    zmq_close(pair);
    return NULL;
}

/* Waits for a handshake result; returns whether one succeeded. */
static int wait_handshake(int timeout_ms, const char **name, unsigned *value) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&lock);
    while (!failure && !handshake_ok)
        if (pthread_cond_timedwait(&changed, &lock, &until) == ETIMEDOUT) break;
    *name = failure;
    *value = failure_value;
    int ok = handshake_ok;
    pthread_mutex_unlock(&lock);
    return ok;
}

static int wait_refused(int timeout_ms) {
    const char *name;
    unsigned value;
    if (wait_handshake(timeout_ms, &name, &value)) { say("error=the handshake succeeded"); return 1; }
    if (!name) { say("error=no handshake failure within %d ms", timeout_ms); return 1; }
    say("refused=%s value=%u", name, value);
    return 0;
}

static int type_of(const char *t) {
    static const struct { const char *name; int type; } types[] = {
        {"req", ZMQ_REQ}, {"rep", ZMQ_REP}, {"dealer", ZMQ_DEALER}, {"router", ZMQ_ROUTER},
        {"push", ZMQ_PUSH}, {"pull", ZMQ_PULL}, {"pub", ZMQ_PUB}, {"sub", ZMQ_SUB},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i].name) == 0) return types[i].type;
    return -1;
}

static int usage(void) {
    fprintf(stderr, "usage: zmq_peer TYPE bind|connect ENDPOINT [OPTION...] ACTION [N]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 5) return usage();
    int type = type_of(argv[1]);
    int bind = strcmp(argv[2], "bind") == 0;
    const char *endpoint = argv[3];
    if (type < 0 || (!bind && strcmp(argv[2], "connect") != 0)) return usage();
    const char *curve_server = NULL, *curve_client[3] = {NULL, NULL, NULL};
    const char *plain[2] = {NULL, NULL}, *subscribe = NULL;
    int plain_server = 0, zap = 0, timeout = 5000, i = 4;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *o = argv[i];
        int left = argc - i - 1;
        if (strcmp(o, "--curve-server") == 0 && left >= 1) curve_server = argv[++i];
        else if (strcmp(o, "--curve-client") == 0 && left >= 3) {
            curve_client[0] = argv[++i];
            curve_client[1] = argv[++i];
            curve_client[2] = argv[++i];
        } else if (strcmp(o, "--plain-server") == 0) plain_server = 1;
        else if (strcmp(o, "--plain") == 0 && left >= 2) {
            plain[0] = argv[++i];
            plain[1] = argv[++i];
        } else if (strcmp(o, "--zap-allow") == 0 && left >= 1) { zap = 1; zap_allow = argv[++i]; }
        else if (strcmp(o, "--zap-user-id") == 0 && left >= 1) zap_user_id = argv[++i];
        else if (strcmp(o, "--zap-deny") == 0 && left >= 1) { zap = 1; zap_deny = argv[++i]; }
        else if (strcmp(o, "--subscribe") == 0 && left >= 1) subscribe = argv[++i];
        else if (strcmp(o, "--timeout") == 0 && left >= 1) timeout = atoi(argv[++i]);
        else return usage();
    }
    if (i >= argc) return usage();
    const char *action = argv[i];
    int count = i + 1 < argc ? atoi(argv[i + 1]) : 0;
    if ((curve_server || curve_client[0]) && !zmq_has("curve")) {
        fprintf(stderr, "this libzmq has no CURVE\n");
        return 3;
    }
    alarm((unsigned)(4 * timeout / 1000 + 1));

    void *ctx = zmq_ctx_new();
    pthread_t zap_thread, monitor_thread;
    if (zap) {
        void *rep = zmq_socket(ctx, ZMQ_REP);
        if (zmq_bind(rep, "inproc://zeromq.zap.01") != 0) return fail("zap bind");
        pthread_create(&zap_thread, NULL, zap_handler, rep);
    }
    void *s = zmq_socket(ctx, type);
    int one = 1, linger = 2000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (curve_server) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        if (zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, curve_server, 40) != 0) return fail("curve secret key");
    }
    if (curve_client[0]) {
        if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, curve_client[0], 40) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, curve_client[1], 40) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, curve_client[2], 40) != 0)
            return fail("curve client keys");
    }
    if (plain_server) zmq_setsockopt(s, ZMQ_PLAIN_SERVER, &one, sizeof one);
    if (plain[0]) {
        zmq_setsockopt(s, ZMQ_PLAIN_USERNAME, plain[0], strlen(plain[0]));
        zmq_setsockopt(s, ZMQ_PLAIN_PASSWORD, plain[1], strlen(plain[1]));
    }
    if (subscribe) zmq_setsockopt(s, ZMQ_SUBSCRIBE, subscribe, strlen(subscribe));
    /* The monitor's PAIR connects here, before any event can happen: libzmq
     * drops events while no one is connected. */
    if (zmq_socket_monitor(s, "inproc://zmq-peer-monitor", ZMQ_EVENT_ALL) != 0) return fail("monitor");
    void *pair = zmq_socket(ctx, ZMQ_PAIR);
    if (zmq_connect(pair, "inproc://zmq-peer-monitor") != 0) return fail("monitor connect");
    pthread_create(&monitor_thread, NULL, monitor, pair);

    if (bind) {
        if (zmq_bind(s, endpoint) != 0) return fail("bind");
        char ep[256];
        size_t len = sizeof ep;
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
        say("endpoint=%s", ep);
    } else if (zmq_connect(s, endpoint) != 0) {
        return fail("connect");
    }

    int rc = 0;
    char a[64], b[64];
    if (strcmp(action, "request") == 0) {
        for (int r = 0; r < count && rc == 0; r++) {
            snprintf(b, sizeof b, "request %d", r);
            zmq_msg_t parts[4];
            if (send_frames(s, "curve", b) < 0) rc = fail("send");
            else if (recv_parts(s, parts, 4) != 2) rc = fail("recv");
            else {
                frame_text(&parts[0], a, sizeof a);
                char got[64];
                frame_text(&parts[1], got, sizeof got);
                if (strcmp(a, "curve") != 0 || strcmp(got, b) != 0) { say("error=bad echo %s|%s", a, got); rc = 1; }
            }
        }
    } else if (strcmp(action, "echo") == 0) {
        for (int r = 0; r < count && rc == 0; r++) {
            zmq_msg_t parts[8];
            int n = recv_parts(s, parts, 8);
            if (n < 0) { rc = fail("recv"); break; }
            print_parts(parts, n);
            for (int p = 0; p < n && rc == 0; p++)
                if (zmq_msg_send(&parts[p], s, p + 1 < n ? ZMQ_SNDMORE : 0) < 0) rc = fail("send");
        }
    } else if (strcmp(action, "send") == 0) {
        for (int r = 0; r < count && rc == 0; r++) {
            snprintf(b, sizeof b, "message %d", r);
            if (send_frames(s, "curve", b) < 0) rc = fail("send");
        }
    } else if (strcmp(action, "recv") == 0) {
        for (int r = 0; r < count && rc == 0; r++) {
            zmq_msg_t parts[8];
            int n = recv_parts(s, parts, 8);
            if (n < 0) rc = fail("recv");
            else print_parts(parts, n);
        }
    } else if (strcmp(action, "publish") == 0) {
        int sent = 0;
        for (;;) {
            zmq_pollitem_t in = {NULL, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&in, 1, 5) != 0) break;
            snprintf(b, sizeof b, "tick %d", sent++);
            if (zmq_send(s, b, strlen(b), 0) < 0) { rc = fail("send"); break; }
        }
        say("published=%d", sent);
    } else if (strcmp(action, "refused") == 0) {
        rc = wait_refused(timeout);
    } else {
        return usage();
    }
    /* Success needs a handshake: a connecting socket may queue its sends
     * before it has one (and its monitor must see it before it stops). */
    if (rc == 0 && strcmp(action, "refused") != 0) {
        const char *name;
        unsigned value;
        if (!wait_handshake(timeout, &name, &value)) { say("error=no handshake succeeded"); rc = 1; }
    }
    if (rc == 0) say("ok");
    /* Every event is printed before the end: the monitor thread reads up to
     * MONITOR_STOPPED, then ETERM ends the ZAP handler. */
    zmq_socket_monitor(s, NULL, 0);
    pthread_join(monitor_thread, NULL);
    zmq_close(s);
    zmq_ctx_term(ctx);
    if (zap) pthread_join(zap_thread, NULL);
    return rc;
}
