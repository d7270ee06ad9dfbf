//! The static filter: mirrors `vbench/cli/static_filter.py` (`vbench static_filter`; spec
//! 00-common.md §6, 20-motion.md §7). It selects the static videos that `temporal_flickering`
//! is meant to be evaluated on.
//!
//! * Videos: `sorted(glob(videos_path/*.mp4))` (lower-case `.mp4`, no hidden files, code-point
//!   order), prompt = [`prompt_from_filename`].
//! * Scope `temporal_flickering` (default): only the 75 temporal_flickering prompts of VBench's
//!   `VBench_full_info.json`, at most 5 static videos per prompt (a prompt stops being tested once
//!   it has 5). `all`: every video, no cap. A `.json` file: a list of file names or prompts
//!   (each reduced with [`prompt_from_filename`]), no cap.
//! * Per video (`StaticFilter.infer`): **all** frames (OpenCV conversion, RGB), RAFT on the N−1
//!   consecutive pairs and then on `(F0, F_{N−1})` and `(F_{N−1}, F0)`; each pair's score is
//!   the mean of the top `int(Hp·Wp·0.02)` flow magnitudes of the padded flow.
//!   `thres = 3·min(H, W)/256`, `count_num = round_half_even(2·N/16)`; `check_static`: not
//!   static as soon as more than `count_num` consecutive-pair scores are `> thres`, or either
//!   of the last two scores is `> thres·count_num·2`.
//! * Output: `result_path/store_name` = `json.dump({prompt: {"static_count": k, "static_path":
//!   [paths]}})` (Python's compact separators, ASCII escapes), and each static video copied to
//!   `result_path/filtered_videos/{prompt}-{i}.mp4`; a warning for every temporal_flickering
//!   prompt with fewer than 5 static videos.
//!
//! Differences: a video that cannot be decoded or is too small for RAFT is reported and counted
//! as not static (VBench would stop with an exception).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::Device;
use vbench_models::raft;

use crate::dimensions::dynamic_degree::PairFlow;
use crate::error::{ScoreError, VideoErrorKind};
use crate::prompts::prompt_from_filename;
use crate::video::{self, Frame, ReaderKind};

pub const DEFAULT_RESULT_PATH: &str = "./filter_results";
pub const DEFAULT_STORE_NAME: &str = "filtered_static_video.json";
/// At most this many static videos per prompt in the `temporal_flickering` scope.
pub const MAX_PER_PROMPT: usize = 5;

/// `--filter_scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterScope {
    TemporalFlickering,
    All,
    /// A JSON list of file names or prompts.
    JsonFile(PathBuf),
}

