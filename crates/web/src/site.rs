//! The organization as pages show it, cached: every page shows its name,
//! so the profile is read at most every few seconds, and at once after an
//! admin changes it on this node (other nodes catch up within the TTL).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiteline_store::Store;
use kiteline_templates::pages::Site;

/// How long a read profile is used before it is read again.
const TTL: Duration = Duration::from_secs(10);

pub struct SiteCache {
    /// `KITELINE_SITE_NAME`, used until an admin names the organization.
    fallback_name: String,
    cached: Mutex<Option<(Instant, Arc<Site>)>>,
}

impl SiteCache {
    pub fn new(fallback_name: impl Into<String>) -> SiteCache {
        SiteCache { fallback_name: fallback_name.into(), cached: Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<Site>)>> {
        self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last profile read, without touching the database (for error
    /// pages drawn before a request reaches the handlers).
    pub fn current(&self) -> Arc<Site> {
        self.lock().as_ref().map_or_else(|| Arc::new(Site::named(&self.fallback_name)), |(_, s)| s.clone())
    }

    /// The profile, read again when the cached one is older than the TTL.
    /// If the database cannot answer, the last one read (or the configured
    /// name) is shown: a page is never refused for its header.
    pub async fn get(&self, store: &Store) -> Arc<Site> {
        if let Some((at, site)) = self.lock().as_ref()
            && at.elapsed() < TTL
        {
            return site.clone();
        }
        match store.org_profile().await {
            Ok(p) => {
                let site = Arc::new(Site {
                    name: if p.name.is_empty() { self.fallback_name.clone() } else { p.name },
                    description_en: p.description_en,
                    description_es: p.description_es,
                    contact_email: p.contact_email,
                    postal_address: p.postal_address,
                    logo_version: p.logo_version,
                });
                *self.lock() = Some((Instant::now(), site.clone()));
                site
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the organization's profile");
                self.current()
            }
        }
    }

    /// Forgets the cached profile (after an admin saved a new one).
    pub fn invalidate(&self) {
        *self.lock() = None;
    }
}
