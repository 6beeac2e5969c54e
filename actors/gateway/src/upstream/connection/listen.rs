//! List changes and resource updates from a server of the 2026-07-28 era ([`super::era`]).
//! Such a session has no standing stream on which a server could say "my tools changed" or
//! "this resource changed", and no `resources/subscribe`: the client opens
//! `subscriptions/listen` with a filter — the list changes it wants, the resource URIs it
//! follows — and the response is the stream. For a session opened with `server/discover`,
//! att opens one ([`Listening`]), asking for the list changes the server advertises (tools,
//! prompts, resources) and the updates of the URIs att's clients hold on this server
//! ([`super::super::subscriptions::Subscriptions::held_on`], so a renewed session follows
//! them again). Each list change becomes the same [`Notice`] a handshake-era session's
//! `notifications/*/list_changed` gives, so the upstream actor refreshes its catalog the same
//! way for both eras; resource updates are published by the transport's tap like a
//! handshake-era server's.
//!
//! A filter is fixed for the life of its stream: a URI subscribed or released later opens a
//! new stream with the new filter, and the old one is closed only once the server has
//! acknowledged the new (no update is lost in between; one may arrive twice).
//!
//! The listener is a task owned by the [`super::Connection`] (aborted when it goes). A stream
//! that ends — the server closed it, the transport failed, a notification was not read in
//! time — is not reopened: the next session (a refresh within `max_init_age`, or after a
//! failure) opens its own. A server that does not implement `subscriptions/listen` answers
//! with an error; att logs it once and the session goes on without list changes.

use std::collections::BTreeSet;

use rmcp::model::{ServerNotification, SubscriptionFilter};

use super::*;

/// The most resource URIs one session's listen stream follows.
const MAX_URIS: usize = 1024;

/// The filter for what `capabilities` (a discovery result's, as JSON) says may change and
/// the `uris` followed (when the server offers resource subscriptions); `None` when nothing.
pub(super) fn filter(capabilities: &Value, uris: &BTreeSet<String>) -> Option<SubscriptionFilter> {
    let changes = |kind: &str| capabilities[kind]["listChanged"] == Value::Bool(true);
    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = changes("tools").then_some(true);
    filter.prompts_list_changed = changes("prompts").then_some(true);
    filter.resources_list_changed = changes("resources").then_some(true);
    filter.resource_subscriptions =
        (subscribable(capabilities) && !uris.is_empty()).then(|| uris.iter().cloned().collect());
    (filter != SubscriptionFilter::new()).then_some(filter)
}

/// Whether the server offers resource subscriptions.
fn subscribable(capabilities: &Value) -> bool {
    capabilities["resources"]["subscribe"] == Value::Bool(true)
}

/// att's `subscriptions/listen` stream on one session: what it follows and its task.
pub(super) struct Listening {
    name: String,
    notices: mpsc::UnboundedSender<Notice>,
    capabilities: Value,
    /// The URIs followed and the task following them (a lock held across a change, so
    /// changes apply one at a time).
    current: tokio::sync::Mutex<(BTreeSet<String>, Option<Listener>)>,
}

impl Listening {
    /// Starts following what `capabilities` advertises and `uris` on `peer` (not waiting for
    /// the server's acknowledgment: the session is usable at once).
    pub(super) fn start(
        name: String,
        peer: Peer<RoleClient>,
        capabilities: Value,
        notices: mpsc::UnboundedSender<Notice>,
        uris: Vec<String>,
    ) -> Self {
        let uris: BTreeSet<String> = uris.into_iter().take(MAX_URIS).collect();
        let task = filter(&capabilities, &uris)
            .map(|f| Listener(follow(name.clone(), peer, f, notices.clone(), None)));
        Self {
            name,
            notices,
            capabilities,
            current: tokio::sync::Mutex::new((uris, task)),
        }
    }

