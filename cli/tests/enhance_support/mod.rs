//! Test helpers for the enhance-* binaries: a chat-completions server on 127.0.0.1 with scripted
//! replies per agent role, and a runner that isolates the binary from the caller's environment.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "sk-test-SECRET-9f8e7d";

#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this assistant content and usage (prompt 1000, completion 500 tokens).
    Chat(String),
    /// 200 without a usage field.
    ChatNoUsage(String),
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Sleep this long, then close without answering.
    Hang(Duration),
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub role: String,
    pub body: serde_json::Value,
    pub authorization: Option<String>,
    pub at: Instant,
}

#[derive(Clone)]
pub struct MockLlm {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    queues: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
}

pub fn scores_json(v: [f64; 6], keys: [&str; 6]) -> String {
    let scores: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .zip(v)
        .map(|(k, x)| (k.to_string(), serde_json::json!(x)))
        .collect();
    serde_json::json!({"scores": scores, "feedback": "Add lighting and a camera move.", "suggestions": ["Add a lens."]})
        .to_string()
}

pub const VIDEO_KEYS: [&str; 6] = [
    "completeness",
    "specificity",
    "professionalism",
    "cinematography",
    "temporal_coherence",
    "brand_alignment",
];
pub const IMAGE_KEYS: [&str; 6] = [
    "framing",
    "subject",
    "lighting",
    "lens",
    "composition",
    "style",
];

/// A critique whose six scores all equal `x` (so the weighted overall is `x`).
pub fn video_critique(x: f64) -> Reply {
    Reply::Chat(scores_json([x; 6], VIDEO_KEYS))
}
pub fn image_critique(x: f64) -> Reply {
    Reply::Chat(scores_json([x; 6], IMAGE_KEYS))
}

pub const DEFAULT_DIRECTOR: &str = "Wide establishing shot, slow tracking shot: a cat walks along a beach at golden hour, cinematic style, serene mood.";
pub const DEFAULT_PLAN: &str = r#"{"shots":[{"shot_id":"S1","description":"cat on the beach","camera":{"shot_size":"wide shot","movement":"tracking","angle":"eye-level","lens":"35mm"},"duration_seconds":3.0,"entities":["cat"]},{"shot_id":"S2","description":"cat walks","camera":{"shot_size":"medium shot","movement":"tracking"},"duration_seconds":2.5}],"scene_dependencies":[{"from":"S1","to":"S2","relation":"continues action"}],"narrative_flow":"establish then follow","consistency_groups":[{"group_id":"G1","entity":"cat","shots":["S1","S2"],"attributes":"same fur"}]}"#;

impl MockLlm {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let me = MockLlm {
            base_url,
            requests: Arc::default(),
            queues: Arc::default(),
        };
        let srv = me.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let srv = srv.clone();
                std::thread::spawn(move || srv.handle(stream));
            }
        });
        me
    }

    /// Queue replies for a role: "director", "prompt_engineer" or "videodirectorgpt_planner".
    pub fn push(&self, role: &str, replies: impl IntoIterator<Item = Reply>) {
        self.queues
            .lock()
            .unwrap()
            .entry(role.to_string())
            .or_default()
            .extend(replies);
    }

    pub fn requests_for(&self, role: &str) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.role == role)
            .cloned()
            .collect()
    }

    fn handle(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut len = 0usize;
        let mut auth = None;
        let mut line = String::new();
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
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("authorization") {
                    auth = Some(v.trim().to_string());
                }
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let system = body
            .pointer("/messages/0/content")
            .and_then(|c| c.as_str())
            .unwrap_or("")
            .to_string();
        let role = system
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("ROLE: "))
            .unwrap_or("unknown")
            .to_string();
        self.requests.lock().unwrap().push(Recorded {
            role: role.clone(),
            body,
            authorization: auth,
            at: Instant::now(),
        });
        let reply = self
            .queues
            .lock()
            .unwrap()
            .get_mut(&role)
            .and_then(|q| q.pop_front());
        let reply = reply.unwrap_or_else(|| match role.as_str() {
            "prompt_engineer" => {
                if system.contains("temporal_coherence") {
                    video_critique(90.0)
                } else {
                    image_critique(90.0)
                }
            }
            "videodirectorgpt_planner" => Reply::Chat(DEFAULT_PLAN.into()),
            _ => Reply::Chat(DEFAULT_DIRECTOR.into()),
        });
        let (code, headers, text) = match reply {
            Reply::Chat(c) => (200, vec![], chat_body(&c, true)),
            Reply::ChatNoUsage(c) => (200, vec![], chat_body(&c, false)),
            Reply::Status {
                code,
                headers,
                body,
            } => (code, headers, body),
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
        };
        let mut head = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            text.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.flush();
    }
}

fn chat_body(content: &str, usage: bool) -> String {
    let mut v = serde_json::json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    });
    if usage {
        v["usage"] = serde_json::json!({"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500});
    }
    v.to_string()
}

pub fn status(code: u16, body: &str) -> Reply {
    Reply::Status {
        code,
        headers: vec![],
        body: body.into(),
    }
}

/// Runs `bin` in `cwd` with a clean environment (no OPENAI_* unless given) and optional stdin.
pub fn run_bin(
    bin: &str,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Output {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("VBENCH_LLM_PRICES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The single timestamped trace folder under `dir`.
pub fn only_trace(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "expected one trace folder in {}: {entries:?}",
        dir.display()
    );
    entries.into_iter().next().unwrap()
}

pub fn summary(trace: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(trace.join("prompt_trace_summary.json")).unwrap())
        .unwrap()
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file under `dir`, recursively.
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

pub fn assert_key_in_no_file(dir: &Path) {
    for f in all_files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(KEY),
            "the API key leaked into {}",
            f.display()
        );
    }
}
