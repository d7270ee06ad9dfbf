//! indicatif progress for scoring runs: one bar over videos (with ETA), one per dimension over
//! the videos it scores (with ETA), and one over the frames of the current video.

use std::path::Path;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use vbench_scorer::evaluate::{DimResult, VideoLine};
use vbench_scorer::Progress;

pub struct Bars {
    multi: MultiProgress,
    videos: ProgressBar,
    frames: ProgressBar,
    dims: Mutex<Vec<(String, ProgressBar)>>,
    verbose: bool,
}

impl Bars {
    pub fn new(enabled: bool, verbose: bool) -> Self {
        let multi = if enabled {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        };
        let videos = multi.add(ProgressBar::new(0));
        videos.set_style(
            ProgressStyle::with_template("videos {bar:30} {pos}/{len} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let frames = multi.add(ProgressBar::new_spinner());
        frames.set_style(
            ProgressStyle::with_template("  frames {pos} {per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Self {
            multi,
            videos,
            frames,
            dims: Mutex::new(Vec::new()),
            verbose,
        }
    }

    pub fn finish(&self) {
        for (_, b) in self.dims.lock().expect("not poisoned").iter() {
            b.finish_and_clear();
        }
        self.frames.finish_and_clear();
        self.videos.finish_and_clear();
    }
}

impl Progress for Bars {
    fn run_started(&self, videos: usize, per_dimension: &[(String, usize)]) {
        self.videos.set_length(videos as u64);
        let style = ProgressStyle::with_template("  {prefix:<24} {bar:20} {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let mut dims = self.dims.lock().expect("not poisoned");
        for (name, n) in per_dimension {
            let b = self
                .multi
                .insert_before(&self.frames, ProgressBar::new(*n as u64));
            b.set_style(style.clone());
            b.set_prefix(name.clone());
            dims.push((name.clone(), b));
        }
    }
    fn video_started(&self, _index: usize, path: &Path) {
        self.frames.set_position(0);
        self.frames.set_message(
            path.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    fn frame_done(&self) {
        self.frames.inc(1);
    }
    fn video_finished(&self, _index: usize, line: &VideoLine) {
        self.videos.inc(1);
        for (name, b) in self.dims.lock().expect("not poisoned").iter() {
            if line.results.contains_key(name) {
                b.inc(1);
            }
        }
        for (dim, r) in &line.results {
            if let DimResult::Err { error } = r {
                let _ = self
                    .multi
                    .println(format!("  ! {} [{}]: {}", line.video_path, dim, error));
            } else if self.verbose {
                let _ = self
                    .multi
                    .println(format!("  ✓ {} [{}]", line.video_path, dim));
            }
        }
    }
    fn message(&self, msg: &str) {
        let _ = self.multi.println(msg);
    }
}
