#!/usr/bin/env bash
# integration_v2.sh - end-to-end tests of the binary frame, the Open Inference Protocol v2 and /openapi.json (docs/wire.md).
#
#   LOSSD=./build/lossd bash tests/integration_v2.sh
#
# Starts its own servers on free loopback ports (--listen 127.0.0.1:0, the
# bound port is read from the start-up log line), stops them on exit and
# bounds every step in time. The v2 requests are built byte for byte the
# way tritonclient's HTTP client builds them (tritonclient/http/_utils.py
# _get_inference_request, _infer_input.py _get_tensor, _client.py infer):
# compact JSON (python-rapidjson's dumps), inputs as
# {"name", "shape", "datatype", "parameters": {"binary_data_size"}},
# "binary_data_output": true when no outputs are named, the tensor bytes
# appended in input order, Inference-Header-Content-Length = JSON length,
# no Content-Type, gzip.compress / zlib.compress bodies with
# Content-Encoding. Debian has no tritonclient package, so tests/v2 speaks
# it with http.client. Prints one "ok" line per check, stops at the first
# failure with a FAIL line.
# shellcheck disable=SC2015  # "A && B || fail" is fine: fail exits
set -u

GOLDEN=${GOLDEN:-tests/data/golden.jsonl}
PY=${PY:-/usr/bin/python3}
REPO=$(pwd)
# shellcheck source=tests/lib.sh
. tests/lib.sh v2

# stop_server PID [wait]: SIGTERM (or only wait, when it is draining), and
# it must exit 0 within 10 s.
stop_server() {
    local pid=$1
    [ "${2:-}" = wait ] || kill -TERM "$pid"
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            local rc=$?
            [ "$rc" = 0 ] || fail "lossd exited $rc after SIGTERM"
            return 0
        fi
        sleep 0.05
    done
    fail "lossd $pid still running 10 s after SIGTERM"
}

# The client side: frame and tritonclient-style v2 builders, ulp checks.
cat >"$TMP/lib.py" <<'EOF'
import gzip, http.client, json, math, struct, sys, zlib
import numpy as np
from rawhttp import exchange

PORT = int(sys.argv[1])
GOLDEN = sys.argv[2]
REPO = sys.argv[3]
DT = {"float16": (1, np.float16, "FP16", 1), "float32": (2, np.float32, "FP32", 2),
      "float64": (3, np.float64, "FP64", 4)}
RED = {"none": 0, "mean": 1, "sum": 2}

def conn():
    return http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)

def request(method, path, body=None, headers=None):
    c = conn()
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data

def golden(every=5):
    cases = [json.loads(l) for l in open(GOLDEN)]
    return [c for i, c in enumerate(cases)
            if i % every == 0 or "special" in c["name"] or "empty" in c["name"]]

def arrays(c):
    n, ncol = c["shape"]
    dt = DT[c["dtype"]][1]
    x = np.array([float(v) for v in c["input"]], dtype=np.float64).astype(dt).reshape(n, ncol)
    y = np.array(c["target"], dtype=np.int64)
    w = None if c["weight"] is None else np.array([float(v) for v in c["weight"]]).astype(dt)
    return x, y, w

def frame(c, magic=b"MML1"):
    """MML1 request frame for a golden case (docs/wire.md, "Binary frame")."""
    x, y, w = arrays(c)
    n, ncol = x.shape
    hdr = magic + struct.pack("<BBBBB3xiQQ", 1, DT[c["dtype"]][0], c["p"], RED[c["reduction"]],
                              1 if w is not None else 0, c["margin"], n, ncol)
    body = hdr + x.astype(x.dtype.newbyteorder("<")).tobytes() + y.astype("<i8").tobytes()
    if w is not None:
        body += w.astype(w.dtype.newbyteorder("<")).tobytes()
    return body

