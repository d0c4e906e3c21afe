"""bodies.py - request bodies of every kind for the soak suite, built once, with the answer each must get.

Kinds (README.md, docs/wire.md): /v1 JSON, /v1 MML1 frame, v2 JSON, v2
binary (Inference-Header-Content-Length), and any of them gzip-encoded.
All are float32, p = 1, margin = 1.  Each Body knows the mean loss computed
here in float64 (the server is far more accurate than the 1e-5 relative
tolerance used), so a wrong answer under load is caught, not just a status.

Large bodies are built from a pool of distinct rows repeated, which keeps
building a 48 MB JSON document to a fraction of a second.
"""
import gzip
import json
import struct
import time

import numpy as np

from harness import build_request

V1 = "/v1/multi_margin_loss"
V2 = "/v2/models/multi_margin_loss/infer"
REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def row_losses(x, y, margin=1.0):
    """Per-row multi-margin loss (p = 1) in float64, computed in row blocks."""
    out = np.empty(len(y))
    for a in range(0, len(y), 2048):
        xb = x[a:a + 2048].astype(np.float64)
        yb = y[a:a + 2048]
        idx = np.arange(len(yb))
        z = margin - xb[idx, yb][:, None] + xb
        z[idx, yb] = 0.0
        out[a:a + 2048] = np.where(z > 0, z, 0.0).sum(axis=1) / x.shape[1]
    return out


class Data:
    """x (N x C float32) and y (N int64) from a pool of distinct rows, with per-row losses."""

    def __init__(self, n, c, pool=64, seed=1):
        rng = np.random.default_rng(seed)
        self.pool_x = rng.standard_normal((pool, c)).astype(np.float32)
        self.pool_y = rng.integers(0, c, pool)
        self.pool_loss = row_losses(self.pool_x, self.pool_y)
        self.pool_text = [",".join("%.9g" % v for v in row) for row in self.pool_x.tolist()]
        self.n, self.c, self.pool = n, c, pool
        self.which = rng.integers(0, pool, n)

    def x(self, n):
        return self.pool_x[self.which[:n]]

    def y(self, n):
        return self.pool_y[self.which[:n]]

    def mean(self, n):
        return float(self.pool_loss[self.which[:n]].mean()) if n else float("nan")

    def rows_json(self, n):
        """The rows as a JSON array of arrays, the targets as a JSON array (strings)."""
        rows = "],[".join(self.pool_text[i] for i in self.which[:n].tolist())
        return "[[" + rows + "]]", "[" + ",".join(map(str, self.y(n).tolist())) + "]"

    def tensor_bytes(self, n):
        return n * self.c * 4 + n * 8


class Body:
    """One request: prebuilt head and body bytes, and how to check the answer."""

    def __init__(self, name, path, body, headers, expect, tensor_bytes, v2=False):
        self.name, self.path, self.body, self.v2 = name, path, body, v2
        self.headers = headers
        self.head = build_request("POST", path, headers, body)
        self.expect, self.tensor_bytes = expect, tensor_bytes

    def __len__(self):
        return len(self.body)

    def check(self, resp):
        """None when resp is the right 200 answer, else a short reason."""
        if resp.status != 200:
            return "status %d" % resp.status
        if self.expect is None:
            return None
        try:
            doc = json.loads(resp.body)
            got = doc["outputs"][0]["data"][0] if self.v2 else doc["loss"]
            got = float(got)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return "unreadable answer (%s): %r" % (e, resp.body[:80])
        if not abs(got - self.expect) <= 1e-5 * max(1.0, abs(self.expect)):
            return "wrong loss %r, expected %r" % (got, self.expect)
        return None


def gzipped(b):
    """The same request with a gzip Content-Encoding body."""
    headers = dict(b.headers, **{"Content-Encoding": "gzip"})
    return Body(b.name + "+gzip", b.path, gzip.compress(b.body, 1), headers,
                b.expect, b.tensor_bytes, b.v2)


def v1_json(d, n, name=None, dtype_first=True):
    rows, target = d.rows_json(n)
    if dtype_first:
        text = '{"dtype":"float32","reduction":"mean","input":%s,"target":%s}' % (rows, target)
    else:
        text = '{"input":%s,"target":%s,"reduction":"mean","dtype":"float32"}' % (rows, target)
    return Body(name or "json", V1, text.encode(), {"Content-Type": "application/json"},
                d.mean(n), d.tensor_bytes(n))


def frame_header(n, c, reduction="mean", dtype=2):
    return struct.pack("<4sBBBBB3xiQQ", b"MML1", 1, dtype, 1, REDUCTION[reduction], 0, 1, n, c)


