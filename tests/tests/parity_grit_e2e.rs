//! End-to-end parity of `Grit::detect` with VBench's `VisualizationDemo.run_on_image` on the tiny
//! GRiT of `tools/parity/make_fixtures_grit.py`: frames → boxes (≤ 1e-4 rel), the int boxes of
//! `dense_pred_to_caption_tuple`, ObjectDet token ids (begin 101) and DenseCap token ids (begin
//! 104) per surviving instance, exactly. Plus the full GRiT-B key list.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use vbench_models::grit::{Grit, GritConfig};
use vbench_tests::grit;

fn dir() -> PathBuf {
    grit::fixtures()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).expect(name)).expect(name)
}

/// ids row as recorded (begin stripped, EOS padding kept) → up to, excluding, the first EOS.
fn until_eos(row: &Value) -> Vec<u32> {
    row.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .take_while(|&t| t != 102)
        .collect()
}

#[test]
fn grit_matches_vbench_end_to_end() {
    let grit = grit::tiny_grit();
    let frames: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir().join("frames.safetensors"), &Device::Cpu).unwrap();
    let pipe: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir().join("pipeline.safetensors"), &Device::Cpu).unwrap();
    let j = json("pipeline.json");
    for f in 0..2 {
        let img = frames[&format!("frame{f}")]
            .to_dtype(DType::F32)
            .unwrap()
            .permute((2, 0, 1))
            .unwrap()
            .contiguous()
            .unwrap();
        let out = grit.detect(&img, true).unwrap();
        // surviving rows of the kept set (detector_postprocess drops empty boxes after decoding)
        let kept =
            vbench_models::nn::detection::tensor_to_boxes(&pipe[&format!("f{f}.final.kept_boxes")])
                .unwrap();
        let surv: Vec<usize> = (0..kept.len())
            .filter(|&i| vbench_models::nn::detection::nonempty(&kept[i]))
            .collect();
        let tuples = j[format!("ObjectDet.f{f}.tuples")].as_array().unwrap();
        assert_eq!(out.boxes.len(), tuples.len());
        for (b, tu) in out.boxes.iter().zip(tuples) {
            let want: Vec<i64> = tu[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            let got: Vec<i64> = b.iter().map(|&v| v as i64).collect();
            assert_eq!(got, want, "frame {f} int box");
        }
        let det_ids: Vec<Vec<u32>> = surv
            .iter()
            .map(|&i| until_eos(&j[format!("ObjectDet.f{f}.ids_objectdet")][i]))
            .collect();
        assert_eq!(out.object_det_ids, det_ids, "frame {f} ObjectDet ids");
        let cap_ids: Vec<Vec<u32>> = surv
            .iter()
            .map(|&i| until_eos(&j[format!("DenseCap.f{f}.ids_test_task")][i]))
            .collect();
        assert_eq!(
            out.dense_cap_ids.as_ref().unwrap(),
            &cap_ids,
            "frame {f} DenseCap ids"
        );
        // the ObjectDet test task's own pass (text_decoder with begin 101) equals the det pass
        let obj_task: Vec<Vec<u32>> = surv
            .iter()
            .map(|&i| until_eos(&j[format!("ObjectDet.f{f}.ids_test_task")][i]))
            .collect();
        assert_eq!(out.object_det_ids, obj_task);
    }
}

/// `Grit::new(GritConfig::grit_b())` asks for exactly the real GRiT-B keys and shapes, minus the
/// unused mask head and the `text_decoder_det.*` aliases of the shared text decoder.
#[test]
fn grit_b_asks_for_exactly_the_real_keys() {
    let mut want = grit::grit_b_keys(|k| {
        !k.starts_with("roi_heads.mask_head.") && !k.starts_with("roi_heads.text_decoder_det.")
    });
    let got = grit::requested_keys(|vb| {
        Grit::new(&GritConfig::grit_b(), vb).unwrap();
    });
    // the output projection is tied to the word embedding: a decoder may read either key
    let tied = "roi_heads.text_decoder.textual.output.weight";
    if !got.contains_key(tied) {
        want.remove(tied);
    }
    assert_eq!(got, want);
}
