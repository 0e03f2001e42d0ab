//! LEB128 varints and zigzag, with one encoding per value.

use crate::error::ErrorKind;

/// Appends `value` as an unsigned LEB128 varint of minimal length.
///
/// Builds the bytes on the stack, then copies a fixed ten bytes and cuts back: cheaper than a
/// push per byte or a copy of variable length.
#[inline]
pub(crate) fn write(buf: &mut Vec<u8>, mut value: u64) {
    if value < 0x80 {
        buf.push(value as u8);
        return;
    }
    let mut bytes = [0u8; 10];
    let mut length = 0;
    while value >= 0x80 {
        bytes[length] = (value as u8) | 0x80;
        value >>= 7;
        length += 1;
    }
    bytes[length] = value as u8;
    let end = buf.len() + length + 1;
    buf.extend_from_slice(&bytes);
    buf.truncate(end);
}

/// Reads a varint of at most `bits` bits (16, 32 or 64) from the start of `bytes`.
/// Returns the value and the number of bytes it took.
///
/// A W-bit varint has at most ceil(W/7) bytes: a continuation bit on that last byte, or a bit
/// at or above 2^W in it, is an overflow. A last byte 0x00 after the first byte is overlong.
#[inline]
pub(crate) fn read(bytes: &[u8], bits: u32) -> Result<(u64, usize), ErrorKind> {
    debug_assert!(bits == 16 || bits == 32 || bits == 64);
    let mut value = 0u64;
    let mut shift = 0u32;
    for (index, &byte) in bytes.iter().enumerate() {
        // Invariant: shift < bits <= 64.
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return finish(value, index, byte, bits - shift);
        }
        shift += 7;
        if shift >= bits {
            return Err(ErrorKind::VarintOverflow);
        }
    }
    Err(ErrorKind::Incomplete)
}

/// Checks the last byte of a varint, at `index`, with `bits_left` bits of the type left for it.
#[inline]
fn finish(value: u64, index: usize, byte: u8, bits_left: u32) -> Result<(u64, usize), ErrorKind> {
    if byte == 0 && index > 0 {
        return Err(ErrorKind::VarintOverlong);
    }
    if bits_left < 7 && byte >> bits_left != 0 {
        return Err(ErrorKind::VarintOverflow);
    }
    Ok((value, index + 1))
}

/// Maps signed to unsigned so that small magnitudes get short varints: 0, -1, 1, -2 ... become
/// 0, 1, 2, 3 ... For a value of a narrower type, the result fits that type's width.
#[inline]
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_edges() {
        for v in [
            0i64,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            i16::MIN.into(),
            i32::MAX.into(),
        ] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(i64::from(i16::MIN)), u64::from(u16::MAX));
        assert_eq!(zigzag(-1), 1);
    }

    #[test]
    fn read_write_edges() {
        for (v, bits) in [
            (0u64, 16),
            (u64::from(u16::MAX), 16),
            (u64::MAX, 64),
            (1 << 63, 64),
        ] {
            let mut buf = Vec::new();
            write(&mut buf, v);
            assert!(buf.len() <= 10);
            assert_eq!(read(&buf, bits), Ok((v, buf.len())));
        }
    }

    #[test]
    fn every_u16_has_one_encoding() {
        for v in 0..=u16::MAX {
            let mut buf = Vec::new();
            write(&mut buf, u64::from(v));
            assert_eq!(read(&buf, 16), Ok((u64::from(v), buf.len())));
        }
        // Every one- and two-byte input either decodes to a value whose encoding it is, or
        // is refused.
        for first in 0..=u8::MAX {
            for second in 0..=u8::MAX {
                let input = [first, second];
                let Ok((value, length)) = read(&input, 16) else {
                    continue;
                };
                let mut buf = Vec::new();
                write(&mut buf, value);
                assert_eq!(&input[..length], &buf[..]);
            }
        }
    }
}