def ulps(a, b, dtype):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return 0 if math.isnan(a) and math.isnan(b) else 1 << 60
    if math.isinf(a) or math.isinf(b):
        return 0 if a == b else 1 << 60
    fmt, ifmt = {"float16": ("e", "h"), "float32": ("f", "i"), "float64": ("d", "q")}[dtype]
    def key(v):
        i = struct.unpack(ifmt, struct.pack(fmt, v))[0]
        return i if i >= 0 else -(i & ((1 << (8 * struct.calcsize(ifmt) - 1)) - 1))
    return abs(key(a) - key(b))

def check_values(c, got, what):
    exact = [float(v) for v in c["exact"]]
    if len(got) != len(exact):
        sys.exit(f"{what} {c['name']}: {len(got)} values, expected {len(exact)}")
    for g, e in zip(got, exact):
        d = ulps(g, e, c["dtype"])
        if d > DT[c["dtype"]][3]:
            sys.exit(f"{what} {c['name']}: got {g!r}, exact {e!r} ({d} ulp)")

class V2Input:
    """tritonclient.http.InferInput as its source builds it."""
    def __init__(self, name, array, datatype, binary=True):
        self.name, self.shape, self.datatype = name, list(array.shape), datatype
        self.parameters, self.data, self.raw = {}, None, None
        if binary:
            self.raw = array.tobytes()
            self.parameters["binary_data_size"] = len(self.raw)
        else:
            self.data = [v.item() for v in array.flatten()]
    def tensor(self):
        t = {"name": self.name, "shape": self.shape, "datatype": self.datatype}
        if self.parameters:
            t["parameters"] = self.parameters
        if self.raw is None and self.data is not None:
            t["data"] = self.data
        return t

def v2_body(inputs, request_id="", outputs=None, custom=None):
    """(body, json_size or None) like _get_inference_request."""
    req, params = {}, {}
    if request_id != "":
        req["id"] = request_id
    req["inputs"] = [i.tensor() for i in inputs]
    if outputs:
        req["outputs"] = outputs
    else:
        params["binary_data_output"] = True
    for k, v in (custom or {}).items():
        params[k] = v
    if params:
        req["parameters"] = params
    text = json.dumps(req, separators=(",", ":"))     # rapidjson.dumps is compact
    parts = [text.encode()] + [i.raw for i in inputs if i.raw is not None]
    return (parts[0], None) if len(parts) == 1 else (b"".join(parts), len(text))

def v2_infer(inputs, request_id="", outputs=None, custom=None, compression=None,
             path="/v2/models/multi_margin_loss/infer", accept=None):
    """POST like InferenceServerClient.infer: no Content-Type. Returns
    (status, headers, json part, binary part)."""
    body, json_size = v2_body(inputs, request_id, outputs, custom)
    headers = {}
    if compression == "gzip":
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    elif compression == "deflate":
        headers["Content-Encoding"] = "deflate"
        body = zlib.compress(body)
    if accept:
        headers["Accept-Encoding"] = accept
    if json_size is not None:
        headers["Inference-Header-Content-Length"] = json_size
    st, h, data = request("POST", path, body, headers)
    if h.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    elif h.get("content-encoding") == "deflate":
        data = zlib.decompress(data)
    hl = h.get("inference-header-content-length")
    if hl is None:
        return st, h, json.loads(data), b""
    return st, h, json.loads(data[:int(hl)]), data[int(hl):]

def jnum(v):
    """A JSON element: non-finite values as the strings the JSON request accepts."""
    if isinstance(v, list):
        return [jnum(e) for e in v]
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v

def case_inputs(c, binary=True, nested=False):
    x, y, w = arrays(c)
    dt = DT[c["dtype"]][2]
    ins = [V2Input("INPUT", x, dt, binary), V2Input("TARGET", y, "INT64", binary)]
    if w is not None:
        ins.append(V2Input("WEIGHT", w, dt, binary))
    if not binary:
        for i in (ins[0], ins[-1]):
            if i.datatype != "INT64":
                i.data = jnum(i.data)
        if nested:
            ins[0].data = jnum(x.astype(np.float64).tolist())
    return ins

