//! The scorer's GRiT detector (`vbench_scorer::grit_net::GritDetector`: the whole tiny GRiT of
//! `tests/fixtures/parity_grit/` plus the BERT decode) against VBench 0.1.5's
//! `dense_pred_to_caption_tuple` on the fixture frames: the exact description strings of both
//! tasks, the `det_obj` list and the `int()` boxes, with the DenseCap request after the
//! ObjectDet one reusing the frame's box path. (The model-level ids and boxes are in
//! `parity_grit_e2e.rs`.)

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use vbench_scorer::grit_detect::{FloatFrameRgb, ObjectDetector};
use vbench_scorer::grit_net::{GritDetector, GritNets};
use vbench_scorer::tag2text_caption::BertTokenizer;
use vbench_tests::grit;

fn dir() -> PathBuf {
    grit::fixtures()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).expect(name)).expect(name)
}

/// Frame `f` of the fixture as `(3, H, W)` f32 0..255 (what VBench hands the predictor).
fn frame(f: usize) -> Tensor {
    let t = candle_core::safetensors::load(dir().join("frames.safetensors"), &Device::Cpu).unwrap();
    t[&format!("frame{f}")]
        .to_dtype(DType::F32)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap()
        .contiguous()
        .unwrap()
}

#[test]
fn grit_detector_gives_vbench_caption_tuples() {
    let nets = Arc::new(GritNets {
        model: grit::tiny_grit(),
        tokenizer: BertTokenizer::from_file(&dir().join("tokenizer.json")).unwrap(),
    });
    let det = GritDetector::new(nets, Device::Cpu);
    let p = json("pipeline.json");
    for f in 0..2 {
        let t = frame(f);
        let (_, h, w) = t.dims3().unwrap();
        let fr = FloatFrameRgb {
            height: h,
            width: w,
            data: t.flatten_all().unwrap().to_vec1().unwrap(),
        };
        // ObjectDet first, then DenseCap on the same frame (the box path is reused)
        let od = det.detect(&fr, false).unwrap();
        let dc = det.detect(&fr, true).unwrap();
        assert_eq!(od.object_det_texts, dc.object_det_texts);
        assert_eq!(od.dense_captions, None);
        let det_obj: Vec<String> =
            serde_json::from_value(p[format!("ObjectDet.f{f}.det_obj")].clone()).unwrap();
        assert_eq!(od.object_det_texts, det_obj, "frame {f}: det_obj");
        for task in ["ObjectDet", "DenseCap"] {
            let tuples = p[format!("{task}.f{f}.tuples")].as_array().unwrap();
            let texts = if task == "ObjectDet" {
                &od.object_det_texts
            } else {
                dc.dense_captions.as_ref().unwrap()
            };
            assert_eq!(tuples.len(), texts.len());
            for (i, tup) in tuples.iter().enumerate() {
                assert_eq!(tup[0].as_str().unwrap(), texts[i], "frame {f} {task} #{i}");
                let ib: Vec<i64> = serde_json::from_value(tup[1].clone()).unwrap();
                assert_eq!(ib, od.int_box(i).to_vec(), "frame {f} {task} #{i}: int box");
            }
        }
    }
}
