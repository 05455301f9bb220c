#!/usr/bin/env python3
"""Writes the seed corpus in corpus/<target>/ (run from anywhere).

Most seeds are bytes libzmq 4.3.4 sent to us in the interop tests
(monocoque-zmtp/tests/libzmq_interop.rs), captured off the socket; the rest
are built to the RFCs' layouts. Each target's input format is documented in
monocoque-zmtp/src/fuzzing.rs.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def greeting(mech=b"NULL", as_server=0, major=3, minor=1):
    return (b"\xff" + b"\x00" * 7 + b"\x01\x7f" + bytes([major, minor])
            + mech.ljust(20, b"\x00") + bytes([as_server]) + b"\x00" * 31)


def frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) < 256:
        return bytes([flags, len(body)]) + body
    return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body


def command(name, data=b""):
    return bytes([len(name)]) + name + data


def metadata(*props):
    return b"".join(bytes([len(n)]) + n + struct.pack(">I", len(v)) + v for n, v in props)


def ready(socket_type, identity=None):
    props = [(b"Socket-Type", socket_type)]
    if identity is not None:
        props.append((b"Identity", identity))
    return command(b"READY", metadata(*props))


# Captured from libzmq 4.3.4.
LIBZMQ_NULL = bytes.fromhex("ff00000000000000017f03014e554c4c") + b"\x00" * 48
LIBZMQ_PLAIN = bytes.fromhex("ff00000000000000017f0301504c41494e") + b"\x00" * 47
LIBZMQ_READY_ROUTER = bytes.fromhex(
    "04290552454144590b536f636b65742d5479706500000006524f55544552"
    "084964656e7469747900000000")
LIBZMQ_READY_REQ = bytes.fromhex(
    "042f0552454144590b536f636b65742d5479706500000003524551084964656e74"
    "69747900000009726571756573746572")
LIBZMQ_READY_SUB = bytes.fromhex("04190552454144590b536f636b65742d5479706500000003535542")
LIBZMQ_READY_PUSH = bytes.fromhex("041a0552454144590b536f636b65742d547970650000000450555348")
LIBZMQ_SUBSCRIBE = bytes.fromhex("040e095355425343524942456e657773")
LIBZMQ_CANCEL = bytes.fromhex("040b0643414e43454c6e657773")
LIBZMQ_PING = bytes.fromhex("04070450494e470014")
LIBZMQ_WELCOME = bytes.fromhex("04080757454c434f4d45")
LIBZMQ_PLAIN_ERROR_400 = bytes.fromhex("04095e52524f5203343030")
LIBZMQ_HELLO = bytes.fromhex("04130548454c4c4f0561646d696e06736563726574")
LIBZMQ_INITIATE = bytes.fromhex(
    "043308494e4954494154450b536f636b65742d54797065000000064445414c4552"
    "084964656e74697479000000077a6465616c6572")
LIBZMQ_REQ_MSG = bytes.fromhex("0100010470696e670100000178")
LIBZMQ_PUSH_STREAM = bytes.fromhex(
    "0004000000000004000000010004000000020004000000030004000000040004"
    "000000050004000000060004000000070004000000080004000000090004")

MULTIPART = (frame(b"", True) + frame(b"hello", True) + frame(bytes(range(256)) * 2, True)
             + frame(b"x" * 255, False))

SEEDS = {
    "greeting": {
        "libzmq_null_whole": b"\x00" + LIBZMQ_NULL,
        "libzmq_null_pieces": b"\x07" + LIBZMQ_NULL,
        "libzmq_plain_bytewise": b"\x2a" + LIBZMQ_PLAIN,
        "curve_server": b"\x00" + greeting(b"CURVE", 1),
        "zmtp30": b"\x03" + greeting(b"NULL", 0, 3, 0),
        "zmtp4x": b"\x00" + greeting(b"NULL", 0, 4, 2),
        "zmtp20": b"\x00" + b"\xff" + b"\x00" * 7 + b"\x01\x7f\x01\x05",
        "zmtp10": b"\x00\x01\x00",
        "bad_mechanism": b"\x00" + greeting(b"null"),
    },
    "decoder": {
        "libzmq_push_stream": b"\x05\x00" + LIBZMQ_PUSH_STREAM,
        "libzmq_req_message": b"\x01\x00" + LIBZMQ_REQ_MSG,
        "multipart_long": b"\x09\x00" + MULTIPART,
        "multipart_limited": b"\x00\x10" + MULTIPART,
        "commands": b"\x03\x00" + LIBZMQ_READY_ROUTER + LIBZMQ_PING + LIBZMQ_SUBSCRIBE
                    + frame(b"data"),
        "huge_declared": b"\x00\x00" + b"\x02\x7f\xff\xff\xff\xff\xff\xff\xff" + b"ab",
        "reserved_flags": b"\x00\x00\x08\x00",
    },
    "commands": {
        "ready_router": LIBZMQ_READY_ROUTER[2:],
        "ready_req_identity": LIBZMQ_READY_REQ[2:],
        "ready_user_props": ready(b"DEALER", b"me")
                            + metadata((b"X-Hello", b"World"), (b"x-empty", b"")),
        "initiate": LIBZMQ_INITIATE[2:],
        "hello": LIBZMQ_HELLO[2:],
        "welcome": LIBZMQ_WELCOME[2:],
        "error": command(b"ERROR", b"\x03400"),
        "error_libzmq_plain": LIBZMQ_PLAIN_ERROR_400[2:],
        "ping": LIBZMQ_PING[2:],
        "ping_context": command(b"PING", b"\x01\x2cctx-0123456789ab"),
        "pong": command(b"PONG", b"ctx"),
        "subscribe": LIBZMQ_SUBSCRIBE[2:],
        "cancel": LIBZMQ_CANCEL[2:],
        "unknown": command(b"X-THING", b"data"),
        "metadata": metadata((b"Socket-Type", b"PUB"), (b"Resource", b"/a/b")),
        "zap_request": b"1.0|1|global|127.0.0.1|me|PLAIN|admin|secret",
        "zap_reply": b"1.0|1|200|OK|admin|" + metadata((b"Role", b"root")),
    },
    "handshake": {
        # byte 0: bits 0-3 socket type (SocketType::ALL index), bits 4-5
        # mechanism (0 NULL, 1 PLAIN server, 2 PLAIN client, 3 NULL + ZAP),
        # bit 6 max size 1024, bit 7 ZAP denies; byte 1: split.
        "null_dealer_vs_libzmq_router": b"\x07\x00" + LIBZMQ_NULL + LIBZMQ_READY_ROUTER
                                        + frame(b"reply", True) + frame(b"", False) + LIBZMQ_PING,
        "null_rep_vs_libzmq_req": b"\x06\x05" + LIBZMQ_NULL + LIBZMQ_READY_REQ + LIBZMQ_REQ_MSG,
        "null_xpub_vs_libzmq_sub": b"\x03\x03" + LIBZMQ_NULL + LIBZMQ_READY_SUB
                                   + LIBZMQ_SUBSCRIBE + LIBZMQ_CANCEL,
        "null_pub_vs_zmtp30_sub": b"\x01\x02" + greeting(b"NULL", 0, 3, 0)
                                  + frame(ready(b"SUB"), command=True)
                                  + frame(b"\x01news") + frame(b"\x00news"),
        "null_push_vs_push": b"\x09\x00" + LIBZMQ_NULL + LIBZMQ_READY_PUSH,
        # Splits 26, 17 and 24 end a piece right after the READY or HELLO
        # that makes us ask ZAP, so the harness answers before reading on.
        "null_zap_dealer": b"\x37\x1a" + LIBZMQ_NULL + LIBZMQ_READY_ROUTER + frame(b"m"),
        "null_limit": b"\x47\x00" + LIBZMQ_NULL + LIBZMQ_READY_ROUTER + frame(b"z" * 1025),
        "plain_client_vs_libzmq_server": b"\x27\x04" + LIBZMQ_PLAIN + LIBZMQ_WELCOME
                                         + LIBZMQ_READY_ROUTER + frame(b"back", True) + frame(b""),
        "plain_client_refused_by_libzmq": b"\x27\x00" + LIBZMQ_PLAIN + LIBZMQ_PLAIN_ERROR_400,
        "plain_server_vs_libzmq_client": b"\x18\x11" + LIBZMQ_PLAIN + LIBZMQ_HELLO
                                         + LIBZMQ_INITIATE + frame(b"a", True) + frame(b"c"),
        "plain_server_denies": b"\x98\x18" + LIBZMQ_PLAIN + LIBZMQ_HELLO + LIBZMQ_INITIATE,
        "zmtp20_peer": b"\x07\x00" + b"\xff" + b"\x00" * 7 + b"\x01\x7f\x01\x05",
    },
}


# The CURVE targets: byte 0 config (bits 0-2 socket pair, 3 heartbeats, 4
# 1 KiB limit, 5 curve_message's client under test), byte 1 split, byte 2
# the number of edits, five bytes each: record, op (0 xor, 1 set, 2 truncate,
# 3 drop, 4 duplicate, 5 delay, 6 inject, 7 replay, 8 stall), offset (16
# bits), value; then the pool injected bytes come from. Nothing here is a
# capture: the honest peer's keys and nonces are fresh on every run, so the
# edits name places (record, offset), not bytes.
XOR, SET, TRUNCATE, DROP, DUPLICATE, DELAY, INJECT, REPLAY, STALL = range(9)


def curve(cfg, split, *edits, pool=b""):
    out = bytes([cfg, split, len(edits)])
    for record, op, offset, value in edits:
        out += bytes([record, op]) + struct.pack(">H", offset) + bytes([value])
    return out + pool


# curve_message offsets: the high byte names a MESSAGE field.
HEADER, NAME, NONCE, TAG, CIPHER = (f << 8 for f in range(1, 6))

# Records of a client peer: 0 greeting, 1 HELLO (2-byte header, then
# \x05HELLO, version, 72 zeros, C' at 82, nonce at 114, box at 122), 2
# INITIATE (9-byte header, \x08INITIATE, cookie at 18, nonce at 114, box at
# 122), then MESSAGEs.
SEEDS["curve_server"] = {
    "honest_dealer_vs_router": curve(0x00, 0),
    "honest_pub_vs_sub_heartbeats": curve(0x0b, 7),
    "honest_rep_vs_req_limit": curve(0x16, 3),
    "greeting_says_zmtp30": curve(0x00, 0, (0, SET, 11, 0)),
    "greeting_says_as_server": curve(0x00, 0, (0, SET, 32, 1)),
    "hello_key_flipped": curve(0x00, 0, (1, XOR, 82, 1)),
    "hello_box_flipped": curve(0x00, 0, (1, XOR, 130, 0x40)),
    "hello_truncated": curve(0x00, 5, (1, TRUNCATE, 100, 0)),
    "hello_twice": curve(0x00, 0, (1, DUPLICATE, 0, 0)),
    "hello_delayed": curve(0x08, 0, (1, DELAY, 0, 0)),
    "initiate_cookie_flipped": curve(0x00, 0, (2, XOR, 30, 1)),
    "initiate_nonce_flipped": curve(0x00, 0, (2, XOR, 121, 1)),
    "initiate_vouch_flipped": curve(0x00, 0, (2, XOR, 190, 1)),
    "initiate_replayed": curve(0x00, 0, (2, REPLAY, 0, 0)),
    "initiate_dropped": curve(0x00, 0, (2, DROP, 0, 0)),
    "initiate_after_garbage": curve(0x00, 0, (2, INJECT, 0, 7), pool=b"\x04\x06\x05HELLO"),
    "initiate_too_late": curve(0x00, 0, (2, STALL, 0, 30)),
    "message_flipped": curve(0x00, 0, (3, XOR, 20, 1)),
}

# Records of a server peer: 0 greeting, 1 WELCOME (2-byte header,
# \x07WELCOME, long nonce at 10, box at 26), 2 READY (2-byte header,
# \x05READY, nonce at 8, box at 16), then MESSAGEs.
SEEDS["curve_client"] = {
    "honest_dealer_vs_router": curve(0x00, 0),
    "honest_sub_vs_pub_heartbeats": curve(0x0c, 9),
    "honest_req_vs_rep_limit": curve(0x17, 2),
    "welcome_nonce_flipped": curve(0x00, 0, (1, XOR, 12, 1)),
    "welcome_box_flipped": curve(0x00, 0, (1, XOR, 60, 1)),
    "welcome_truncated": curve(0x00, 0, (1, TRUNCATE, 90, 0)),
    "welcome_twice": curve(0x00, 0, (1, DUPLICATE, 0, 0)),
    "ready_nonce_flipped": curve(0x00, 0, (2, XOR, 15, 1)),
    "ready_box_flipped": curve(0x00, 0, (2, XOR, 40, 2)),
    "ready_replayed": curve(0x00, 0, (2, REPLAY, 0, 0)),
    "ready_dropped": curve(0x00, 0, (2, DROP, 0, 0)),
    "ready_after_message": curve(0x00, 0, (2, DELAY, 0, 0)),
    "error_instead_of_ready": curve(0x00, 0, (2, DROP, 0, 0), (2, INJECT, 0, 11),
                                    pool=b"\x04\x0a\x05ERROR\x03400"),
}

# Records: the peer's boxes after the handshake: 0 "hello", 1-3 "", "multi",
# "part", 4 SUBSCRIBE, 5 300 x "x", 6 CANCEL, 7 "end" (PINGs and PONGs
# between them when heartbeats are on).
SEEDS["curve_message"] = {
    "honest_server_under_test": curve(0x00, 0),
    "honest_client_under_test": curve(0x20, 4),
    "honest_heartbeats": curve(0x2b, 1),
    "honest_limit": curve(0x16, 6),
    "frame_more_flag": curve(0x00, 0, (0, SET, HEADER, 0x01)),
    "frame_command_flag": curve(0x00, 0, (0, SET, HEADER, 0x04)),
    "frame_long_flag": curve(0x20, 0, (0, SET, HEADER, 0x02)),
    "frame_length_grown": curve(0x00, 0, (1, XOR, HEADER + 1, 0x10)),
    "frame_length_cut": curve(0x10, 0, (5, SET, HEADER + 8, 0x20)),
    "name_flipped": curve(0x00, 0, (0, XOR, NAME + 1, 0x20)),
    "nonce_flipped": curve(0x00, 0, (2, XOR, NONCE + 7, 1)),
    "nonce_high": curve(0x20, 0, (2, SET, NONCE, 0xff)),
    "tag_flipped": curve(0x00, 0, (3, XOR, TAG, 1)),
    "inner_flags_flipped": curve(0x20, 0, (0, XOR, CIPHER, 0x01)),
    "body_flipped": curve(0x00, 0, (5, XOR, CIPHER + 100, 1)),
    "replayed": curve(0x00, 0, (2, REPLAY, 0, 1)),
    "reordered": curve(0x20, 0, (1, DELAY, 0, 0)),
    "middle_frame_dropped": curve(0x00, 0, (2, DROP, 0, 0)),
    "truncated": curve(0x00, 3, (5, TRUNCATE, 50, 0)),
    "garbage_frame": curve(0x00, 0, (4, INJECT, 0, 9), pool=b"\x00\x08\x07MESSAGE"),
    # One jump of the clock: traffic arrived since each deadline was armed,
    # so they re-arm and all is delivered.
    "stall_survived": curve(0x08, 0, (0, STALL, 0, 20)),
}

# The engine target (fuzz/harness/engine.rs): a whole monocoque socket
# over ipc. Byte 0: bits 0-3 the socket type (ENGINE_TYPES below), bit 4
# MAXMSGSIZE 1 KiB, bit 5 heartbeats, bit 6 HWMs of 4, bit 7 the type's own
# option; byte 1: bits 0-5 the size of each write (0: one write), bit 6 a
# valid greeting and READY first, in a write of their own (PREFIX), bit 7 an
# abrupt close (ABRUPT).
ENGINE_TYPES = ["PAIR", "PUB", "SUB", "XPUB", "XSUB", "REQ", "REP", "DEALER",
                "ROUTER", "PUSH", "PULL", "STREAM"]
LIMIT, HEARTBEATS, SMALL_HWM, EXTRA = 0x10, 0x20, 0x40, 0x80
PREFIX, ABRUPT = 0x40, 0x80


def engine(ty, opts=0, split=0, data=b""):
    return bytes([ENGINE_TYPES.index(ty) | opts, split]) + data


def message(*frames):
    return b"".join(frame(f, i + 1 < len(frames)) for i, f in enumerate(frames))


def cmd(name, data=b""):
    return frame(command(name, data), command=True)


SEEDS["engine"] = {
    # Data-phase streams after the harness's valid prefix.
    "pull_messages": engine("PULL", 0, PREFIX, message(b"one") + message(b"a", b"b", b"")
                            + message(b"x" * 300)),
    "pull_limit": engine("PULL", LIMIT, PREFIX, message(b"ok") + message(b"y" * 1025)),
    "pull_many_empty": engine("PULL", SMALL_HWM, PREFIX | 7, frame(b"") * 600),
    "pull_unfinished": engine("PULL", 0, PREFIX, frame(b"part", True)),
    "pull_abrupt": engine("PULL", 0, PREFIX | ABRUPT, message(b"bye") + frame(b"cut", True)),
    "pull_conflate": engine("PULL", EXTRA, PREFIX, message(b"1") + message(b"2")),
    "push_upstream": engine("PUSH", 0, PREFIX, message(b"up") * 20),
    "sub_from_pub": engine("SUB", 0, PREFIX | 3, message(b"news", b"body") + LIBZMQ_PING),
    "sub_inverted": engine("SUB", EXTRA, PREFIX, message(b"never mind") + message(b"ok")),
    "xsub_from_xpub": engine("XSUB", 0, PREFIX, message(b"\x01topic") + message(b"data")),
    "pub_subscriptions": engine("PUB", 0, PREFIX, LIBZMQ_SUBSCRIBE + LIBZMQ_CANCEL
                                + cmd(b"SUBSCRIBE", b"") + message(b"upstream")),
    "pub_cancel_unknown": engine("PUB", 0, PREFIX, cmd(b"CANCEL", b"never")),
    "xpub_subscriptions": engine("XPUB", 0, PREFIX, cmd(b"SUBSCRIBE", b"a") * 3
                                 + cmd(b"CANCEL", b"a") + message(b"\x01old-style")),
    "xpub_verbose": engine("XPUB", EXTRA, PREFIX | 5, cmd(b"SUBSCRIBE", b"a") * 3),
    "rep_requests": engine("REP", 0, PREFIX, message(b"", b"ping") + message(b"id", b"", b"q")),
    "rep_no_delimiter": engine("REP", 0, PREFIX, message(b"naked") + message(b"", b"ok")),
    "rep_small_hwm": engine("REP", SMALL_HWM, PREFIX, message(b"", b"r") * 40),
    "req_replies": engine("REQ", 0, PREFIX, message(b"", b"unasked") + message(b"", b"r")),
    "req_correlate": engine("REQ", EXTRA, PREFIX, message(b"\x00\x00\x00\x01", b"", b"r")),
    "dealer_messages": engine("DEALER", 0, PREFIX, message(b"d1") + message(b"d2", b"d3")),
    "router_messages": engine("ROUTER", 0, PREFIX, message(b"r1") + message(b"", b"r2")),
    "router_mandatory_notify": engine("ROUTER", EXTRA, PREFIX, message(b"r1")),
    "pair_messages": engine("PAIR", 0, PREFIX, message(b"p1") + message(b"p2", b"p3")),
    "heartbeats": engine("DEALER", HEARTBEATS, PREFIX, LIBZMQ_PING + cmd(b"PONG", b"")
                         + message(b"alive")),
    "ping_context_long": engine("DEALER", 0, PREFIX, cmd(b"PING", b"\x00\x01" + b"c" * 16) * 40),
    "stream_bytes": engine("STREAM", 0, 0, b"GET / HTTP/1.0\r\n\r\n"),
    "stream_no_notify": engine("STREAM", EXTRA, 5, b"raw bytes, five at a time"),
    # Hostile data phases.
    "reserved_flags": engine("PULL", 0, PREFIX, message(b"ok") + b"\xf0\x01x"),
    "huge_declared": engine("PULL", 0, PREFIX, b"\x02\x7f\xff\xff\xff\xff\xff\xff\xff" + b"ab"),
    "long_declared_limit": engine("ROUTER", LIMIT, PREFIX,
                                  b"\x02\x00\x00\x00\x00\x00\x10\x00\x00" + b"z" * 64),
    "command_with_more": engine("DEALER", 0, PREFIX, b"\x05\x05\x04PING"),
    "error_command": engine("REP", 0, PREFIX, cmd(b"ERROR", b"\x03bye")),
    "ready_again": engine("ROUTER", 0, PREFIX, LIBZMQ_READY_ROUTER + message(b"after")),
    "unknown_command": engine("SUB", 0, PREFIX, cmd(b"X-THING", b"data") + message(b"m")),
    # Whole connections, greeting and READY from the input.
    "libzmq_push_to_pull": engine("PULL", 0, 0, LIBZMQ_NULL + LIBZMQ_READY_PUSH
                                  + LIBZMQ_PUSH_STREAM),
    "libzmq_req_to_rep": engine("REP", 0, 9, LIBZMQ_NULL + LIBZMQ_READY_REQ + LIBZMQ_REQ_MSG),
    "libzmq_sub_to_xpub": engine("XPUB", 0, 1, LIBZMQ_NULL + LIBZMQ_READY_SUB + LIBZMQ_SUBSCRIBE
                                 + LIBZMQ_CANCEL),
    "router_peer_identity": engine("ROUTER", 0, 0, LIBZMQ_NULL
                                   + cmd(b"READY", metadata((b"Socket-Type", b"DEALER"),
                                                            (b"Identity", b"good")))
                                   + message(b"steals the good peer's id")),
    "router_peer_new_identity": engine("ROUTER", 0, 0, LIBZMQ_NULL
                                       + cmd(b"READY", metadata((b"Socket-Type", b"REQ"),
                                                                (b"Identity", b"bad")))
                                       + message(b"", b"req")),
    "wrong_peer_type": engine("PULL", 0, 0, LIBZMQ_NULL + LIBZMQ_READY_SUB + message(b"x")),
    "pair_second_peer": engine("PAIR", 0, 0, LIBZMQ_NULL + cmd(b"READY", metadata((b"Socket-Type", b"PAIR")))
                               + message(b"solo")),
    "zmtp30_sub_to_pub": engine("PUB", 0, 0, greeting(b"NULL", 0, 3, 0)
                                + cmd(b"READY", metadata((b"Socket-Type", b"SUB")))
                                + message(b"\x01news") + message(b"\x00news")),
    "zmtp20_peer": engine("DEALER", 0, 0, b"\xff" + b"\x00" * 7 + b"\x01\x7f\x01\x05"
                          + b"\x00\x00\x03\x00hi"),
    "plain_greeting": engine("PULL", 0, 0, LIBZMQ_PLAIN + LIBZMQ_HELLO),
    "half_greeting_abrupt": engine("SUB", 0, ABRUPT, LIBZMQ_NULL[:20]),
    "garbage": engine("XSUB", HEARTBEATS, 0, b"GET / HTTP/1.1\r\n"),
}

for target, seeds in SEEDS.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
