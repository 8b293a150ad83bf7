//! Reading 1-D `.npy` arrays of token losses (little-endian float16, float32 or float64, C
//! order): the format numpy's `np.save` writes, so losses can come straight from a Python
//! evaluation harness (`shakespeare-lm-dev/losses/` ships float16).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Longest header accepted. numpy writes 64-128 bytes; the format allows 4 GiB (version 2),
/// which a damaged or hostile file must not make us allocate.
pub const MAX_HEADER_BYTES: usize = 1 << 16;

/// Most values accepted: the engine's own limit on a loss vector (`features::MAX_LOSS_VALUES`),
/// so at most 400 MB of float64 data is ever read.
pub const MAX_VALUES: usize = crate::inference::features::MAX_LOSS_VALUES;

/// Reads a 1-D little-endian float16/float32/float64 `.npy` file into f32 values (float16 and
/// float32 exactly; float64 rounded to the nearest f32).
///
/// Memory and time are bounded whatever the path is: the header is read first (at most
/// [`MAX_HEADER_BYTES`]), then exactly the data it announces (at most [`MAX_VALUES`] values)
/// plus one byte to detect a longer file. So `/dev/zero`, a FIFO or a huge file is refused after
/// a bounded read instead of being slurped whole.
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let parse = |m: String| Error::Parse(format!("{}: {m}", path.display()));
    let io = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::new();
    read_up_to(&mut file, &mut head, 12).map_err(io)?;
    let (header_len, start) = preamble(&head).map_err(parse)?;
    let missing = (start + header_len).saturating_sub(head.len());
    read_up_to(&mut file, &mut head, missing).map_err(io)?;
    let header = parse_header(&head, header_len, start).map_err(parse)?;
    // `head` may hold the first data bytes (version 1 headers start the data after 10 bytes).
    let mut body = head.split_off(start + header_len);
    let expected = header.values * header.width;
    let missing = (expected + 1).saturating_sub(body.len());
    read_up_to(&mut file, &mut body, missing).map_err(io)?;
    decode(&header, &body).map_err(parse)
}

/// Appends at most `n` more bytes of `r` to `buf`.
fn read_up_to(r: &mut impl Read, buf: &mut Vec<u8>, n: usize) -> std::io::Result<()> {
    r.take(n as u64).read_to_end(buf).map(|_| ())
}

/// Parses `.npy` bytes (see [`read_npy_f32`]); a malformed array is `Error::Parse`.
pub fn parse_npy_f32(bytes: &[u8]) -> Result<Vec<f32>> {
    let parsed = preamble(bytes).and_then(|(header_len, start)| {
        let header = parse_header(bytes, header_len, start)?;
        decode(&header, &bytes[start + header_len..])
    });
    parsed.map_err(Error::Parse)
}

/// What the header says: bytes per value and the number of values.
struct Header {
    width: usize,
    values: usize,
}

/// The magic and version: (header length, where the header starts).
fn preamble(bytes: &[u8]) -> std::result::Result<(usize, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(format!(
            "header of {header_len} bytes, more than the {MAX_HEADER_BYTES} accepted"
        ));
    }
    Ok((header_len, start))
}

fn parse_header(
    bytes: &[u8],
    header_len: usize,
    start: usize,
) -> std::result::Result<Header, String> {
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let width = if header.contains("'<f2'") {
        2
    } else if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(format!(
            "dtype must be little-endian float16, float32 or float64: {header}"
        ));
    };
    if header.contains("'fortran_order': True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape in .npy header")?;
    let dims: Vec<usize> = shape
        .trim_start_matches([' ', '('])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape {shape:?}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    if dims.len() != 1 {
        return Err(format!("expected a 1-D array, got shape {dims:?}"));
    }
    // Checked before any allocation: a header may claim any length (a fuzzed 2^62 too).
    if dims[0] > MAX_VALUES {
        return Err(format!(
            "{} values, more than the {MAX_VALUES} accepted",
            dims[0]
        ));
    }
    Ok(Header {
        width,
        values: dims[0],
    })
}

fn decode(h: &Header, body: &[u8]) -> std::result::Result<Vec<f32>, String> {
    if h.values * h.width != body.len() {
        return Err(format!(
            "{} data bytes for {} values of {} bytes",
            body.len(),
            h.values,
            h.width
        ));
    }
    Ok(match h.width {
        2 => body
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        4 => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
    })
}

/// Writes a 1-D float32 `.npy` (tests and generated loss files).
pub fn write_npy_f32(path: impl AsRef<Path>, values: &[f32]) -> Result<()> {
    let data = values.iter().flat_map(|v| v.to_le_bytes());
    write_npy(path.as_ref(), "<f4", values.len(), data)
}

/// Writes a 1-D float16 `.npy`, each value rounded to the nearest float16 (tests, and loss files
/// as compact as the dev sweep's).
pub fn write_npy_f16(path: impl AsRef<Path>, values: &[f32]) -> Result<()> {
    let data = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes());
    write_npy(path.as_ref(), "<f2", values.len(), data)
}

/// A version-1 `.npy` of `count` values of dtype `descr`, as numpy pads its header (to 64 bytes).
fn write_npy(path: &Path, descr: &str, count: usize, data: impl Iterator<Item = u8>) -> Result<()> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({count},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(data);
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let dir = std::env::temp_dir().join(format!("neuneu-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        write_npy_f32(&p, &[1.5, 2.0, 0.25]).unwrap();
        assert_eq!(read_npy_f32(&p).unwrap(), vec![1.5, 2.0, 0.25]);
        let bytes = std::fs::read(&p).unwrap();
        assert!(parse_npy_f32(&bytes[..bytes.len() - 1]).is_err());
        assert!(parse_npy_f32(b"hello world").is_err());
        let f8 = String::from_utf8_lossy(&bytes).replace("<f4", "<i4");
        assert!(parse_npy_f32(f8.as_bytes()).is_err());
        // A longer file than the header says is refused after reading one byte too many.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 8]);
        std::fs::write(&p, &longer).unwrap();
        assert!(
            read_npy_f32(&p)
                .unwrap_err()
                .to_string()
                .contains("data bytes")
        );
        // A header claiming more values than accepted is refused before any allocation.
        // (the same header length: ten padding spaces give way to ten more digits)
        let header =
            String::from_utf8_lossy(&bytes[10..]).replace("(3,), }          ", "(99999999999,), }");
        let huge = [&bytes[..10], header.as_bytes()].concat();
        let e = parse_npy_f32(&huge).unwrap_err();
        assert!(
            matches!(&e, Error::Parse(m) if m.contains("99999999999 values, more than")),
            "{e}"
        );
    }

    /// A float16 array as numpy writes it (`np.save(p, a.astype(np.float16))`): each value
    /// exactly, subnormals and the largest finite one included; a float16 file announcing more
    /// values than it holds is refused.
    #[test]
    fn float16_arrays_read_exactly() {
        let dir = std::env::temp_dir().join(format!("neuneu-npy16-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let values = [0.0f32, 1.5, 2.0, 0.25, 65504.0, 5.960_464_5e-8, 3.140_625];
        write_npy_f16(&p, &values).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(String::from_utf8_lossy(&bytes[..64]).contains("'descr': '<f2'"));
        assert_eq!(read_npy_f32(&p).unwrap(), values);
        let e = parse_npy_f32(&bytes[..bytes.len() - 2]).unwrap_err();
        assert!(
            e.to_string()
                .contains("12 data bytes for 7 values of 2 bytes"),
            "{e}"
        );
    }
}
