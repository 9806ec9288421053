//! The penguins example's stack file on the local engine in swarm mode, deployed as nb2svc
//! wrote it: three replicas converge healthy, each task answers `/ready` and a prediction over
//! the stack's overlay network, a killed task is replaced, and `docker service update --force`
//! keeps at least two tasks healthy throughout.
//!
//! The ingress routing mesh does not answer on published ports on this machine: its kernel has
//! no IPVS (`/proc/net/ip_vs` is absent), which the mesh's load balancing needs. The test says
//! so and does not pretend otherwise: it reaches the tasks from a one-off container on the
//! stack's attachable overlay network, through `tasks.SERVICE` DNS, and contacts nothing but
//! that network. Everything it makes is named `nb2svc-k8s-test-PID` and removed when it ends,
//! pass or fail; it leaves swarm mode if it was the one to enter it.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{nb2svc, output_text, root};

/// Runs `docker args...` in `dir` (killed after `seconds`); returns success and the output.
fn docker_in(dir: &Path, args: &[&str], seconds: u64) -> (bool, String) {
    let output = assert_cmd::Command::new("docker")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_BUILDKIT", "0")
        .env("COMPOSE_BAKE", "false")
        .timeout(Duration::from_secs(seconds))
        .output()
        .expect("docker runs");
    (output.status.success(), output_text(&output))
}

fn docker(args: &[&str]) -> (bool, String) {
    docker_in(Path::new("."), args, 120)
}

fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args);
    assert!(ok, "docker {} failed:\n{out}", args.join(" "));
    out.trim().to_string()
}

/// The swarm, the stack and the image of the test; dropping it removes them all.
struct Stack {
    dir: tempfile::TempDir,
    /// The stack's name (`docker stack deploy ... NAME`).
    stack: String,
    /// The compose service and the image name, as nb2svc was given it.
    service: String,
    /// This test put the engine in swarm mode, so it leaves it.
    initialised_swarm: bool,
}

impl Stack {
    /// `STACK_SERVICE`, the swarm service's name.
    fn swarm_service(&self) -> String {
        format!("{}_{}", self.stack, self.service)
    }

    fn network(&self) -> String {
        format!("{}_default", self.stack)
    }

    fn image(&self) -> String {
        format!("{}:latest", self.service)
    }

