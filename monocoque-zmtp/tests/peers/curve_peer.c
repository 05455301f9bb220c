/* A libzmq CURVE peer for tests/curve_interop.rs, built there with
 * `gcc ... -lzmq` against the system's libzmq (Debian's libzmq3-dev, which
 * has CURVE through libsodium). Keys are libzmq's own test keys.
 *
 *   curve_peer server ENDPOINT accept|deny ROUNDS
 *       REP with CURVE_SERVER bound to ENDPOINT (tcp://127.0.0.1:*), with a
 *       ZAP handler that admits (User-Id "curve-user") or refuses every
 *       client; prints "endpoint=..." then, per request, "user-id=..." and
 *       "zap-key=<z85 of the client key>"; echoes ROUNDS requests.
 *   curve_peer client ENDPOINT good|wrongkey ROUNDS
 *       REQ with CURVE client keys connected to ENDPOINT; sends ROUNDS
 *       two-part requests and checks each echo; prints "ok".
 * Exit 0 on success, 1 on a failure, 3 when this libzmq has no CURVE.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static const char *server_public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char *server_secret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char *client_public = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char *client_secret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

static int admit = 1;

static int recv_str(void *s, char *buf, size_t cap) {
    int n = zmq_recv(s, buf, cap - 1, 0);
    if (n < 0) return -1;
    if ((size_t)n > cap - 1) n = (int)cap - 1;
    buf[n] = 0;
    return n;
}

/* Runs on its own thread with the REP socket main bound (handed over at
 * pthread_create, a full barrier, as libzmq allows). */
static void *zap_handler(void *rep) {
    for (;;) {
        char version[16], id[64], domain[64], address[64], identity[256], mech[16];
        unsigned char key[64];
        if (recv_str(rep, version, sizeof version) < 0) break;
        recv_str(rep, id, sizeof id);
        recv_str(rep, domain, sizeof domain);
        recv_str(rep, address, sizeof address);
        recv_str(rep, identity, sizeof identity);
        recv_str(rep, mech, sizeof mech);
        int klen = zmq_recv(rep, key, sizeof key, 0);
        char text[41] = "";
        if (klen == 32) zmq_z85_encode(text, key, 32);
        printf("zap-mechanism=%s\nzap-key=%s\n", mech, text);
        fflush(stdout);
        int ok = admit && strcmp(mech, "CURVE") == 0 && klen == 32;
        zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(rep, id, strlen(id), ZMQ_SNDMORE);
        zmq_send(rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "OK" : "denied", ok ? 2 : 6, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "curve-user" : "", ok ? 10 : 0, ZMQ_SNDMORE);
        zmq_send(rep, "", 0, 0);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: curve_peer server|client ENDPOINT MODE ROUNDS\n"); return 1; }
    if (!zmq_has("curve")) { fprintf(stderr, "this libzmq has no CURVE\n"); return 3; }
    int rounds = atoi(argv[4]);
    int timeout = 10000, linger = 0;
    void *ctx = zmq_ctx_new();
    if (strcmp(argv[1], "server") == 0) {
        admit = strcmp(argv[3], "accept") == 0;
        void *zap = zmq_socket(ctx, ZMQ_REP);
        if (zmq_bind(zap, "inproc://zeromq.zap.01") != 0) { perror("zap bind"); return 1; }
        pthread_t t;
        pthread_create(&t, NULL, zap_handler, zap);
        void *s = zmq_socket(ctx, ZMQ_REP);
        int one = 1;
        zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, server_secret, 40);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(s, argv[2]) != 0) { perror("bind"); return 1; }
        char ep[256]; size_t len = sizeof ep;
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
        printf("endpoint=%s\n", ep);
        fflush(stdout);
        for (int r = 0; r < rounds; r++) {
            zmq_msg_t parts[8]; int n = 0; int more = 1;
            while (more && n < 8) {
                zmq_msg_init(&parts[n]);
                if (zmq_msg_recv(&parts[n], s, 0) < 0) { perror("recv"); return 1; }
                if (n == 0) {
                    const char *user = zmq_msg_gets(&parts[0], "User-Id");
                    printf("user-id=%s\n", user ? user : "");
                    fflush(stdout);
                }
                more = zmq_msg_more(&parts[n]);
                n++;
            }
            for (int i = 0; i < n; i++)
                if (zmq_msg_send(&parts[i], s, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) { perror("send"); return 1; }
        }
        /* Give the last reply time to leave, then exit without waiting
         * for the ZAP thread. */
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
        return 0;
    } else {
        void *s = zmq_socket(ctx, ZMQ_REQ);
        char wrong_public[41], wrong_secret[41];
        zmq_curve_keypair(wrong_public, wrong_secret);
        const char *sk = strcmp(argv[3], "wrongkey") == 0 ? wrong_public : server_public;
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, sk, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, client_public, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, client_secret, 40);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(s, argv[2]) != 0) { perror("connect"); return 1; }
        for (int r = 0; r < rounds; r++) {
            char body[64], got[64];
            int blen = snprintf(body, sizeof body, "request %d", r);
            zmq_send(s, "curve", 5, ZMQ_SNDMORE);
            zmq_send(s, body, blen, 0);
            int n = zmq_recv(s, got, sizeof got, 0);
            if (n != 5 || memcmp(got, "curve", 5) != 0) { fprintf(stderr, "bad first part\n"); return 1; }
            n = zmq_recv(s, got, sizeof got, 0);
            if (n != blen || memcmp(got, body, blen) != 0) { fprintf(stderr, "bad echo\n"); return 1; }
        }
        printf("ok\n");
        fflush(stdout);
        zmq_close(s);
    }
    zmq_ctx_term(ctx);
    return 0;
}
