"""A request handler in Python, unmodified CPython from Debian, through the
guest SDK's shared library (ctypes).  Python starts once, imports what it
needs and waits for requests; every request runs in a fork of that image,
and the fork is reset afterwards: the counter below is 1 in every answer.

    tinykvm-run --allow-read /path/to/examples/python \
        --allow-read /path/to/guest-sdk --get /hello \
        /usr/bin/python3 /path/to/examples/python/handler.py \
        /path/to/guest-sdk/libtinykvm-guest.so
"""
import ctypes
import json
import sys

sdk = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else "libtinykvm-guest.so")


class Request(ctypes.Structure):
    _fields_ = [("method", ctypes.c_char_p), ("url", ctypes.c_char_p),
                ("arg", ctypes.c_char_p), ("content_type", ctypes.c_char_p),
                ("body", ctypes.c_void_p), ("body_len", ctypes.c_size_t)]


HANDLER = ctypes.CFUNCTYPE(None, ctypes.POINTER(Request))
sdk.tinykvm_respond.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                ctypes.c_char_p, ctypes.c_size_t]
sdk.tinykvm_header_add.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
requests_seen = 0


def on_get(req):
    global requests_seen
    requests_seen += 1      # a private write: the reset takes it back
    r = req.contents
    body = json.dumps({"method": r.method.decode(), "url": r.url.decode(),
                       "requests_seen": requests_seen,
                       "python": sys.version.split()[0]}).encode() + b"\n"
    sdk.tinykvm_header_add(b"X-Handler", b"python")
    sdk.tinykvm_respond(200, b"application/json", body, len(body))


callback = HANDLER(on_get)  # kept alive: the SDK holds the pointer
sdk.tinykvm_on_get(callback)
sdk.tinykvm_wait_for_requests()