impl std::str::FromStr for FilterScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "temporal_flickering" => Ok(Self::TemporalFlickering),
            "all" => Ok(Self::All),
            p => {
                let path = PathBuf::from(p);
                let is_json = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase() == "json")
                    .unwrap_or(false);
                if path.is_file() && is_json {
                    Ok(Self::JsonFile(path))
                } else {
                    Err(format!(
                        "--filter-scope `{p}`: use `temporal_flickering`, `all`, or the path of an existing .json file listing file names or prompts"
                    ))
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct StaticFilterOptions {
    /// Folder of `.mp4` videos (VBench `--videos_path`).
    pub videos_path: PathBuf,
    /// VBench `--result_path`.
    pub result_path: PathBuf,
    /// VBench `--store_name`.
    pub store_name: String,
    pub scope: FilterScope,
    /// Frame pairs per RAFT batch.
    pub batch_size: usize,
}

/// What one video gave.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// As VBench writes it: `os.path.join(videos_path, file_name)`.
    pub path: String,
    pub prompt: String,
    pub result: Result<bool, VideoErrorKind>,
    /// The N−1 consecutive-pair scores, then (F0, F_{N−1}) and (F_{N−1}, F0).
    pub scores: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct StaticFilterReport {
    pub json_path: PathBuf,
    pub filtered_dir: PathBuf,
    /// `{prompt: static paths}` in the JSON's order.
    pub entries: Vec<(String, Vec<String>)>,
    pub verdicts: Vec<Verdict>,
    pub warnings: Vec<String>,
}

/// `StaticFilter.set_params`: (thres, count_num) from the unpadded size and N frames.
pub fn params(h: usize, w: usize, frames: usize) -> (f64, usize) {
    let thres = 3.0 * (h.min(w) as f64 / 256.0);
    let count_num = (2.0 * (frames as f64 / 16.0)).round_ties_even() as usize;
    (thres, count_num)
}

/// `StaticFilter.check_static` on the N+1 scores (the last two are the first/last pairs).
/// The scores are float32 and the thresholds are exact in float32, so comparing in f64 is
/// numpy's float32 comparison.
pub fn check_static(scores: &[f32], thres: f64, count_num: usize) -> bool {
    let split = scores.len().saturating_sub(2);
    let mut count = 0;
    for &s in &scores[..split] {
        if s as f64 > thres {
            count += 1;
        }
        if count > count_num {
            return false;
        }
    }
    for &s in &scores[split..] {
        if s as f64 > thres * count_num as f64 * 2.0 {
            return false;
        }
    }
    true
}

/// `StaticFilter.infer` on one video: (static?, scores).
pub fn infer(
    net: &raft::Model,
    device: &Device,
    batch_size: usize,
    path: &Path,
) -> Result<(bool, Vec<f32>), VideoErrorKind> {
    let mut flow = PairFlow::new(net, device.clone(), 0.02, batch_size);
    let mut first: Option<Frame> = None;
    let mut last: Option<Frame> = None;
    let mut n = 0usize;
    video::for_each_frame(path, &[ReaderKind::OpenCv], |_, frames| {
        let f = frames[0].1;
        flow.push(f)?;
        if first.is_none() {
            first = Some(f.clone());
        }
        last = Some(f.clone());
        n += 1;
        Ok(())
    })?;
    flow.flush()?;
    let (Some(first), Some(last)) = (first, last) else {
        return Err(VideoErrorKind::NoFrames);
    };
    let mut scores = std::mem::take(&mut flow.scores);
    // (F0, F_{N-1}) and (F_{N-1}, F0): the sequence F0, F_{N-1}, F0
    let mut ends = PairFlow::new(net, device.clone(), 0.02, 2);
    for f in [&first, &last, &first] {
        ends.push(f)?;
    }
    ends.flush()?;
    scores.extend(ends.scores);
    let (thres, count_num) = params(first.height, first.width, n);
    Ok((check_static(&scores, thres, count_num), scores))
}

/// Opens a RAFT checkpoint (`raft-things.pth` layout; the `module.` prefix is stripped) in fp32.
pub fn load_raft(path: &Path, device: &Device) -> Result<raft::Model, ScoreError> {
    let vb = vbench_weights::open_checkpoint(path, None, candle_core::DType::F32, device)?;
    Ok(raft::Model::new(&raft::Config::raft_things(), vb)?)
}

/// `sorted(glob(os.path.join(videos_path, "*.mp4")))`, as the path strings Python builds.
pub fn list_videos(videos_path: &Path) -> Result<Vec<String>, ScoreError> {
    let dir = videos_path.to_string_lossy().into_owned();
    let mut names: Vec<String> = std::fs::read_dir(videos_path)
        .map_err(|e| ScoreError::io(videos_path, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mp4") && !n.starts_with('.'))
        .collect();
    names.sort();
    let join = |n: &str| {
        if dir.is_empty() || dir.ends_with('/') {
            format!("{dir}{n}")
        } else {
            format!("{dir}/{n}")
        }
    };
    let mut paths: Vec<String> = names.iter().map(|n| join(n)).collect();
    paths.sort();
    Ok(paths)
}

/// The candidate prompts, in VBench's order (duplicates keep their first position).
fn scope_prompts(scope: &FilterScope, paths: &[String]) -> Result<Vec<String>, ScoreError> {
    let raw: Vec<String> = match scope {
        FilterScope::TemporalFlickering => TEMPORAL_FLICKERING_PROMPTS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        FilterScope::All => paths
            .iter()
            .map(|p| prompt_from_filename(Path::new(p)))
            .collect(),
        FilterScope::JsonFile(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| ScoreError::io(f, e))?;
            let list: Vec<String> = serde_json::from_str(&text).map_err(|e| {
                ScoreError::Options(format!(
                    "{}: expected a JSON list of file names or prompts ({e})",
                    f.display()
                ))
            })?;
            list.iter()
                .map(|p| prompt_from_filename(Path::new(p)))
                .collect()
        }
    };
    let mut seen = BTreeSet::new();
    Ok(raw.into_iter().filter(|p| seen.insert(p.clone())).collect())
}

/// Python's `json.dumps` string (ensure_ascii).
fn py_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dump(prompt_dict, f)` with Python's default separators.
pub fn to_json(entries: &[(String, Vec<String>)]) -> String {
    let mut s = String::from("{");
    for (i, (prompt, paths)) in entries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        py_str(&mut s, prompt);
        s.push_str(&format!(
            ": {{\"static_count\": {}, \"static_path\": [",
            paths.len()
        ));
        for (j, p) in paths.iter().enumerate() {
            if j > 0 {
                s.push_str(", ");
            }
            py_str(&mut s, p);
        }
        s.push_str("]}");
    }
    s.push('}');
    s
}

/// Runs the filter (`static_filter(args)` then `check_and_move`). `on_video` is told about each
/// tested video.
pub fn run(
    net: &raft::Model,
    device: &Device,
    opts: &StaticFilterOptions,
    mut on_video: impl FnMut(&Verdict),
) -> Result<StaticFilterReport, ScoreError> {
    let paths = list_videos(&opts.videos_path)?;
    let prompts = scope_prompts(&opts.scope, &paths)?;
    let mut found: HashMap<String, Vec<String>> =
        prompts.iter().map(|p| (p.clone(), Vec::new())).collect();
    let capped = opts.scope == FilterScope::TemporalFlickering;
    let mut verdicts = Vec::new();
    for path in &paths {
        let prompt = prompt_from_filename(Path::new(path));
        let Some(list) = found.get_mut(&prompt) else {
            continue;
        };
        if capped && list.len() >= MAX_PER_PROMPT {
            continue;
        }
        let (result, scores) = match infer(net, device, opts.batch_size, Path::new(path)) {
            Ok((s, scores)) => (Ok(s), scores),
            Err(e) => (Err(e), Vec::new()),
        };
        if result == Ok(true) {
            list.push(path.clone());
        }
        let v = Verdict {
            path: path.clone(),
            prompt,
            result,
            scores,
        };
        on_video(&v);
        verdicts.push(v);
    }
    let entries: Vec<(String, Vec<String>)> = prompts
        .iter()
        .map(|p| (p.clone(), found.remove(p).unwrap_or_default()))
        .collect();
    std::fs::create_dir_all(&opts.result_path).map_err(|e| ScoreError::io(&opts.result_path, e))?;
    let json_path = opts.result_path.join(&opts.store_name);
    std::fs::write(&json_path, to_json(&entries)).map_err(|e| ScoreError::io(&json_path, e))?;
    let filtered_dir = opts.result_path.join("filtered_videos");
    std::fs::create_dir_all(&filtered_dir).map_err(|e| ScoreError::io(&filtered_dir, e))?;
    let mut warnings = Vec::new();
    for (prompt, paths) in &entries {
        if capped && paths.len() < MAX_PER_PROMPT {
            warnings.push(format!(
                "Prompt: '{prompt}' has fewer than 5 filter results."
            ));
        }
        for (i, p) in paths.iter().enumerate() {
            let dst = filtered_dir.join(format!("{prompt}-{i}.mp4"));
            std::fs::copy(p, &dst).map_err(|e| ScoreError::io(&dst, e))?;
        }
    }
    Ok(StaticFilterReport {
        json_path,
        filtered_dir,
        entries,
        verdicts,
        warnings,
    })
}

/// The videos a `filter-static` result lists as static (its `static_path` entries, resolved
/// against the current directory), for restricting `temporal_flickering` to them.
#[derive(Debug, Clone, Default)]
pub struct StaticList {
    paths: BTreeSet<PathBuf>,
}

impl StaticList {
    pub fn load(path: &Path) -> Result<Self, ScoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
        let bad = |why: String| {
            ScoreError::Options(format!(
                "{}: not a static-filter result ({{prompt: {{\"static_count\", \"static_path\"}}}}): {why}",
                path.display()
            ))
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not an object".into()))?;
        let mut paths = BTreeSet::new();
        for (prompt, entry) in obj {
            let list = entry
                .get("static_path")
                .and_then(|l| l.as_array())
                .ok_or_else(|| bad(format!("`{prompt}` has no static_path list")))?;
            for p in list {
                let p = p
                    .as_str()
                    .ok_or_else(|| bad(format!("`{prompt}`: a path is not a string")))?;
                paths.insert(normalize(Path::new(p)));
            }
        }
        Ok(Self { paths })
    }

    pub fn contains(&self, video: &Path) -> bool {
        self.paths.contains(&normalize(video))
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

fn normalize(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The `temporal_flickering` prompts of `VBench_full_info.json` (0.1.5), in file order.
pub const TEMPORAL_FLICKERING_PROMPTS: [&str; 75] = [
    "In a still frame, a stop sign",
    "a toilet, frozen in time",
    "a laptop, frozen in time",
    "A tranquil tableau of alley",
    "A tranquil tableau of bar",
    "A tranquil tableau of barn",
    "A tranquil tableau of bathroom",
    "A tranquil tableau of bedroom",
    "A tranquil tableau of cliff",
    "In a still frame, courtyard",
    "In a still frame, gas station",
    "A tranquil tableau of house",
    "indoor gymnasium, frozen in time",
    "A tranquil tableau of indoor library",
    "A tranquil tableau of kitchen",
    "A tranquil tableau of palace",
    "In a still frame, parking lot",
    "In a still frame, phone booth",
    "A tranquil tableau of restaurant",
    "A tranquil tableau of tower",
    "A tranquil tableau of a bowl",
    "A tranquil tableau of an apple",
    "A tranquil tableau of a bench",
    "A tranquil tableau of a bed",
    "A tranquil tableau of a chair",
    "A tranquil tableau of a cup",
    "A tranquil tableau of a dining table",
    "In a still frame, a pear",
    "A tranquil tableau of a bunch of grapes",
    "A tranquil tableau of a bowl on the kitchen counter",
    "A tranquil tableau of a beautiful, handcrafted ceramic bowl",
    "A tranquil tableau of an antique bowl",
    "A tranquil tableau of an exquisite mahogany dining table",
    "A tranquil tableau of a wooden bench in the park",
    "A tranquil tableau of a beautiful wrought-iron bench surrounded by blooming flowers",
    "In a still frame, a park bench with a view of the lake",
    "A tranquil tableau of a vintage rocking chair was placed on the porch",
    "A tranquil tableau of the jail cell was small and dimly lit, with cold, steel bars",
    "A tranquil tableau of the phone booth was tucked away in a quiet alley",
    "a dilapidated phone booth stood as a relic of a bygone era on the sidewalk, frozen in time",
    "A tranquil tableau of the old red barn stood weathered and iconic against the backdrop of the countryside",
    "A tranquil tableau of a picturesque barn was painted a warm shade of red and nestled in a picturesque meadow",
    "In a still frame, within the desolate desert, an oasis unfolded, characterized by the stoic presence of palm trees and a motionless, glassy pool of water",
    "In a still frame, the Parthenon's majestic Doric columns stand in serene solitude atop the Acropolis, framed by the tranquil Athenian landscape",
    "In a still frame, the Temple of Hephaestus, with its timeless Doric grace, stands stoically against the backdrop of a quiet Athens",
    "In a still frame, the ornate Victorian streetlamp stands solemnly, adorned with intricate ironwork and stained glass panels",
    "A tranquil tableau of the Stonehenge presented itself as an enigmatic puzzle, each colossal stone meticulously placed against the backdrop of tranquility",
    "In a still frame, in the vast desert, an oasis nestled among dunes, featuring tall palm trees and an air of serenity",
    "static view on a desert scene with an oasis, palm trees, and a clear, calm pool of water",
    "A tranquil tableau of an ornate Victorian streetlamp standing on a cobblestone street corner, illuminating the empty night",
    "A tranquil tableau of a tranquil lakeside cabin nestled among tall pines, its reflection mirrored perfectly in the calm water",
    "In a still frame, a vintage gas lantern, adorned with intricate details, gracing a historic cobblestone square",
    "In a still frame, a tranquil Japanese tea ceremony room, with tatami mats, a delicate tea set, and a bonsai tree in the corner",
    "A tranquil tableau of the Parthenon stands resolute in its classical elegance, a timeless symbol of Athens' cultural legacy",
    "A tranquil tableau of in the heart of Plaka, the neoclassical architecture of the old city harmonizes with the ancient ruins",
    "A tranquil tableau of in the desolate beauty of the American Southwest, Chaco Canyon's ancient ruins whispered tales of an enigmatic civilization that once thrived amidst the arid landscapes",
    "A tranquil tableau of at the edge of the Arabian Desert, the ancient city of Petra beckoned with its enigmatic rock-carved façades",
    "In a still frame, amidst the cobblestone streets, an Art Nouveau lamppost stood tall",
    "A tranquil tableau of in the quaint village square, a traditional wrought-iron streetlamp featured delicate filigree patterns and amber-hued glass panels",
    "A tranquil tableau of the lampposts were adorned with Art Deco motifs, their geometric shapes and frosted glass creating a sense of vintage glamour",
    "In a still frame, in the picturesque square, a Gothic-style lamppost adorned with intricate stone carvings added a touch of medieval charm to the setting",
    "In a still frame, in the heart of the old city, a row of ornate lantern-style streetlamps bathed the narrow alleyway in a warm, welcoming light",
    "A tranquil tableau of in the heart of the Utah desert, a massive sandstone arch spanned the horizon",
    "A tranquil tableau of in the Arizona desert, a massive stone bridge arched across a rugged canyon",
    "A tranquil tableau of in the corner of the minimalist tea room, a bonsai tree added a touch of nature's beauty to the otherwise simple and elegant space",
    "In a still frame, amidst the hushed ambiance of the traditional tea room, a meticulously arranged tea set awaited, with porcelain cups, a bamboo whisk",
    "In a still frame, nestled in the Zen garden, a rustic teahouse featured tatami seating and a traditional charcoal brazier",
    "A tranquil tableau of a country estate's library featured elegant wooden shelves",
    "A tranquil tableau of beneath the shade of a solitary oak tree, an old wooden park bench sat patiently",
    "A tranquil tableau of beside a tranquil pond, a weeping willow tree draped its branches gracefully over the water's surface, creating a serene tableau of reflection and calm",
    "A tranquil tableau of in the Zen garden, a perfectly raked gravel path led to a serene rock garden",
    "In a still frame, a tranquil pond was fringed by weeping cherry trees, their blossoms drifting lazily onto the glassy surface",
    "In a still frame, within the historic library's reading room, rows of antique leather chairs and mahogany tables offered a serene haven for literary contemplation",
    "A tranquil tableau of a peaceful orchid garden showcased a variety of delicate blooms",
    "A tranquil tableau of in the serene courtyard, a centuries-old stone well stood as a symbol of a bygone era, its mossy stones bearing witness to the passage of time",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_follow_static_filter() {
        assert_eq!(params(320, 512, 16), (3.75, 2));
        assert_eq!(params(128, 160, 20), (1.5, 2)); // 2.5 → 2
        assert_eq!(params(128, 160, 28), (1.5, 4)); // 3.5 → 4
        assert_eq!(params(128, 160, 4), (1.5, 0)); // 0.5 → 0
        assert_eq!(params(128, 160, 5), (1.5, 1));
    }

    #[test]
    fn check_static_rules() {
        // count_num 1: one consecutive score above is allowed, two are not
        assert!(check_static(&[2.0, 1.0, 1.0, 0.5, 0.5], 1.5, 1));
        assert!(!check_static(&[2.0, 2.0, 1.0, 0.5, 0.5], 1.5, 1));
        // first/last pairs against thres·count_num·2 = 3
        assert!(!check_static(&[1.0, 1.0, 3.5, 0.5], 1.5, 1));
        assert!(check_static(&[1.0, 1.0, 3.0, 3.0], 1.5, 1));
        // count_num 0: any nonzero end score fails
        assert!(!check_static(&[0.0, 0.0, 0.1], 1.5, 0));
        assert!(check_static(&[0.0, 0.0], 1.5, 0));
    }

    #[test]
    fn json_like_python() {
        let e = vec![
            ("a \"b\" façade".to_string(), vec!["v/x-0.mp4".to_string()]),
            ("c".to_string(), vec![]),
        ];
        assert_eq!(
            to_json(&e),
            r#"{"a \"b\" fa\u00e7ade": {"static_count": 1, "static_path": ["v/x-0.mp4"]}, "c": {"static_count": 0, "static_path": []}}"#
        );
        assert_eq!(TEMPORAL_FLICKERING_PROMPTS.len(), 75);
        assert_eq!(
            TEMPORAL_FLICKERING_PROMPTS[0],
            "In a still frame, a stop sign"
        );
    }

    #[test]
    fn scope_parsing_and_listing() {
        use std::str::FromStr;
        assert_eq!(FilterScope::from_str("all").unwrap(), FilterScope::All);
        assert!(FilterScope::from_str("nope.json").is_err());
        let d = tempfile::tempdir().unwrap();
        for n in ["b-1.mp4", "a-0.mp4", ".h.mp4", "c.MP4", "d.mkv"] {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let dir = d.path().to_string_lossy().into_owned();
        let got = list_videos(d.path()).unwrap();
        assert_eq!(
            got,
            vec![format!("{dir}/a-0.mp4"), format!("{dir}/b-1.mp4")]
        );
        let list = d.path().join("scope.json");
        std::fs::write(&list, r#"["a-0.mp4", "zzz", "a-3.mp4"]"#).unwrap();
        let scope = FilterScope::from_str(list.to_str().unwrap()).unwrap();
        assert_eq!(scope_prompts(&scope, &got).unwrap(), vec!["a", "zzz"]);
        let res = d.path().join("res.json");
        std::fs::write(
            &res,
            to_json(&[("a".into(), vec![format!("{dir}/a-0.mp4")])]),
        )
        .unwrap();
        let sl = StaticList::load(&res).unwrap();
        assert!(sl.contains(&d.path().join("a-0.mp4")));
        assert!(!sl.contains(&d.path().join("b-1.mp4")));
    }
}