def v1_frame(d, n, name=None):
    data = frame_header(n, d.c) + d.x(n).tobytes() + d.y(n).astype("<i8").tobytes()
    return Body(name or "frame", V1, data, {"Content-Type": "application/octet-stream"},
                d.mean(n), d.tensor_bytes(n))


def v2_binary_header(n, c, extra=""):
    return json.dumps({"inputs": [
        {"name": "INPUT", "shape": [n, c], "datatype": "FP32",
         "parameters": {"binary_data_size": n * c * 4}},
        {"name": "TARGET", "shape": [n], "datatype": "INT64",
         "parameters": {"binary_data_size": n * 8}}],
        "parameters": {"reduction": "mean"}}, separators=(",", ":")).encode()


def v2_binary(d, n, name=None):
    head = v2_binary_header(n, d.c)
    data = head + d.x(n).tobytes() + d.y(n).astype("<i8").tobytes()
    return Body(name or "v2bin", V2, data,
                {"Content-Type": "application/octet-stream",
                 "Inference-Header-Content-Length": str(len(head))},
                d.mean(n), d.tensor_bytes(n), v2=True)


def v2_json(d, n, name=None):
    rows, target = d.rows_json(n)
    text = ('{"inputs":[{"name":"INPUT","shape":[%d,%d],"datatype":"FP32","data":%s},'
            '{"name":"TARGET","shape":[%d],"datatype":"INT64","data":%s}],'
            '"parameters":{"reduction":"mean"}}' % (n, d.c, rows, n, target))
    return Body(name or "v2json", V2, text.encode(), {"Content-Type": "application/json"},
                d.mean(n), d.tensor_bytes(n), v2=True)


def rows_for(size, c):
    """Rows of a C-column float32 request whose tensors are about size bytes."""
    return max(1, size // (c * 4 + 8))


def none_frame(n, c=2):
    """A frame with reduction none: its JSON answer is about 10 bytes a row, read by no one."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, n).astype("<i8")
    data = frame_header(n, c, "none") + x.tobytes() + y.tobytes()
    return Body("frame-none", V1, data, {"Content-Type": "application/octet-stream"},
                None, n * c * 4 + n * 8)


MB = 1000 * 1000


class BodySet:
    """Every body the scenarios send, built once (a few seconds, ~300 MB of client memory)."""

    def __init__(self):
        t0 = time.monotonic()
        self.tiny = Data(64, 8, seed=3)
        self.big = Data(10000, 1000, seed=5)
        big, c = self.big, self.big.c
        self.small = [v1_json(self.tiny, n, "json-small") for n in (1, 3, 8, 16, 64)]
        self.frame = [v1_frame(big, rows_for(s * MB, c), "frame-%dMB" % s)
                      for s in (1, 2, 5, 10, 20, 40)]
        self.v2bin = [v2_binary(big, rows_for(s * MB, c), "v2bin-%dMB" % s)
                      for s in (1, 5, 10, 20, 40)]
        # about 11.5 bytes of JSON text per value: 90, 350 and 870 rows are 1, 4 and 10 MB
        self.v2json = [v2_json(big, n, "v2json-%dMB" % round(n * 11.5 / 1000)) for n in (90, 350, 870)]
        self.json4 = v1_json(big, 350, "json-4MB")
        self.gzip = [gzipped(self.small[2]), gzipped(self.frame[2]), gzipped(self.v2json[1]),
                     gzipped(self.v2bin[1])]
        self.seconds = time.monotonic() - t0
        self._json48 = self._json48_last = None

    @property
    def json48(self):
        """4096 x 1000 float32 as a ~48 MB /v1 JSON document, "dtype" first (built on first use)."""
        if self._json48 is None:
            self._json48 = v1_json(self.big, 4096, "json-48MB")
        return self._json48

    @property
    def json48_last(self):
        """The same with "dtype" last: the decoder holds float64 until it reads it."""
        if self._json48_last is None:
            self._json48_last = v1_json(self.big, 4096, "json-48MB-last", dtype_first=False)
        return self._json48_last

    def mixed(self):
        """(body, weight) of the mixed load: mostly small JSON by count, mostly frames by bytes."""
        out = [(b, 8.0) for b in self.small]
        out += [(b, 20.0 / len(self.frame)) for b in self.frame]
        out += [(b, 15.0 / len(self.v2bin)) for b in self.v2bin]
        out += [(b, 10.0 / len(self.v2json)) for b in self.v2json]
        out += [(self.json4, 5.0)]
        out += [(b, 10.0 / len(self.gzip)) for b in self.gzip]
        return out
