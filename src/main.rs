//! The `portcullis` command line.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or an invalid configuration.
#![expect(clippy::print_stdout, reason = "a command line prints its results")]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::config::{Config, LogFormat, LogSettings};
use portcullis::policy_tools::{self, ExplainRequest};
use portcullis::{Gateway, cli, dev};
use tracing_subscriber::EnvFilter;

/// An access gateway: TLS, routing and forwarding in one binary.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// The YAML configuration file.
        #[arg(long, short, env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem with file, line and column.
    Check {
        /// The YAML configuration file.
        #[arg(long, short, env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
        /// Treat policy warnings (shadowed rules, public rules before protected ones) as
        /// errors.
        #[arg(long)]
        strict: bool,
    },
    /// Show which rule decides a request and why every rule before it did not.
    Explain {
        /// The YAML configuration file.
        #[arg(long, short, env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
        /// The signed-in user; omit for an anonymous request.
        #[arg(long)]
        user: Option<String>,
        /// The user's groups, comma-separated; read from the store when omitted.
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// The full URL, such as https://wiki.example.test/admin.
        #[arg(long)]
        url: String,
        /// The request method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The client address.
        #[arg(long, default_value = "192.0.2.1")]
        ip: std::net::IpAddr,
        /// Factors completed at sign-in (1 or 2).
        #[arg(long, default_value_t = 1)]
        factors: u8,
        /// How long ago the user signed in, such as 5m or 2h.
        #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
        auth_age: std::time::Duration,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage users in the store the configuration names (works while the gateway runs).
    User {
        /// The YAML configuration file that names the store.
        #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::UserCommand,
    },
    /// List and revoke sessions in the store the configuration names.
    Session {
        /// The YAML configuration file that names the store.
        #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::SessionCommand,
    },
    /// Run a development gateway on the embedded defaults with two demo apps.
    Dev {
        /// Folder for the development CA and certificate (created if missing).
        #[arg(long, default_value = "certs")]
        certs: PathBuf,
        /// HTTPS address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        https: SocketAddr,
        /// Plain-HTTP address, which only redirects to HTTPS.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Folder for the development database (created if missing).
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run a YAML file of expected decisions against the configuration; exits 1 on any
    /// mismatch, so policy tests can run in CI next to the config.
    Test {
        /// The cases file.
        file: PathBuf,
        /// The YAML configuration file.
        #[arg(long, short, env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Check { config, strict } => check(&config, strict),
        Command::Explain {
            config,
            user,
            groups,
            url,
            method,
            ip,
            factors,
            auth_age,
        } => {
            let request = ExplainRequest {
                user,
                groups,
                url,
                method,
                ip,
                factors,
                auth_age,
            };
            report(runtime.block_on(explain(&config, &request)))
        }
        Command::Policy {
            command: PolicyCommand::Test { file, config },
        } => policy_test(&config, &file),
        Command::Serve { config } => report(runtime.block_on(serve(&config))),
        Command::Dev {
            certs,
            https,
            http,
            data,
        } => report(runtime.block_on(run_dev(dev::DevOptions {
            certs,
            https,
            http,
            data,
        }))),
        Command::User { config, command } => {
            let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
            let run = cli::run_user(config.as_deref(), command, &mut input, &mut output);
            report_admin(runtime.block_on(run))
        }
        Command::Session { config, command } => {
            let mut output = std::io::stdout().lock();
            let run = cli::run_session(config.as_deref(), command, &mut output);
            report_admin(runtime.block_on(run))
        }
    }
}

fn check(path: &Path, strict: bool) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("{warning}");
            }
            if let Err(error) = portcullis::tls::CertificateSet::load(&config.certificates) {
                eprintln!("{}: {error}", path.display());
                return ExitCode::from(2);
            }
            if strict && !config.warnings.is_empty() {
                eprintln!(
                    "{}: {} warning(s), refused with --strict",
                    path.display(),
                    config.warnings.len()
                );
                return ExitCode::from(2);
            }
            println!("{}: ok ({} apps)", path.display(), config.apps.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

fn report_admin(result: Result<(), cli::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn explain(path: &Path, request: &ExplainRequest) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    policy_tools::explain(&config, request, &mut std::io::stdout()).await?;
    Ok(())
}

fn policy_test(config: &Path, file: &Path) -> ExitCode {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let yaml = match std::fs::read_to_string(file) {
        Ok(yaml) => yaml,
        Err(error) => {
            eprintln!("{}: cannot read the file: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    match policy_tools::policy_test(
        &config,
        &file.display().to_string(),
        &yaml,
        &mut std::io::stdout(),
    ) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            let is_config = error
                .chain()
                .any(|cause| cause.is::<portcullis::config::ConfigError>());
            ExitCode::from(if is_config { 2 } else { 1 })
        }
    }
}

async fn serve(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    init_logging(&config.log);
    let gateway = Gateway::start(config, Some(path.to_owned()))
        .await
        .with_context(|| format!("starting the gateway from {}", path.display()))?;
    let directory = &gateway.services().directory;
    cli::announce_first_admin(directory, &mut std::io::stdout())
        .await
        .context("creating the first administrator")?;
    tracing::info!(https = %gateway.https_address(), http = %gateway.http_address().map_or_else(|| "off".to_owned(), |address| address.to_string()), "listening");
    wait_for_signals(&gateway).await?;
    gateway.shutdown().await;
    Ok(())
}

async fn run_dev(options: dev::DevOptions) -> anyhow::Result<()> {
    init_logging(&LogSettings {
        format: LogFormat::Pretty,
        level: "info".into(),
    });
    let running = dev::start(&options).await.map_err(|error| {
        let port_taken = matches!(&error, dev::DevError::Gateway(portcullis::GatewayError::Bind { .. }));
        let context = if port_taken {
            "starting the dev gateway (is another one running? choose other ports with --https and --http)"
        } else {
            "starting the dev gateway"
        };
        anyhow::Error::new(error).context(context)
    })?;
    println!("{}", dev::banner(&running));
    wait_for_signals(&running.gateway).await?;
    running.gateway.shutdown().await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM; reloads the configuration on SIGHUP meanwhile.
async fn wait_for_signals(gateway: &Gateway) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                if let Err(error) = gateway.reload() {
                    tracing::error!(target: "portcullis::config",
                        "reload refused; the old configuration stays:\n{error}");
                }
            }
        }
    }
    tracing::info!("shutting down; finishing requests in flight");
    Ok(())
}

fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
