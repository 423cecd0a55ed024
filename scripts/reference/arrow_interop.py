#!/usr/bin/env python3
"""Writes data files with an independent Arrow implementation (pyarrow) and the values it reads from them,
for the Go loaders' interoperability test (datasets/interop_test.go). Run by .ci/run; re-runnable:

    python3 -m venv /tmp/pyarrow && /tmp/pyarrow/bin/pip install pyarrow==26.0.1
    /tmp/pyarrow/bin/python scripts/reference/arrow_interop.py OUT_DIR [PARQUET_TESTDATA_DIR]
    MTLORA_INTEROP_DIR=OUT_DIR go test ./datasets -run Interop

OUT_DIR receives files written by pyarrow — Parquet with dictionary encoding, nulls, several row groups,
Snappy / ZSTD / GZIP compression and large strings; Arrow IPC file (ZSTD) and stream (LZ4); CSV; JSON Lines —
and expected.json: for each of those files and each top-level .parquet file of PARQUET_TESTDATA_DIR (the
Apache parquet-testing files shipped in the github.com/parquet-go/parquet-go module), the row count, the
column names and types, and every value of the flat columns (strings, integers, floats, booleans) as pyarrow
reads them. Files pyarrow cannot read are listed with its error.

It also writes multi-task datasets the way users bring them, with what pyarrow.dataset reads back under
expected.json's "datasets": a hive-partitioned folder (task=NAME/…, written by pyarrow.dataset with URL-encoded
partition values), shards without a file extension, and labels stored as DOUBLE and BOOLEAN columns; Parquet
files with page checksums (integrity/, for the corruption sweep); and CSV files whose texts hold line breaks,
quotes, empty strings and NULLs, written by pyarrow and, when the duckdb package is installed, by DuckDB
(with a DuckDB Parquet file of the same table), under expected.json's "csv_edges".
"""
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MAX_ROWS = 2000


def table():
    n = 1000
    tasks = ["spam", "topic", "sentiment"]
    texts = [None if i % 37 == 0 else f"example {i}: naïve café — 日本語 {'x' * (i % 50)}" for i in range(n)]
    return pa.table({
        "task": pa.array([tasks[i % 3] for i in range(n)]).dictionary_encode(),
        "text": pa.array(texts, pa.string()),
        "long_text": pa.array([f"large string {i} " * (1 + i % 7) for i in range(n)], pa.large_string()),
        "label": pa.array([["neg", "pos", None][i % 3] if i % 3 != 2 or i % 2 else "neu" for i in range(n)]),
        "score": pa.array([None if i % 11 == 0 else i / 7.0 for i in range(n)], pa.float64()),
        "count": pa.array([i * 1000003 for i in range(n)], pa.int64()),
        "small": pa.array([i % 100 for i in range(n)], pa.int32()),
        "flag": pa.array([None if i % 13 == 0 else i % 2 == 0 for i in range(n)]),
    })


def write_files(out):
    t = table()
    files = {}
    p = os.path.join(out, "pyarrow_dict_snappy.parquet")
    pq.write_table(t, p, row_group_size=128, compression="snappy", use_dictionary=True)
    files[p] = "parquet"
    p = os.path.join(out, "pyarrow_zstd.parquet")
    pq.write_table(t, p, row_group_size=300, compression="zstd", use_dictionary=["task"], data_page_version="2.0")
    files[p] = "parquet"
    p = os.path.join(out, "pyarrow_gzip_plain.parquet")
    pq.write_table(t, p, row_group_size=1000, compression="gzip", use_dictionary=False)
    files[p] = "parquet"
    p = os.path.join(out, "pyarrow.arrow")
    feather.write_feather(t, p, compression="zstd", chunksize=256)
    files[p] = "ipc"
    p = os.path.join(out, "pyarrow.arrows")
    with ipc.new_stream(p, t.schema, options=ipc.IpcWriteOptions(compression="lz4")) as w:
        for b in t.to_batches(max_chunksize=200):
            w.write_batch(b)
    files[p] = "ipc-stream"
    plain = t.select(["text", "label", "small"]).cast(pa.schema([("text", pa.string()), ("label", pa.string()), ("small", pa.int32())]))
    p = os.path.join(out, "pyarrow.csv")
    pacsv.write_csv(plain, p)
    files[p] = "csv"
    p = os.path.join(out, "pyarrow.jsonl")
    with open(p, "w", encoding="utf-8") as f:
        for row in plain.to_pylist():
            f.write(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False) + "\n")
    files[p] = "jsonl"
    return files


def write_datasets(out):
    import pyarrow.dataset as ds
    n = 300
    tasks = ["sentiment", "topic & more", "rating"]
    rows = {
        "task": [tasks[i % 3] for i in range(n)],
        "text": [f"text {i} — ü" for i in range(n)],
        "label": [["pos", "neg"][i % 2] if i % 3 == 0 else (["sport", "politics"][i % 2] if i % 3 == 1 else str((i % 5) / 2)) for i in range(n)],
    }
    t = pa.table(rows)
    hive = os.path.join(out, "hive")
    ds.write_dataset(t, hive, format="parquet", partitioning=["task"], partitioning_flavor="hive",
                     max_rows_per_file=40, max_rows_per_group=40, existing_data_behavior="overwrite_or_ignore")
    back = ds.dataset(hive, format="parquet", partitioning="hive").to_table()
    hive_expected = {}
    for task, text, label in zip(back.column("task").to_pylist(), back.column("text").to_pylist(), back.column("label").to_pylist()):
        hive_expected.setdefault(task, []).append([text, label])
    shards = os.path.join(out, "shards")
    os.makedirs(shards, exist_ok=True)
    for k in range(3):
        pq.write_table(t.slice(k * 100, 100), os.path.join(shards, f"part-{k:05d}"))
    double = pa.table({"task": ["spam"] * 6, "text": [f"d{i}" for i in range(6)], "label": pa.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0], pa.float64())})
    pq.write_table(double, os.path.join(out, "labels_double.parquet"))
    boolean = pa.table({"task": ["flag"] * 6, "text": [f"b{i}" for i in range(6)], "label": pa.array([True, False, True, True, False, True])})
    pq.write_table(boolean, os.path.join(out, "labels_bool.parquet"))
    return {
        "hive": {"path": hive, "rows": back.num_rows, "by_task": hive_expected},
        "shards": {"path": shards, "rows": t.num_rows, "texts": t.column("text").to_pylist()},
        "labels_double": {"path": os.path.join(out, "labels_double.parquet"), "labels": double.column("label").to_pylist()},
        "labels_bool": {"path": os.path.join(out, "labels_bool.parquet"), "labels": boolean.column("label").to_pylist()},
    }


