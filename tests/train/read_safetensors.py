#!/usr/bin/python3
"""An independent safetensors reader (json + struct only, no dlc code): checks the file's
layout as the format specifies it and prints every tensor and the metadata, sorted, so a
test can FileCheck what `dlc train --save` wrote.

    read_safetensors.py FILE.safetensors
prints `NAME DTYPE [SHAPE] v0 v1 ...` per tensor (at most 8 values, %.4f) and
`meta KEY = VALUE` per metadata entry.
"""
import json
import struct
import sys

SIZES = {"F32": 4, "F64": 8, "I32": 4, "I64": 8, "BOOL": 1}
FORMATS = {"F32": "f", "F64": "d", "I32": "i", "I64": "q", "BOOL": "?"}


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), "header runs past the end of the file"
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    meta = header.pop("__metadata__", {})
    spans = []
    for name in sorted(header):
        t = header[name]
        dtype, shape, (begin, end) = t["dtype"], t["shape"], t["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        assert end - begin == count * SIZES[dtype], f"{name}: {end - begin} bytes for {count} {dtype}"
        assert 0 <= begin <= end <= len(data), f"{name}: offsets outside the data"
        spans.append((begin, end))
        values = struct.unpack("<%d%s" % (count, FORMATS[dtype]), data[begin:end])
        shown = " ".join("%.4f" % v for v in values[:8])
        print(f"{name} {dtype} {shape} {shown}")
    # the data section is exactly the tensors, without gaps or overlaps
    spans.sort()
    pos = 0
    for begin, end in spans:
        assert begin == pos, "gap or overlap in the data section"
        pos = end
    assert pos == len(data), "bytes after the last tensor"
    for key in sorted(meta):
        print(f"meta {key} = {meta[key]}")


if __name__ == "__main__":
    main(sys.argv[1])
