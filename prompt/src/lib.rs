//! vbench-prompt: the LLM client and the two-agent prompt enhancement loops
//! (`enhance-video-prompt`, `enhance-image-prompt`).
pub mod error;
pub mod llm;
pub mod pricing;
