//! Copies a GGUF model with metadata added: lets a test give the default model what a real
//! deployment's model has (fill-in-the-middle token ids) without a second model to download.
//! The tensors are copied byte for byte; only the header grows.

use std::path::Path;

/// Writes `source` to `dest` with the unsigned 32-bit values `added` appended to its metadata.
pub fn with_u32_metadata(source: &Path, dest: &Path, added: &[(&str, u32)]) {
    let bytes = std::fs::read(source).unwrap_or_else(|error| panic!("reading {}: {error}", source.display()));
    assert_eq!(&bytes[..4], b"GGUF", "{} is not a GGUF file", source.display());
    let mut at = 8; // magic, version
    let n_tensors = u64_at(&bytes, &mut at);
    let n_kv = u64_at(&bytes, &mut at);
    let kv_start = at;
    let mut alignment = 32;
    for _ in 0..n_kv {
        let key = string_at(&bytes, &mut at);
        let kind = u32_at(&bytes, &mut at);
        if key == "general.alignment" {
            let mut probe = at;
            alignment = u32_at(&bytes, &mut probe) as usize;
        }
        skip_value(&bytes, &mut at, kind);
    }
    let kv_end = at;
    for _ in 0..n_tensors {
        string_at(&bytes, &mut at);
        let n_dims = u32_at(&bytes, &mut at);
        at += 8 * n_dims as usize + 4 + 8; // dims, type, offset
    }
    let infos_end = at;
    let data_start = infos_end.div_ceil(alignment) * alignment;

    let mut out = Vec::with_capacity(bytes.len() + 4096);
    out.extend_from_slice(&bytes[..8]);
    out.extend_from_slice(&n_tensors.to_le_bytes());
    out.extend_from_slice(&(n_kv + added.len() as u64).to_le_bytes());
    out.extend_from_slice(&bytes[kv_start..kv_end]);
    for (key, value) in added {
        out.extend_from_slice(&(key.len() as u64).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&4u32.to_le_bytes()); // uint32
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&bytes[kv_end..infos_end]);
    out.resize(out.len().div_ceil(alignment) * alignment, 0);
    out.extend_from_slice(&bytes[data_start..]);
    std::fs::write(dest, out).unwrap_or_else(|error| panic!("writing {}: {error}", dest.display()));
}

fn u32_at(bytes: &[u8], at: &mut usize) -> u32 {
    let value = u32::from_le_bytes(bytes[*at..*at + 4].try_into().expect("4 bytes"));
    *at += 4;
    value
}

fn u64_at(bytes: &[u8], at: &mut usize) -> u64 {
    let value = u64::from_le_bytes(bytes[*at..*at + 8].try_into().expect("8 bytes"));
    *at += 8;
    value
}

fn string_at<'a>(bytes: &'a [u8], at: &mut usize) -> &'a str {
    let length = u64_at(bytes, at) as usize;
    let text = std::str::from_utf8(&bytes[*at..*at + length]).unwrap_or("");
    *at += length;
    text
}

/// Steps over a metadata value of GGUF type `kind`.
fn skip_value(bytes: &[u8], at: &mut usize, kind: u32) {
    match kind {
        0 | 1 | 7 => *at += 1,
        2 | 3 => *at += 2,
        4..=6 => *at += 4,
        10..=12 => *at += 8,
        8 => {
            string_at(bytes, at);
        }
        9 => {
            let item_kind = u32_at(bytes, at);
            let n = u64_at(bytes, at);
            for _ in 0..n {
                skip_value(bytes, at, item_kind);
            }
        }
        other => panic!("unknown GGUF metadata type {other}"),
    }
}
