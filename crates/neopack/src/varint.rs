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
/// Returns the value and the bytes after it.
///
/// A W-bit varint has at most ceil(W/7) bytes: a continuation bit on that last byte, or a bit
/// at or above 2^W in it, is an overflow. A last byte 0x00 after the first byte is overlong.
///
/// Two paths with one result: a fixed-size chunk when the longest varint of the type fits in
/// the input (no check for the end per byte); [`read_exact`] near the end.
#[inline]
pub(crate) fn read(bytes: &[u8], bits: u32) -> Result<(u64, &[u8]), ErrorKind> {
    debug_assert!(bits == 16 || bits == 32 || bits == 64);
    if bits <= 32 {
        if let Some(chunk) = bytes.first_chunk::<{ bytes_max(32) }>() {
            return read_chunk(bytes, chunk, bits);
        }
    } else if let Some(chunk) = bytes.first_chunk::<{ bytes_max(64) }>() {
        return read_chunk(bytes, chunk, bits);
    }
    read_exact(bytes, bits)
}

/// The most bytes a varint of `bits` bits takes: ceil(bits / 7).
const fn bytes_max(bits: u32) -> usize {
    bits.div_ceil(7) as usize
}

/// [`read`] from `bytes` whose first `N` bytes, `chunk`, hold at least the longest varint of
/// `bits` bits: the checks of [`read_exact`], with no end of input to meet. Only the last byte
/// a varint may have can overflow; only a last byte after the first can be overlong.
#[inline]
fn read_chunk<'a, const N: usize>(
    bytes: &'a [u8],
    chunk: &[u8; N],
    bits: u32,
) -> Result<(u64, &'a [u8]), ErrorKind> {
    let last = bytes_max(bits) - 1;
    debug_assert!(last < N);
    let mut value = 0u64;
    for (index, &byte) in chunk.iter().enumerate().take(last + 1) {
        // Invariant: 7 * index < bits <= 64.
        let shift = 7 * index as u32;
        value |= u64::from(byte & 0x7f) << shift;
        if byte >= 0x80 {
            continue;
        }
        if index == last && u32::from(byte) >> (bits - shift) != 0 {
            return Err(ErrorKind::VarintOverflow);
        }
        if byte == 0 && index > 0 {
            return Err(ErrorKind::VarintOverlong);
        }
        return Ok((value, bytes.get(index + 1..).unwrap_or_default()));
    }
    // The last byte a `bits`-bit varint may have carries a continuation bit.
    Err(ErrorKind::VarintOverflow)
}

/// [`read`] one byte at a time, for input that may end inside the varint: only the last few
/// bytes of a document, so out of line.
#[cold]
#[inline(never)]
fn read_exact(bytes: &[u8], bits: u32) -> Result<(u64, &[u8]), ErrorKind> {
    let mut value = 0u64;
    let mut shift = 0u32;
    for (index, &byte) in bytes.iter().enumerate() {
        // Invariant: shift < bits <= 64.
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            finish(index, byte, bits - shift)?;
            return Ok((value, bytes.get(index + 1..).unwrap_or_default()));
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
fn finish(index: usize, byte: u8, bits_left: u32) -> Result<(), ErrorKind> {
    if byte == 0 && index > 0 {
        return Err(ErrorKind::VarintOverlong);
    }
    if bits_left < 7 && byte >> bits_left != 0 {
        return Err(ErrorKind::VarintOverflow);
    }
    Ok(())
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

    /// The bytes a successful read took.
    fn taken(bytes: &[u8], bits: u32) -> Result<(u64, usize), ErrorKind> {
        read(bytes, bits).map(|(value, tail)| (value, bytes.len() - tail.len()))
    }

    /// The oracle for [`read`]: the one-byte-at-a-time reader, which meets every end of input.
    fn taken_exact(bytes: &[u8], bits: u32) -> Result<(u64, usize), ErrorKind> {
        read_exact(bytes, bits).map(|(value, tail)| (value, bytes.len() - tail.len()))
    }

    /// Checks [`read`] against [`read_exact`] on `bytes` at every width, alone and followed by
    /// enough bytes for the chunk path.
    fn check_paths(bytes: &[u8]) {
        for pad in [0, 5, 10] {
            let mut input = bytes.to_vec();
            input.resize(bytes.len() + pad, 0x55);
            for bits in [16, 32, 64] {
                let expected = taken_exact(&input, bits);
                assert_eq!(taken(&input, bits), expected, "{input:02x?} at {bits} bits");
            }
        }
    }

    /// Bytes that sit on the edges: zero, one, the top of the last byte of each width, the
    /// continuation bit alone and with the rest.
    const EDGE_BYTES: [u8; 10] = [0x00, 0x01, 0x03, 0x04, 0x0f, 0x10, 0x7f, 0x80, 0x81, 0xff];

    #[test]
    fn paths_agree_on_short_inputs() {
        // Every input of up to four edge bytes.
        let mut inputs = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .filter(|input| input.len() == inputs.last().map_or(0, Vec::len))
                .flat_map(|input| {
                    EDGE_BYTES.iter().map(move |&byte| {
                        let mut next = input.clone();
                        next.push(byte);
                        next
                    })
                })
                .collect();
            inputs.extend(longer);
        }
        for input in &inputs {
            check_paths(input);
        }
    }

    #[test]
    fn paths_agree_on_long_varints() {
        // Runs of continuation bytes of every length up to past the longest varint, then each
        // edge byte or nothing.
        for continuation in [0x80, 0x81, 0xff] {
            for run in 0..=11 {
                for last in EDGE_BYTES.iter().map(|&b| vec![b]).chain([Vec::new()]) {
                    let mut input = vec![continuation; run];
                    input.extend(last);
                    check_paths(&input);
                }
            }
        }
    }

    #[test]
    fn paths_agree_on_pseudorandom_inputs() {
        // A fixed xorshift sequence: the same inputs on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = (state % 12) as usize;
            // Mostly continuation bytes, so that long varints are common.
            let input: Vec<u8> = (0..length)
                .map(|i| (state >> (i * 5)) as u8 | if i % 4 == 3 { 0 } else { 0x80 })
                .collect();
            check_paths(&input);
        }
    }

    #[test]
    fn read_write_edges() {
        for (v, bits) in [
            (0u64, 16),
            (u64::from(u16::MAX), 16),
            (u64::from(u32::MAX), 32),
            (u64::MAX, 64),
            (1 << 63, 64),
        ] {
            let mut buf = Vec::new();
            write(&mut buf, v);
            assert!(buf.len() <= 10);
            assert_eq!(taken(&buf, bits), Ok((v, buf.len())));
            // Followed by more input: the chunk path.
            buf.extend([0xff; 10]);
            assert_eq!(taken(&buf, bits), Ok((v, buf.len() - 10)));
        }
    }

    #[test]
    fn every_u16_has_one_encoding() {
        for v in 0..=u16::MAX {
            let mut buf = Vec::new();
            write(&mut buf, u64::from(v));
            assert_eq!(taken(&buf, 16), Ok((u64::from(v), buf.len())));
        }
        // Every one- and two-byte input either decodes to a value whose encoding it is, or
        // is refused.
        for first in 0..=u8::MAX {
            for second in 0..=u8::MAX {
                let input = [first, second];
                let Ok((value, length)) = taken(&input, 16) else {
                    continue;
                };
                let mut buf = Vec::new();
                write(&mut buf, value);
                assert_eq!(&input[..length], &buf[..]);
            }
        }
    }
}
