"""Minimal numpy reader/writer for the safetensors format (no third-party package needed).

Layout: 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}} plus an optional "__metadata__",
then the raw little-endian C-order bytes. BF16 has no numpy dtype: it is read and written as
its uint16 bit pattern; pass bf16_names to `save` to tag such arrays as BF16.
"""

import json
import struct

import numpy as np

_NP_TO_ST = {
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.float64): "F64",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint8): "U8",
    np.dtype(np.int16): "I16",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.bool_): "BOOL",
}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}
_ST_TO_NP["BF16"] = np.dtype("<u2")


def save(path, tensors, bf16_names=(), metadata=None):
    """Writes {name: ndarray} to `path`. Arrays named in bf16_names must be uint16 bit patterns."""
    header = {}
    blobs = []
    offset = 0
    # Sorted names make the file bytes deterministic for a given dict.
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        if name in bf16_names:
            if array.dtype != np.uint16:
                raise ValueError(f"{name}: BF16 tensors must be given as uint16 bits, "
                                 f"found {array.dtype}")
            dtype = "BF16"
        elif array.dtype in _NP_TO_ST:
            dtype = _NP_TO_ST[array.dtype]
        else:
            raise ValueError(f"{name}: unsupported dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header so the data section starts 8-byte aligned, as the reference writer does.
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


def load_with_dtypes(path):
    """Returns ({name: ndarray}, {name: safetensors dtype string}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: file too short ({len(raw)} bytes) for a safetensors header")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if 8 + header_len > len(raw):
        raise ValueError(f"{path}: header length {header_len} exceeds file size {len(raw)}")
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    data = raw[8 + header_len:]
    metadata = header.pop("__metadata__", {})
    arrays, dtypes = {}, {}
    for name, info in header.items():
        st_dtype = info["dtype"]
        if st_dtype not in _ST_TO_NP:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {st_dtype}")
        np_dtype = _ST_TO_NP[st_dtype].newbyteorder("<")
        begin, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        expected = int(np.prod(shape, dtype=np.int64)) * np_dtype.itemsize
        if end - begin != expected or end > len(data) or begin < 0:
            raise ValueError(f"{path}: tensor {name}: offsets [{begin}, {end}) do not hold "
                             f"{shape} x {st_dtype} ({expected} bytes, data is {len(data)})")
        array = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape)
        arrays[name] = array.astype(np_dtype.newbyteorder("="), copy=True)
        dtypes[name] = st_dtype
    return arrays, dtypes, metadata


def load(path):
    """Returns {name: ndarray}; BF16 tensors come back as uint16 bits."""
    return load_with_dtypes(path)[0]


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(values):
    """Round-to-nearest-even float32 -> bf16 bit pattern (NaN kept quiet)."""
    u = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    return np.where(nan, np.uint16(0x7FC0), rounded).astype(np.uint16)
