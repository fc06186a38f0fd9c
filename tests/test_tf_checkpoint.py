"""The pure-Python TensorBundle reader: synthetic tables (prefix compression, restarts, several blocks, damage)
and the real MSD_musicnn checkpoint from the musicnn wheel."""

import struct
import zipfile

import numpy as np
import pytest

from model.tf_checkpoint import TABLE_MAGIC, Checkpoint, CheckpointError, crc32c, read_table, unmask_crc


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _block(pairs, restart_interval):
    body, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(pairs):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(body))
        else:
            while shared < min(len(key), len(prev)) and key[shared] == prev[shared]:
                shared += 1
        body += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        prev = key
    body += struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))
    return bytes(body)


def _table(pairs, per_block=3, restart_interval=2, compression=0):
    """A LevelDB-format table as TensorFlow's writer lays it out (data blocks, metaindex, index, footer)."""
    out, index = bytearray(), []

    def put(block):
        handle = _varint(len(out)) + _varint(len(block))
        out.extend(block + bytes([compression]) + struct.pack("<I", _mask(crc32c(block + bytes([compression])))))
        return handle

    for i in range(0, len(pairs), per_block):
        chunk = pairs[i:i + per_block]
        index.append((chunk[-1][0], put(_block(chunk, restart_interval))))
    meta = put(_block([], 1))
    index_handle = put(_block(index, 1))
    footer = (meta + index_handle).ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out + footer)


def _entry(dtype, shape, offset, size, crc):
    dims = b"".join(b"\x12" + _varint(len(d)) + d for d in (b"\x08" + _varint(s) for s in shape))
    return (b"\x08" + _varint(dtype) + b"\x12" + _varint(len(dims)) + dims + b"\x20" + _varint(offset)
            + b"\x28" + _varint(size) + b"\x35" + struct.pack("<I", _mask(crc)))


def _write_bundle(tmp_path, tensors, **table_args):
    data, pairs = bytearray(), [(b"", b"\x08\x01")]  # header: num_shards 1, little-endian
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], "<f4").tobytes()
        pairs.append((name.encode(), _entry(1, tensors[name].shape, len(data), len(raw), crc32c(raw))))
        data += raw
    prefix = tmp_path / "ckpt"
    (tmp_path / "ckpt.index").write_bytes(_table(pairs, **table_args))
    (tmp_path / "ckpt.data-00000-of-00001").write_bytes(bytes(data))
    return prefix


def test_crc32c_known_values_and_long_inputs():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c(b"") == 0
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 300_001, dtype=np.uint8).tobytes()  # long: numpy lanes + combination
    slow = 0xFFFFFFFF
    table = [int(v) for v in __import__("model.tf_checkpoint", fromlist=["_CRC_TABLE"])._CRC_TABLE]
    for b in data:
        slow = table[(slow ^ b) & 0xFF] ^ (slow >> 8)
    assert crc32c(data) == slow ^ 0xFFFFFFFF
    assert unmask_crc(_mask(0x12345678)) == 0x12345678


def test_reads_prefix_compressed_keys_across_blocks_and_restarts(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {f"layer_{i}/{part}": rng.standard_normal((i + 1, 3)).astype(np.float32)
               for i in range(4) for part in ("bias", "kernel", "kernel/Adam", "kernel/Adam_1")}
    prefix = _write_bundle(tmp_path, tensors, per_block=5, restart_interval=3)
    ckpt = Checkpoint(prefix)
    assert ckpt.names() == sorted(tensors)
    for name, value in ckpt.read_all().items():
        np.testing.assert_array_equal(value, tensors[name])
    np.testing.assert_array_equal(ckpt.read("layer_2/kernel/Adam"), tensors["layer_2/kernel/Adam"])


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[:-1] + b"\0", "bad table magic"),
    (lambda t: t[:20] + bytes([t[20] ^ 0xFF]) + t[21:], "checksum"),
    (lambda t: t[:30], "too short"),
])
def test_damaged_index_is_refused(tmp_path, damage, message):
    prefix = _write_bundle(tmp_path, {"a": np.ones(4, np.float32)})
    index = tmp_path / "ckpt.index"
    index.write_bytes(damage(index.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        Checkpoint(prefix)


def test_snappy_tables_are_refused_clearly():
    table = _table([(b"", b"\x08\x01"), (b"a", b"")], compression=1)
    with pytest.raises(CheckpointError, match="snappy"):
        read_table(table)


def test_damaged_or_truncated_tensor_data_is_refused(tmp_path):
    prefix = _write_bundle(tmp_path, {"w": np.arange(100, dtype=np.float32)})
    data = tmp_path / "ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[40] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        Checkpoint(prefix).read("w")
    data.write_bytes(bytes(raw[:200]))
    with pytest.raises(CheckpointError, match="truncated"):
        Checkpoint(prefix).read("w")
    with pytest.raises(CheckpointError, match="no tensor"):
        Checkpoint(prefix).read_all(["nope"])


def test_real_msd_musicnn_checkpoint(musicnn_wheel, tmp_path):
    with zipfile.ZipFile(musicnn_wheel) as zf:
        for name in (".index", ".data-00000-of-00001"):
            (tmp_path / name).write_bytes(zf.read(f"musicnn/MSD_musicnn/{name}"))
    ckpt = Checkpoint(str(tmp_path) + "/")
    assert len(ckpt.entries) == 150 and ckpt.num_shards == 1
    assert ckpt.entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert ckpt.entries["dense/kernel"].shape == (1506, 200)
    tensors = ckpt.read_all()  # every tensor's CRC-32C checked
    assert sum(v.nbytes for v in tensors.values()) + 0 <= 9_465_596
    assert tensors["batch_normalization_9/moving_variance"].min() > 0
