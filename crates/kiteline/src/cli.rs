//! The command line. Exit status: 0 success, 1 failure while running,
//! 2 bad usage or configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use jiff::Timestamp;
use kiteline_core::{EmailAddress, Role, account};
use kiteline_store::{Constraint, NewUser, StoreError, TokenScope};
use kiteline_templates::Lang;
use kiteline_web::actions;

use crate::config::{self, Config, LogFormat, Source};
use crate::serve;

fn command() -> Command {
    let email = || Arg::new("email").long("email").value_name("E").required(true).help("the user's e-mail address");
    Command::new("kiteline")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Kiteline: phone line, campaigns and fundraising for prisoner-solidarity organizations")
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .global(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("TOML file with settings (environment variables override it); also KITELINE_CONFIG"),
        )
        .subcommand_required(true)
        .subcommand(
            Command::new("serve")
                .about("Serve the web application (and run the job worker unless KITELINE_WORKER=off)"),
        )
        .subcommand(Command::new("migrate").about("Apply pending database migrations and exit"))
        .subcommand(
            Command::new("worker")
                .about("Run only the job worker (mail and other background jobs)")
                .arg(Arg::new("once").long("once").action(ArgAction::SetTrue).help("run every due job, then exit")),
        )
        .subcommand(
            Command::new("user").subcommand_required(true).about("Manage accounts").subcommand(
                Command::new("add")
                    .about("Create an account and print a single-use link to set its password")
                    .arg(email())
                    .arg(Arg::new("name").long("name").value_name("N").required(true).help("the user's name"))
                    .arg(Arg::new("role").long("role").value_name("ROLE").required(true).value_parser([
                        "admin",
                        "coordinator",
                        "volunteer",
                    ]))
                    .arg(
                        Arg::new("lang").long("lang").value_name("LANG").default_value("en").value_parser(["en", "es"]),
                    ),
            ),
        )
        .subcommand(
            Command::new("token").subcommand_required(true).about("Manage API tokens").subcommand(
                Command::new("create")
                    .about("Create an API token for a user and print it once")
                    .arg(email())
                    .arg(Arg::new("name").long("name").value_name("LABEL").required(true).help("what the token is for"))
                    .arg(
                        Arg::new("scope")
                            .long("scope")
                            .value_name("SCOPE")
                            .default_value("read")
                            .value_parser(["read", "write", "admin"]),
                    )
                    .arg(
                        Arg::new("days")
                            .long("days")
                            .value_name("DAYS")
                            .default_value("90")
                            .value_parser(clap::value_parser!(u32).range(1..=365))
                            .help("how long the token works (1-365 days)"),
                    ),
            ),
        )
        .subcommand(
            Command::new("backup").about("Write a consistent copy of the SQLite database while it is in use").arg(
                Arg::new("out")
                    .long("out")
                    .value_name("FILE")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
        )
        .subcommand(
            Command::new("config").subcommand_required(true).about("Inspect configuration").subcommand(
                Command::new("check")
                    .about("Validate the configuration and print the effective settings, secrets redacted"),
            ),
        )
        .subcommand(
            Command::new("audit").subcommand_required(true).about("The audit log").subcommand(
                Command::new("verify")
                    .about("Check the audit log's hash chain; exit 1 if an entry was edited, removed or reordered"),
            ),
        )
        .subcommand(
            Command::new("mail").subcommand_required(true).about("Mail tools").subcommand(
                Command::new("test")
                    .about("Queue a test message (the worker sends it)")
                    .arg(Arg::new("to").long("to").value_name("E").required(true))
                    .arg(
                        Arg::new("lang").long("lang").value_name("LANG").default_value("en").value_parser(["en", "es"]),
                    ),
            ),
        )
}

/// An error that ends the command, with its exit status.
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail { code: 2, message: message.into() }
    }
    pub fn run(message: impl Into<String>) -> Fail {
        Fail { code: 1, message: message.into() }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::run(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn load_config(matches: &ArgMatches) -> Result<Config, Fail> {
    let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("KITELINE_")).collect();
    let file = matches
        .get_one::<PathBuf>("config")
        .cloned()
        .or_else(|| env.iter().find(|(k, _)| k == "KITELINE_CONFIG").map(|(_, v)| PathBuf::from(v)));
    config::load(file.as_deref(), &env).map_err(|e| Fail::usage(e.to_string()))
}

fn init_logging(config: &Config, default_quiet: bool) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter: Targets = if default_quiet && config.sources.get("KITELINE_LOG") == Some(&Source::Default) {
        "warn".parse().expect("static filter")
    } else {
        config.log.parse().expect("validated with the configuration")
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(true);
    let registry = tracing_subscriber::registry().with(filter);
    match config.log_format {
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).init(),
        LogFormat::Text => registry.with(fmt.with_ansi(false)).init(),
    }
    for name in &config.unknown_env {
        tracing::warn!(variable = %name, "unknown KITELINE_ setting ignored (a typo?)");
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::run(format!("cannot start the runtime: {e}")))
}