def params(c):
    return {"p": c["p"], "margin": c["margin"], "reduction": c["reduction"]}

def check_v2_answer(c, st, h, j, binpart, request_id, binary_out, what):
    if st != 200:
        sys.exit(f"{what} {c['name']}: HTTP {st} {j}")
    n = c["shape"][0]
    want_shape = [n] if c["reduction"] == "none" else []
    assert j["model_name"] == "multi_margin_loss", j
    assert j["model_version"] == "1", j
    if request_id:
        assert j["id"] == request_id, j
    else:
        assert "id" not in j, j
    assert len(j["outputs"]) == 1, j
    o = j["outputs"][0]
    assert o["name"] == "LOSS" and o["datatype"] == DT[c["dtype"]][2], o
    assert o["shape"] == want_shape, (o, want_shape)
    count = n if c["reduction"] == "none" else 1
    size = count * np.dtype(DT[c["dtype"]][1]).itemsize
    if binary_out:
        assert h["content-type"] == "application/octet-stream", h
        assert o["parameters"]["binary_data_size"] == size, o
        assert "data" not in o, o
        assert len(binpart) == size, (len(binpart), size)
        vals = np.frombuffer(binpart, dtype=np.dtype(DT[c["dtype"]][1]).newbyteorder("<"))
        check_values(c, [float(v) for v in vals], what)
    else:
        assert h["content-type"] == "application/json", h
        assert "inference-header-content-length" not in h, h
        assert binpart == b"" and "parameters" not in o, o
        check_values(c, [float(v) for v in o["data"]], what)
EOF

