//! A mutation fuzzer for the three parsers that read what users hand nb2svc: the notebook
//! reader (with the cell extraction and the Python analysis behind it), the requirements
//! parser, and the `docker run` parser with its conversion to compose. Each input is a seed
//! from the fixtures and the corpus, mutated by a seeded generator (bytes flipped, inserted,
//! deleted, repeated, spliced with another seed, and hostile fragments: deep nesting, quotes,
//! NULs, long runs). A parser may return an error for any of them; it must never panic.
//!
//! `cargo test` runs each target for a second; `scripts/fuzz.sh SECONDS` runs it longer and prints the
//! executions and crashes (`NB2SVC_FUZZ_SECONDS`, `NB2SVC_FUZZ_SEED`). This is the
//! "equivalent harness" to `cargo fuzz`, which needs a nightly compiler and libFuzzer: a
//! stable, dependency-free loop that any CI machine runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{corpus, root};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that have broken parsers of this kind before.
const HOSTILE: &[&[u8]] = &[
    b"\"\"\"",
    b"'''",
    b"\\",
    b"\n",
    b"\r",
    b"\0",
    b"\xff\xfe",
    b"{{",
    b"[[[[[[[[[[[[[[[[",
    b"((((((((((((((((",
    b"-------------------",
    b"\\u0000",
    b"\\ud800",
    b"${HOME}",
    b"`id`",
    b"%%writefile ../x\n",
    b"!pip install -r /dev/zero\n",
    b"-r ../../etc/passwd\n",
    b"--mount type=bind,src=",
    b"-v ::::",
    b"\xe2\x80\xa8",
    b"1e999",
];

fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if !data.is_empty() => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                let fragment = HOSTILE[rng.below(HOSTILE.len())];
                data.splice(at..at, fragment.iter().copied());
            }
            4 => {
                let fragment = HOSTILE[rng.below(HOSTILE.len())];
                let times = 1 + rng.below(2000);
                let repeated: Vec<u8> = fragment.repeat(times);
                data.splice(at..at, repeated);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let to = (from + rng.below(512)).min(other.len());
                    data.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => data.truncate(at),
        }
    }
    data
}

/// Seeds: every file with one of `extensions` under `dirs`, read whole (up to 2 MB each).
fn seeds(dirs: &[PathBuf], extensions: &[&str]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().filter(|d| d.exists()).cloned().collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if matches_extension(&path, extensions) {
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.len() <= 2 << 20 {
                        found.push(bytes);
                    }
                }
            }
        }
    }
    found
}

fn matches_extension(path: &Path, extensions: &[&str]) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    extensions.iter().any(|e| name.ends_with(e))
}

/// What one target does with an input; an `Err` is a fine answer, a panic is a crash.
type Target = fn(&[u8]);

fn notebook_target(bytes: &[u8]) {
    if let Ok(notebook) = nb2svc::readers::parse_notebook(bytes) {
        if let Ok(extraction) = nb2svc::readers::extract(&notebook) {
            for cell in &extraction.cells {
                let _ = nb2svc::readers::analyze(&cell.code);
            }
        }
    }
}

fn requirements_target(bytes: &[u8]) {
    let path = Path::new("requirements.txt");
    if let Ok(text) = nb2svc::readers::decode(bytes, path) {
        let mut includes = |_: &Path| -> anyhow::Result<String> { Ok(String::from("numpy\n")) };
        let _ = nb2svc::readers::parse_requirements_txt(&text, path, &mut includes);
    }
}

fn docker_run_target(bytes: &[u8]) {
    let line = String::from_utf8_lossy(bytes);
    if let Ok(words) = nb2svc::readers::parse_command_line(&line) {
        if let Ok(conversion) = nb2svc::readers::convert_docker_run(&words) {
            let _ = nb2svc::readers::render_compose(&conversion);
        }
    }
}

/// Runs every target for `budget` in turn; returns (target, executions, crashing inputs).
fn fuzz(budget: Duration, seed: u64) -> Vec<(&'static str, u64, Vec<Vec<u8>>)> {
    let fixtures = root().join("tests/fixtures");
    let mut dirs = vec![fixtures.clone(), root().join("examples")];
    dirs.extend(corpus());
    let targets: [(&str, Target, Vec<Vec<u8>>); 3] = [
        ("notebook", notebook_target, seeds(&dirs, &[".ipynb"])),
        (
            "requirements",
            requirements_target,
            seeds(&dirs, &["requirements.txt", ".txt", ".in"]),
        ),
        (
            "docker run",
            docker_run_target,
            seeds(
                &[fixtures.join("docker_run"), fixtures.join("cli")],
                &[".sh"],
            ),
        ),
    ];
    let mut results = Vec::new();
    let mut rng = Rng(seed | 1);
    for (name, target, mut seeds) in targets {
        if seeds.is_empty() {
            seeds.push(b"docker run -p 8888:8888 -v $PWD:/work image".to_vec());
        }
        let (mut runs, mut crashes) = (0u64, Vec::new());
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            let pick = rng.below(seeds.len());
            let input = mutate(&mut rng, &seeds[pick], &seeds);
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() && crashes.len() < 5 {
                crashes.push(input);
            }
            runs += 1;
        }
        results.push((name, runs, crashes));
    }
    results
}

fn seconds() -> u64 {
    std::env::var("NB2SVC_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[test]
fn parsers_never_panic_on_mutated_inputs() {
    let seed = std::env::var("NB2SVC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6e62_3273_7663);
    let results = fuzz(Duration::from_secs(seconds()), seed);
    let mut crashed = Vec::new();
    for (name, runs, crashes) in &results {
        eprintln!("fuzz {name}: {runs} executions, {} crashes", crashes.len());
        assert!(*runs > 0, "{name} ran");
        for input in crashes {
            let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
            crashed.push(format!(
                "{name} panicked on {} bytes: {shown:?}",
                input.len()
            ));
        }
    }
    assert!(crashed.is_empty(), "seed {seed}:\n{}", crashed.join("\n"));
}