fn run(matches: &ArgMatches) -> Result<(), Fail> {
    let config = load_config(matches)?;
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    let long_running = matches!(name, "serve" | "worker");
    if name != "config" {
        init_logging(&config, !long_running);
    }
    match (name, sub.subcommand()) {
        ("config", Some(("check", _))) => config_check(&config),
        ("serve", _) => runtime()?.block_on(serve::serve(config)),
        ("worker", _) => runtime()?.block_on(serve::worker_only(config, sub.get_flag("once"))),
        ("migrate", _) => runtime()?.block_on(async {
            let app = serve::open(&config).await?;
            println!("migrations are up to date ({})", app.store.engine().as_str());
            Ok(())
        }),
        ("user", Some(("add", args))) => runtime()?.block_on(user_add(&config, args)),
        ("token", Some(("create", args))) => runtime()?.block_on(token_create(&config, args)),
        ("backup", _) => runtime()?.block_on(backup(&config, sub.get_one::<PathBuf>("out").expect("required"))),
        ("mail", Some(("test", args))) => runtime()?.block_on(mail_test(&config, args)),
        ("audit", Some(("verify", _))) => runtime()?.block_on(audit_verify(&config)),
        _ => Err(Fail::usage("unknown command; see kiteline --help")),
    }
}

fn config_check(config: &Config) -> Result<(), Fail> {
    println!("configuration is valid\n");
    for (name, value, source) in config.effective() {
        let source = match source {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "environment",
        };
        println!("{name:<34} {value}  ({source})");
    }
    for name in &config.unknown_env {
        println!("\nwarning: {name} is not a Kiteline setting (a typo?)");
    }
    Ok(())
}

fn arg<'a>(args: &'a ArgMatches, name: &str) -> &'a str {
    args.get_one::<String>(name).map(String::as_str).unwrap_or_default()
}

/// A trimmed value of 1 to `max` characters with no line breaks (`core`'s rule).
fn one_line<'a>(value: &'a str, max: usize, flag: &str) -> Result<&'a str, Fail> {
    account::one_line(value, max).map_err(|_| Fail::usage(format!("{flag}: must be 1 to {max} characters on one line")))
}

async fn user_add(config: &Config, args: &ArgMatches) -> Result<(), Fail> {
    let email = EmailAddress::parse(arg(args, "email")).ok_or_else(|| Fail::usage("--email: not an e-mail address"))?;
    let name = one_line(arg(args, "name"), account::MAX_NAME_CHARS, "--name")?;
    let role = Role::parse(arg(args, "role")).ok_or_else(|| Fail::usage("--role: admin, coordinator or volunteer"))?;
    let mut app = serve::open(config).await?;
    app.adopt_server_url(config).await?;
    let user = NewUser { email, name: name.to_owned(), role, locale: arg(args, "lang").to_owned(), chapter_id: None };
    let (user, link) = match actions::add_user(app.ctx(), user, Timestamp::now()).await {
        Ok(created) => created,
        Err(StoreError::Conflict(Constraint::UserEmail)) => {
            return Err(Fail::usage("--email: an account with this address already exists"));
        }
        Err(e) => return Err(e.into()),
    };
    let hours = kiteline_web::tokens::SET_PASSWORD_LINK_HOURS;
    println!("created {} account {} for {}", user.role, user.id, user.email);
    witness(config, &app).await?;
    let what = format!("The single-use link to set the password (valid {hours} hours):");
    crate::secrets::deliver(&config.data_dir, &format!("set-password-{}", user.id), &what, &link)
}

