#!/usr/bin/env python3
"""Writes GGUF test files with gguf-py (llama.cpp's own Python package) and the values its dequantiser
reads from them, for internal/gguf's tests: one small file holding a tensor of every type the Go reader
dequantises (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), quantised by gguf-py from seeded random values,
and metadata of every value type. Re-runnable; the output is committed (a few KB):

    python3 -m venv /tmp/g && /tmp/g/bin/pip install gguf==0.19.0
    /tmp/g/bin/python scripts/reference/gguf_fixtures.py internal/gguf/testdata

With two more arguments — the SmolLM2 GGUF (`mtlora fetch-model smollm2-135m`) and an output folder that is
not committed (model weights stay out of git; CI writes it) — it also writes smollm2_tensors.json there: for
two tensors of each type in that file, gguf-py's dequantised sum, sum of squares and first values.
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]


def tensor_file(out):
    rng = np.random.default_rng(17)
    path = os.path.join(out, "types.gguf")
    w = GGUFWriter(path, "llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "naïve café — 日本語")
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", 1e-300)
    w.add_array("test.strings", ["a", "", "Ġb"])
    w.add_array("test.ints", [1, -2, 3])
    expected = {}
    for t in TYPES:
        x = rng.normal(0, 1, size=(3, 64)).astype(np.float32)
        x[0, :5] = [0, -0.0, 65504, 1e-6, -3.5]  # zeros, the largest half, a half subnormal
        q = quantize(x, t)
        name = f"t.{t.name}"
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=t)
        expected[name] = {"type": t.name, "shape": list(x.shape), "values": dequantize(q, t).astype(np.float32).reshape(-1).tolist()}
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(out, "types.json"), "w", encoding="utf-8") as f:
        json.dump({"writer": "gguf-py", "tensors": expected}, f)


def smollm2(out, path):
    r = GGUFReader(path)
    picked, seen = {}, {}
    for t in r.tensors:
        k = t.tensor_type.name
        if seen.get(k, 0) >= 2:
            continue
        seen[k] = seen.get(k, 0) + 1
        v = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
        picked[t.name] = {"type": k, "shape": [int(d) for d in reversed(t.shape.tolist())],
                          "sum": float(v.sum()), "sumsq": float((v * v).sum()), "first": v[:16].tolist()}
    with open(os.path.join(out, "smollm2_tensors.json"), "w", encoding="utf-8") as f:
        json.dump(picked, f, indent=1)


if __name__ == "__main__":
    os.makedirs(sys.argv[1], exist_ok=True)
    tensor_file(sys.argv[1])
    if len(sys.argv) > 3:
        os.makedirs(sys.argv[3], exist_ok=True)
        smollm2(sys.argv[3], sys.argv[2])
