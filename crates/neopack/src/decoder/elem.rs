//! Runs of array elements: [`Decoder::elem_reader`], the [`ElemReader`] it returns and the
//! [`Elem`] types it reads.

use std::marker::PhantomData;

use super::Decoder;
use crate::error::{Error, ErrorKind};
use crate::tag::Scalar;
use crate::varint;

/// A Rust type that an untagged array element decodes to, one per [`Scalar`] kind: `bool`,
/// `u8`, `u16`, `u32`, `u64`, `i8`, `i16`, `i32`, `i64`, `f32`, `f64` and `char`. Sealed: the
/// set is the format's. `Default` gives a caller a placeholder of the type.
pub trait Elem: Copy + Default + sealed::Sealed {
    /// The array element kind this type reads.
    const KIND: Scalar;

    /// Reads one element from the start of `bytes`: the value and the bytes after it, or what
    /// is wrong with it. The same checks as the `elem_*` reader of this type.
    #[doc(hidden)]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind>;
}

mod sealed {
    pub trait Sealed {}
}

/// Reads consecutive untagged array elements of type `T`, from [`Decoder::elem_reader`].
///
/// It keeps its place in the input itself, so that a loop of reads touches no decoder state,
/// and moves the decoder past the elements read when it is dropped.
#[derive(Debug)]
pub struct ElemReader<'d, 'a, T> {
    dec: &'d mut Decoder<'a>,
    /// The input after the elements read so far: a suffix of `dec.input`.
    rest: &'a [u8],
    elem: PhantomData<fn() -> T>,
}

impl<'a> Decoder<'a> {
    /// A reader of the untagged array elements of type `T` that start here. Each
    /// [`ElemReader::read`] returns what the `elem_*` reader of `T` would (the same value, or
    /// the same error at the same offset); when the reader is dropped, the decoder is just past
    /// the elements read.
    ///
    /// Call it after [`Decoder::array`] with the `T` whose [`Elem::KIND`] is the array's kind,
    /// and read as many elements as its count.
    #[inline]
    pub fn elem_reader<T: Elem>(&mut self) -> ElemReader<'_, 'a, T> {
        let rest = self.rest();
        ElemReader {
            dec: self,
            rest,
            elem: PhantomData,
        }
    }
}

impl<T: Elem> ElemReader<'_, '_, T> {
    /// Reads the next element. After an error, the reader stays where it was.
    #[inline]
    pub fn read(&mut self) -> Result<T, Error> {
        match T::parse(self.rest) {
            Ok((value, tail)) => {
                self.rest = tail;
                Ok(value)
            }
            Err(kind) => Err(Error::new(self.position(), kind)),
        }
    }

    /// The offset of the next element in the input.
    #[inline]
    pub fn position(&self) -> usize {
        // `rest` is a suffix of the input.
        self.dec.input.len() - self.rest.len()
    }
}

impl<T> Drop for ElemReader<'_, '_, T> {
    #[inline]
    fn drop(&mut self) {
        self.dec.pos = self.dec.input.len() - self.rest.len();
    }
}

impl Elem for bool {
    const KIND: Scalar = Scalar::Bool;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        match bytes.split_first() {
            None => Err(ErrorKind::Incomplete),
            Some((0, tail)) => Ok((false, tail)),
            Some((1, tail)) => Ok((true, tail)),
            Some((&byte, _)) => Err(ErrorKind::InvalidBool(byte)),
        }
    }
}

impl Elem for u8 {
    const KIND: Scalar = Scalar::U8;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let Some((&byte, tail)) = bytes.split_first() else {
            return Err(ErrorKind::Incomplete);
        };
        Ok((byte, tail))
    }
}

impl Elem for i8 {
    const KIND: Scalar = Scalar::S8;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let Some((&byte, tail)) = bytes.split_first() else {
            return Err(ErrorKind::Incomplete);
        };
        Ok((i8::from_le_bytes([byte]), tail))
    }
}

impl Elem for f32 {
    const KIND: Scalar = Scalar::F32;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let Some((chunk, tail)) = bytes.split_first_chunk::<4>() else {
            return Err(ErrorKind::Incomplete);
        };
        Ok((f32::from_bits(u32::from_le_bytes(*chunk)), tail))
    }
}

impl Elem for f64 {
    const KIND: Scalar = Scalar::F64;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let Some((chunk, tail)) = bytes.split_first_chunk::<8>() else {
            return Err(ErrorKind::Incomplete);
        };
        Ok((f64::from_bits(u64::from_le_bytes(*chunk)), tail))
    }
}

impl Elem for char {
    const KIND: Scalar = Scalar::Char;