async fn token_create(config: &Config, args: &ArgMatches) -> Result<(), Fail> {
    let email = EmailAddress::parse(arg(args, "email")).ok_or_else(|| Fail::usage("--email: not an e-mail address"))?;
    let label = one_line(arg(args, "name"), account::MAX_LABEL_CHARS, "--name")?;
    let scope = TokenScope::parse(arg(args, "scope")).ok_or_else(|| Fail::usage("--scope: read, write or admin"))?;
    let app = serve::open(config).await?;
    let user =
        app.store.user_by_email(&email).await?.ok_or_else(|| Fail::usage("--email: no account has this address"))?;
    if user.disabled_at.is_some() {
        return Err(Fail::usage("--email: this account is disabled"));
    }
    if user.role >= Role::Coordinator && !user.totp_enabled {
        return Err(Fail::usage(
            "--email: staff must enrol two-step login before an API token can be made for them (log in once on the web)",
        ));
    }
    let days = args.get_one::<u32>("days").copied().unwrap_or(actions::DEFAULT_TOKEN_DAYS);
    let (created, token) =
        actions::mint_api_token(&app.store, &user.id, label, scope, days, None, Timestamp::now()).await?;
    witness(config, &app).await?;
    println!("created {} token {} ({:?}) for {}", scope.as_str(), created.id, created.label, user.email);
    println!("it is shown only now; store it somewhere safe:");
    println!("{token}");
    Ok(())
}

async fn backup(config: &Config, out: &std::path::Path) -> Result<(), Fail> {
    if !config.is_sqlite() {
        return Err(Fail::run(
            "kiteline backup copies SQLite databases only; back up PostgreSQL with pg_dump \
             (for example: pg_dump --format=custom --file=kiteline.dump \"$KITELINE_DATABASE_URL\")",
        ));
    }
    let app = serve::open(config).await?;
    app.store.backup_to(out).await.map_err(|e| match e {
        StoreError::Conflict(Constraint::BackupFileExists) => {
            Fail::usage(format!("--out: {} already exists; choose a new file", out.display()))
        }
        other => Fail::run(other.to_string()),
    })?;
    println!("wrote a consistent copy of the database to {}", out.display());
    println!("it does not include the key file ({}); back that up separately", config.key_file.display());
    Ok(())
}

async fn audit_verify(config: &Config) -> Result<(), Fail> {
    let app = serve::open(config).await?;
    let key = app.vault.audit_key();
    let (anchor, entries) = app.store.audit_chain().await?;
    let n = kiteline_core::audit::verify_chain(&key, anchor.as_ref(), &entries)
        .map_err(|e| Fail::run(format!("audit log verification FAILED: {e}")))?;
    // The chain is intact in itself; does it still reach what was witnessed?
    let path = crate::witness::path_for(&config.key_file);
    let witnessed =
        crate::witness::read(&path).map_err(|e| Fail::run(format!("audit log verification FAILED: {e}")))?;
    if let Some(w) = &witnessed {
        kiteline_core::audit::check_witness(&key, w, anchor.as_ref(), &entries)
            .map_err(|e| Fail::run(format!("audit log verification FAILED: {e} (witness {})", path.display())))?;
    }
    let from = anchor.as_ref().map_or(1, |a| a.seq + 1);
    let head = entries.last().map_or_else(|| "(empty)".to_owned(), |e| format!("{} {}", e.seq, &e.hash[..16]));
    let seen = witnessed.map_or_else(|| "no witness yet".to_owned(), |w| format!("witnessed up to #{}", w.seq));
    println!("audit log intact: {n} entries checked from #{from}; head {head}; {seen}");
    crate::witness::record(&app.store, &key, &path).await.map_err(Fail::run)?;
    Ok(())
}

/// Records the audit chain's head after a command that audited something.
async fn witness(config: &Config, app: &serve::App) -> Result<(), Fail> {
    let path = crate::witness::path_for(&config.key_file);
    crate::witness::record(&app.store, &app.vault.audit_key(), &path).await.map(|_| ()).map_err(Fail::run)
}

async fn mail_test(config: &Config, args: &ArgMatches) -> Result<(), Fail> {
    let to = EmailAddress::parse(arg(args, "to")).ok_or_else(|| Fail::usage("--to: not an e-mail address"))?;
    let lang = Lang::from_tag(arg(args, "lang")).unwrap_or(Lang::En);
    let app = serve::open(config).await?;
    let to = kiteline_web::mail::Recipient { address: to.as_str(), name: "", lang };
    let kind = kiteline_templates::mail::MailKind::Test;
    let id = kiteline_web::mail::queue(&app.store, &app.vault, &config.site_name, to, &kind, Timestamp::now())
        .await
        .map_err(|e| Fail::run(e.to_string()))?;
    println!("queued test message {id}; a running server or `kiteline worker` sends it");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }
}
