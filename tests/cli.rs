//! The policy-authoring commands as a user runs them: `sockguard test`, `eval` and `check`,
//! their output formats and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn sockguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockguard")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The counts of the summary line `N passed, N failed, N skipped, N errors in ...`.
fn summary(text: &str) -> [usize; 4] {
    let line = text.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or_else(|| panic!("no summary in {text}"));
    let numbers: Vec<usize> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    [numbers[0], numbers[1], numbers[2], numbers[3]]
}

#[test]
fn every_bundle_in_the_repository_passes() {
    let out = sockguard(&["test", "policies", "tests/bundles"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let [passed, failed, skipped, errors] = summary(&stdout(&out));
    assert!(passed >= 140, "{passed}");
    assert_eq!((failed, skipped, errors), (0, 0, 0));
    // every preset is found and run
    for preset in ["readonly", "tecnativa", "traefik", "watchtower", "monitoring", "ci-runner"] {
        assert!(stdout(&out).contains(&format!("policies/presets/{preset}:")), "{preset} not run");
    }
}

#[test]
fn a_failing_test_exits_2_and_names_its_file_and_line() {
    let out = sockguard(&["test", "tests/fixtures/failing"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert_eq!(summary(&text), [1, 2, 1, 0]);
    assert!(text.contains("FAIL  policy_test.rego:9  data.sockguard_test.test_create_is_allowed"), "{text}");
    assert!(text.contains("SKIP  policy_test.rego:11  data.sockguard_test.todo_test_later"), "{text}");
    assert!(text.contains("FAIL  wrong.cases.yaml:2  create expected to pass"), "{text}");
    assert!(text.contains("expected allow true, got false"), "{text}");
}

#[test]
fn verbose_prints_the_input_and_decision_of_failing_cases() {
    let out = sockguard(&["test", "-v", "tests/fixtures/failing"]);
    let text = stdout(&out);
    assert!(text.contains("input:") && text.contains("\"action\": \"container.create\""), "{text}");
    assert!(text.contains("decision:") && text.contains("\"allow\": false"), "{text}");
}

#[test]
fn a_bundle_that_does_not_compile_exits_1_with_its_location() {
    let out = sockguard(&["test", "tests/fixtures/broken"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("broken.rego:5:"), "{}", stderr(&out));
    let check = sockguard(&["check", "--bundle", "tests/fixtures/broken"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).contains("broken.rego:5:"), "{}", stderr(&check));
}

#[test]
fn a_missing_path_exits_1() {
    let out = sockguard(&["test", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no such file or directory"));
}

#[test]
fn junit_output_is_valid_xml_with_one_testcase_per_result() {
    let out = sockguard(&["test", "--format", "junit", "tests/fixtures/failing", "policies/presets/readonly"]);
    assert_eq!(out.status.code(), Some(2));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.len(), 2);
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert_eq!(root.attribute("tests"), Some(cases.to_string().as_str()));
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 2);
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("skipped")).count(), 1);
}

#[test]
fn json_output_carries_every_result() {
    let out = sockguard(&["test", "--format", "json", "tests/fixtures/failing"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["passed"], 1);
    assert_eq!(doc["summary"]["failed"], 2);
    assert_eq!(doc["results"].as_array().unwrap().len(), 4);
    assert_eq!(doc["results"][3]["kind"], "case");
}

#[test]
fn run_filters_by_name() {
    let out = sockguard(&["test", "--run", "spelling|long s", "tests/bundles/no-privileged"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(summary(&text), [3, 0, 0, 0], "{text}");
    assert!(text.contains("canonical spelling") && text.contains("long s folds to s"));
}

#[test]
fn a_single_file_selects_itself() {
    let out = sockguard(&["test", "tests/bundles/no-privileged/privileged.cases.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(!text.contains("policy_test.rego"), "{text}");
    assert!(summary(&text)[0] >= 10);
}

#[test]
fn coverage_is_reported_per_file_and_a_threshold_can_fail() {
    let out = sockguard(&["test", "--coverage", "policies/presets/ci-runner"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("coverage:") && text.contains("policies/presets/ci-runner/policy.rego"), "{text}");
    assert!(text.contains("%  total"), "{text}");
    // what no test reaches is not covered
    let none =
        sockguard(&["test", "--coverage", "--format", "json", "--run", "^no such test$", "policies/presets/ci-runner"]);
    let doc: serde_json::Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(doc["summary"]["coverage_percent"], 0.0);
    let json = sockguard(&["test", "--coverage", "--format", "json", "policies/presets/ci-runner"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let total = doc["summary"]["coverage_percent"].as_f64().unwrap();
    assert!(total > 50.0 && total <= 100.0, "{total}");
    assert_eq!(sockguard(&["test", "--threshold", "100.1", "policies/presets/ci-runner"]).status.code(), Some(2));
    assert_eq!(sockguard(&["test", "--threshold", "10", "policies/presets/ci-runner"]).status.code(), Some(0));
}

#[test]
fn a_vm_interpreter_disagreement_fails_the_case() {
    let out = sockguard(&["test", "tests/fixtures/vm-divergence"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("the VM and the interpreter disagree"), "{}", stdout(&out));
}

#[test]
fn eval_prints_the_input_document_and_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("create.json");
    std::fs::write(&body, r#"{"Image":"busybox","hostconfig":{"privileged":true}}"#).unwrap();
    let out = sockguard(&[
        "eval",
        "--preset",
        "ci-runner",
        "--method",
        "POST",
        "--path",
        "/v1.41/containers/create?name=job",
        "--body",
        body.to_str().unwrap(),
        "--header",
        "Content-Type: application/json",
        "--explain",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["input"]["request"]["action"], "container.create");
    assert_eq!(doc["input"]["request"]["body"]["HostConfig"]["Privileged"], true);
    assert_eq!(doc["input"]["request"]["resource"]["name"], "job");
    assert_eq!(doc["result"]["allow"], false);
    assert_eq!(doc["result"]["code"], "privileged_container");
    assert_eq!(doc["result"]["status"], 403);
    assert_eq!(doc["decision"]["code"], "privileged_container");
    let lines = doc["explain"]["evaluated_lines"].as_array().unwrap();
    assert!(lines.iter().any(|l| l["text"].as_str().unwrap().contains("host.Privileged == true")), "{lines:?}");
    assert_eq!(doc["explain"]["agrees_with_serving_path"], true);
}

#[test]
fn eval_takes_a_case_or_a_raw_request() {
    let out = sockguard(&[
        "eval",
        "--bundle",
        "tests/bundles/no-privileged",
        "--request",
        "tests/bundles/no-privileged/privileged.cases.yaml",
        "--case",
        "long s folds to s",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"]["code"], "privileged_container");

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("request.http");
    std::fs::write(&raw, "GET /v1.41/images/get?names=busybox HTTP/1.1\r\nHost: docker\r\n\r\n").unwrap();
    let out = sockguard(&["eval", "--request", raw.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["input"]["request"]["action"], "image.save");
    assert_eq!(doc["result"]["code"], "image_save_denied");
}

#[test]
fn check_reports_what_it_loaded() {
    let out = sockguard(&["check", "--preset", "tecnativa"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("configuration: ok"), "{text}");
    assert!(text.contains("bundle: ok (preset:tecnativa") && text.contains("served by the bytecode VM"), "{text}");
    let bad = sockguard(&["check", "--preset", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("no preset named"), "{}", stderr(&bad));
}

#[test]
fn the_embedded_presets_are_their_directories() {
    for name in sockguard::policy::embedded::preset_names() {
        let embedded = sockguard::policy::embedded::preset(name).unwrap().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/presets").join(name);
        let on_disk = sockguard::policy::Bundle::from_dir(&dir).unwrap();
        assert_eq!(embedded.modules, on_disk.modules, "{name}");
        assert_eq!(embedded.tests, on_disk.tests, "{name}");
        assert_eq!(embedded.cases, on_disk.cases, "{name}");
        assert_eq!(embedded.data, on_disk.data, "{name}");
        assert_eq!(embedded.env, on_disk.env, "{name}");
    }
}

/// The README's "first custom policy" is a bundle a user would copy: it must pass its cases.
#[test]
fn the_readme_example_bundle_passes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = |opening: &str| -> String {
        let start = readme.find(opening).unwrap_or_else(|| panic!("README lost {opening:?}")) + opening.len();
        let end = readme[start..].find("```").unwrap() + start;
        readme[start..end].to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.rego"), block("```rego\n# ci/policy.rego\n")).unwrap();
    std::fs::write(dir.path().join(".manifest"), block("```json\n// ci/.manifest\n")).unwrap();
    std::fs::write(dir.path().join("policy.cases.yaml"), block("```yaml\n# ci/policy.cases.yaml\n")).unwrap();
    let out = sockguard(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(summary(&stdout(&out)), [3, 0, 0, 0]);
}

#[test]
fn bundle_build_is_deterministic_and_refuses_what_does_not_compile() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.tar.gz");
    let two = dir.path().join("two.tar.gz");
    for out in [&one, &two] {
        let built = sockguard(&["bundle", "build", "policies/presets/ci-runner", "-o", out.to_str().unwrap()]);
        assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
        assert!(stdout(&built).starts_with("sha256:"), "{}", stdout(&built));
    }
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let bundle = sockguard::bundle::archive::load("t", &std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(bundle.revision, "ci-runner-1");
    assert_eq!(bundle.tests.len(), 1);

    let broken = dir.path().join("broken.tar.gz");
    let refused = sockguard(&["bundle", "build", "tests/fixtures/broken", "-o", broken.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("broken.rego:5:"), "{}", stderr(&refused));
    assert!(!broken.exists());

    // an archive is not served unverified unless asked to
    let serve = sockguard(&["serve", "--bundle", one.to_str().unwrap(), "--listen", "unix:///tmp/never.sock"]);
    assert_eq!(serve.status.code(), Some(1));
    assert!(stderr(&serve).contains("--allow-unsigned"), "{}", stderr(&serve));
}

#[test]
fn keygen_sign_verify_round_trip_with_cosign_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let run = |args: &[&str], password: &str| {
        Command::new(env!("CARGO_BIN_EXE_sockguard"))
            .args(args)
            .env("COSIGN_PASSWORD", password)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    assert!(run(&["bundle", "keygen", "--output-prefix", &path("cosign")], "pw").status.success());
    assert!(run(&["bundle", "keygen", "--output-prefix", &path("other")], "").status.success());
    let again = run(&["bundle", "keygen", "--output-prefix", &path("cosign")], "pw");
    assert_eq!(again.status.code(), Some(1), "an existing key is never overwritten");
    let key_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path("cosign.key")).unwrap().permissions());
    assert_eq!(key_mode & 0o777, 0o600);

    let archive = path("policy.tar.gz");
    assert!(run(&["bundle", "build", "policies/presets/traefik", "-o", &archive], "").status.success());
    let signed = run(&["bundle", "sign", &archive, "--key", &path("cosign.key")], "pw");
    assert!(signed.status.success(), "{}", stderr(&signed));
    assert_eq!(run(&["bundle", "sign", &archive, "--key", &path("cosign.key")], "wrong").status.code(), Some(1));

    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("policy.tar.gz.sigstore.json")).unwrap()).unwrap();
    assert_eq!(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
    assert_eq!(
        bundle["messageSignature"]["signature"].as_str().unwrap(),
        std::fs::read_to_string(path("policy.tar.gz.sig")).unwrap()
    );

    let verify = |extra: &[&str]| {
        let mut args = vec!["bundle", "verify", archive.as_str()];
        args.extend_from_slice(extra);
        run(&args, "")
    };
    let ok = verify(&["--key", &path("cosign.pub")]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("Verified OK"));
    let sig = path("policy.tar.gz.sig");
    assert_eq!(verify(&["--key", &path("cosign.pub"), "--signature", &sig]).status.code(), Some(0));
    let wrong = verify(&["--key", &path("other.pub")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("verification failed"), "{}", stderr(&wrong));
    assert_eq!(verify(&["--key", &path("other.pub"), "--signature", &sig]).status.code(), Some(1));

    // one byte changed
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&archive, bytes).unwrap();
    assert_eq!(verify(&["--key", &path("cosign.pub")]).status.code(), Some(1));
    assert_eq!(verify(&["--key", &path("cosign.pub"), "--signature", &sig]).status.code(), Some(1));
}