def integrity_rows():
    """The rows of datasets/integrity_test.go's integrityRows, for the corruption sweep over files with page
    checksums (which arrow-go cannot write)."""
    rows = []
    for i in range(48):
        task, label = "sentiment", ["neg", "pos"][i % 2]
        if i % 3 == 0:
            task, label = "topic", ["politics", "sport", "science"][(i // 3) % 3]
        text = f"row {i}: naïve café — 日本語 {'x' * (i % 7)}"
        text += {1: ', with a comma and "quotes"', 2: "\r\nsecond line (CRLF)", 3: "\nsecond line\tand a tab"}.get(i % 5, "")
        rows.append((task, text, label))
    return rows


def write_integrity(out):
    """Parquet files with page checksums (CRC-32 of each page as written), data page v1 and v2."""
    d = os.path.join(out, "integrity")
    os.makedirs(d, exist_ok=True)
    rows = integrity_rows()
    t = pa.table({"task": [r[0] for r in rows], "text": [r[1] for r in rows], "label": [r[2] for r in rows]})
    files = {}
    p = os.path.join(d, "pyarrow_checksum.parquet")
    pq.write_table(t, p, row_group_size=16, compression="snappy", use_dictionary=True, write_page_checksum=True)
    files[p] = "parquet"
    p = os.path.join(d, "pyarrow_checksum_v2.parquet")
    pq.write_table(t, p, row_group_size=20, compression="none", use_dictionary=False, data_page_version="2.0",
                   write_page_checksum=True, data_page_size=256)
    files[p] = "parquet"
    return files


EDGE_TEXTS = ["line one\r\nline two (CRLF inside a quoted field)", "", None, 'a "quoted" word', "comma, inside",
              "ends with CR\r", "bare\nLF", "  spaces kept  ", "tab\there", "naïve café 日本語", "\r\n"]


def write_csv_edges(out):
    """CSV written by pyarrow and by DuckDB from one table whose texts need quoting, hold line breaks
    (\r\n, \n, a lone \r), or are empty or NULL: the Go reader must return the very values written."""
    t = pa.table({"text": pa.array(EDGE_TEXTS, pa.string()), "label": pa.array([str(i) for i in range(len(EDGE_TEXTS))])})
    files = {}
    p = os.path.join(out, "edges_pyarrow.csv")
    pacsv.write_csv(t, p)
    files["pyarrow"] = p
    try:
        import duckdb
    except ImportError:
        return files, None
    con = duckdb.connect()
    con.register("edges", t)
    p = os.path.join(out, "edges_duckdb.csv")
    con.execute(f"COPY (SELECT * FROM edges) TO '{p}' (HEADER, DELIMITER ',')")
    files["duckdb"] = p
    p = os.path.join(out, "edges_duckdb.parquet")
    con.execute(f"COPY (SELECT * FROM edges) TO '{p}' (FORMAT parquet)")
    files["duckdb_parquet"] = p
    return files, f"duckdb {duckdb.__version__}"


def jsonable(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return repr(v)
    if isinstance(v, bytes):
        return None
    return v


def flat(typ):
    return (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_integer(typ)
            or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
            or (pa.types.is_dictionary(typ) and (pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type))))


def describe(path, fmt):
    try:
        if fmt == "parquet":
            t = pq.read_table(path)
        elif fmt == "ipc":
            t = feather.read_table(path)
        elif fmt == "ipc-stream":
            t = ipc.open_stream(path).read_all()
        else:
            return None  # CSV and JSON Lines: compared against the Parquet files' values in the Go test
    except Exception as e:  # noqa: BLE001
        return {"format": fmt, "error": f"{type(e).__name__}: {e}"}
    cols = {}
    for name, col in zip(t.column_names, t.columns):
        entry = {"type": str(col.type)}
        if flat(col.type) and t.num_rows <= MAX_ROWS:
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            entry["values"] = [jsonable(v) for v in col.to_pylist()]
        cols[name] = entry
    return {"format": fmt, "rows": t.num_rows, "columns": cols}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = write_files(out)
    if len(sys.argv) > 2:
        d = sys.argv[2]
        for name in sorted(os.listdir(d)):
            if name.endswith(".parquet"):
                files[os.path.join(d, name)] = "parquet"
    files.update(write_integrity(out))
    edges, duckdb_version = write_csv_edges(out)
    expected = {"writer": f"pyarrow {pa.__version__}", "files": {}, "datasets": write_datasets(out),
                "csv_edges": {"files": edges, "duckdb": duckdb_version, "text": EDGE_TEXTS,
                              "label": [str(i) for i in range(len(EDGE_TEXTS))]}}
    for path, fmt in files.items():
        desc = describe(path, fmt)
        if desc is None:
            desc = {"format": fmt}
        expected["files"][path] = desc
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
