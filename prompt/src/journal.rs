//! A journal of finished chat completions, so that a resumed workflow does not pay for the
//! LLM calls its interrupted run had already made ([`crate::llm::HttpLlm::set_journal`]).
//!
//! Every finished call appends its request (model, messages, JSON mode, temperature) and its
//! reply (content, usage, attempts, seconds) to a JSON file, rewritten atomically after each
//! call. A journal opened for replay answers the calls of the new run in order: the n-th call
//! gets the n-th recorded reply when its request is the same; from the first call that differs
//! (or once the recorded calls are used up) every call goes to the server, and the entries after
//! that point are dropped (they belong to a conversation that is not repeated).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::llm::{ChatReply, ChatRequest, Role, Usage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RequestKey {
    model: String,
    /// `[role, content]` pairs.
    messages: Vec<[String; 2]>,
    json: bool,
    /// Formatted, so that the comparison after a JSON round trip is exact.
    temperature: Option<String>,
}

impl RequestKey {
    fn of(req: &ChatRequest) -> Self {
        Self {
            model: req.model.clone(),
            messages: req
                .messages
                .iter()
                .map(|m| {
                    let role = match m.role {
                        Role::System => "system",
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    };
                    [role.to_string(), m.content.clone()]
                })
                .collect(),
            json: req.json,
            temperature: req.temperature.map(|t| format!("{t:?}")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    request: RequestKey,
    content: String,
    usage: Usage,
    attempts: u32,
    elapsed_seconds: f64,
    json_mode: bool,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    /// Calls of this run so far.
    next: usize,
    /// A call differed from the journal: no more replays.
    diverged: bool,
    replayed: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct ChatJournal {
    path: PathBuf,
    state: Mutex<State>,
}

impl ChatJournal {
    /// A journal written to `path`; with `replay`, the calls recorded there (a missing file
    /// = none) are answered from it. A file that is not a journal is an error.
    pub fn open(path: &Path, replay: bool) -> Result<Self, String> {
        let mut entries = Vec::new();
        if replay {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    #[derive(Deserialize)]
                    struct File {
                        calls: Vec<Entry>,
                    }
                    let f: File = serde_json::from_str(&text)
                        .map_err(|e| format!("{}: not an LLM call journal: {e}", path.display()))?;
                    entries = f.calls;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                entries,
                ..State::default()
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many calls were answered from the journal.
    pub fn replayed(&self) -> usize {
        self.state().replayed
    }

    /// The recorded reply of this call, when it is the next recorded one with the same request.
    pub fn replay(&self, req: &ChatRequest) -> Option<ChatReply> {
        let mut st = self.state();
        if st.diverged {
            return None;
        }
        let n = st.next;
        let hit = st
            .entries
            .get(n)
            .filter(|e| e.request == RequestKey::of(req))
            .cloned();
        match hit {
            Some(e) => {
                st.next += 1;
                st.replayed += 1;
                Some(ChatReply {
                    content: e.content,
                    usage: e.usage,
                    attempts: e.attempts,
                    elapsed: Duration::from_secs_f64(e.elapsed_seconds.max(0.0)),
                    json_mode: e.json_mode,
                })
            }
            None => {
                st.diverged = true;
                st.entries.truncate(n);
                None
            }
        }
    }

    /// Appends a finished call and rewrites the file atomically.
    pub fn record(&self, req: &ChatRequest, reply: &ChatReply) -> Result<(), String> {
        let mut st = self.state();
        st.diverged = true;
        let n = st.next;
        st.entries.truncate(n);
        st.entries.push(Entry {
            request: RequestKey::of(req),
            content: reply.content.clone(),
            usage: reply.usage,
            attempts: reply.attempts,
            elapsed_seconds: reply.elapsed.as_secs_f64(),
            json_mode: reply.json_mode,
        });
        st.next += 1;
        let text = serde_json::to_string_pretty(&serde_json::json!({ "calls": st.entries }))
            .map_err(|e| e.to_string())?;
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let write =
            std::fs::write(&tmp, text + "\n").and_then(|_| std::fs::rename(&tmp, &self.path));
        write.map_err(|e| {
            format!(
                "cannot write the LLM call journal {}: {e}",
                self.path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Message;

    fn req(s: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::system("sys"), Message::user(s)],
            json: false,
            temperature: Some(0.7),
        }
    }

    fn reply(s: &str) -> ChatReply {
        ChatReply {
            content: s.into(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15,
                reported: true,
            },
            attempts: 1,
            elapsed: Duration::from_millis(250),
            json_mode: false,
        }
    }

    #[test]
    fn replays_in_order_until_a_request_differs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.json");
        let j = ChatJournal::open(&p, false).unwrap();
        assert!(j.replay(&req("a")).is_none());
        j.record(&req("a"), &reply("A")).unwrap();
        j.record(&req("b"), &reply("B")).unwrap();
        j.record(&req("c"), &reply("C")).unwrap();

        let j = ChatJournal::open(&p, true).unwrap();
        let r = j.replay(&req("a")).unwrap();
        assert_eq!(r.content, "A");
        assert_eq!(r.usage.total_tokens, 15);
        assert_eq!(j.replay(&req("b")).unwrap().content, "B");
        // "c" was not asked next: the rest is dropped and the calls go to the server
        assert!(j.replay(&req("x")).is_none());
        assert!(j.replay(&req("c")).is_none());
        j.record(&req("x"), &reply("X")).unwrap();
        assert_eq!(j.replayed(), 2);

        let j = ChatJournal::open(&p, true).unwrap();
        for (q, a) in [("a", "A"), ("b", "B"), ("x", "X")] {
            assert_eq!(j.replay(&req(q)).unwrap().content, a);
        }
        assert!(j.replay(&req("c")).is_none());
        // without replay nothing is answered, and a damaged file is refused
        assert!(ChatJournal::open(&p, false)
            .unwrap()
            .replay(&req("a"))
            .is_none());
        std::fs::write(&p, "{").unwrap();
        assert!(ChatJournal::open(&p, true)
            .unwrap_err()
            .contains("not an LLM call journal"));
    }
}