    #[inline]
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (v, tail) = varint::read(bytes, 32)?;
        // The varint reader bounds the value to 32 bits.
        let v = v as u32;
        let Some(c) = char::from_u32(v) else {
            return Err(ErrorKind::InvalidChar(v));
        };
        Ok((c, tail))
    }
}

/// Implements [`Elem`] for the varint kind `$kind` of `$bits` bits, mapped to the type by `$map`.
macro_rules! elem_varint {
    ($($ty:ty => $kind:ident, $bits:literal, $map:expr;)*) => {$(
        impl Elem for $ty {
            const KIND: Scalar = Scalar::$kind;

            #[inline]
            fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
                let (v, tail) = varint::read(bytes, $bits)?;
                Ok((($map)(v), tail))
            }
        }
    )*};
}

// The varint reader bounds each value to its width, so the casts keep every bit.
elem_varint! {
    u16 => U16, 16, |v: u64| v as u16;
    u32 => U32, 32, |v: u64| v as u32;
    u64 => U64, 64, |v: u64| v;
    i16 => S16, 16, |v: u64| varint::unzigzag(v) as i16;
    i32 => S32, 32, |v: u64| varint::unzigzag(v) as i32;
    i64 => S64, 64, |v: u64| varint::unzigzag(v);
}

impl sealed::Sealed for bool {}
impl sealed::Sealed for u8 {}
impl sealed::Sealed for u16 {}
impl sealed::Sealed for u32 {}
impl sealed::Sealed for u64 {}
impl sealed::Sealed for i8 {}
impl sealed::Sealed for i16 {}
impl sealed::Sealed for i32 {}
impl sealed::Sealed for i64 {}
impl sealed::Sealed for f32 {}
impl sealed::Sealed for f64 {}
impl sealed::Sealed for char {}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use super::*;

    /// Reads up to `count` elements of `T` from the start of `input` with `elem` (the decoder's
    /// `elem_*` reader, the oracle) and with an [`ElemReader`]: the same results up to the first
    /// error, and after a run of successes, the same position.
    fn check<'a, T: Elem + Debug>(
        input: &'a [u8],
        count: usize,
        elem: fn(&mut Decoder<'a>) -> Result<T, Error>,
    ) {
        let mut expected_dec = Decoder::new(input);
        let mut dec = Decoder::new(input);
        let mut reader = dec.elem_reader::<T>();
        for index in 0..count {
            let expected = elem(&mut expected_dec);
            let got = reader.read();
            // Debug output compares floats by their bits, NaN included.
            assert_eq!(
                format!("{got:?}"),
                format!("{expected:?}"),
                "{} element {index} of {input:02x?}",
                std::any::type_name::<T>()
            );
            if expected.is_err() {
                return;
            }
            assert_eq!(reader.position(), expected_dec.position());
        }
        drop(reader);
        assert_eq!(dec.position(), expected_dec.position());
    }

    /// [`check`] for every element type, reading as many elements as there are bytes, and one
    /// more: the last read of each type meets the end of the input or an error first.
    fn check_all(input: &[u8]) {
        for count in [0, 1, input.len() + 1] {
            check(input, count, Decoder::elem_bool);
            check(input, count, Decoder::elem_u8);
            check(input, count, Decoder::elem_u16);
            check(input, count, Decoder::elem_u32);
            check(input, count, Decoder::elem_u64);
            check(input, count, Decoder::elem_s8);
            check(input, count, Decoder::elem_s16);
            check(input, count, Decoder::elem_s32);
            check(input, count, Decoder::elem_s64);
            check(input, count, Decoder::elem_f32);
            check(input, count, Decoder::elem_f64);
            check(input, count, Decoder::elem_char);
        }
    }

    #[test]
    fn reader_agrees_with_elem_readers_on_valid_elements() {
        let mut input = Vec::new();
        for v in [
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0xd7ff,
            0xd800,
            0x10_ffff,
            u64::from(u32::MAX),
        ] {
            varint::write(&mut input, v);
        }
        varint::write(&mut input, u64::MAX);
        // Every prefix, so that each element is read both from a chunk and near the end.
        for end in 0..=input.len() {
            check_all(&input[..end]);
        }
    }

    #[test]
    fn reader_agrees_with_elem_readers_on_pseudorandom_bytes() {
        // A fixed xorshift sequence: the same inputs on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3_000 {
            let input: Vec<u8> = (0..24)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Small bytes (bool, char edges), continuation bytes and anything.
                    match state % 4 {
                        0 => (state >> 8) as u8 & 0x03,
                        1 => (state >> 8) as u8 | 0x80,
                        _ => (state >> 8) as u8,
                    }
                })
                .collect();
            let end = (state >> 40) as usize % (input.len() + 1);
            check_all(&input[..end]);
        }
    }
}