# py CHECK-NAME: run the Python snippet on stdin with lib.py loaded.
py() {
    local name=$1
    cat >"$TMP/$name.py"
    (cd "$TMP" && timeout 120 "$PY" -c "
import sys
exec(open('lib.py').read())
exec(open('$name.py').read())
" "$PORT" "$REPO/$GOLDEN" "$REPO") || fail "$name"
}

# ---------------------------------------------------------------- binary frame
check_frame_golden() {
    py frame_golden <<'EOF'
cases = golden()
for c in cases:
    st, h, data = request("POST", "/v1/multi_margin_loss", frame(c),
                          {"Content-Type": "application/octet-stream"})
    if st != 200:
        sys.exit(f"frame {c['name']}: HTTP {st} {data[:200]!r}")
    assert h["content-type"] == "application/json", h
    j = json.loads(data)
    assert j["dtype"] == c["dtype"] and j["reduction"] == c["reduction"], j
    loss = j["loss"] if isinstance(j["loss"], list) else [j["loss"]]
    check_values(c, loss, "frame/json")
    st, h, data = request("POST", "/v1/multi_margin_loss", frame(c),
                          {"Content-Type": "application/octet-stream",
                           "Accept": "application/json;q=0.9, application/octet-stream"})
    assert st == 200 and h["content-type"] == "application/octet-stream", (st, h, data[:100])
    magic, ver, dt, rank, res, count = struct.unpack("<4sBBBBQ", data[:16])
    n = c["shape"][0]
    assert magic == b"MMR1" and ver == 1 and dt == DT[c["dtype"]][0] and res == 0, data[:16]
    assert rank == (1 if c["reduction"] == "none" else 0), rank
    assert count == (n if c["reduction"] == "none" else 1), count
    es = np.dtype(DT[c["dtype"]][1]).itemsize
    assert len(data) == 16 + count * es, len(data)
    vals = np.frombuffer(data[16:], dtype=np.dtype(DT[c["dtype"]][1]).newbyteorder("<"))
    check_values(c, [float(v) for v in vals], "frame/MMR1")
st, h, data = request("POST", "/v1/multi_margin_loss", frame(cases[0]),
                      {"Content-Type": "application/octet-stream",
                       "Accept": "application/json, application/octet-stream;q=0.5"})
assert st == 200 and h["content-type"] == "application/json", (st, h, data[:100])
print(f"     {len(cases)} golden cases as frames, JSON and MMR1 answers within 1/2/4 ulp")
EOF
    ok "golden cases as binary frames; Accept: application/octet-stream gives MMR1 unless JSON has a higher q"
}

check_frame_errors() {
    py frame_errors <<'EOF'
c = {"dtype": "float32", "shape": [2, 3], "p": 1, "margin": 1, "reduction": "mean",
     "input": [1, 2, 3, 4, 5, 6], "target": [0, 2], "weight": [1, 1, 1]}
good = frame(c)
OCT = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}
def expect(body, status, etype, field, what, headers=OCT):
    st, h, data = request("POST", "/v1/multi_margin_loss", body, headers)
    assert h["content-type"] == "application/json", (what, h)   # errors are always JSON
    e = json.loads(data)["error"]
    assert (st, e["type"], e.get("field")) == (status, etype, field), (what, st, e)
    assert e["message"], e
bad_magic = b"XML1" + good[4:]
expect(bad_magic, 400, "BadRequest", "magic", "bad magic")
expect(good[:20], 400, "BadRequest", "body", "truncated header")
expect(good[:-3], 400, "BadRequest", "body", "truncated tensors")
expect(good + b"\0" * 8, 400, "BadRequest", "body", "too long")
expect(good[:5] + b"\x09" + good[6:], 400, "TypeError", "dtype", "bad dtype")
expect(good[:6] + b"\x03" + good[7:], 400, "ValueError", "p", "p = 3")
expect(good[:8] + b"\x02" + good[9:], 400, "BadRequest", "flags", "flags")
tgt = frame(dict(c, target=[0, 7]))
expect(tgt, 400, "ValueError", "target", "target out of range")
st, h, data = request("POST", "/v1/multi_margin_loss", good, OCT)
assert st == 200, (st, data)

# Content-Length that disagrees with the frame header: refused from the
# header, not after the tensors.
def raw(head, body):
    st, payload = exchange("127.0.0.1", PORT, head + body)
    return st, json.loads(payload)["error"]
head = (b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n")
st, e = raw(head % (len(good) + 8), good + b"\0" * 8)
assert st == 400 and e["type"] == "BadRequest" and "Content-Length" in e["message"], (st, e)
st, e = raw(head % (len(good) - 4), good[:-4])
assert st == 400 and e["type"] == "BadRequest" and "Content-Length" in e["message"], (st, e)
print("     bad magic, version fields, truncated, too long, Content-Length mismatch")
EOF
    ok "malformed frames: 400 with type and field, JSON errors even with Accept: octet-stream"
}

# A frame declaring more than --max-body: 413 from its 32-byte header,
# whatever Content-Length says, and with a chunked body.
check_frame_too_big() {
    start_server small --max-body 4096 --threads 1
    py frame_too_big <<'EOF'
hdr = b"MML1" + struct.pack("<BBBBB3xiQQ", 1, 2, 1, 1, 0, 1, 1 << 20, 1000)
def expect413(body, headers, what):
    st, h, data = request("POST", "/v1/multi_margin_loss", body, headers)
    e = json.loads(data)["error"]
    assert st == 413 and e["type"] == "PayloadTooLarge", (what, st, e)
expect413(hdr + b"\0" * 64, {"Content-Type": "application/octet-stream"}, "Content-Length")
def chunks():
    yield hdr
    yield b"\0" * 64
c = conn()
c.request("POST", "/v1/multi_margin_loss", chunks(),
          {"Content-Type": "application/octet-stream"}, encode_chunked=True)
r = c.getresponse()
e = json.loads(r.read())["error"]
assert r.status == 413 and e["type"] == "PayloadTooLarge", (r.status, e)
expect413(b"x" * 5000, {"Content-Type": "application/octet-stream"}, "over max-body")
# v2: the declared header length and binary sizes count too.
st, h, j, _ = v2_infer([V2Input("INPUT", np.zeros((1000, 2), np.float32), "FP32"),
                        V2Input("TARGET", np.zeros(1000, np.int64), "INT64")])
assert st == 413 and j["error"].startswith("PayloadTooLarge"), (st, j)
bomb = gzip.compress(b" " * 1000000)
st, h, data = request("POST", "/v1/multi_margin_loss", bomb,
                      {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"})
assert st == 413 and json.loads(data)["error"]["type"] == "PayloadTooLarge", (st, data)
st, h, data = request("POST", "/v2/models/multi_margin_loss/infer", bomb,
                      {"Content-Encoding": "gzip"})
assert st == 413 and json.loads(data)["error"].startswith("PayloadTooLarge"), (st, data)
EOF
    stop_server "$SPID"
    ok "413 for a frame declaring more than --max-body (Content-Length and chunked), v2 too; gzip bombs 413"
}

# ---------------------------------------------------------------- v2
check_v2_metadata() {
    py v2_metadata <<'EOF'
st, h, d = request("GET", "/v2")
j = json.loads(d)
assert st == 200 and j["name"] == "lossd" and j["version"], j
assert "binary_tensor_data" in j["extensions"], j
st, h, d = request("GET", "/v2/health/live")
assert st == 200 and json.loads(d) == {"live": True}, (st, d)
for p in ("/v2/health/ready", "/v2/models/multi_margin_loss/ready",
          "/v2/models/multi_margin_loss/versions/1/ready"):
    st, h, d = request("GET", p)
    assert st == 200 and json.loads(d) == {"ready": True}, (p, st, d)
for p in ("/v2/models/multi_margin_loss", "/v2/models/multi_margin_loss/versions/1"):
    st, h, d = request("GET", p)
    m = json.loads(d)
    assert st == 200 and m["name"] == "multi_margin_loss" and "1" in m["versions"], m
    names = [i["name"] for i in m["inputs"]]
    assert names == ["INPUT", "TARGET", "WEIGHT"], names
    assert [o["name"] for o in m["outputs"]] == ["LOSS"], m
for p in ("/v2/models/multi_margin_loss/config", "/v2/models/multi_margin_loss/versions/1/config"):
    st, h, d = request("GET", p)
    c = json.loads(d)
    assert st == 200 and c["name"] == "multi_margin_loss" and c["max_batch_size"] == 0, (p, c)
    assert [(i["name"], i["data_type"], i["dims"]) for i in c["input"]] == [
        ("INPUT", "TYPE_FP32", [-1, -1]), ("TARGET", "TYPE_INT64", [-1]), ("WEIGHT", "TYPE_FP32", [-1])], c
    assert [o["name"] for o in c["output"]] == ["LOSS"], c
for p in ("/v2/models/resnet50", "/v2/models/resnet50/ready", "/v2/models/resnet50/config",
          "/v2/models/multi_margin_loss/versions/2",
          "/v2/models/multi_margin_loss/versions/2/ready"):
    st, h, d = request("GET", p)
    j = json.loads(d)
    assert st == 404 and isinstance(j["error"], str) and j["error"], (p, st, j)
    assert "unknown model or version" in j["error"], (p, j)
for p in ("/v2/models/multi_margin_loss/stats", "/v2/models/multi_margin_loss/versions/1/stats"):
    st, h, d = request("GET", p)
    j = json.loads(d)
    assert st == 404 and j["error"].startswith("NotFound: no route for GET " + p), (p, st, j)
st, h, j, _ = v2_infer([V2Input("INPUT", np.ones((1, 2), np.float32), "FP32")],
                       path="/v2/models/resnet50/infer")
assert st == 404 and isinstance(j["error"], str), (st, j)
st, h, j, _ = v2_infer([V2Input("INPUT", np.ones((1, 2), np.float32), "FP32")],
                       path="/v2/models/multi_margin_loss/versions/7/infer")
assert st == 404 and isinstance(j["error"], str), (st, j)
st, h, d = request("GET", "/v2/models/multi_margin_loss/infer")
assert st == 405 and h["allow"] == "POST" and isinstance(json.loads(d)["error"], str), (st, h, d)
st, h, d = request("DELETE", "/v2/health/live")
assert st == 405 and h["allow"] == "GET, HEAD" and isinstance(json.loads(d)["error"], str), d
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer", b"{}",
                   {"Content-Encoding": "br"})
assert st == 415 and json.loads(d)["error"].startswith("UnsupportedMediaType"), (st, d)
EOF
    ok "GET /v2 lists binary_tensor_data; live/ready bodies; model metadata and config; 404/405/415 in v2 shape"
}

check_v2_golden() {
    py v2_golden <<'EOF'
cases = golden(7)
for k, c in enumerate(cases):
    rid = f"req-{k}" if k % 2 else ""
    # tritonclient defaults: binary inputs, no outputs -> binary_data_output.
    st, h, j, b = v2_infer(case_inputs(c), rid, custom=params(c))
    check_v2_answer(c, st, h, j, b, rid, True, "v2 binary")
    path = "/v2/models/multi_margin_loss/versions/1/infer"
    if c["dtype"] == "float16":
        st, h, j, b = v2_infer(case_inputs(c), rid, custom=params(c), path=path,
                               outputs=[{"name": "LOSS", "parameters": {"binary_data": False}}])
        check_v2_answer(c, st, h, j, b, rid, False, "v2 binary in, JSON out")
        continue
    # JSON data, flat and nested, LOSS asked for by name as JSON.
    outs = [{"name": "LOSS", "parameters": {"binary_data": False}}]
    st, h, j, b = v2_infer(case_inputs(c, binary=False), rid, outputs=outs,
                           custom=params(c), path=path)
    check_v2_answer(c, st, h, j, b, rid, False, "v2 JSON flat")
    st, h, j, b = v2_infer(case_inputs(c, binary=False, nested=True), rid, outputs=outs,
                           custom=params(c))
    check_v2_answer(c, st, h, j, b, rid, False, "v2 JSON nested")
print(f"     {len(cases)} golden cases as v2 binary and v2 JSON (flat, nested)")
EOF
    ok "golden cases through v2: binary tensors and binary LOSS, JSON data flat and nested"
}

check_v2_wire() {
    py v2_wire <<'EOF'
x = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]], np.float32)
y = np.array([1, 2, 1], np.int64)
ins = [V2Input("INPUT", x, "FP32"), V2Input("TARGET", y, "INT64")]
body, jsize = v2_body(ins, "abc-1")
# Exactly what tritonclient 2.x puts on the wire for these inputs.
want = (b'{"id":"abc-1","inputs":[{"name":"INPUT","shape":[3,3],"datatype":"FP32",'
        b'"parameters":{"binary_data_size":36}},{"name":"TARGET","shape":[3],'
        b'"datatype":"INT64","parameters":{"binary_data_size":24}}],'
        b'"parameters":{"binary_data_output":true}}')
