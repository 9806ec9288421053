//! Only files inside the notebook's project folder, symlinks resolved, reach the service, and
//! never a secret: each case fails with exit code 1 and an error naming the path, cell and line,
//! and leaves an existing output folder as it was.

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::{nb2svc, write_notebook};

/// A project folder (a git work tree) inside a temporary folder, with a file outside it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proj/.git")).unwrap();
        fs::create_dir(dir.path().join("host")).unwrap();
        fs::write(
            dir.path().join("host/shadow"),
            "root:$6$secret:19000::::::\n",
        )
        .unwrap();
        Project { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    fn host_file(&self) -> PathBuf {
        fs::canonicalize(self.dir.path().join("host/shadow")).unwrap()
    }

    fn file(&self, relative: &str, text: &str) {
        let path = self.root().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Writes a notebook with these code cells at the top of the project.
    fn notebook(&self, cells: &[&str]) -> PathBuf {
        write_notebook(self.root().join("nb.ipynb"), cells)
    }

    /// An output folder holding one file of the user's.
    fn existing_output(&self) -> PathBuf {
        let out = self.dir.path().join("svc");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("notes.txt"), "mine\n").unwrap();
        out
    }

    /// Runs nb2svc with `args` on the notebook into an existing output, and expects exit code
    /// 1, an error that contains each of `expected`, and the output left as it was.
    fn refused(&self, cells: &[&str], args: &[&str], expected: &[&str]) {
        let path = self.notebook(cells);
        let out = self.existing_output();
        let mut stderr = predicate::str::starts_with("error: ").boxed();
        for text in expected {
            stderr = stderr.and(predicate::str::contains(*text)).boxed();
        }
        nb2svc()
            .current_dir(self.root())
            .arg(&path)
            .args(args)
            .arg("-o")
            .arg(&out)
            .arg("-q")
            .assert()
            .code(1)
            .stderr(stderr);
        assert_untouched(&out);
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// The output folder still holds only the user's file, and nothing is staged beside it.
fn assert_untouched(out: &Path) {
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(out), ["notes.txt"], "the output folder changed");
    let staged: Vec<_> = names(out.parent().unwrap())
        .into_iter()
        .filter(|n| n.contains(".nb2svc-"))
        .collect();
    assert!(staged.is_empty(), "staging files left: {staged:?}");
}

#[cfg(unix)]
#[test]
fn a_symlink_in_the_project_to_a_host_file_is_an_error() {
    let project = Project::new();
    symlink(&project.host_file(), &project.root().join("linked.csv"));
    let read = "import pandas as pd\ndf = pd.read_csv('linked.csv')\n";
    project.refused(
        &["x = 1\n", read],
        &[],
        &[
            "cell 2, line 2: reads `linked.csv`, a symlink to",
            &format!(
                "{}, outside the notebook's project folder",
                project.host_file().display()
            ),
        ],
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_inside_an_included_folder_is_an_error() {
    let project = Project::new();
    project.file("data/a.csv", "a\n1\n");
    symlink(&project.host_file(), &project.root().join("data/b.csv"));
    project.refused(
        &["import os\nfiles = os.listdir('data')\nimport pandas as pd\ndf = pd.read_csv('data/a.csv')\nall = [open(p) for p in ['data']]\n"],
        &["--include", "data"],
        &["--include: `data/b.csv` resolves to", "(through a symlink)"],
    );
}

#[test]
fn reading_a_host_file_through_dot_dot_is_an_error() {
    let project = Project::new();
    project.refused(
        &["x = open('../host/shadow').read()\n"],
        &[],
        &[
            "cell 1, line 1: reads `../host/shadow`, which is",
            "outside the notebook's project folder",
            "--root DIR",
        ],
    );
}

#[test]
fn deep_dot_dot_to_etc_passwd_is_an_error() {
    let project = Project::new();
    let up = "../".repeat(40);
    let cell = format!("x = open('{up}etc/passwd').read()\n");
    if Path::new("/etc/passwd").exists() {
        project.refused(
            &[&cell],
            &[],
            &["cell 1, line 1: reads `", "which is /etc/passwd, outside"],
        );
    }
}

#[test]
fn widening_the_root_ships_the_file_above() {
    let project = Project::new();
    let path = project.notebook(&["x = open('../host/shadow').read()\n"]);
    let out = project.dir.path().join("svc");
    nb2svc()
        .arg(&path)
        .arg("--root")
        .arg(project.dir.path())
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .assert()
        .success();
    assert!(out.join("data/host/shadow").is_file());
}

#[test]
fn reading_a_secret_by_name_is_an_error_that_says_what_to_do() {
    let project = Project::new();
    project.file(".env", "TOKEN=abc\n");
    project.file("id_rsa", "not really\n");
    project.file("config/credentials.json", "{}\n");
    for (cell, shown, rule) in [
        ("import os\nt = open('.env').read()\n", ".env", "`.env*`"),
        ("k = open('id_rsa').read()\n", "id_rsa", "`id_rsa*`"),
        (
            "import json\nc = json.load(open('config/credentials.json'))\n",
            "config/credentials.json",
            "`credentials*.json`",
        ),
        (
            "from pathlib import Path\nk = Path('id_rsa').read_text()\n",
            "id_rsa",
            "`id_rsa*`",
        ),
        (
            "x = open('.aws/config').read()\n",
            ".aws/config",
            "anything under `.aws/`",
        ),
    ] {
        let line = cell.lines().count();
        project.refused(
            &[cell],
            &[],
            &[
                &format!("cell 1, line {line}: reads `{shown}`, a secret by its name ({rule})"),
                "secrets are never copied into the service's image",
                "environment variable",
                "compose `secrets:` or a bind mount",
            ],
        );
    }
}

#[test]
fn a_private_key_is_refused_by_its_content() {
    let project = Project::new();
    project.file(
        "notes.txt",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    project.refused(
        &["x = open('notes.txt').read()\n"],
        &[],
        &["cell 1, line 1: `notes.txt` holds a private key"],
    );
}

#[test]
fn writefile_of_a_secret_is_an_error_naming_the_cell() {
    let project = Project::new();
    project.refused(
        &["x = 1\n", "%%writefile .env\nTOKEN=abc\n"],
        &[],
        &["cell 2, line 1: `%%writefile .env` writes a secret by its name (`.env*`)"],
    );
    project.refused(
        &["%%writefile conf/deploy.txt\n-----BEGIN RSA PRIVATE KEY-----\nMII\n"],
        &[],
        &["`%%writefile conf/deploy.txt` writes a private key"],
    );
}

#[cfg(unix)]
#[test]
fn include_outside_the_project_is_an_error_after_resolving_symlinks() {
    let project = Project::new();
    let host = project.host_file();
    project.refused(
        &["x = 1\n"],
        &["--include", host.to_str().unwrap()],
        &[&format!(
            "--include {} is {}, outside the notebook's project folder",
            host.display(),
            host.display()
        )],
    );
    symlink(&host, &project.root().join("innocent.csv"));
    project.refused(
        &["x = 1\n"],
        &["--include", "innocent.csv"],
        &[
            &format!("--include innocent.csv is {}, outside", host.display()),
            "once symlinks are resolved",
        ],
    );
    project.file("deploy.pem", "cert\n");
    project.refused(
        &["x = 1\n"],
        &["--include", "deploy.pem"],
        &["--include: `deploy.pem` is a secret by its name (`*.pem`)"],
    );
}

#[test]
fn the_dockerignore_keeps_secrets_out_at_any_depth() {
    let project = Project::new();
    project.file("data.csv", "a\n1\n");
    let path = project.notebook(&["import pandas as pd\ndf = pd.read_csv('data.csv')\n"]);
    let out = project.dir.path().join("svc");
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .assert()
        .success();
    assert!(out.join("data/data.csv").is_file());
    let ignore = fs::read_to_string(out.join(".dockerignore")).unwrap();
    let lines: Vec<&str> = ignore.lines().collect();
    for pattern in [
        ".env",
        "**/.env",
        "**/.env.*",
        "**/*.pem",
        "**/*.key",
        "**/id_rsa*",
        "**/id_ed25519*",
        "**/.netrc",
        "**/credentials*.json",
        "**/.aws",
        "**/.ssh",
        "**/.kube",
        "**/.git-credentials",
        "**/__pycache__",
        "data/.nb2svc",
    ] {
        assert!(
            lines.contains(&pattern),
            "{pattern} missing from:\n{ignore}"
        );
    }
}
