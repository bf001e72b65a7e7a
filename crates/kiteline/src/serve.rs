//! Start-up and shutdown: open everything in order, serve, and on SIGTERM or
//! Ctrl-C stop accepting, let in-flight requests and the current job finish
//! (up to `KITELINE_SHUTDOWN_GRACE_SECONDS`), then exit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kiteline_integrations::mail::{FileTransport, MailTransport, SmtpTransport};
use kiteline_store::SharedStore;
use kiteline_store::vault::Vault;
use kiteline_web::{AppState, WebConfig};
use tokio::sync::watch;

use crate::cli::Fail;
use crate::config::Config;
use crate::keyfile;
use crate::worker::Worker;

/// The opened store and keys, and the name and address links carry.
pub struct App {
    pub store: SharedStore,
    pub vault: Vault,
    /// The organization's name: its profile's, else `KITELINE_SITE_NAME`.
    pub site_name: String,
    /// The base of every link: `KITELINE_PUBLIC_URL`, or — for a command
    /// run where it is not set — the one the running server recorded.
    pub public_url: String,
}

impl App {
    /// What the shared use-cases need.
    pub fn ctx(&self) -> kiteline_web::actions::Ctx<'_> {
        kiteline_web::actions::Ctx {
            store: &self.store,
            vault: &self.vault,
            site_name: self.site_name.clone(),
            public_url: &self.public_url,
        }
    }

    /// For a command (not the server): when `KITELINE_PUBLIC_URL` is not set,
    /// links use the address the server recorded at its last start, so the
    /// CLI and the server print the same links.
    pub async fn adopt_server_url(&mut self, config: &Config) -> Result<(), Fail> {
        if config.sources.get("KITELINE_PUBLIC_URL").copied().unwrap_or(crate::config::Source::Default)
            != crate::config::Source::Default
        {
            return Ok(());
        }
        let recorded = self.store.org_profile().await?.public_url;
        if !recorded.is_empty() {
            self.public_url = recorded;
        }
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Fail> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Fail::run(format!("cannot create {}: {e}", dir.display())))
}

/// Opens the key file (creating it on first run), the database (creating and
/// migrating it), and the data keys.
pub async fn open(config: &Config) -> Result<App, Fail> {
    if let Some(path) = kiteline_store::sqlite_path(&config.database_url) {
        create_private_dir(Path::new(path).parent().unwrap_or(Path::new("")))?;
    }
    create_private_dir(config.key_file.parent().unwrap_or(Path::new("")))?;
    let (keys, created) =
        keyfile::load_or_create(&config.key_file, config.allow_readable_key_file).map_err(Fail::usage)?;
    if created {
        tracing::warn!(path = %config.key_file.display(), "created a new key file; back it up apart from the database");
    }
    let store_keys = kiteline_store::StoreKeys::from_blind(&keys.blind);
    let store = kiteline_store::open(&config.database_url, config.db_pool_size, store_keys)
        .await
        .map_err(|e| Fail::run(format!("database: {e}")))?;
    let vault =
        Vault::load(&store, &keys.keks, keys.blind, Timestamp::now()).await.map_err(|e| Fail::run(e.to_string()))?;
    let profile = store.org_profile().await?;
    let site_name = if profile.name.is_empty() { config.site_name.clone() } else { profile.name };
    Ok(App { store, vault, site_name, public_url: config.public_url.clone() })
}

fn transport(config: &Config) -> Result<Arc<dyn MailTransport>, Fail> {
    let t: Arc<dyn MailTransport> = match &config.smtp_url {
        Some(url) => {
            Arc::new(SmtpTransport::from_url(url).map_err(|e| Fail::usage(format!("KITELINE_SMTP_URL: {e}")))?)
        }
        None => Arc::new(FileTransport::new(&config.data_dir.join("mail"))),
    };
    tracing::info!(transport = %t.describe(), "mail transport");
    Ok(t)
}

/// With no active admin, prints a fresh single-use link that creates one.
/// Called only once the listener is bound, so a server that cannot start
/// never replaces the link of one that is running.
async fn offer_first_admin(config: &Config, app: &App) -> Result<(), Fail> {
    if app.store.count_active_admins().await? > 0 {
        return Ok(());
    }
    let hours = kiteline_web::tokens::FIRST_ADMIN_LINK_HOURS;
    let link = kiteline_web::actions::offer_first_admin(app.ctx(), Timestamp::now()).await?;
    println!();
    let what =
        format!("No administrator exists yet. The single-use link (valid {hours} hours) that creates the first one:");
    crate::secrets::deliver(&config.data_dir, "first-admin", &what, &link)?;
    println!();
    Ok(())
}

