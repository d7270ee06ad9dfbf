//! Opening a checkpoint as a candle `VarBuilder`: `.safetensors` (memory-mapped) or a PyTorch
//! zip archive (`.pth`/`.bin`/`.pt`) through [`crate::torch_zip`], with the state dict at the
//! top level or nested under a key, and a `module.` prefix (DataParallel) stripped. Half
//! precision tensors are converted to the compute dtype when read.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::WeightsError;

/// The container format, sniffed from the first bytes (extensions lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    Safetensors,
    /// torch.save ≥ 1.6: a zip archive holding `data.pkl`.
    TorchZip,
    /// torch.save with `_use_new_zipfile_serialization=False` (a bare pickle stream).
    TorchLegacy,
}

/// Looks at the file's magic bytes.
pub fn sniff(path: &Path) -> Result<CheckpointFormat, WeightsError> {
    let mut f = std::fs::File::open(path).map_err(|e| WeightsError::io(path, e))?;
    let mut head = [0u8; 16];
    let n = f.read(&mut head).map_err(|e| WeightsError::io(path, e))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Ok(CheckpointFormat::TorchZip);
    }
    if n >= 9 {
        // safetensors: an u64 little-endian header length, then a JSON object (checked before
        // the pickle marker: the length's first byte can be 0x80 too)
        let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if head[8] == b'{' && len > 1 && len < 100_000_000 {
            return Ok(CheckpointFormat::Safetensors);
        }
    }
    if head.first() == Some(&0x80) {
        // pickle protocol marker: torch's legacy format starts with a pickled magic number
        return Ok(CheckpointFormat::TorchLegacy);
    }
    Err(WeightsError::UnknownFormat {
        path: path.to_path_buf(),
    })
}

/// The command printed for legacy pickles (the converter ships in `tools/`).
pub fn legacy_convert_command(path: &Path) -> String {
    format!(
        "python3 tools/convert_legacy_pth.py '{}' '{}'",
        path.display(),
        path.with_extension("safetensors").display()
    )
}

const NESTING_KEYS: [&str; 3] = ["state_dict", "model", "module"];

/// Reads every tensor of a PyTorch zip checkpoint. With `nested_key`, the state dict is taken
/// from that key; without, from the top level, or else from the first of `state_dict`, `model`,
/// `module` that holds tensors. A leading `module.` is stripped from every name.
pub fn read_torch_tensors(
    path: &Path,
    nested_key: Option<&str>,
) -> Result<HashMap<String, Tensor>, WeightsError> {
    let cerr = |source| WeightsError::Candle {
        path: path.to_path_buf(),
        source,
    };
    match sniff(path)? {
        CheckpointFormat::TorchZip => {}
        CheckpointFormat::TorchLegacy => {
            return Err(WeightsError::LegacyPickle {
                path: path.to_path_buf(),
                convert_cmd: legacy_convert_command(path),
            })
        }
        CheckpointFormat::Safetensors => {
            let ts = candle_core::safetensors::load(path, &Device::Cpu).map_err(cerr)?;
            return Ok(strip_module_prefix(ts.into_iter().collect()));
        }
    }
    let first = crate::torch_zip::read_all(path, nested_key);
    let mut tensors = match (first, nested_key) {
        (Ok(t), _) => t,
        // the manifest's nesting is what the published file has; a bare state dict of the
        // same network (a re-saved or converted checkpoint) is accepted too
        (Err(e), Some(_)) => match crate::torch_zip::read_all(path, None) {
            Ok(t) if !t.is_empty() => t,
            _ => return Err(cerr(e)),
        },
        // a top level that is not a tensor dict fails in candle; try the usual nesting keys
        (Err(_), None) => Vec::new(),
    };
    if tensors.is_empty() && nested_key.is_none() {
        for key in NESTING_KEYS {
            // a missing key is an error in candle; it just means "try the next one"
            if let Ok(t) = crate::torch_zip::read_all(path, Some(key)) {
                if !t.is_empty() {
                    tensors = t;
                    break;
                }
            }
        }
    }
    if tensors.is_empty() {
        return Err(WeightsError::NoTensors {
            path: path.to_path_buf(),
            keys: nested_key
                .map(|k| vec![k.to_string()])
                .unwrap_or_else(|| NESTING_KEYS.iter().map(|s| s.to_string()).collect()),
        });
    }
    Ok(strip_module_prefix(tensors))
}

fn strip_module_prefix(ts: Vec<(String, Tensor)>) -> HashMap<String, Tensor> {
    ts.into_iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("module.").map(str::to_string).unwrap_or(k),
                v,
            )
        })
        .collect()
}

/// Opens a checkpoint as a `VarBuilder` whose names are the checkpoint's keys.
pub fn open_checkpoint(
    path: &Path,
    nested_key: Option<&str>,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, WeightsError> {
    match sniff(path)? {
        CheckpointFormat::Safetensors => {
            let file = crate::safetensors_file::SafetensorsFile::open(path).map_err(|source| {
                WeightsError::Candle {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            Ok(VarBuilder::from_backend(
                Box::new(file),
                dtype,
                device.clone(),
            ))
        }
        _ => Ok(VarBuilder::from_tensors(
            read_torch_tensors(path, nested_key)?,
            dtype,
            device,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_formats() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.safetensors");
        let x = Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap();
        candle_core::safetensors::save(&HashMap::from([("module.w".to_string(), x)]), &p).unwrap();
        assert_eq!(sniff(&p).unwrap(), CheckpointFormat::Safetensors);
        let ts = read_torch_tensors(&p, None).unwrap();
        assert!(ts.contains_key("w"));
        let legacy = t.path().join("old.pth");
        std::fs::write(&legacy, [0x80u8, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]).unwrap();
        match read_torch_tensors(&legacy, None) {
            Err(WeightsError::LegacyPickle { convert_cmd, .. }) => {
                assert!(convert_cmd.contains("convert_legacy_pth.py"))
            }
            other => panic!("{other:?}"),
        }
        let junk = t.path().join("junk.pth");
        std::fs::write(&junk, b"hello world, not a checkpoint").unwrap();
        assert!(matches!(
            sniff(&junk),
            Err(WeightsError::UnknownFormat { .. })
        ));
    }
}
