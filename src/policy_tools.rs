//! `portcullis explain` and `portcullis policy test`: predict and prove decisions from the
//! command line, with the gateway's own routing and the compiled policy.
//!
//! Owns turning command-line facts into a policy request and printing decisions. Trusts
//! the checked config; reads the store only to find a user's groups when none are given.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::authn::password::{HashParams, Hasher};
use crate::config::Config;
use crate::identity::{StoreDirectory, Username};
use crate::policy::{self, CaseOutcome, RequestFacts, Subject};
use crate::proxy::route::{RouteTable, UrlResolver};
use crate::store::Store;

/// What `explain` is asked about.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    /// The signed-in user; `None` for an anonymous request.
    pub user: Option<String>,
    /// Groups of the user; read from the store when `None`.
    pub groups: Option<Vec<String>>,
    /// The full URL, `https://host/path?query`.
    pub url: String,
    /// The method.
    pub method: String,
    /// The client address.
    pub ip: IpAddr,
    /// Factors done (1 or 2).
    pub factors: u8,
    /// How long ago the user signed in.
    pub auth_age: Duration,
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The URL does not reach an app.
    #[error("{0}")]
    Route(String),
    /// The user is unknown and no groups were given.
    #[error("user `{0}` does not exist in the store; give --groups to explain a hypothetical user")]
    UnknownUser(String),
    /// A username that cannot exist.
    #[error("`{0}` is not a valid username")]
    BadUsername(String),
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Store(String),
    /// The policy test file is malformed.
    #[error("{file}:{line}:{column}: {message}")]
    CaseFile {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// Writing the report failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Prints the decision for `request` and every rule tried; returns the decision's kind.
///
/// # Errors
/// See [`ToolError`].
pub async fn explain(
    config: &Config,
    request: &ExplainRequest,
    out: &mut dyn Write,
) -> Result<policy::DecisionKind, ToolError> {
    let routes = RouteTable::new(&config.apps);
    let target = UrlResolver { routes: &routes }
        .resolve_url(&request.url)
        .map_err(ToolError::Route)?;
    let groups = match (&request.user, &request.groups) {
        (Some(user), None) => stored_groups(config, user).await?,
        (_, Some(groups)) => groups.clone(),
        (None, None) => Vec::new(),
    };
    let now = SystemTime::now();
    let subject = request.user.as_deref().map(|user| Subject {
        user,
        groups: &groups,
        factors: request.factors,
        auth_time: now.checked_sub(request.auth_age).unwrap_or(now),
    });
    let facts = RequestFacts {
        method: &request.method,
        path: &target.path,
        client_ip: request.ip,
    };
    let explanation = config
        .policy
        .explain(target.app, &facts, subject.as_ref(), now);
    match &request.user {
        Some(user) => writeln!(
            out,
            "user {user} (groups: {}), {} factor(s)",
            groups.join(", "),
            request.factors
        )?,
        None => writeln!(out, "anonymous")?,
    }
    writeln!(out, "{explanation}")?;
    Ok(explanation.decision.kind())
}

async fn stored_groups(config: &Config, user: &str) -> Result<Vec<String>, ToolError> {
    let username = Username::parse(user).map_err(|_| ToolError::BadUsername(user.to_owned()))?;
    let store = Store::open(&config.store)
        .await
        .map_err(|error| ToolError::Store(error.to_string()))?;
    let hasher =
        Hasher::new(HashParams::OWASP).map_err(|error| ToolError::Store(error.to_string()))?;
    let directory = StoreDirectory::new(store, hasher);
    let record = directory
        .get_user(&username)
        .await
        .map_err(|error| ToolError::Store(error.to_string()))?;
    let record = record.ok_or_else(|| ToolError::UnknownUser(user.to_owned()))?;
    Ok(record
        .groups
        .iter()
        .map(|group| group.as_str().to_owned())
        .collect())
}

/// Runs the cases in `yaml` (from `file`) against the config's policy and prints one line
/// per case, with the explanation of each failure; returns how many failed.
///
/// # Errors
/// A malformed case file, or output that cannot be written.
pub fn policy_test(
    config: &Config,
    file: &str,
    yaml: &str,
    out: &mut dyn Write,
) -> Result<usize, ToolError> {
    let routes = RouteTable::new(&config.apps);
    let resolver = UrlResolver { routes: &routes };
    let results = policy::run_case_file(&config.policy, yaml, &resolver, SystemTime::now())
        .map_err(|error| case_file_error(file, error))?;
    let mut failed = 0;
    for result in &results {
        let label = result
            .name
            .clone()
            .unwrap_or_else(|| format!("case {}", result.index + 1));
        match &result.outcome {
            CaseOutcome::Passed => writeln!(out, "ok    {file}:{} {label}", result.line)?,
            CaseOutcome::Failed { explanation } => {
                failed += 1;
                writeln!(
                    out,
                    "FAIL  {file}:{} {label}: expected {}",
                    result.line, result.expected
                )?;
                for line in explanation.to_string().lines() {
                    writeln!(out, "      {line}")?;
                }
            }
            CaseOutcome::Invalid { message } => {
                failed += 1;
                writeln!(out, "FAIL  {file}:{} {label}: {message}", result.line)?;
            }
        }
    }
    writeln!(out, "{} passed, {failed} failed", results.len() - failed)?;
    Ok(failed)
}

fn case_file_error(file: &str, error: policy::CaseFileError) -> ToolError {
    let policy::CaseFileError::Yaml {
        line,
        column,
        message,
    } = error;
    ToolError::CaseFile {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}