assert body[:jsize] == want and body[jsize:] == x.tobytes() + y.tobytes(), body
c = conn()
c.putrequest("POST", "/v2/models/multi_margin_loss/infer", skip_accept_encoding=True)
c.putheader("Content-Length", str(len(body)))
c.putheader("Inference-Header-Content-Length", str(jsize))
c.endheaders(body)
r = c.getresponse()
data = r.read()
h = {k.lower(): v for k, v in r.getheaders()}
assert r.status == 200, (r.status, data)
hl = int(h["inference-header-content-length"])
j = json.loads(data[:hl])
assert j == {"model_name": "multi_margin_loss", "model_version": "1", "id": "abc-1",
             "outputs": [{"name": "LOSS", "datatype": "FP32", "shape": [],
                          "parameters": {"binary_data_size": 4}}]}, j
assert data[hl:] == np.float32(2 / 3).tobytes(), data[hl:]
assert h["content-type"] == "application/octet-stream" and h["x-request-id"], h
# reduction none, weights, compressed both ways; the header length stays
# the uncompressed one.
n = 2000
x = (np.arange(n * 4, dtype=np.float64).reshape(n, 4) % 7 - 3).astype(np.float32)
y = (np.arange(n) % 4).astype(np.int64)
w = np.array([1, 2, 0.5, 1], np.float32)
ins = [V2Input("INPUT", x, "FP32"), V2Input("TARGET", y, "INT64"), V2Input("WEIGHT", w, "FP32")]
ref = None
for comp in (None, "gzip", "deflate"):
    st, h, j, b = v2_infer(ins, "z", custom={"reduction": "none", "p": 2, "margin": 2},
                           compression=comp, accept="gzip" if comp else None)
    assert st == 200 and j["outputs"][0]["shape"] == [n], (st, j)
    assert len(b) == 4 * n, len(b)
    if comp:
        assert h.get("content-encoding") == "gzip", h
    ref = ref or b
    assert b == ref, comp
