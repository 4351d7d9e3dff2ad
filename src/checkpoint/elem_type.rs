//! The element types that PyTorch storages and safetensors files use, with their little-endian
//! decoding to `f32`: every reader widens or narrows what the file stored into the networks'
//! [`StateDict`](crate::model::StateDict) of `f32`s.

/// Element types a checkpoint may store; all are widened or narrowed to `f32` on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    U8,
}

impl ElemType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElemType::F64 | ElemType::I64 => 8,
            ElemType::F32 | ElemType::I32 => 4,
            ElemType::F16 | ElemType::BF16 => 2,
            ElemType::U8 => 1,
        }
    }

    /// Decodes one little-endian element; `None` if `b` is not exactly `size()` bytes long.
    pub fn decode(self, b: &[u8]) -> Option<f32> {
        Some(match self {
            ElemType::F32 => f32::from_le_bytes(b.try_into().ok()?),
            ElemType::F64 => f64::from_le_bytes(b.try_into().ok()?) as f32,
            ElemType::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().ok()?)),
            // bfloat16 is the upper half of an f32.
            ElemType::BF16 => {
                f32::from_bits(u32::from(u16::from_le_bytes(b.try_into().ok()?)) << 16)
            }
            ElemType::I64 => i64::from_le_bytes(b.try_into().ok()?) as f32,
            ElemType::I32 => i32::from_le_bytes(b.try_into().ok()?) as f32,
            ElemType::U8 => f32::from(u8::from_le_bytes(b.try_into().ok()?)),
        })
    }
}

/// IEEE 754 binary16 → binary32 (exact: every half value is representable as f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    match exp {
        // Zero and subnormals: man × 2⁻²⁴, exact in f32.
        0 => sign * man as f32 * f32::powi(2.0, -24),
        0x1f => f32::from_bits(u32::from(h & 0x8000) << 16 | 0x7f80_0000 | man << 13),
        // Rebias the exponent from 15 to 127.
        _ => f32::from_bits(u32::from(h & 0x8000) << 16 | (exp + 112) << 23 | man << 13),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_half_precision_per_ieee_754() {
        let h = |bits: u16| ElemType::F16.decode(&bits.to_le_bytes()).unwrap();
        assert_eq!(h(0x3c00), 1.0);
        assert_eq!(h(0xc000), -2.0);
        assert_eq!(h(0x7bff), 65504.0);
        assert_eq!(h(0x0001), 2f32.powi(-24));
        assert_eq!(h(0x0400), 2f32.powi(-14));
        assert_eq!(h(0x3555), 0.333_251_95);
        assert_eq!(h(0x7c00), f32::INFINITY);
        assert_eq!(h(0xfc00), f32::NEG_INFINITY);
        assert!(h(0x7e00).is_nan());
        assert!(h(0x8000) == 0.0 && h(0x8000).is_sign_negative());
    }

    #[test]
    fn decodes_other_types_little_endian() {
        assert_eq!(ElemType::BF16.decode(&[0x80, 0x3f]), Some(1.0));
        assert_eq!(ElemType::BF16.decode(&[0x49, 0xc0]), Some(-3.140625));
        assert_eq!(ElemType::F64.decode(&0.5f64.to_le_bytes()), Some(0.5));
        assert_eq!(ElemType::I64.decode(&(-3i64).to_le_bytes()), Some(-3.0));
        assert_eq!(
            ElemType::I32.decode(&[0xff, 0xff, 0xff, 0x7f]),
            Some(2147483647.0)
        );
        assert_eq!(ElemType::U8.decode(&[255]), Some(255.0));
        assert_eq!(ElemType::F32.decode(&[0, 0, 0x80, 0x3f]), Some(1.0));
        // Wrong width is refused, not padded or truncated.
        assert_eq!(ElemType::F32.decode(&[0, 0, 0x80]), None);
    }
}
