//! `vbench-score --shard K/N` and `merge`: byte-identical to one run; missing, duplicated and
//! mismatched shards are refused with the documented errors; shard selection from the
//! environment of Slurm job arrays and Kubernetes Indexed Jobs.

use std::path::{Path, PathBuf};
use std::process::Output;

mod score_support;
use score_support::{bin, make_clip, stderr};

struct Setup {
    _t: tempfile::TempDir,
    _w: tempfile::TempDir,
    root: PathBuf,
    vids: PathBuf,
    weights: PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let vids = t.path().join("v");
    std::fs::create_dir(&vids).unwrap();
    let sources = [
        "testsrc2",
        "mandelbrot",
        "testsrc",
        "rgbtestsrc",
        "smptebars",
        "cellauto",
    ];
    for (i, src) in sources.iter().enumerate() {
        make_clip(
            &vids.join(format!("clip {i}, oil painting-0.mp4")),
            3 + i as u32 % 3,
            "96x64",
            src,
        );
    }
    let w = tempfile::tempdir().unwrap();
    vbench_tests::fixture_weights_dir(w.path()).unwrap();
    Setup {
        root: t.path().to_path_buf(),
        vids,
        weights: w.path().to_path_buf(),
        _t: t,
        _w: w,
    }
}

const DIMS: &str = "subject_consistency,appearance_style,temporal_flickering";

fn score(s: &Setup, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = bin();
    c.arg(&s.vids)
        .args(["-d", DIMS, "--quiet", "--name", "run", "--weights-dir"])
        .arg(&s.weights)
        .arg("-o")
        .arg(out)
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    bin()
        .arg("merge")
        .args(dirs)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn merged_shards_are_byte_identical_to_one_run() {
    let s = setup();
    let single = s.root.join("single");
    let o = score(&s, &single, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read(single.join("run_eval_results.json")).unwrap();
    for n in 1..=3usize {
        // each shard in its own folder, as separate machines would write them
        let dirs: Vec<PathBuf> = (0..n).map(|k| s.root.join(format!("n{n}k{k}"))).collect();
        for (k, d) in dirs.iter().enumerate() {
            let o = score(&s, d, &["--shard", &format!("{k}/{n}")], &[]);
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(d.join(format!("run-shard-{k}-of-{n}_shard.json")).exists());
        }
        let merged = s.root.join(format!("merged{n}"));
        let o = merge(&dirs, &merged);
        assert!(o.status.success(), "{}", stderr(&o));
        let got = std::fs::read(merged.join("run_eval_results.json")).unwrap();
        assert!(
            got == want,
            "{n} shards: merged results differ from one run"
        );
    }
}

#[test]
fn missing_duplicate_and_mismatched_shards_are_refused() {
    let s = setup();
    let d0 = s.root.join("k0");
    let d1 = s.root.join("k1");
    for (k, d) in [(0, &d0), (1, &d1)] {
        let o = score(&s, d, &["--shard", &format!("{k}/3")], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = merge(&[d0.clone(), d1.clone()], &s.root.join("m"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing shard(s) 2/3"),
        "{}",
        stderr(&o)
    );

    // the same shard twice
    let d1b = s.root.join("k1b");
    let o = score(&s, &d1b, &["--shard", "1/3"], &[]);
    assert!(o.status.success());
    let d2 = s.root.join("k2");
    let o = score(&s, &d2, &["--shard", "2/3"], &[]);
    assert!(o.status.success());
    let o = merge(
        &[d0.clone(), d1.clone(), d1b, d2.clone()],
        &s.root.join("m"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("shard 1/3 appears more than once"),
        "{}",
        stderr(&o)
    );

    // a shard of another run (other dimensions)
    let dx = s.root.join("kx");
    let mut c = bin();
    let o = c
        .arg(&s.vids)
        .args([
            "-d",
            "temporal_flickering",
            "--quiet",
            "--name",
            "run",
            "--shard",
            "2/3",
            "-o",
        ])
        .arg(&dx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = merge(&[d0.clone(), d1.clone(), dx], &s.root.join("m"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("do not belong to the same run: the dimensions differ"),
        "{}",
        stderr(&o)
    );

    // the right three merge
    let o = merge(&[d0, d1, d2], &s.root.join("m"));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn shard_from_slurm_and_kubernetes_environment() {
    let s = setup();
    let slurm = s.root.join("slurm");
    for id in 4..6 {
        let idv = id.to_string();
        let o = score(
            &s,
            &slurm,
            &[],
            &[
                ("SLURM_ARRAY_TASK_ID", &idv),
                ("SLURM_ARRAY_TASK_MIN", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(slurm
            .join(format!("run-shard-{}-of-2_shard.json", id - 4))
            .exists());
    }
    let k8s = s.root.join("k8s");
    for idx in ["0", "1"] {
        let o = score(
            &s,
            &k8s,
            &["--shard-count", "2"],
            &[("JOB_COMPLETION_INDEX", idx)],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = score(&s, &k8s, &[], &[("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give --shard-count"), "{}", stderr(&o));
    // both layouts merge to the same bytes
    let (a, b) = (s.root.join("ma"), s.root.join("mb"));
    assert!(merge(&[slurm], &a).status.success());
    assert!(merge(&[k8s], &b).status.success());
    assert_eq!(
        std::fs::read(a.join("run_eval_results.json")).unwrap(),
        std::fs::read(b.join("run_eval_results.json")).unwrap()
    );
}

#[test]
fn a_shard_that_died_half_way_is_named_and_resumed() {
    let s = setup();
    let dirs: Vec<PathBuf> = (0..2).map(|k| s.root.join(format!("k{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        let o = score(&s, d, &["--shard", &format!("{k}/2")], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // cut shard 0's last video line, as if it had been killed before writing it
    let jsonl = dirs[0].join("run-shard-0-of-2_per_video.jsonl");
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let cut = lines.pop().unwrap();
    assert!(cut.contains("\"video_path\""));
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    let kept = lines
        .iter()
        .filter(|l| l.contains("\"video_path\""))
        .count();
    let o = merge(&dirs, &s.root.join("m"));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("(shard 0/2) has no results") && e.contains("--resume"),
        "{e}"
    );
    // --resume scores only what is missing, then the merge matches a single run
    let o = score(&s, &dirs[0], &["--shard", "0/2", "--resume"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"video_path\""))
            .count(),
        kept + 1,
        "only the cut video was scored again"
    );
    let o = merge(&dirs, &s.root.join("m"));
    assert!(o.status.success(), "{}", stderr(&o));
    let single = s.root.join("single");
    assert!(score(&s, &single, &[], &[]).status.success());
    assert_eq!(
        std::fs::read(single.join("run_eval_results.json")).unwrap(),
        std::fs::read(s.root.join("m/run_eval_results.json")).unwrap()
    );
}