st, h, j, b = v2_infer(ins, "z", custom={"reduction": "none"},
                       outputs=[{"name": "LOSS", "parameters": {"binary_data": False}}],
                       compression="gzip", accept="deflate")
assert st == 200 and h.get("content-encoding") == "deflate" and len(j["outputs"][0]["data"]) == n, h
# curl-style JSON with a Content-Type works too.
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer",
                   b'{"inputs":[{"name":"INPUT","datatype":"FP64","shape":[1,2],"data":[[1,2]]},'
                   b'{"name":"TARGET","datatype":"INT64","shape":[1],"data":[0]}],'
                   b'"parameters":{"reduction":"sum"}}',
                   {"Content-Type": "application/json"})
assert st == 200 and json.loads(d)["outputs"][0]["data"] == [1.0], (st, d)
print("     tritonclient bytes, header length, compressed requests and responses")
EOF
    ok "v2 requests built like tritonclient: every answer field and the LOSS bytes"
}

check_v2_errors() {
    py v2_errors <<'EOF'
def expect(st, j, status, prefix, what):
    assert st == status and isinstance(j.get("error"), str), (what, st, j)
    assert j["error"].startswith(prefix), (what, j)
x16 = np.ones((2, 3), np.float16)
y = np.array([0, 1], np.int64)
st, h, j, _ = v2_infer([V2Input("INPUT", x16, "FP16", binary=False),
                        V2Input("TARGET", y, "INT64", binary=False)])
expect(st, j, 400, "", "FP16 as JSON data")
ins = [V2Input("INPUT", np.ones((2, 3), np.float32), "FP32"), V2Input("TARGET", y, "INT64")]
ins[0].parameters["binary_data_size"] = 20          # 24 bytes follow
st, h, j, _ = v2_infer(ins)
expect(st, j, 400, "", "binary_data_size mismatch")
ins = [V2Input("INPUT", np.ones((2, 3), np.float32), "FP32"), V2Input("TARGET", y, "INT64")]
body, jsize = v2_body(ins)
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer", body[:-3],
                   {"Inference-Header-Content-Length": str(jsize)})
