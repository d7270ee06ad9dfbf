//! A loopback server speaking the part of Replicate's predictions API that `generate-images`
//! uses (create through the models endpoint, answered at once as `succeeded`, and output
//! downloads), serving PNGs the test makes. Requests are recorded for assertions.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

pub struct Server {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

/// Starts the server. Prediction `k` (0-based, over successful creates) returns `pngs[k % n]`.
/// Creates for a model whose `owner/name` is in `refuse` get HTTP 422.
pub fn start(pngs: Vec<Vec<u8>>, refuse: Vec<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    let base2 = base.clone();
    std::thread::spawn(move || {
        let mut made = 0usize;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut len = 0usize;
            let mut auth = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            reqs.lock().unwrap().push(Request {
                method: method.clone(),
                path: path.clone(),
                authorization: auth,
                body,
            });
            let (status, ctype, payload): (u16, &str, Vec<u8>) = if method == "POST"
                && path.starts_with("/v1/models/")
                && path.ends_with("/predictions")
            {
                let model = path
                    .trim_start_matches("/v1/models/")
                    .trim_end_matches("/predictions")
                    .to_string();
                if refuse.contains(&model) {
                    (
                        422,
                        "application/json",
                        br#"{"detail":"invalid input"}"#.to_vec(),
                    )
                } else {
                    let k = made;
                    made += 1;
                    let v = serde_json::json!({
                        "id": format!("pred{k}"), "status": "succeeded",
                        "output": [format!("{base2}/files/out{k}.png")],
                        "metrics": {"predict_time": 1.5}, "error": null});
                    (201, "application/json", v.to_string().into_bytes())
                }
            } else if method == "GET" && path.starts_with("/files/out") {
                let k: usize = path
                    .trim_start_matches("/files/out")
                    .trim_end_matches(".png")
                    .parse()
                    .unwrap_or(0);
                (200, "image/png", pngs[k % pngs.len()].clone())
            } else {
                (404, "text/plain", b"not found".to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&payload);
            let _ = stream.flush();
        }
    });
    Server { base, requests }
}

/// A w×h PNG of a smooth pattern seeded by `seed`.
pub fn png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = |k: u32| ((x * (3 + seed + k) + y * (5 + 2 * seed + k) + 40 * seed) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "generate-images" => PathBuf::from(env!("CARGO_BIN_EXE_generate-images")),
        "create-storyboard" => PathBuf::from(env!("CARGO_BIN_EXE_create-storyboard")),
        "enhance-video-prompt" => PathBuf::from(env!("CARGO_BIN_EXE_enhance-video-prompt")),
        other => panic!("unknown binary {other}"),
    }
}

/// The single run folder under `out`.
pub fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}