    /// IDs of the service's containers that are running and healthy.
    fn healthy(&self) -> BTreeSet<String> {
        let (_, out) = docker(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!(
                "label=com.docker.swarm.service.name={}",
                self.swarm_service()
            ),
            "--filter",
            "health=healthy",
        ]);
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Waits until exactly `count` containers are healthy and none of `gone` is among them;
    /// returns the healthy ones and how long it took.
    fn wait_healthy(
        &self,
        count: usize,
        gone: &BTreeSet<String>,
        seconds: u64,
    ) -> (BTreeSet<String>, Duration) {
        let started = Instant::now();
        loop {
            let healthy = self.healthy();
            if healthy.len() == count && healthy.is_disjoint(gone) {
                return (healthy, started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(seconds) {
                panic!(
                    "{count} healthy tasks not reached in {seconds} s (healthy: {healthy:?})\n{}\n{}",
                    docker(&["service", "ps", "--no-trunc", &self.swarm_service()]).1,
                    docker(&["service", "logs", "--tail", "40", &self.swarm_service()]).1
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = docker(&["stack", "rm", &self.stack]);
        // `stack rm` returns before the tasks and the network are gone; removing the image or
        // leaving the swarm earlier would race with them.
        let deadline = Instant::now() + Duration::from_secs(90);
        let label = format!("label=com.docker.stack.namespace={}", self.stack);
        while Instant::now() < deadline {
            let (_, containers) = docker(&["ps", "-aq", "--filter", &label]);
            let (_, networks) = docker(&["network", "ls", "-q", "--filter", &label]);
            if containers.trim().is_empty() && networks.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        {
            let _images = crate::support::removing();
            let _ = docker(&["image", "rm", "-f", &self.image()]);
        }
        if self.initialised_swarm {
            let _ = docker(&["swarm", "leave", "--force"]);
        }
    }
}

/// The script the one-off container runs: every address `tasks.SERVICE` resolves to, and what
/// each answers to GET /ready and POST /predict, as JSON.
const PROBE: &str = r#"
import json, socket, sys, urllib.request
service, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
addresses = sorted({info[4][0] for info in socket.getaddrinfo("tasks." + service, port)})
answers = {}
for address in addresses:
    base = f"http://{address}:{port}"
    ready = urllib.request.urlopen(base + "/ready", timeout=10)
    request = urllib.request.Request(base + "/predict", data=body, headers={"Content-Type": "application/json"})
    predicted = urllib.request.urlopen(request, timeout=10)
    answers[address] = {"ready": [ready.status, json.load(ready)], "predict": [predicted.status, json.load(predicted)]}
print(json.dumps(answers))
"#;

#[test]
fn penguins_stack_runs_three_healthy_replicas_on_swarm_that_survive_a_kill_and_a_rolling_update() {
    let test = "penguins_stack_runs_three_healthy_replicas_on_swarm_that_survive_a_kill_and_a_rolling_update";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let name = format!("nb2svc-k8s-test-{}", std::process::id());
    let example = root().join("examples/penguins");
    let dir = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(example.join("penguins.ipynb"))
        .arg("-r")
        .arg(example.join("requirements.txt"))
        .arg("-o")
        .arg(dir.path())
        .args(["-q", "--swarm", "--replicas", "3", "--name", &name])
        // The mesh publishes on every interface of the swarm: a free port, not 8000.
        .args(["--port", &crate::support::free_port().to_string()])
        .assert()
        .success();
    let stack_file = std::fs::read(dir.path().join("deploy/swarm/stack.yaml")).unwrap();

    let state = docker_ok(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
    ]);
    let initialised_swarm = match state.as_str() {
        "active true" => false,
        "inactive false" => {
            docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            true
        }
        other => panic!("the engine is in a swarm it does not manage ({other}): not touching it"),
    };
    let stack = Stack {
        dir,
        stack: format!("{name}-stack"),
        service: name.clone(),
        initialised_swarm,
    };

    let started = Instant::now();
    {
        let _images = crate::support::building();
        let (ok, out) = docker_in(
            stack.dir.path(),
            &[
                "compose",
                "-p",
                &name,
                "-f",
                "docker-compose.prod.yaml",
                "build",
            ],
            900,
        );
        assert!(ok, "building the image:\n{out}");
    }
    eprintln!(
        "{test}: image built in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let (ok, deployed) = docker_in(
        stack.dir.path(),
        &[
            "stack",
            "deploy",
            "-c",
            "deploy/swarm/stack.yaml",
            &stack.stack,
        ],
        120,
    );
    assert!(ok, "docker stack deploy:\n{deployed}");
    assert!(
        !deployed.contains("Ignoring unsupported options"),
        "the stack file has only what swarm supports:\n{deployed}"
    );
    assert_eq!(
        std::fs::read(stack.dir.path().join("deploy/swarm/stack.yaml")).unwrap(),
        stack_file,
        "deployed as nb2svc wrote it"
    );
    let (healthy, took) = stack.wait_healthy(3, &BTreeSet::new(), 300);
    eprintln!(
        "{test}: 3 replicas healthy {:.1} s after `docker stack deploy` ({:.1} s waiting)",
        started.elapsed().as_secs_f64(),
        took.as_secs_f64()
    );

    // Each task runs hardened, as the production compose file's container does.
    for id in &healthy {
        let inspect: Value = serde_json::from_str(&docker_ok(&["inspect", id])).unwrap();
        let host = &inspect[0]["HostConfig"];
        assert_eq!(host["ReadonlyRootfs"], true, "{host}");
        assert_eq!(host["CapDrop"], json!(["ALL"]), "{host}");
        assert_eq!(inspect[0]["Config"]["User"], "10001:10001");
    }

    // The ingress routing mesh cannot answer here (no IPVS in this kernel): the tasks are
    // reached over the stack's overlay network instead, from a one-off container on it.
    let probe = || -> Value {
        let body = json!({"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
                          "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": "male"});
        let out = docker_ok(&[
            "run",
            "--rm",
            "--network",
            &stack.network(),
            "--read-only",
            "--cap-drop",
            "ALL",
            &stack.image(),
            "python",
            "-c",
            PROBE,
            &stack.service,
            "80",
            &body.to_string(),
        ]);
        serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|_| panic!("the probe's answer: {out}"))
    };
    let answers = probe();
    let answers = answers.as_object().unwrap();
    assert_eq!(
        answers.len(),
        3,
        "tasks.{} resolves to 3 tasks: {answers:?}",
        stack.service
    );
    for (address, answer) in answers {
        assert_eq!(
            answer["ready"],
            json!([200, {"status": "ready"}]),
            "{address}"
        );
        assert_eq!(
            answer["predict"],
            json!([200, {"model": "penguins_rf", "prediction": "Adelie"}]),
            "{address}"
        );
    }

    // A killed task is replaced, and the service is back at 3 healthy.
    let victim = healthy.iter().next().unwrap().clone();
    let killed = Instant::now();
    docker_ok(&["kill", &victim]);
    let (_, took) = stack.wait_healthy(3, &BTreeSet::from([victim]), 180);
    eprintln!(
        "{test}: a killed task replaced, 3 healthy again after {:.1} s",
        took.as_secs_f64().max(killed.elapsed().as_secs_f64())
    );

    // A rolling update replaces every task, one at a time and the new one first; at least two
    // stay healthy all along.
    let before = stack.healthy();
    let mut update = std::process::Command::new("docker")
        .args([
            "service",
            "update",
            "--force",
            "--detach=false",
            "--quiet",
            &stack.swarm_service(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker service update runs");
    let started = Instant::now();
    let mut fewest = usize::MAX;
    let mut polls = 0;
    let status = loop {
        fewest = fewest.min(stack.healthy().len());
        polls += 1;
        if let Some(status) = update.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the rolling update did not finish in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(status.success(), "docker service update --force failed");
    let (after, _) = stack.wait_healthy(3, &before, 120);
    eprintln!(
        "{test}: rolling update of 3 tasks in {:.1} s; fewest healthy tasks in {polls} polls: {fewest}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        fewest >= 2,
        "only {fewest} healthy tasks during the rolling update"
    );
    assert!(after.is_disjoint(&before), "every task was replaced");
    let answers = probe();
    assert_eq!(answers.as_object().unwrap().len(), 3, "{answers}");
}
