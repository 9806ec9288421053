//! The orchestrators' files (`--kubernetes`, `--swarm`): snapshots, the Kubernetes schema
//! (`kubernetes-validate`), checkov's Kubernetes checks and `docker stack config`, over every
//! fixture case, the deploy fixtures and the penguins example both ways of training. The swarm
//! stack running for real is in `swarm.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{files_under, nb2svc, output_text, root, tool_or_skip, works};

const FLAGS: [&str; 2] = ["--kubernetes", "--swarm"];

/// Every file under `deploy/` and the README's deployment section, as one listing.
fn deploy_listing(out: &Path) -> String {
    let mut listing = String::new();
    for file in files_under(out) {
        if file.starts_with("deploy/") {
            let text = fs::read_to_string(out.join(&file)).unwrap();
            listing.push_str(&format!("===== {file} =====\n{text}\n"));
        }
    }
    let readme = fs::read_to_string(out.join("README.md")).unwrap();
    let start = readme
        .find("## Deploy to")
        .expect("the README's deploy section");
    let end = readme[start..]
        .find("## When the notebook's code runs")
        .map_or(readme.len(), |i| start + i);
    listing.push_str(&format!(
        "===== README.md (deploy section) =====\n{}",
        &readme[start..end]
    ));
    listing
}

/// Runs nb2svc on a fixture case (named after its folder, rooted there) with `extra` arguments.
fn generate_case(notebook: &Path, out: &Path, extra: &[&str]) {
    let case = notebook.parent().unwrap();
    let mut command = nb2svc();
    command
        .arg(notebook)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .arg("--name")
        .arg(case.file_name().unwrap())
        .arg("--root")
        .arg(case)
        .args(extra);
    let requirements = case.join("requirements.txt");
    if requirements.exists() {
        command.arg("--requirements").arg(&requirements);
    }
    command.assert().success();
}

#[test]
fn deploy_files_match_snapshots() {
    insta::glob!(
        "../fixtures",
        "{cases,deploy}/*/notebook.ipynb",
        |notebook| {
            let out = tempfile::tempdir().unwrap();
            generate_case(notebook, out.path(), &FLAGS);
            insta::assert_snapshot!(deploy_listing(out.path()));
        }
    );
}

#[test]
fn penguins_deploy_files_match_snapshots_both_ways_of_training() {
    let example = root().join("examples/penguins");
    for (name, extra) in [
        ("penguins_train_at_build", vec![]),
        (
            "penguins_train_at_start",
            vec!["--train-at", "start", "--container-port", "8080"],
        ),
    ] {
        let out = tempfile::tempdir().unwrap();
        nb2svc()
            .arg(example.join("penguins.ipynb"))
            .arg("-r")
            .arg(example.join("requirements.txt"))
            .arg("-o")
            .arg(out.path())
            .args(["-q", "--replicas", "3"])
            .args(FLAGS)
            .args(&extra)
            .assert()
            .success();
        insta::assert_snapshot!(name, deploy_listing(out.path()));
    }
}

/// Without the flags nothing under `deploy/` is written, and the README has no such section.
#[test]
fn no_deploy_files_unless_asked() {
    let example = root().join("examples/penguins");
    let out = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(example.join("penguins.ipynb"))
        .arg("-o")
        .arg(out.path())
        .arg("-q")
        .assert()
        .success();
    assert!(!out.path().join("deploy").exists());
    let readme = fs::read_to_string(out.path().join("README.md")).unwrap();
    assert!(!readme.contains("## Deploy to"), "{readme}");
    let swarm_only = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(example.join("penguins.ipynb"))
        .arg("-o")
        .arg(swarm_only.path())
        .args(["-q", "--swarm"])
        .assert()
        .success();
    assert_eq!(
        files_under(&swarm_only.path().join("deploy")),
        vec!["swarm/stack.yaml"]
    );
}