    /// Follows `add` too, or `remove` no more: a new stream with the new filter, once the
    /// server acknowledged it within `deadline`, replaces the old.
    pub(super) async fn change(
        &self,
        peer: Peer<RoleClient>,
        add: Option<&str>,
        remove: Option<&str>,
        deadline: Duration,
    ) -> Result<(), CallFailure> {
        if add.is_some() && !subscribable(&self.capabilities) {
            return Err(CallFailure::Rpc {
                code: super::super::outcome::METHOD_NOT_FOUND,
                message: "the server does not offer resource subscriptions".into(),
            });
        }
        let mut current = self.current.lock().await;
        let mut uris = current.0.clone();
        if let Some(uri) = add {
            uris.insert(uri.to_owned());
        }
        if let Some(uri) = remove {
            uris.remove(uri);
        }
        if uris.len() > MAX_URIS {
            return Err(CallFailure::Rpc {
                code: super::super::outcome::INVALID_PARAMS,
                message: format!("att follows at most {MAX_URIS} resources on one server"),
            });
        }
        if uris == current.0 {
            return Ok(());
        }
        let Some(filter) = filter(&self.capabilities, &uris) else {
            *current = (uris, None);
            return Ok(());
        };
        let (acked, ack) = tokio::sync::oneshot::channel();
        let task = Listener(follow(
            self.name.clone(),
            peer,
            filter,
            self.notices.clone(),
            Some(acked),
        ));
        match tokio::time::timeout(deadline, ack).await {
            Ok(Ok(Ok(()))) => {
                *current = (uris, Some(task));
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(CallFailure::Rpc {
                code: ErrorCode::INTERNAL_ERROR.0 as i64,
                message: format!("subscriptions/listen: {e}"),
            }),
            Ok(Err(_)) => Err(CallFailure::ConnectionLost(
                "subscriptions/listen ended before it was acknowledged".into(),
            )),
            Err(_) => Err(CallFailure::Timeout {
                after_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

/// The notice a list-change notification stands for.
pub(super) fn notice(notification: &ServerNotification) -> Option<Notice> {
    match notification {
        ServerNotification::ToolListChangedNotification(_) => Some(Notice::ToolsChanged),
        ServerNotification::PromptListChangedNotification(_) => Some(Notice::PromptsChanged),
        ServerNotification::ResourceListChangedNotification(_) => Some(Notice::ResourcesChanged),
        _ => None,
    }
}

/// Opens `subscriptions/listen` with `filter` on `peer`, says on `acked` whether the server
/// acknowledged it, and forwards what it hears to `notices` until the stream ends.
fn follow(
    name: String,
    peer: Peer<RoleClient>,
    filter: SubscriptionFilter,
    notices: mpsc::UnboundedSender<Notice>,
    acked: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let opened = peer.listen(filter).await;
        if let Some(acked) = acked {
            let _ = acked.send(opened.as_ref().map(drop).map_err(|e| e.to_string()));
        }
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(e) => {
                tracing::info!(upstream = %name, error = %e, "subscriptions/listen refused: the session goes on without list changes");
                return;
            }
        };
        loop {
            match stream.next().await {
                Ok(Some(n)) => {
                    if let Some(notice) = notice(&n)
                        && notices.send(notice).is_err()
                    {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(upstream = %name, error = %e, "subscriptions/listen ended");
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filter_asks_for_the_list_changes_the_server_advertises_and_nothing_else() {
        let cases = [
            (json!({}), None),
            (json!({"tools": {}}), None),
            (json!({"tools": {"listChanged": false}}), None),
            (
                json!({"tools": {"listChanged": true}, "prompts": {}}),
                Some((true, false, false)),
            ),
            (
                json!({"tools": {"listChanged": true}, "prompts": {"listChanged": true},
                       "resources": {"listChanged": true, "subscribe": true}}),
                Some((true, true, true)),
            ),
            (
                json!({"resources": {"listChanged": true}}),
                Some((false, false, true)),
            ),
        ];
        let none = BTreeSet::new();
        for (caps, want) in cases {
            let got = filter(&caps, &none).map(|f| {
                (
                    f.tools_list_changed == Some(true),
                    f.prompts_list_changed == Some(true),
                    f.resources_list_changed == Some(true),
                )
            });
            assert_eq!(got, want, "{caps}");
            if let Some(f) = filter(&caps, &none) {
                assert_eq!(f.resource_subscriptions, None, "{caps}");
            }
        }
    }

    #[test]
    fn followed_uris_are_asked_for_only_from_a_server_that_offers_subscriptions() {
        let uris = BTreeSet::from(["x://a".to_owned(), "x://b".to_owned()]);
        let cases = [
            (json!({}), None),
            (json!({"resources": {}}), None),
            (
                json!({"resources": {"subscribe": false, "listChanged": true}}),
                Some(None),
            ),
            (
                json!({"resources": {"subscribe": true}}),
                Some(Some(vec!["x://a", "x://b"])),
            ),
        ];
        for (caps, want) in cases {
            let got = filter(&caps, &uris).map(|f| f.resource_subscriptions);
            let want = want.map(|w| w.map(|u| u.into_iter().map(str::to_owned).collect()));
            assert_eq!(got, want, "{caps}");
        }
        let subscribable = json!({"resources": {"subscribe": true}});
        assert_eq!(
            filter(&subscribable, &BTreeSet::new()),
            None,
            "nothing to follow"
        );
    }
}
