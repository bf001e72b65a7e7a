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

/// The opened store and keys.
pub struct App {
    pub store: SharedStore,
    pub vault: Vault,
}

impl App {
    /// What the shared use-cases need, with the configuration's names and
    /// public URL (the same the server uses for its links).
    pub fn ctx<'a>(&'a self, config: &'a Config) -> kiteline_web::actions::Ctx<'a> {
        kiteline_web::actions::Ctx {
            store: &self.store,
            vault: &self.vault,
            site_name: &config.site_name,
            public_url: &config.public_url,
        }
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
    Ok(App { store, vault })
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
async fn offer_first_admin(config: &Config, app: &App) -> Result<(), Fail> {
    if app.store.count_active_admins().await? > 0 {
        return Ok(());
    }
    let hours = kiteline_web::tokens::FIRST_ADMIN_LINK_HOURS;
    let link = kiteline_web::actions::offer_first_admin(app.ctx(config), Timestamp::now()).await?;
    println!();
    let what =
        format!("No administrator exists yet. The single-use link (valid {hours} hours) that creates the first one:");
    crate::secrets::deliver(&config.data_dir, "first-admin", &what, &link)?;
    println!();
    Ok(())
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
    let app = open(&config).await?;
    let transport = transport(&config)?;
    offer_first_admin(&config, &app).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Fail::run(format!("cannot listen on {}: {e}", config.listen)))?;
    let bound = listener.local_addr().map_err(|e| Fail::run(e.to_string()))?;
    if !config.rate_limits {
        tracing::warn!(
            "RATE LIMITS ARE OFF (KITELINE_RATE_LIMITS=off): logins, codes and public forms are unprotected; use only for load tests"
        );
    }
    let state = AppState {
        store: app.store.clone(),
        vault: app.vault.clone(),
        config: Arc::new(WebConfig {
            public_url: config.public_url.clone(),
            site_name: config.site_name.clone(),
            mail_from: config.mail_from.clone(),
            client_ip_header: config.client_ip_header.clone(),
            trusted_proxies: config.trusted_proxies,
            chapter_coordinators_see_at_large: config.chapter_coordinators_see_at_large,
            body_timeout: Duration::from_secs(config.body_timeout_seconds),
            request_timeout: Duration::from_secs(config.request_timeout_seconds),
            default_calling_code: config.default_calling_code.clone(),
        }),
        limits: Arc::new(kiteline_web::security::RateLimits::new(config.rate_limits)),
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
        w.site_name.clone_from(&config.site_name);
        w.public_url.clone_from(&config.public_url);
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
        public_url = %config.public_url,
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
    let app = open(&config).await?;
    let mut worker = Worker::new(app.store, app.vault, transport(&config)?, config.mail_from.clone());
    worker.audit_retention_days = config.audit_retention_days;
    worker.site_name.clone_from(&config.site_name);
    worker.public_url.clone_from(&config.public_url);
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