#[test]
fn zero_replicas_is_refused() {
    let example = root().join("examples/penguins");
    let out = tempfile::tempdir().unwrap();
    let output = nb2svc()
        .arg(example.join("penguins.ipynb"))
        .arg("-o")
        .arg(out.path())
        .args(["--kubernetes", "--replicas", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output_text(&output).contains("--replicas"), "{output:?}");
    assert!(!out.path().join("README.md").exists());
}

/// The credential the deploy fixture writes in its code is in no file of `deploy/`: the
/// Deployment names the Secret's key, and the stack reads `.env`.
#[test]
fn credentials_are_references_never_values() {
    let notebook = root().join("tests/fixtures/deploy/settings_and_credentials/notebook.ipynb");
    let out = tempfile::tempdir().unwrap();
    generate_case(&notebook, out.path(), &FLAGS);
    let deploy = out.path().join("deploy");
    for file in files_under(&deploy) {
        let text = fs::read_to_string(deploy.join(&file)).unwrap();
        assert!(!text.contains("0123456789abcdef"), "{file} holds the value");
    }
    let deployment: serde_yaml::Value = serde_yaml::from_str(
        &fs::read_to_string(deploy.join("kubernetes/deployment.yaml")).unwrap(),
    )
    .unwrap();
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let api_key = env
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "API_KEY")
        .expect("API_KEY in env");
    assert_eq!(
        api_key["valueFrom"]["secretKeyRef"]["name"],
        "settings-and-credentials-credentials"
    );
    assert_eq!(api_key["valueFrom"]["secretKeyRef"]["optional"], false);
    let stack: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(deploy.join("swarm/stack.yaml")).unwrap())
            .unwrap();
    let service = &stack["services"]["settings-and-credentials"];
    assert_eq!(service["env_file"][0], "../../.env");
    // Compose would interpolate `$USER`; the stack keeps the notebook's default as written.
    assert_eq!(
        service["environment"]["GREETING"],
        "hi $$USER: \"quoted\"\nkind: Secret"
    );
}

/// The generated projects the manifest checks look at: every fixture case, the deploy
/// fixtures, and the penguins example both ways of training. Each is `(label, folder)`.
fn generated_projects(all: &Path) -> Vec<(String, PathBuf)> {
    let mut notebooks: Vec<PathBuf> = ["cases", "deploy"]
        .iter()
        .flat_map(|group| fs::read_dir(root().join("tests/fixtures").join(group)).unwrap())
        .map(|entry| entry.unwrap().path().join("notebook.ipynb"))
        .collect();
    notebooks.sort();
    let mut projects = Vec::new();
    for notebook in notebooks {
        let label = notebook
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = all.join(&label);
        generate_case(&notebook, &out, &FLAGS);
        projects.push((label, out));
    }
    let example = root().join("examples/penguins");
    for (label, extra) in [
        ("penguins", vec![]),
        ("penguins-start", vec!["--train-at", "start"]),
    ] {
        let out = all.join(label);
        nb2svc()
            .arg(example.join("penguins.ipynb"))
            .arg("-r")
            .arg(example.join("requirements.txt"))
            .arg("-o")
            .arg(&out)
            .arg("-q")
            .args(FLAGS)
            .args(&extra)
            .assert()
            .success();
        projects.push((label.to_string(), out));
    }
    projects
}