/// An exclusive lock on `<database>.lock` beside a SQLite database, held
/// while the server runs (the operating system drops it if the process
/// dies). PostgreSQL deployments run several nodes and take none.
fn serve_lock(config: &Config) -> Result<Option<std::fs::File>, Fail> {
    let Some(db) = kiteline_store::sqlite_path(&config.database_url) else { return Ok(None) };
    create_private_dir(Path::new(db).parent().unwrap_or(Path::new("")))?;
    let path = format!("{db}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Fail::run(format!("cannot open {path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Fail::run(format!(
            "another Kiteline server is already serving this data folder ({db}); stop it first, \
             or give this one its own KITELINE_DATA_DIR"
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Fail::run(format!("cannot lock {path}: {e}"))),
    }
}

/// Registers for SIGTERM and SIGINT *now* (so a signal that arrives before the
/// server is announced is not lost or fatal) and returns a future that
/// resolves on the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Fail> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let register = |kind| signal(kind).map_err(|e| Fail::run(format!("cannot listen for signals: {e}")));
        let (mut term, mut int) = (register(SignalKind::terminate())?, register(SignalKind::interrupt())?);
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

pub async fn serve(config: Config) -> Result<(), Fail> {
    let started = std::time::Instant::now();
    // One server per SQLite data folder: a second would fight over the
    // file and replace the first one's setup link.
    let _lock = serve_lock(&config)?;
    let app = open(&config).await?;
    let transport = transport(&config)?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Fail::run(format!("cannot listen on {}: {e}", config.listen)))?;
    let bound = listener.local_addr().map_err(|e| Fail::run(e.to_string()))?;
    // Links point where this server really listens: the configured public
    // URL, or (not set) the address it bound, port included. Recorded, so
    // commands run beside it print the same links.
    let mut app = app;
    if config.sources.get("KITELINE_PUBLIC_URL").copied().unwrap_or(crate::config::Source::Default)
        == crate::config::Source::Default
    {
        app.public_url = crate::config::url_for(bound);
    }
    app.store.record_public_url(&app.public_url, Timestamp::now()).await?;
    offer_first_admin(&config, &app).await?;
    if !config.rate_limits {
        tracing::warn!(
            "RATE LIMITS ARE OFF (KITELINE_RATE_LIMITS=off): logins, codes and public forms are unprotected; use only for load tests"
        );
    }
    let state = AppState {
        store: app.store.clone(),
        vault: app.vault.clone(),
        config: Arc::new(WebConfig {
            public_url: app.public_url.clone(),
            site_name: config.site_name.clone(),
            mail_from: config.mail_from.clone(),
            client_ip_header: config.client_ip_header.clone(),
            trusted_proxies: config.trusted_proxies,
            chapter_coordinators_see_at_large: config.chapter_coordinators_see_at_large,
            body_timeout: Duration::from_secs(config.body_timeout_seconds),
            request_timeout: Duration::from_secs(config.request_timeout_seconds),
            default_calling_code: config.default_calling_code.clone(),
            mail_sent: config.smtp_url.is_some(),
        }),
        limits: Arc::new(kiteline_web::security::RateLimits::new(config.rate_limits)),
        site: Arc::new(kiteline_web::site::SiteCache::new(config.site_name.clone())),
    };
    let router = kiteline_web::router(state);
    let limits = crate::listener::Limits {
        max_connections: config.connection_cap(),
        header_timeout: Duration::from_secs(config.header_timeout_seconds),
        max_header_bytes: config.max_header_bytes,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = config.worker.then(|| {
        let mut w = Worker::new(app.store.clone(), app.vault.clone(), transport, config.mail_from.clone());
        w.audit_retention_days = config.audit_retention_days;
        w.site_name.clone_from(&app.site_name);
        w.public_url.clone_from(&app.public_url);
        w.witness = Some(crate::witness::path_for(&config.key_file));
        let rx = stop_rx.clone();
        tokio::spawn(async move { w.run(rx).await })
    });

    let witness = tokio::spawn(crate::witness::keep(
        app.store.clone(),
        app.vault.audit_key(),
        crate::witness::path_for(&config.key_file),
        stop_rx.clone(),
    ));
    let signal = shutdown_signal()?;
    let server = crate::listener::serve(listener, router, limits, stop_rx.clone());
    println!("listening on http://{bound}");
    tracing::info!(
        listen = %bound,
        public_url = %app.public_url,
        engine = app.store.engine().as_str(),
        worker = config.worker,
        max_connections = limits.max_connections,
        startup_ms = started.elapsed().as_millis() as u64,
        "ready"
    );

    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests and the current job");
        let _ = signal_tx.send(true);
    });
    let mut grace_rx = stop_rx.clone();
    tokio::select! {
        () = server => {}
        _ = async { let _ = grace_rx.wait_for(|s| *s).await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_s = grace.as_secs(), "grace period over; closing remaining connections");
        }
    }
    let _ = stop_tx.send(true);
    if let Some(w) = worker
        && tokio::time::timeout(grace, w).await.is_err()
    {
        tracing::warn!("the worker did not finish its job within the grace period");
    }
    // The last word on the audit chain's head, after every request ended.
    let _ = tokio::time::timeout(grace, witness).await;
    tracing::info!("stopped");
    Ok(())
}

pub async fn worker_only(config: Config, once: bool) -> Result<(), Fail> {
    let mut app = open(&config).await?;
    app.adopt_server_url(&config).await?;
    let (site_name, public_url) = (app.site_name.clone(), app.public_url.clone());
    let mut worker = Worker::new(app.store, app.vault, transport(&config)?, config.mail_from.clone());
    worker.audit_retention_days = config.audit_retention_days;
    worker.site_name = site_name;
    worker.public_url = public_url;
    worker.witness = Some(crate::witness::path_for(&config.key_file));
    if once {
        let n = worker.run_until_idle().await?;
        println!("ran {n} job(s)");
        return Ok(());
    }
    let (tx, rx) = watch::channel(false);
    let signal = shutdown_signal()?;
    tokio::spawn(async move {
        signal.await;
        let _ = tx.send(true);
    });
    worker.run(rx).await;
    Ok(())
}
