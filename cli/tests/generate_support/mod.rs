//! A server on 127.0.0.1 speaking Replicate's predictions protocol (create through the models
//! or the versions endpoint, poll, cancel) with scripted outcomes per model, and a file host
//! that can cut a download short. Used by the `generate-videos` end-to-end tests.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const TOKEN: &str = "r8_TEST-SECRET-7c1f0e";

/// What the next create of a model does.
#[derive(Clone, Debug)]
pub enum Script {
    /// The create request itself gets this status (the next create pops the next script).
    CreateStatus {
        code: u16,
        retry_after: Option<String>,
    },
    /// Starts, stays `processing` for `polls` polls, then succeeds with this output URL.
    Succeed {
        url: String,
        predict_time: f64,
        polls: u32,
    },
    /// Fails after one poll.
    Fail(String),
    /// Never leaves `processing`.
    Stuck,
}

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub prefer: Option<String>,
    pub body: serde_json::Value,
    pub at: Instant,
}

struct Pred {
    model: String,
    script: Script,
    polls: u32,
    canceled: bool,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Script>>,
    preds: HashMap<String, Pred>,
    next_id: u32,
    files: HashMap<String, (Vec<u8>, u32)>,
    requests: Vec<Req>,
}

#[derive(Clone)]
pub struct Mock {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Mock {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = Mock {
            base,
            state: Arc::default(),
        };
        let srv = me.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let srv = srv.clone();
                std::thread::spawn(move || srv.handle(s));
            }
        });
        me
    }

    /// Scripts for a model key (`owner/name`, or `version:<id>` for the versions endpoint).
    pub fn script(&self, model: &str, s: impl IntoIterator<Item = Script>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .entry(model.into())
            .or_default()
            .extend(s);
    }

    /// Serves `bytes` at `/files/<name>`; the first `truncate` downloads are cut in half.
    pub fn file(&self, name: &str, bytes: Vec<u8>, truncate: u32) -> String {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(name.into(), (bytes, truncate));
        format!("{}/files/{name}", self.base)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.state.lock().unwrap().requests.clone()
    }

    fn pred_json(&self, id: &str, p: &Pred) -> serde_json::Value {
        let (status, output, error, metrics) = if p.canceled {
            ("canceled", serde_json::Value::Null, None, None)
        } else {
            match &p.script {
                Script::Succeed {
                    url,
                    predict_time,
                    polls,
                } => {
                    if p.polls > *polls {
                        (
                            "succeeded",
                            serde_json::json!(url),
                            None,
                            Some(*predict_time),
                        )
                    } else if p.polls == 0 {
                        ("starting", serde_json::Value::Null, None, None)
                    } else {
                        ("processing", serde_json::Value::Null, None, None)
                    }
                }
                Script::Fail(e) => {
                    if p.polls >= 1 {
                        (
                            "failed",
                            serde_json::Value::Null,
                            Some(e.clone()),
                            Some(1.0),
                        )
                    } else {
                        ("starting", serde_json::Value::Null, None, None)
                    }
                }
                Script::Stuck => ("processing", serde_json::Value::Null, None, None),
                Script::CreateStatus { .. } => unreachable!(),
            }
        };
        let mut v = serde_json::json!({
            "id": id, "model": p.model, "version": "v-test", "status": status,
            "output": output, "error": error, "logs": "",
            "urls": {"get": format!("{}/v1/predictions/{id}", self.base),
                     "cancel": format!("{}/v1/predictions/{id}/cancel", self.base)},
        });
        if let Some(t) = metrics {
            v["metrics"] = serde_json::json!({"predict_time": t});
        }
        v
    }

    fn handle(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let (mut len, mut auth, mut prefer) = (0usize, None, None);
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim().to_string();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "authorization" => auth = Some(v),
                    "prefer" => prefer = Some(v),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let mut st = self.state.lock().unwrap();
        st.requests.push(Req {
            method: method.clone(),
            path: path.clone(),
            authorization: auth.clone(),
            prefer,
            body: body.clone(),
            at: Instant::now(),
        });
        // file host
        if let Some(name) = path.strip_prefix("/files/") {
            let Some((bytes, truncate)) = st.files.get_mut(name) else {
                drop(st);
                return respond(&mut stream, 404, &[], b"not found");
            };
            let cut = *truncate > 0;
            if cut {
                *truncate -= 1;
            }
            let bytes = bytes.clone();
            drop(st);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let n = if cut { bytes.len() / 2 } else { bytes.len() };
            let _ = stream.write_all(&bytes[..n]);
            let _ = stream.flush();
            return;
        }
        if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
            drop(st);
            return respond(&mut stream, 401, &[], br#"{"detail":"Unauthenticated"}"#);
        }
        // create
        let model_key = if method == "POST" && path == "/v1/predictions" {
            Some(format!(
                "version:{}",
                body["version"].as_str().unwrap_or("")
            ))
        } else if method == "POST"
            && path.starts_with("/v1/models/")
            && path.ends_with("/predictions")
        {
            Some(
                path.trim_start_matches("/v1/models/")
                    .trim_end_matches("/predictions")
                    .to_string(),
            )
        } else {
            None
        };
        if let Some(model) = model_key {
            let script = st
                .scripts
                .get_mut(&model)
                .and_then(|q| q.pop_front())
                .unwrap_or(Script::Fail(format!("no script for {model}")));
            if let Script::CreateStatus { code, retry_after } = script {
                drop(st);
                let h: Vec<(&str, String)> = retry_after
                    .map(|r| vec![("Retry-After", r)])
                    .unwrap_or_default();
                return respond(&mut stream, code, &h, br#"{"detail":"scripted"}"#);
            }
            st.next_id += 1;
            let id = format!("pred{}", st.next_id);
            let p = Pred {
                model: model.clone(),
                script,
                polls: 0,
                canceled: false,
            };
            let v = self.pred_json(&id, &p);
            st.preds.insert(id, p);
            drop(st);
            return respond(&mut stream, 201, &[], v.to_string().as_bytes());
        }
        if let Some(rest) = path.strip_prefix("/v1/predictions/") {
            if let Some(id) = rest.strip_suffix("/cancel") {
                if let Some(p) = st.preds.get_mut(id) {
                    p.canceled = true;
                    let v = self.pred_json(id, st.preds.get(id).unwrap());
                    drop(st);
                    return respond(&mut stream, 200, &[], v.to_string().as_bytes());
                }
            } else if method == "GET" {
                if let Some(p) = st.preds.get_mut(rest) {
                    p.polls += 1;
                    let v = self.pred_json(rest, st.preds.get(rest).unwrap());
                    drop(st);
                    return respond(&mut stream, 200, &[], v.to_string().as_bytes());
                }
            }
        }
        drop(st);
        respond(&mut stream, 404, &[], br#"{"detail":"Not found"}"#)
    }
}

fn respond(stream: &mut TcpStream, code: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// An H.264 clip from an ffmpeg lavfi source, 8 fps.
pub fn make_clip(path: &Path, frames: u32, size: &str, src: &str) -> Vec<u8> {
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{src}=size={size}:rate=8"))
        .args([
            "-frames:v",
            &frames.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success());
    std::fs::read(path).unwrap()
}

/// A PNG from an ffmpeg lavfi source.
pub fn make_png(path: &Path, size: &str, src: &str) {
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{src}=size={size}"))
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success());
}

/// The binary with a clean environment (no real token, base or weights).
pub fn cmd(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_generate-videos"));
    c.current_dir(cwd)
        .env_remove("REPLICATE_API_TOKEN")
        .env_remove("REPLICATE_API_BASE")
        .env_remove("VBENCH_WEIGHTS_DIR")
        .env_remove("VBENCH_GENERATE_INTERACTIVE_STDIN")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", "/nonexistent-hf-home")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("vbench-test-cache"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn run(mut c: Command, stdin: Option<&[u8]>) -> Output {
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().unwrap();
    if let Some(d) = stdin {
        child.stdin.take().unwrap().write_all(d).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Short timeouts so that failures resolve fast.
pub const FAST: [&str; 12] = [
    "--prediction-timeout",
    "1.5",
    "--poll-interval",
    "0.05",
    "--retry-base-ms",
    "50",
    "--prefer-wait",
    "1",
    "--request-timeout",
    "10",
    "--quiet",
    "--verbose",
];

pub fn only_run_dir(dir: &Path) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        v.len(),
        1,
        "one run folder expected in {}: {v:?}",
        dir.display()
    );
    v.into_iter().next().unwrap()
}

pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn assert_token_in_no_file(dir: &Path) {
    for f in all_files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token leaked into {}",
            f.display()
        );
    }
}

pub fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `chromium --headless --dump-dom` of a local HTML file, or `None` when Chromium is missing.
pub fn chromium_dom(html: &Path) -> Option<String> {
    let exe = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}
