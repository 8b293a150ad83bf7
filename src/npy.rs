//! Reading 1-D `.npy` arrays of token losses (little-endian f32 or f64, C order): the format
//! numpy's `np.save` writes, so losses can come straight from a Python evaluation harness.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads a 1-D little-endian float32/float64 `.npy` file into f32 values.
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy_f32(&bytes).map_err(|m| Error::Parse(format!("{}: {m}", path.display())))
}

/// Parses `.npy` bytes (see [`read_npy_f32`]).
pub fn parse_npy_f32(bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
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
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let width = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(format!(
            "dtype must be little-endian float32 or float64: {header}"
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
    let body = &bytes[start + header_len..];
    // checked: a header may claim any length (a fuzzed 2^62 must not overflow and panic).
    if dims[0].checked_mul(width) != Some(body.len()) {
        return Err(format!(
            "{} data bytes for {} values of {width} bytes",
            body.len(),
            dims[0]
        ));
    }
    Ok(if width == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect()
    })
}

/// Writes a 1-D float32 `.npy` (tests and generated loss files).
pub fn write_npy_f32(path: impl AsRef<Path>, values: &[f32]) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path.as_ref(), out).map_err(|e| Error::io(path.as_ref(), e))
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
    }
}
