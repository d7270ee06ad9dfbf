//! Reading PyTorch zip checkpoints (`torch.save`, torch ≥ 1.6).
//!
//! candle's `pickle::read_all*` opens the archive with the zip crate's archive-offset
//! detection, which rejects some valid files torch 2.x writes ("Invalid Central Directory
//! header"; one of our fixtures, written by torch 2.5, is such a file). torch never prepends
//! data, so we open the archive at offset 0 (falling back to detection for archives that do have
//! a prefix) and reuse candle's unpickler for `data.pkl`.

use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{Device, Tensor};

type Archive = zip::ZipArchive<BufReader<std::fs::File>>;

fn open(path: &Path) -> candle_core::Result<Archive> {
    let file = || -> candle_core::Result<BufReader<std::fs::File>> {
        Ok(BufReader::new(std::fs::File::open(path)?))
    };
    let at_zero = zip::read::Config {
        archive_offset: zip::read::ArchiveOffset::Known(0),
    };
    match zip::ZipArchive::with_config(at_zero, file()?) {
        Ok(z) => Ok(z),
        Err(_) => zip::ZipArchive::new(file()?).map_err(candle_core::Error::wrap),
    }
}

/// The tensor descriptions in the archive's `data.pkl`, taken from the top-level dict or from
/// the dict under `key`.
fn tensor_infos(zip: &mut Archive, key: Option<&str>) -> candle_core::Result<Vec<TensorInfo>> {
    let names = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(candle_core::Error::wrap)?;
    let mut infos = Vec::new();
    for name in names.iter().filter(|n| n.ends_with("data.pkl")) {
        let dir = std::path::PathBuf::from(name.strip_suffix(".pkl").unwrap_or(name));
        let mut reader = BufReader::new(zip.by_name(name).map_err(candle_core::Error::wrap)?);
        let mut stack = Stack::empty();
        stack.read_loop(&mut reader)?;
        let obj = match stack.finalize()? {
            // a scripted module: its state is the build argument
            Object::Build { callable, args } => match *callable {
                Object::Reduce { callable, .. }
                    if matches!(&*callable, Object::Class { module_name, class_name }
                        if module_name == "__torch__" && class_name == "Module") =>
                {
                    *args
                }
                _ => continue,
            },
            obj => obj,
        };
        let obj = match (key, obj) {
            (Some(key), Object::Dict(kv)) => kv
                .into_iter()
                .find(|(k, _)| *k == Object::Unicode(key.to_owned()))
                .map(|(_, v)| v)
                .ok_or_else(|| candle_core::Error::Msg(format!("key {key} not found")))?,
            (_, obj) => obj,
        };
        if let Object::Dict(kv) = obj {
            for (k, v) in kv {
                // entries that are not tensors (an epoch counter, a config) are skipped
                if let Ok(Some(info)) = v.into_tensor_info(k, &dir) {
                    infos.push(info);
                }
            }
        }
    }
    Ok(infos)
}

fn read_tensor(zip: &mut Archive, info: &TensorInfo) -> candle_core::Result<Tensor> {
    let layout = &info.layout;
    let fortran = layout.is_fortran_contiguous();
    if !layout.is_contiguous() && !fortran {
        candle_core::bail!("{}: non-contiguous tensor {layout:?}", info.name)
    }
    let mut entry = zip.by_name(&info.path).map_err(candle_core::Error::wrap)?;
    std::io::copy(
        &mut entry.by_ref().take(layout.start_offset() as u64),
        &mut std::io::sink(),
    )?;
    let n = layout.shape().elem_count() * info.dtype.size_in_bytes();
    let mut bytes = vec![0u8; n];
    entry.read_exact(&mut bytes)?;
    let dims = layout.dims();
    if dims.len() > 1 && fortran && !layout.is_contiguous() {
        // stored column-major: read with the reversed shape, then reverse the axes
        let rev: Vec<usize> = dims.iter().rev().copied().collect();
        let t = Tensor::from_raw_buffer(&bytes, info.dtype, &rev, &Device::Cpu)?;
        let axes: Vec<usize> = (0..dims.len()).rev().collect();
        return t.permute(axes);
    }
    Tensor::from_raw_buffer(&bytes, info.dtype, dims, &Device::Cpu)
}

/// Every tensor of a PyTorch zip checkpoint, by its state-dict name.
pub fn read_all(path: &Path, key: Option<&str>) -> candle_core::Result<Vec<(String, Tensor)>> {
    let mut zip = open(path)?;
    let infos = tensor_infos(&mut zip, key)?;
    infos
        .iter()
        .map(|i| Ok((i.name.clone(), read_tensor(&mut zip, i)?)))
        .collect()
}
