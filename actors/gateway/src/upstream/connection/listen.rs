//! List changes from a server of the 2026-07-28 era ([`super::era`]). Such a session has no
//! standing stream on which a server could say "my tools changed": the client opens
//! `subscriptions/listen`, whose response is the stream. For a session opened with
//! `server/discover`, att opens one, asking for the list changes the server advertises
//! (tools, prompts, resources), and turns each notification into the same [`Notice`] a
//! handshake-era session's `notifications/*/list_changed` gives — so the upstream actor
//! refreshes its catalog the same way for both eras.
//!
//! The listener is a task owned by the [`super::Connection`] (aborted when it goes). A stream
//! that ends — the server closed it, the transport failed, a notification was not read in
//! time — is not reopened: the next session (a refresh within `max_init_age`, or after a
//! failure) opens its own. A server that does not implement `subscriptions/listen` answers
//! with an error; att logs it once and the session goes on without list changes.

use rmcp::model::{ServerNotification, SubscriptionFilter};

use super::*;

/// The filter for what `capabilities` (a discovery result's, as JSON) says may change;
/// `None` when nothing does.
pub(super) fn filter(capabilities: &Value) -> Option<SubscriptionFilter> {
    let changes = |kind: &str| capabilities[kind]["listChanged"] == Value::Bool(true);
    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = changes("tools").then_some(true);
    filter.prompts_list_changed = changes("prompts").then_some(true);
    filter.resources_list_changed = changes("resources").then_some(true);
    (filter != SubscriptionFilter::new()).then_some(filter)
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

/// Opens `subscriptions/listen` with `filter` on `peer` and forwards what it hears to
/// `notices` until the stream ends.
pub(super) fn follow(
    name: String,
    peer: Peer<RoleClient>,
    filter: SubscriptionFilter,
    notices: mpsc::UnboundedSender<Notice>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = match peer.listen(filter).await {
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
        for (caps, want) in cases {
            let got = filter(&caps).map(|f| {
                (
                    f.tools_list_changed == Some(true),
                    f.prompts_list_changed == Some(true),
                    f.resources_list_changed == Some(true),
                )
            });
            assert_eq!(got, want, "{caps}");
            if let Some(f) = filter(&caps) {
                assert_eq!(f.resource_subscriptions, None, "{caps}");
            }
        }
    }
}
