"""What the first bytes of a text file say about its encoding (base layer: used by the
parameter-file reader and by the data loader)."""

from __future__ import annotations


def utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the sample looks like UTF-16 text without a
    byte-order mark (ASCII characters have a zero byte on one side), else None."""
    head = sample[:4096]
    if b"\x00" not in head:
        return None
    half = max(len(head) // 2, 1)
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= 0.2 * half and even <= 0.02 * half:
        return "utf-16-le"
    if even >= 0.2 * half and odd <= 0.02 * half:
        return "utf-16-be"
    return None