expect(st, json.loads(d), 400, "BadRequest", "truncated binary data")
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer", body + b"xx",
                   {"Inference-Header-Content-Length": str(jsize)})
expect(st, json.loads(d), 400, "BadRequest", "trailing bytes")
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer", body,
                   {"Inference-Header-Content-Length": "12abc"})
expect(st, json.loads(d), 400, "BadRequest", "bad header length")
st, h, j, _ = v2_infer(ins, custom={"p": 1.5})
expect(st, j, 400, "TypeError", "p = 1.5")
st, h, j, _ = v2_infer(ins, custom={"reduce": "sum"})
expect(st, j, 400, "ValueError", "unknown parameter")
st, h, j, _ = v2_infer([ins[0], V2Input("TARGET", np.array([0, 9], np.int64), "INT64")])
expect(st, j, 400, "ValueError", "target out of range")
assert "TARGET" in j["error"] or "target" in j["error"], j
st, h, d = request("POST", "/v2/models/multi_margin_loss/infer", b'{"inputs": [',
                   {"Content-Type": "application/json"})
expect(st, json.loads(d), 400, "BadRequest", "malformed JSON")
print("     FP16 JSON, byte-count mismatch, truncated, trailing, bad parameters")
EOF
    ok "v2 errors: 400 {\"error\": \"<Type>: ...\"} for FP16 JSON, byte counts, parameters, targets"
}

