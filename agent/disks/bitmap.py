"""Runs of equal bits in a little-endian bitmap (bit 0 of byte 0 first), as VHDX/VHD use.

Works on whole Python ints, so a fully set or clear stretch costs one step, not one per sector.
"""

from __future__ import annotations


def bit_runs(data: bytes, first_bit: int, count: int) -> list[tuple[bool, int, int]]:
    """(is_set, start, length) runs covering bits [first_bit, first_bit + count), start relative
    to first_bit. Bit i is (data[i // 8] >> (i % 8)) & 1."""
    if count <= 0:
        return []
    value = (int.from_bytes(data, "little") >> first_bit) & ((1 << count) - 1)
    runs: list[tuple[bool, int, int]] = []
    pos = 0
    while pos < count:
        rest = value >> pos
        if rest & 1:
            length = ((~rest) & (rest + 1)).bit_length() - 1  # trailing ones
        elif rest == 0:
            length = count - pos
        else:
            length = (rest & -rest).bit_length() - 1  # trailing zeros
        length = min(length, count - pos)
        runs.append((bool(rest & 1), pos, length))
        pos += length
    return runs


def msb_bit_runs(data: bytes, first_bit: int, count: int) -> list[tuple[bool, int, int]]:
    """The same for bitmaps whose bit 0 is the most significant bit of byte 0 (VHD's)."""
    if count <= 0:
        return []
    nbits = len(data) * 8
    value = int.from_bytes(data, "big")
    # bit i (MSB-first) is bit (nbits - 1 - i) of the big-endian int: reverse into LSB-first.
    window = (value >> (nbits - first_bit - count)) & ((1 << count) - 1)
    reversed_window = int(f"{window:0{count}b}"[::-1], 2)
    return bit_runs(reversed_window.to_bytes((count + 7) // 8, "little"), 0, count)
