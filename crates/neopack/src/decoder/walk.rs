//! Whole-value reads: [`Decoder::skip`] and [`Decoder::value`], both depth-bounded.

use super::Decoder;
use crate::NESTING_DEPTH_MAX;
use crate::error::{Error, ErrorKind};
use crate::tag::{Scalar, Tag};
use crate::value::Value;

impl<'a> Decoder<'a> {
    /// Skips exactly one value and returns its encoded bytes.
    ///
    /// A list or map is skipped in O(1) by its header's body length; its body is not read.
    /// Everything else is read and validated as the typed readers would (tags, varints,
    /// lengths, UTF-8, chars, bools). Variants and arrays count toward
    /// [`NESTING_DEPTH_MAX`](crate::NESTING_DEPTH_MAX).
    pub fn skip(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        self.skip_at(0)?;
        Ok(self.input.get(start..self.pos).unwrap_or_default())
    }

    /// Reads one value as a [`Value`] tree.
    ///
    /// Nesting deeper than [`NESTING_DEPTH_MAX`](crate::NESTING_DEPTH_MAX) is
    /// [`ErrorKind::NestingTooDeep`]. Each item is read within the room [`Decoder::item`] gives
    /// it, and every vector is allocated for at most as many items as its container has bytes
    /// of room, so the vectors along any path of nested containers together hold at most one
    /// slot per input byte, plus one per level.
    pub fn value(&mut self) -> Result<Value<'a>, Error> {
        self.value_at(0)
    }

    /// Skips one value found at nesting `depth`.
    fn skip_at(&mut self, depth: usize) -> Result<(), Error> {
        match self.peek_tag()? {
            Tag::List => {
                let seq = self.seq(Tag::List, 1)?;
                self.pos = seq.end;
            }
            Tag::Map => {
                let seq = self.seq(Tag::Map, 2)?;
                self.pos = seq.end;
            }
            Tag::Variant => {
                let depth = self.deeper(depth)?;
                self.variant()?;
                self.skip_at(depth)?;
            }
            Tag::Array => {
                self.deeper(depth)?;
                self.skip_array()?;
            }
            tag => {
                self.leaf(tag)?;
            }
        }
        Ok(())
    }

    /// Skips an array: raw-width elements in one step, the others one by one.
    fn skip_array(&mut self) -> Result<(), Error> {
        let (kind, count) = self.array()?;
        if let Some(width) = kind.width_fixed() {
            self.take((count as usize).saturating_mul(width))?;
            return Ok(());
        }
        for _ in 0..count {
            self.element(kind)?;
        }
        Ok(())
    }

    /// Reads one value found at nesting `depth`.
    fn value_at(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        match self.peek_tag()? {
            Tag::List => self.list_value(self.deeper(depth)?),
            Tag::Map => self.map_value(self.deeper(depth)?),
            Tag::Variant => {
                let depth = self.deeper(depth)?;
                let discriminant = self.variant()?;
                let payload = self.value_at(depth)?;
                Ok(Value::Variant(discriminant, Box::new(payload)))
            }
            Tag::Array => {
                self.deeper(depth)?;
                self.array_value()
            }
            tag => self.leaf(tag),
        }
    }

    /// Reads a list whose items are at nesting `depth`.
    fn list_value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        let seq = self.list()?;
        let mut items = Vec::with_capacity(self.capacity(seq.count, 1));
        for index in 0..seq.count as usize {
            self.item(&seq, index);
            items.push(self.value_at(depth)?);
        }
        self.end(seq)?;
        Ok(Value::List(items))
    }

    /// Reads a map whose keys and values are at nesting `depth`.
    fn map_value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        let seq = self.map()?;
        let mut entries = Vec::with_capacity(self.capacity(seq.count, 2));
        for entry in 0..seq.count as usize {
            self.item(&seq, 2 * entry);
            let key = self.value_at(depth)?;
            self.item(&seq, 2 * entry + 1);
            let value = self.value_at(depth)?;
            entries.push((key, value));
        }
        self.end(seq)?;
        Ok(Value::Map(entries))
    }

    /// Reads an array into a vector of scalar values.
    fn array_value(&mut self) -> Result<Value<'a>, Error> {
        let (kind, count) = self.array()?;
        let mut items = Vec::with_capacity(self.capacity(count, kind.width_min()));
        for _ in 0..count {
            items.push(self.element(kind)?);
        }
        Ok(Value::Array(kind, items))
    }

    /// Reads one untagged array element of `kind`.
    fn element(&mut self, kind: Scalar) -> Result<Value<'a>, Error> {
        match kind {
            Scalar::Bool => self.elem_bool().map(Value::Bool),
            Scalar::U8 => self.elem_u8().map(Value::U8),
            Scalar::U16 => self.elem_u16().map(Value::U16),
            Scalar::U32 => self.elem_u32().map(Value::U32),
            Scalar::U64 => self.elem_u64().map(Value::U64),
            Scalar::S8 => self.elem_s8().map(Value::S8),
            Scalar::S16 => self.elem_s16().map(Value::S16),
            Scalar::S32 => self.elem_s32().map(Value::S32),
            Scalar::S64 => self.elem_s64().map(Value::S64),
            Scalar::F32 => self.elem_f32().map(Value::F32),
            Scalar::F64 => self.elem_f64().map(Value::F64),
            Scalar::Char => self.elem_char().map(Value::Char),
        }
    }

    /// Reads one value that is neither a container, a variant nor an array.
    fn leaf(&mut self, tag: Tag) -> Result<Value<'a>, Error> {
        match tag {
            Tag::Unit => self.unit().map(|()| Value::Unit),
            Tag::False | Tag::True => self.bool().map(Value::Bool),
            Tag::U8 => self.u8().map(Value::U8),
            Tag::U16 => self.u16().map(Value::U16),
            Tag::U32 => self.u32().map(Value::U32),
            Tag::U64 => self.u64().map(Value::U64),
            Tag::S8 => self.s8().map(Value::S8),
            Tag::S16 => self.s16().map(Value::S16),
            Tag::S32 => self.s32().map(Value::S32),
            Tag::S64 => self.s64().map(Value::S64),
            Tag::F32 => self.f32().map(Value::F32),
            Tag::F64 => self.f64().map(Value::F64),
            Tag::Char => self.char().map(Value::Char),
            Tag::Str => self.str().map(Value::Str),
            Tag::Bytes => self.bytes().map(Value::Bytes),
            Tag::List | Tag::Map | Tag::Variant | Tag::Array => {
                Err(self.unexpected("scalar", tag as u8))
            }
        }
    }

    /// The nesting depth inside a container found at `depth`, if within the limit.
    fn deeper(&self, depth: usize) -> Result<usize, Error> {
        let inner = depth + 1;
        if inner > NESTING_DEPTH_MAX {
            return Err(self.error(ErrorKind::NestingTooDeep {
                max: NESTING_DEPTH_MAX,
            }));
        }
        Ok(inner)
    }

    /// A vector capacity for `count` items of at least `width` bytes each, just read from a
    /// header: the header's checks already held it to what the room of the enclosing container
    /// can hold.
    fn capacity(&self, count: u32, width: usize) -> usize {
        let capacity = count as usize;
        assert!(capacity.saturating_mul(width) <= self.room());
        capacity
    }
}