/// Every manifest validates against the schema of a current Kubernetes (kubernetes-validate's
/// newest, strict: no field the API does not know), and each kustomization lists exactly the
/// folder's other files.
#[test]
fn every_generated_manifest_validates_against_the_kubernetes_schema() {
    let test = "every_generated_manifest_validates_against_the_kubernetes_schema";
    if !tool_or_skip(
        test,
        works("kubernetes-validate", &["--version"]),
        "kubernetes-validate (pip install kubernetes-validate)",
    ) {
        return;
    }
    let all = tempfile::tempdir().unwrap();
    let projects = generated_projects(all.path());
    let mut manifests = Vec::new();
    for (label, out) in &projects {
        let folder = out.join("deploy/kubernetes");
        let kustomization: serde_yaml::Value =
            serde_yaml::from_str(&fs::read_to_string(folder.join("kustomization.yaml")).unwrap())
                .unwrap();
        let mut listed: Vec<&str> = kustomization["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        listed.sort();
        let mut present: Vec<String> = files_under(&folder);
        present.retain(|f| f != "kustomization.yaml");
        assert_eq!(listed, present, "{label}: the kustomization's resources");
        manifests.extend(present.iter().map(|f| folder.join(f)));
    }
    let output = assert_cmd::Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(&manifests)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("kubernetes-validate runs");
    let text = output_text(&output);
    eprintln!(
        "{test}: {} manifests of {} projects",
        manifests.len(),
        projects.len()
    );
    assert!(
        output.status.success() && !text.contains("ERROR") && !text.contains("WARN"),
        "kubernetes-validate:\n{text}"
    );
    assert!(manifests.len() >= 6 * projects.len());
}

/// checkov's Kubernetes checks fail nothing, and every check it skips is waived in the object
/// with a reason.
#[test]
fn checkov_fails_no_check_on_any_generated_manifest() {
    let test = "checkov_fails_no_check_on_any_generated_manifest";
    if !tool_or_skip(test, works("checkov", &["--version"]), "checkov") {
        return;
    }
    // checkov's Kubernetes runner skips manifests under a hidden folder, as `.tmpXXXX` is.
    let all = tempfile::Builder::new()
        .prefix("nb2svc-checkov-")
        .tempdir()
        .unwrap();
    let projects = generated_projects(all.path());
    let output = assert_cmd::Command::new("checkov")
        .args([
            "--skip-download",
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "-d",
        ])
        .arg(all.path())
        .timeout(Duration::from_secs(600))
        .output()
        .expect("checkov runs");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("checkov's JSON:\n{}", output_text(&output)));
    let summary = &report["summary"];
    assert!(
        summary.is_object(),
        "checkov's report:\n{}",
        output_text(&output)
    );
    let listed = |kind: &str| -> Vec<&Value> {
        report["results"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .collect()
    };
    let failed: Vec<String> = listed("failed_checks")
        .iter()
        .map(|c| {
            format!(
                "{} {} in {}",
                c["check_id"], c["check_name"], c["file_path"]
            )
        })
        .collect();
    eprintln!("{test}: {} projects: {summary}", projects.len());
    assert!(
        summary["resource_count"].as_u64().unwrap_or(0) >= 6 * projects.len() as u64,
        "checkov read every manifest: {summary}"
    );
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
    for skipped in listed("skipped_checks") {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.len() > 10, "a waiver without its reason: {skipped}");
    }
}

/// `docker stack deploy`'s own loader accepts every stack file (`docker stack config` reads it
/// as deploy would; it needs the docker CLI, not an engine).
#[test]
fn every_generated_stack_file_passes_docker_stack_config() {
    let test = "every_generated_stack_file_passes_docker_stack_config";
    if !tool_or_skip(
        test,
        works("docker", &["stack", "config", "--help"]),
        "the docker CLI with `docker stack config`",
    ) {
        return;
    }
    let all = tempfile::tempdir().unwrap();
    let mut findings = Vec::new();
    for (label, out) in generated_projects(all.path()) {
        // A stack that reads `.env` needs the file to exist, as `docker stack deploy` does.
        if out.join(".env.example").exists() {
            fs::copy(out.join(".env.example"), out.join(".env")).unwrap();
        }
        let config = assert_cmd::Command::new("docker")
            .args(["stack", "config", "-c", "deploy/swarm/stack.yaml"])
            .current_dir(&out)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        if !config.status.success() {
            findings.push(format!("{label}: {}", output_text(&config)));
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
