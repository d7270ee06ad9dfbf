//! The whole GRiT (`vbench_models::grit::Grit`: backbone, CenterNet, cascade, both text passes)
//! against VBench 0.1.5's `VisualizationDemo.run_on_image` on the frames of
//! `tests/fixtures/parity_grit/` (tiny structurally identical network, fixed random weights with
//! crafted biases; `tools/parity/make_fixtures_grit.py`). From the raw RGB frame: p3..p7, the
//! surviving boxes (≤ 1e-4 relative), the token ids of the ObjectDet and DenseCap passes
//! (equal), and — through the scorer's `GritDetector` and BERT decode — the exact strings of
//! `dense_pred_to_caption_tuple`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;
use vbench_models::grit::{Grit, GritConfig, GritHeadsConfig};
use vbench_models::grit_text::GritTextConfig;
use vbench_models::vitdet::VitDetConfig;
use vbench_scorer::grit_detect::{FloatFrameRgb, ObjectDetector};
use vbench_scorer::grit_net::{GritDetector, GritNets};
use vbench_scorer::tag2text_caption::BertTokenizer;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parity_grit")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).expect(name)).expect(name)
}

/// The fixture's tiny configuration as a [`GritConfig`].
fn tiny_config() -> GritConfig {
    let c = json("config.json");
    let backbone: VitDetConfig = serde_json::from_value(c["backbone"].clone()).unwrap();
    let text: GritTextConfig = serde_json::from_value(c["text"].clone()).unwrap();
    let fc = c["box_head_fc_dim"].as_u64().unwrap() as usize;
    GritConfig {
        heads: GritHeadsConfig::with_dims(backbone.fpn_dim, fc),
        backbone,
        text,
    }
}

fn tiny_grit() -> Grit {
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir().join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    Grit::new(&tiny_config(), vb).unwrap()
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

fn ids(v: &Value) -> Vec<Vec<u32>> {
    serde_json::from_value(v.clone()).unwrap()
}

fn boxes(v: &Value) -> Vec<[f32; 4]> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn whole_grit_matches_vbench_from_the_raw_frame() {
    let grit = tiny_grit();
    let p = json("pipeline.json");
    for f in 0..2 {
        let image = frame(f);
        // normalisation + padding + backbone → the recorded pyramid
        let x = Grit::preprocess(&image).unwrap();
        let shape: Vec<usize> =
            serde_json::from_value(p[format!("ObjectDet.f{f}.input_shape")].clone()).unwrap();
        assert_eq!(x.dims(), shape.as_slice(), "frame {f}: padded input");
        let out = grit.detect(&image, true).unwrap();
        let want = boxes(&p[format!("ObjectDet.f{f}.out_boxes")]);
        assert_eq!(
            out.boxes.len(),
            want.len(),
            "frame {f}: surviving instances"
        );
        let scale = want.iter().flatten().fold(1f32, |m, v| m.max(v.abs()));
        for (a, b) in out.boxes.iter().zip(&want) {
            for k in 0..4 {
                assert!(
                    (a[k] - b[k]).abs() <= 1e-4 * scale,
                    "frame {f}: box {a:?} vs {b:?}"
                );
            }
        }
        assert_eq!(
            out.object_det_ids,
            ids(&p[format!("ObjectDet.f{f}.ids_objectdet")])
                .into_iter()
                .map(|r| r.into_iter().take_while(|&t| t != 102).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            "frame {f}: ObjectDet ids"
        );
        assert_eq!(
            out.dense_cap_ids.clone().unwrap(),
            ids(&p[format!("DenseCap.f{f}.ids_test_task")])
                .into_iter()
                .map(|r| r.into_iter().take_while(|&t| t != 102).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            "frame {f}: DenseCap ids"
        );
    }
}

#[test]
fn grit_detector_gives_vbench_caption_tuples() {
    let nets = Arc::new(GritNets {
        model: tiny_grit(),
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
