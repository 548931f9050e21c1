//! The containers this process owns: launching them, and never losing one.
//!
//! Every container is covered by a [`Lease`] from before it is created until Docker has
//! confirmed its removal. Dropping a lease, wherever that happens (an actor stopping, a
//! message that was never delivered, a failed launch), spawns the removal; a removal that
//! fails (Docker down) leaves the container in the [`Inventory`] as doomed, and the reaper
//! retries it. Shutdown waits for the removal tasks through the shared [`TaskTracker`].

use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

use crate::docker::{AttachReader, AttachWriter, Docker, DockerError, Labels};
use crate::metrics::Metrics;
use crate::policy::Policy;

/// Everything needed to create and remove sandbox containers, shared by all actors.
pub struct SandboxHost {
    pub docker: Arc<Docker>,
    pub policy: Arc<Policy>,
    pub metrics: Metrics,
    pub inventory: Inventory,
    pub tracker: TaskTracker,
    /// `--server-name`.
    pub server: String,
    /// This run's id, on every container's labels.
    pub instance: String,
    /// Launches under way at once (`--concurrent-starts`).
    pub launches: tokio::sync::Semaphore,
}

/// The containers this process created and has not yet seen removed, by name suffix.
#[derive(Clone, Default)]
pub struct Inventory {
    entries: Arc<DashMap<String, InventoryEntry>>,
}

#[derive(Debug, Clone)]
pub struct InventoryEntry {
    /// The name to remove it by (it changes when a warm container is claimed).
    pub name: String,
    pub since: Instant,
    /// Its removal failed; the reaper retries.
    pub doomed: bool,
}

impl Inventory {
    pub fn insert(&self, suffix: &str, name: &str) {
        self.entries.insert(
            suffix.to_string(),
            InventoryEntry {
                name: name.to_string(),
                since: Instant::now(),
                doomed: false,
            },
        );
    }

    pub fn rename(&self, suffix: &str, name: &str) {
        if let Some(mut e) = self.entries.get_mut(suffix) {
            e.name = name.to_string();
        }
    }

    pub fn remove(&self, suffix: &str) {
        self.entries.remove(suffix);
    }

    pub fn mark_doomed(&self, suffix: &str) {
        if let Some(mut e) = self.entries.get_mut(suffix) {
            e.doomed = true;
        }
    }

    pub fn contains(&self, suffix: &str) -> bool {
        self.entries.contains_key(suffix)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Containers whose removal failed, as (suffix, name).
    pub fn doomed(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter(|e| e.doomed)
            .map(|e| (e.key().clone(), e.name.clone()))
            .collect()
    }
}

/// The suffix (12 hex) of one of our container names.
pub fn suffix_of(name: &str) -> Option<&str> {
    let name = name.trim_start_matches('/');
    name.strip_prefix(crate::docker::SESSION_PREFIX)
        .or_else(|| name.strip_prefix(crate::docker::WARM_PREFIX))
}

/// The name one of our containers has before or after a claim renames it.
fn other_name(name: &str) -> Option<String> {
    use crate::docker::{SESSION_PREFIX, WARM_PREFIX};
    let suffix = suffix_of(name)?;
    let prefix = if name.starts_with(WARM_PREFIX) {
        SESSION_PREFIX
    } else {
        WARM_PREFIX
    };
    Some(format!("{prefix}{suffix}"))
}

/// A live attachment to a started container.
pub struct Attached {
    pub lease: Lease,
    pub reader: AttachReader,
    pub writer: AttachWriter,
    pub took: Duration,
}

impl SandboxHost {
    /// Creates, attaches and starts a container. The attach comes before the start so that
    /// the shell's first prompt is not lost. On failure the container is removed again.
    pub async fn launch(
        self: &Arc<Self>,
        lease: Lease,
        session: &str,
    ) -> Result<Attached, DockerError> {
        let began = Instant::now();
        let labels = Labels {
            server: self.server.clone(),
            instance: self.instance.clone(),
            session: session.to_string(),
        };
        let name = lease.name().to_string();
        // Never closed, so acquiring only waits.
        let _turn = self.launches.acquire().await;
        if let Err(e) = self.docker.create(&name, &self.policy, &labels).await {
            self.metrics.docker_error("create", e.kind());
            return Err(e);
        }
        let (reader, writer) = match self.docker.attach(&name).await {
            Ok(io) => io,
            Err(e) => {
                self.metrics.docker_error("attach", e.kind());
                return Err(e);
            }
        };
        if let Err(e) = self.docker.start(&name).await {
            self.metrics.docker_error("start", e.kind());
            return Err(e);
        }
        Ok(Attached {
            lease,
            reader,
            writer,
            took: began.elapsed(),
        })
    }

    /// Takes out a lease on a new container name (`prefix` and a fresh suffix) before
    /// anything is created. From now on the container holds a slot of capacity.
    pub fn lease(self: &Arc<Self>, prefix: &str) -> Lease {
        let suffix = crate::docker::new_container_suffix();
        let name = format!("{prefix}{suffix}");
        self.inventory.insert(&suffix, &name);
        Lease {
            host: self.clone(),
            name,
            suffix,
        }
    }

    /// A lease for a session's own (cold-started) container.
    pub fn session_lease(self: &Arc<Self>) -> Lease {
        self.lease(crate::docker::SESSION_PREFIX)
    }

    /// Removes a container and settles its inventory entry. A container Docker does not
    /// know by `name` is looked for under its other name too: a claim's rename may have
    /// reached Docker after its actor stopped.
    pub async fn remove(&self, suffix: &str, name: &str) -> Result<(), DockerError> {
        let removed = match self.docker.remove_existing(name).await {
            Ok(false) => match other_name(name) {
                Some(other) => self.docker.remove(&other).await,
                None => Ok(()),
            },
            result => result.map(|_| ()),
        };
        match removed {
            Ok(()) => {
                self.inventory.remove(suffix);
                Ok(())
            }
            Err(e) => {
                self.metrics.docker_error("remove", e.kind());
                self.inventory.mark_doomed(suffix);
                Err(e)
            }
        }
    }
}

/// Ownership of one container. Dropping it removes the container.
pub struct Lease {
    host: Arc<SandboxHost>,
    name: String,
    suffix: String,
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// Records that Docker now knows the container by `name`.
    pub fn renamed(&mut self, name: String) {
        self.host.inventory.rename(&self.suffix, &name);
        self.name = name;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let host = self.host.clone();
        let name = std::mem::take(&mut self.name);
        let suffix = std::mem::take(&mut self.suffix);
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                host.tracker.clone().spawn(async move {
                    match host.remove(&suffix, &name).await {
                        Ok(()) => log::debug!("container {name} removed"),
                        Err(e) => log::warn!(
                            "container {name}: removal failed ({e}); the reaper will retry"
                        ),
                    }
                });
            }
            Err(_) => {
                host.inventory.mark_doomed(&suffix);
                log::warn!(
                    "container {name}: no runtime left to remove it; the next start removes it"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_looked_for_under_its_name_before_and_after_a_claim() {
        assert_eq!(
            other_name("sandterm-warm-0123456789ab").as_deref(),
            Some("terminal-0123456789ab")
        );
        assert_eq!(
            other_name("terminal-0123456789ab").as_deref(),
            Some("sandterm-warm-0123456789ab")
        );
        assert_eq!(other_name("someone-elses"), None);
    }
}
