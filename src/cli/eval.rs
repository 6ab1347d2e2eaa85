//! `sockguard eval`: decide one request and print its input document and decision.
//!
//! The request is given by flags (`--method`, `--path`, `--body`, `--header`, `--client`), or
//! by `--request FILE`: a case of a cases file (`--case NAME` picks one) or a raw HTTP request.
//! It goes through the same input builder and decision code as `sockguard serve`.
//! `--explain` also lists the policy lines the interpreter evaluated to reach the decision.

use crate::authoring::cases::{observe, Case, CaseClient, CaseFile, CaseRequest, Expect};
use crate::config::BundleSource;
use crate::proxy::Limits;
use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Policy bundle directory [default: the embedded default bundle]
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// A preset compiled into the binary
    #[arg(long, value_name = "NAME", conflicts_with = "bundle")]
    pub preset: Option<String>,
    /// HTTP method
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request target as a client sends it, e.g. /v1.41/containers/create?name=web
    #[arg(long, required_unless_present = "request")]
    pub path: Option<String>,
    /// Request body from a file, or - for stdin
    #[arg(long, value_name = "FILE|-")]
    pub body: Option<String>,
    /// A request header, NAME:VALUE (repeatable)
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// The client, as JSON: {"transport":"unix","unix":{"uid":1000,"gid":1000}}
    #[arg(long, value_name = "JSON")]
    pub client: Option<String>,
    /// A cases file (with --case NAME) or a raw HTTP request
    #[arg(long, value_name = "FILE", conflicts_with_all = ["path", "body", "headers"])]
    pub request: Option<PathBuf>,
    /// The case of --request to evaluate [default: the first]
    #[arg(long, value_name = "NAME", requires = "request")]
    pub case: Option<String>,
    /// Also show the policy lines that were evaluated
    #[arg(long)]
    pub explain: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let source = match (&args.bundle, &args.preset) {
        (Some(dir), _) => BundleSource::Directory(dir.clone()),
        (None, Some(name)) => BundleSource::Preset(name.clone()),
        (None, None) => BundleSource::Embedded,
    };
    // eval decides a request against a bundle on disk: no signature is needed to look at one
    let mut bundle = crate::bundle::source::load_local(&source, None, true)?.bundle;
    bundle.apply_env(|key| std::env::var(key).ok());
    let policy = crate::policy::Policy::compile(&bundle, crate::policy::CompileOptions::default())
        .with_context(|| format!("the bundle {} does not compile", bundle.source))?;
    let (case, base) = request_case(&args)?;

    let observed =
        observe(&case, &base, &Limits::default(), &mut |input| policy.evaluate(input)).map_err(|e| anyhow!(e))?;
    let mut output = json!({
        "input": observed.input,
        "decision": observed.decision,
        "result": {
            "allow": observed.allow,
            "status": observed.status,
            "code": observed.code,
            "message": observed.message,
            "redact": observed.redacted,
        },
    });
    if args.explain {
        let mut engine = policy.interpreter();
        engine.set_enable_coverage(true);
        let explained = observe(&case, &base, &Limits::default(), &mut |input| policy.evaluate_on(&mut engine, input));
        let report = engine.get_coverage_report().map_err(|e| anyhow!("{e}"))?;
        let mut lines = Vec::new();
        for file in &report.files {
            if !bundle.modules.iter().any(|m| m.path == file.path) {
                continue;
            }
            for (index, text) in file.code.lines().enumerate() {
                let number = u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX);
                if file.covered.contains(&number) {
                    lines.push(json!({"file": file.path, "line": number, "text": text.trim_end()}));
                }
            }
        }
        let explanation = json!({
            "evaluator": "interpreter",
            "agrees_with_serving_path": explained.as_ref().ok() == Some(&observed),
            "evaluated_lines": lines,
        });
        if let Some(object) = output.as_object_mut() {
            object.insert("explain".into(), explanation);
        }
    }
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

/// The request to evaluate, as a case, and the directory its body files are relative to.
fn request_case(args: &EvalArgs) -> anyhow::Result<(Case, PathBuf)> {
    if let Some(file) = &args.request {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let base = file.parent().map(PathBuf::from).unwrap_or_default();
        if let Ok(cases) = CaseFile::parse(&text) {
            let case = match &args.case {
                Some(name) => cases
                    .cases
                    .into_iter()
                    .find(|c| &c.name == name)
                    .ok_or_else(|| anyhow!("no case named {name:?}"))?,
                None => cases.cases.into_iter().next().ok_or_else(|| anyhow!("{} holds no case", file.display()))?,
            };
            return Ok((case, base));
        }
        return Ok((raw_request(&text)?, base));
    }
    let body = match args.body.as_deref() {
        None => None,
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Some(text)
        }
        Some(file) => Some(std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?),
    };
    let mut headers = BTreeMap::new();
    for header in &args.headers {
        let (name, value) =
            header.split_once(':').ok_or_else(|| anyhow!("--header {header:?}: expected NAME:VALUE"))?;
        headers.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let client: Option<CaseClient> = match &args.client {
        Some(text) => Some(serde_json::from_str(text).context("--client")?),
        None => None,
    };
    let request = CaseRequest {
        method: args.method.clone(),
        path: args.path.clone().unwrap_or_default(),
        body: None,
        body_raw: body,
        body_file: None,
        headers,
    };
    Ok((Case { name: "eval".into(), env: None, request, client, expect: Expect::default() }, PathBuf::from(".")))
}

/// Parse a raw HTTP/1.1 request: request line, headers, blank line, body.
fn raw_request(text: &str) -> anyhow::Result<Case> {
    let normalized = text.replace("\r\n", "\n");
    let (head, body) = normalized.split_once("\n\n").unwrap_or((normalized.as_str(), ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        bail!("not a cases file, nor an HTTP request (expected `METHOD /path HTTP/1.1`, got {request_line:?})");
    };
    let mut headers = BTreeMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| anyhow!("bad header line {line:?}"))?;
        headers.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    headers.remove("Content-Length");
    let request = CaseRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body: None,
        body_raw: (!body.is_empty()).then(|| body.to_owned()),
        body_file: None,
        headers,
    };
    Ok(Case { name: "request".into(), env: None, request, client: None, expect: Expect::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_requests_parse() {
        let case = raw_request(
            "POST /v1.41/containers/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(case.request.method, "POST");
        assert_eq!(case.request.path, "/v1.41/containers/create");
        assert_eq!(case.request.body_raw.as_deref(), Some("{}"));
        assert_eq!(case.request.headers.get("Content-Type").map(String::as_str), Some("application/json"));
        assert!(raw_request("garbage").is_err());
    }
}
