//! TFRecord framing, the container format of TensorBoard event files.
//!
//! Each record is:
//!
//! ```text
//! u64   length of data, little endian
//! u32   masked crc32c of the 8 length bytes, little endian
//! [u8]  data
//! u32   masked crc32c of data, little endian
//! ```
//!
//! with `mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping).

use std::io::{self, Write};

const MASK_DELTA: u32 = 0xa282_ead8;

/// The masked CRC-32C TFRecord stores.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Frames `data` as one TFRecord.
pub fn encode_record(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Writes `data` as one TFRecord in a single `write_all`, so a record is
/// either wholly in the writer's buffer or not at all.
pub fn write_record<W: Write>(w: &mut W, data: &[u8]) -> io::Result<()> {
    w.write_all(&encode_record(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vector() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn mask_matches_definition() {
        let crc = crc32c::crc32c(b"123456789");
        let expected = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc32c(b"123456789"), expected);
        // Masked CRC of the empty string (crc32c("") == 0).
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
    }

    #[test]
    fn record_layout() {
        let data = b"hello";
        let rec = encode_record(data);
        assert_eq!(rec.len(), 8 + 4 + data.len() + 4);
        assert_eq!(&rec[0..8], &5u64.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(rec[8..12].try_into().unwrap()),
            masked_crc32c(&5u64.to_le_bytes())
        );
        assert_eq!(&rec[12..17], data);
        assert_eq!(
            u32::from_le_bytes(rec[17..21].try_into().unwrap()),
            masked_crc32c(data)
        );
    }

    #[test]
    fn empty_record() {
        let rec = encode_record(b"");
        assert_eq!(rec.len(), 16);
        assert_eq!(&rec[12..16], &0xa282_ead8u32.to_le_bytes());
    }
}
