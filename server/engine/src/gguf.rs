//! Reading a GGUF file's metadata (its key-value header) without llama.cpp: the numbers Wisp needs
//! before loading a model (how many layers, how wide its KV cache is), from files that may be
//! large. Only the header is read; the tensors are not touched.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// A metadata value Wisp reads: integers (any width) and strings; other types are skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// Longest string or array the reader accepts: a corrupt length must not allocate gigabytes.
const MAX_ITEMS: u64 = 1 << 24;

/// The metadata of the GGUF file at `path`: integer and string values by key.
pub fn metadata(path: &Path) -> Result<HashMap<String, Value>, String> {
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).map_err(|_| "shorter than a GGUF header".to_owned())?;
    if &magic != b"GGUF" {
        return Err("no GGUF magic at the start".into());
    }
    let version = read_u32(&mut reader)?;
    if version < 2 {
        return Err(format!("GGUF version {version} is too old"));
    }
    let _n_tensors = read_u64(&mut reader)?;
    let n_kv = read_u64(&mut reader)?;
    let mut values = HashMap::new();
    for _ in 0..n_kv.min(MAX_ITEMS) {
        let key = read_string(&mut reader)?;
        let kind = read_u32(&mut reader)?;
        if let Some(value) = read_value(&mut reader, kind)? {
            values.insert(key, value);
        }
    }
    Ok(values)
}

/// An integer value of `key` (of the model's architecture when it starts with `{arch}.`).
pub fn int(values: &HashMap<String, Value>, key: &str) -> Option<i64> {
    let key = match key.strip_prefix("{arch}.") {
        Some(rest) => match values.get("general.architecture") {
            Some(Value::Text(arch)) => format!("{arch}.{rest}"),
            _ => return None,
        },
        None => key.to_owned(),
    };
    match values.get(&key) {
        Some(Value::Int(value)) => Some(*value),
        _ => None,
    }
}

fn read_value(reader: &mut impl Read, kind: u32) -> Result<Option<Value>, String> {
    let int = |bytes: usize, signed: bool, reader: &mut dyn Read| -> Result<i64, String> {
        let mut buffer = [0u8; 8];
        reader.read_exact(&mut buffer[..bytes]).map_err(|_| "the header ends early".to_owned())?;
        let unsigned = u64::from_le_bytes(buffer);
        Ok(if signed && bytes < 8 && unsigned >> (bytes * 8 - 1) & 1 == 1 {
            (unsigned | (u64::MAX << (bytes * 8))) as i64
        } else {
            unsigned as i64
        })
    };
    Ok(match kind {
        0 => Some(Value::Int(int(1, false, reader)?)),
        1 => Some(Value::Int(int(1, true, reader)?)),
        2 => Some(Value::Int(int(2, false, reader)?)),
        3 => Some(Value::Int(int(2, true, reader)?)),
        4 => Some(Value::Int(int(4, false, reader)?)),
        5 => Some(Value::Int(int(4, true, reader)?)),
        6 => {
            int(4, false, reader)?;
            None
        }
        7 => {
            int(1, false, reader)?;
            None
        }
        8 => Some(Value::Text(read_string(reader)?)),
        9 => {
            let item_kind = read_u32(reader)?;
            let n = read_u64(reader)?;
            if n > MAX_ITEMS {
                return Err(format!("an array of {n} items"));
            }
            for _ in 0..n {
                read_value(reader, item_kind)?;
            }
            None
        }
        10 => Some(Value::Int(int(8, false, reader)?)),
        11 => Some(Value::Int(int(8, true, reader)?)),
        12 => {
            int(8, false, reader)?;
            None
        }
        other => return Err(format!("unknown metadata type {other}")),
    })
}

fn read_u32(reader: &mut impl Read) -> Result<u32, String> {
    let mut buffer = [0u8; 4];
    reader.read_exact(&mut buffer).map_err(|_| "the header ends early".to_owned())?;
    Ok(u32::from_le_bytes(buffer))
}

fn read_u64(reader: &mut impl Read) -> Result<u64, String> {
    let mut buffer = [0u8; 8];
    reader.read_exact(&mut buffer).map_err(|_| "the header ends early".to_owned())?;
    Ok(u64::from_le_bytes(buffer))
}

fn read_string(reader: &mut impl Read) -> Result<String, String> {
    let length = read_u64(reader)?;
    if length > MAX_ITEMS {
        return Err(format!("a string of {length} bytes"));
    }
    let mut bytes = vec![0u8; length as usize];
    reader.read_exact(&mut bytes).map_err(|_| "the header ends early".to_owned())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