check_gzip_frame() {
    py gzip_frame <<'EOF'
c = {"name": "gz", "dtype": "float64", "shape": [300, 5], "p": 2, "margin": 1, "reduction": "none",
     "input": [((i * 37) % 11) / 4 - 1 for i in range(1500)], "target": [i % 5 for i in range(300)],
     "weight": None}
f = frame(c)
base = request("POST", "/v1/multi_margin_loss", f, {"Content-Type": "application/octet-stream",
                                                   "Accept": "application/octet-stream"})
assert base[0] == 200, base
for enc, z in (("gzip", gzip.compress(f)), ("deflate", zlib.compress(f))):
    st, h, d = request("POST", "/v1/multi_margin_loss", z,
                       {"Content-Type": "application/octet-stream", "Content-Encoding": enc,
                        "Accept": "application/octet-stream", "Accept-Encoding": "gzip"})
    assert st == 200 and h.get("content-encoding") == "gzip", (enc, st, h)
    assert gzip.decompress(d) == base[2], enc
st, h, d = request("POST", "/v1/multi_margin_loss", gzip.compress(f)[:-10],
                   {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"})
assert st == 400 and json.loads(d)["error"]["type"] == "BadRequest", (st, d)
EOF
    ok "gzip and deflate frame bodies; gzip MMR1 response; a truncated gzip frame is 400"
}

check_openapi() {
    py openapi <<'EOF'
st, h, d = request("GET", "/openapi.json")
assert st == 200 and h["content-type"].startswith("application/json"), (st, h)
doc = json.loads(d)
assert doc["openapi"].startswith("3.") and doc["paths"], doc.keys()
assert d == open(REPO + "/docs/openapi.json", "rb").read(), "served != docs/openapi.json"
for path, item in doc["paths"].items():
    for method in item:
        if method == "get":
            st, h, _ = request("GET", path)
            assert st in (200, 503), (path, st)
        elif method == "post":
            st, h, _ = request("GET", path)
            assert st == 405 and "POST" in h["allow"], (path, st, h)
EOF
    ok "GET /openapi.json serves docs/openapi.json; every documented path answers"
}

check_v2_drain() {
    start_server drain --threads 1
    py v2_drain <<'EOF'
import os, signal, threading, time
pid = int(os.environ["SPID"])
n = 400000
x = np.ones((n, 8), np.float32)
y = np.zeros(n, np.int64)
res = []
def one():
    res.append(v2_infer([V2Input("INPUT", x, "FP32"), V2Input("TARGET", y, "INT64")])[0])
t = threading.Thread(target=one)
t.start()
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
deadline = time.time() + 10
while True:
    try:
        st, h, d = request("GET", "/v2/health/ready")
    except OSError:
        break                         # listening socket closed: drained
    if st == 503:
        assert isinstance(json.loads(d)["error"], str), d
        break
    assert time.time() < deadline
    time.sleep(0.01)
t.join()
assert res == [200], res
EOF
    stop_server "$SPID" wait
    ok "/v2/health/ready 503 (v2 shape) while draining, an infer in flight answered"
}

start_server main --threads 2
MAIN_PID=$SPID
export SPID
check_frame_golden
check_frame_errors
check_gzip_frame
check_v2_metadata
check_v2_golden
check_v2_wire
check_v2_errors
check_openapi
stop_server "$MAIN_PID"
check_frame_too_big
export SPID
check_v2_drain
if grep -l -E 'runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer' \
    "$TMP"/*.log >"$TMP/san.out" 2>/dev/null; then
    fail "sanitizer reports in $(tr '\n' ' ' <"$TMP/san.out")"
fi
ok "no sanitizer reports in the server logs"
echo "integration_v2: all checks passed"
