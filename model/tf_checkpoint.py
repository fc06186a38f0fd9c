"""Read a TensorFlow checkpoint (TensorBundle: `<prefix>.index` + `<prefix>.data-NNNNN-of-NNNNN`) without TensorFlow.

The `.index` file is a LevelDB-format table (an SSTable): data blocks of prefix-compressed
key/value entries with restart points, an index block pointing at them, and a 48-byte footer
ending in the table magic. Keys are tensor names (the empty key holds the BundleHeaderProto);
values are BundleEntryProto protobufs (dtype, shape, shard_id, offset, size, crc32c). The data
shards hold the raw little-endian tensor bytes at those offsets.

Only what checkpoints of plain float/int variables need is supported: uncompressed blocks
(snappy-compressed tables are refused with a message), little-endian bundles, unsliced
tensors. Every block's masked CRC-32C is checked; tensor bytes are checked against the
entry's CRC-32C when `verify=True`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c
_NO_COMPRESSION, _SNAPPY = 0, 1
# tensorflow/core/framework/types.proto
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


class CheckpointError(Exception):
    """The checkpoint cannot be read; message is for the user."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives in the data shards (a decoded BundleEntryProto)."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None


# -- CRC-32C (Castagnoli), as LevelDB and TensorBundle use it


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC_TABLE = _crc_table()
_CRC_LIST = [int(v) for v in _CRC_TABLE]


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`. Long inputs are cut into lanes processed side by side with numpy, then combined."""
    lanes = 4096
    if len(data) < 64 * lanes:
        crc = 0xFFFFFFFF
        for b in data:
            crc = _CRC_LIST[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF
    lane_len = len(data) // lanes
    head = np.frombuffer(data, dtype=np.uint8, count=lanes * lane_len).reshape(lanes, lane_len)
    state = np.zeros(lanes, dtype=np.uint32)  # raw register values of each lane, started at 0
    for col in head.T:
        state = _CRC_TABLE[(state ^ col) & 0xFF] ^ (state >> 8)
    # The CRC register is linear over GF(2): feeding a lane after a register r equals feeding it from 0
    # and xoring in r advanced over lane_len zero bytes.
    shift = _zeros_operator(lane_len)
    crc = 0xFFFFFFFF
    for lane_state in state.tolist():
        crc = _gf2_apply(shift, crc) ^ lane_state
    for b in data[lanes * lane_len:]:
        crc = _CRC_LIST[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _gf2_apply(matrix: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= matrix[i]
        vec >>= 1
        i += 1
    return out


def _zeros_operator(n_bytes: int) -> list[int]:
    """The 32x32 GF(2) matrix (as columns) that advances a raw CRC register over `n_bytes` zero bytes."""
    one_bit = [0x82F63B78] + [1 << (i - 1) for i in range(1, 32)]  # one zero *bit*
    result = [1 << i for i in range(32)]  # identity
    power = one_bit
    for _ in range(3):  # 8 bits = one byte
        power = [_gf2_apply(power, c) for c in power]
    while n_bytes:
        if n_bytes & 1:
            result = [_gf2_apply(power, c) for c in result]
        power = [_gf2_apply(power, c) for c in power]
        n_bytes >>= 1
    return result


def unmask_crc(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# -- protobuf wire format (just what BundleEntryProto / BundleHeaderProto need)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint in the checkpoint index")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("malformed varint in the checkpoint index")


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one protobuf message; varints as int, fixed32 as int, bytes as bytes."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire} in the checkpoint index")
        out.append((number, value))
    return out


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _fields(buf):
        if number == 2:  # TensorShapeProto.dim
            size = dict(_fields(value)).get(1, 0)
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointError("a tensor of unknown rank in the checkpoint")
    return tuple(dims)


def _entry(name: str, buf: bytes) -> TensorEntry:
    f: dict[int, object] = {}
    for number, value in _fields(buf):
        f[number] = value
    if 7 in f:
        raise CheckpointError(f"tensor {name!r} is stored in slices, which this reader does not support")
    return TensorEntry(name=name, dtype=int(f.get(1, 0)), shape=_shape(f.get(2, b"")), shard_id=int(f.get(3, 0)),
                       offset=int(f.get(4, 0)), size=int(f.get(5, 0)), crc32c=f.get(6))


# -- the SSTable


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(table):
        raise CheckpointError("the checkpoint index is truncated (a block runs past its end)")
    block, kind = table[offset:end], table[end]
    (stored,) = struct.unpack_from("<I", table, end + 1)
    if unmask_crc(stored) != crc32c(block + bytes([kind])):
        raise CheckpointError("the checkpoint index is damaged (block checksum mismatch)")
    if kind == _SNAPPY:
        raise CheckpointError("the checkpoint index uses snappy compression, which this reader does not support")
    if kind != _NO_COMPRESSION:
        raise CheckpointError(f"the checkpoint index uses an unknown block compression ({kind})")
    return block


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one block; each key shares a prefix with the previous one (reset at restarts)."""
    if len(block) < 4:
        raise CheckpointError("the checkpoint index has a malformed block")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise CheckpointError("the checkpoint index has a malformed block")
    restarts = set(struct.unpack_from(f"<{n_restarts}I", block, limit))
    out, pos, key = [], 0, b""
    while pos < limit:
        at_restart = pos in restarts
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if (at_restart and shared) or shared > len(key) or pos + unshared + value_len > limit:
            raise CheckpointError("the checkpoint index has a malformed entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + value_len]))
        pos += value_len
    return out


def read_table(table: bytes) -> list[tuple[bytes, bytes]]:
    """All key/value pairs of a LevelDB-format table, in key order."""
    if len(table) < FOOTER_SIZE:
        raise CheckpointError("the checkpoint index is too short to be a TensorFlow checkpoint")
    footer = table[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise CheckpointError("not a TensorFlow checkpoint index (bad table magic)")
    _, _, pos = _block_handle(footer, 0)  # metaindex: unused by TensorBundle
    index_offset, index_size, _ = _block_handle(footer, pos)
    pairs = []
    for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        pairs.extend(_block_entries(_read_block(table, offset, size)))
    return pairs


# -- the bundle


class Checkpoint:
    """A TensorBundle checkpoint: `Checkpoint(prefix)` where `<prefix>.index` exists."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = str(prefix)
        index = Path(self.prefix + ".index")
        try:
            table = index.read_bytes()
        except OSError as e:
            raise CheckpointError(f"cannot read {index}: {e.strerror or e}") from None
        self.num_shards = 1
        self.entries: dict[str, TensorEntry] = {}
        for key, value in read_table(table):
            if key == b"":
                self._read_header(value)
            else:
                name = key.decode("utf-8", errors="replace")
                self.entries[name] = _entry(name, value)

    def _read_header(self, value: bytes) -> None:
        header = dict(_fields(value))
        self.num_shards = int(header.get(1, 1))
        if int(header.get(2, 0)) != 0:  # BundleHeaderProto.Endianness: LITTLE = 0
            raise CheckpointError("the checkpoint is big-endian; only little-endian checkpoints are supported")

    def names(self) -> list[str]:
        return sorted(self.entries)

    def shard_path(self, shard_id: int) -> Path:
        return Path(f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def read(self, name: str, verify: bool = True) -> np.ndarray:
        entry = self.entries.get(name)
        if entry is None:
            raise CheckpointError(f"the checkpoint has no tensor named {name!r}")
        return self._read_entry(entry, verify)

    def read_all(self, names: list[str] | None = None, verify: bool = True) -> dict[str, np.ndarray]:
        """Tensors by name, reading each shard once."""
        names = names or self.names()
        missing = [n for n in names if n not in self.entries]
        if missing:
            raise CheckpointError(f"the checkpoint has no tensor named {missing[0]!r}")
        wanted = [self.entries[n] for n in names]
        out: dict[str, np.ndarray] = {}
        for shard in sorted({e.shard_id for e in wanted}):
            data = self._shard_bytes(shard)
            for e in (e for e in wanted if e.shard_id == shard):
                out[e.name] = _decode(e, data, verify)
        return out

    def _shard_bytes(self, shard_id: int) -> bytes:
        path = self.shard_path(shard_id)
        try:
            return path.read_bytes()
        except OSError as e:
            raise CheckpointError(f"cannot read the checkpoint data {path}: {e.strerror or e}") from None

    def _read_entry(self, entry: TensorEntry, verify: bool) -> np.ndarray:
        return _decode(entry, self._shard_bytes(entry.shard_id), verify)


def _decode(entry: TensorEntry, data: bytes, verify: bool) -> np.ndarray:
    dtype = _DTYPES.get(entry.dtype)
    if dtype is None:
        raise CheckpointError(f"tensor {entry.name!r} has a data type this reader does not support ({entry.dtype})")
    count = int(np.prod(entry.shape, dtype=np.int64))
    if count * np.dtype(dtype).itemsize != entry.size or entry.offset + entry.size > len(data):
        raise CheckpointError(f"tensor {entry.name!r} does not fit the checkpoint data (truncated or damaged)")
    raw = data[entry.offset:entry.offset + entry.size]
    if verify and entry.crc32c is not None and unmask_crc(int(entry.crc32c)) != crc32c(raw):
        raise CheckpointError(f"tensor {entry.name!r} is damaged (checksum mismatch)")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry.shape).copy()
