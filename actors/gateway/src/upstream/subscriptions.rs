//! Resource subscriptions att holds upstream on behalf of its own clients, and the
//! `notifications/resources/updated` they bring.
//!
//! One instance per att instance ([`crate::tree::AttTree::subscriptions`]). A URI is
//! subscribed upstream once, on one server, however many clients want it: the count of
//! clients is kept here, so the last client to leave unsubscribes upstream. The set outlives
//! upstream sessions — a new session (a restart, a refresh) subscribes again to what its
//! server holds — and every update an upstream sends is published to att's client sessions,
//! which pass on those they subscribed to.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio::sync::broadcast;

/// How many updates a slow client session may fall behind by before it misses some.
const UPDATES_CAPACITY: usize = 1024;

/// The subscriptions of one att instance.
#[derive(Debug)]
pub struct Subscriptions {
    /// server → URI → clients holding it.
    held: Mutex<HashMap<String, BTreeMap<String, usize>>>,
    updates: broadcast::Sender<String>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashMap::new()),
            updates: broadcast::channel(UPDATES_CAPACITY).0,
        }
    }
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, usize>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every URI an upstream says was updated, from now on.
    pub fn updates(&self) -> broadcast::Receiver<String> {
        self.updates.subscribe()
    }

    /// An upstream said `uri` was updated.
    pub fn publish(&self, uri: &str) {
        let _ = self.updates.send(uri.to_owned());
    }

    /// One more client holds `uri` on the server that already holds it, if one does
    /// (checked and counted at once, so a concurrent last release cannot slip between);
    /// returns that server.
    pub fn join(&self, uri: &str) -> Option<String> {
        let mut held = self.lock();
        let mut holders: Vec<&String> = held
            .iter()
            .filter(|(_, uris)| uris.contains_key(uri))
            .map(|(server, _)| server)
            .collect();
        holders.sort();
        let server = (*holders.first()?).clone();
        if let Some(count) = held.get_mut(&server).and_then(|u| u.get_mut(uri)) {
            *count += 1;
        }
        Some(server)
    }

    /// One more client holds `uri` on `server`; `true` when it is the first.
    pub fn hold(&self, server: &str, uri: &str) -> bool {
        let mut held = self.lock();
        let count = held
            .entry(server.to_owned())
            .or_default()
            .entry(uri.to_owned())
            .or_insert(0);
        *count += 1;
        *count == 1
    }

    /// One client less holds `uri` on `server`; `true` when it was the last (the server
    /// should be told to unsubscribe).
    pub fn release(&self, server: &str, uri: &str) -> bool {
        let mut held = self.lock();
        let Some(uris) = held.get_mut(server) else {
            return false;
        };
        let last = match uris.get_mut(uri) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                uris.remove(uri);
                true
            }
            None => false,
        };
        if uris.is_empty() {
            held.remove(server);
        }
        last
    }

    /// The URIs held on `server` (a new session subscribes to them again).
    pub fn held_on(&self, server: &str) -> Vec<String> {
        self.lock()
            .get(server)
            .map(|uris| uris.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_clients_per_server_and_uri() {
        let s = Subscriptions::default();
        assert!(s.hold("a", "file:///x"));
        assert!(!s.hold("a", "file:///x"));
        assert!(s.hold("b", "file:///y"));
        assert_eq!(s.join("file:///x").as_deref(), Some("a"));
        assert_eq!(s.held_on("a"), vec!["file:///x".to_owned()]);
        assert!(!s.release("a", "file:///x"));
        assert!(!s.release("a", "file:///x"));
        assert!(s.release("a", "file:///x"), "the third holder was the last");
        assert!(!s.release("a", "file:///x"), "nothing left to release");
        assert_eq!(s.join("file:///x"), None);
        assert!(s.held_on("a").is_empty());
        assert_eq!(s.held_on("b"), vec!["file:///y".to_owned()]);
    }

    #[tokio::test]
    async fn updates_reach_every_receiver() {
        let s = Subscriptions::default();
        let (mut r1, mut r2) = (s.updates(), s.updates());
        s.publish("file:///x");
        assert_eq!(r1.recv().await.unwrap(), "file:///x");
        assert_eq!(r2.recv().await.unwrap(), "file:///x");
    }
}
