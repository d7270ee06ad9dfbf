//! The terminal side shared by the generation tools: the [`Ui`] they print and ask through,
//! the async runtime they run in, and option checks.

use std::future::Future;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use vbench_generate::videos::Ui;

/// Notices to stderr, steps to stderr with `--verbose`, results to stdout, questions on
/// stdin (`None` at end of input, or always when `interactive` is off).
pub struct ConsoleUi {
    pub verbose: bool,
    pub interactive: bool,
}

impl Ui for ConsoleUi {
    fn notice(&self, msg: &str) {
        eprintln!("{msg}");
    }
    fn step(&self, msg: &str) {
        if self.verbose {
            eprintln!("{msg}");
        }
    }
    fn print(&self, msg: &str) {
        println!("{msg}");
    }
    fn ask(&self, question: &str) -> Option<String> {
        if !self.interactive {
            return None;
        }
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

/// Runs a tool's async body on a two-worker runtime (the generation runs need a
/// multi-threaded one); an error is printed and exits 2.
pub fn run_main<F>(body: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(body) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A positive, finite number of seconds from an option.
pub fn secs(x: f64, what: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        x.is_finite() && x > 0.0,
        "{what} must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(x))
}

/// `--fallback-models`: `None` → the default chain, `none` or empty → no fallback, else the
/// comma-separated list; every name must be `owner/name[:version]`.
pub fn fallback_models(arg: Option<&str>, default: Vec<String>) -> anyhow::Result<Vec<String>> {
    let models: Vec<String> = match arg {
        None => default,
        Some(s) if s.trim().eq_ignore_ascii_case("none") || s.trim().is_empty() => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect(),
    };
    for m in &models {
        vbench_generate::replicate::split_model(m)?;
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(secs(1.5, "--x").unwrap(), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = secs(bad, "--timeout").unwrap_err().to_string();
            assert!(e.contains("--timeout"), "{e}");
        }
    }

    #[test]
    fn fallback_lists_default_none_and_commas() {
        let d = vec!["a/b".to_string()];
        assert_eq!(fallback_models(None, d.clone()).unwrap(), d);
        assert!(fallback_models(Some(" None "), d.clone())
            .unwrap()
            .is_empty());
        assert!(fallback_models(Some(""), d.clone()).unwrap().is_empty());
        assert_eq!(
            fallback_models(Some("x/y, z/w:v1,"), d.clone()).unwrap(),
            ["x/y", "z/w:v1"]
        );
        assert!(fallback_models(Some("not-a-model"), d).is_err());
    }

    #[test]
    fn a_non_interactive_console_never_reads_stdin() {
        let ui = ConsoleUi {
            verbose: false,
            interactive: false,
        };
        assert_eq!(ui.ask("continue? "), None);
    }
}
