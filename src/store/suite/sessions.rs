//! The dashboard session port on both engines: a session is kept by its id's hash, its
//! credential sealed at rest, touched, listed most recently used first, found by its hash,
//! pruned when expired.

use time::macros::datetime;

use super::{Harness, seal};
use crate::http::dashboard::session::{StoredSession, id_hash};

fn session(id: &str, credential: Option<&str>, minute: i64) -> StoredSession {
    let at = datetime!(2026-01-01 10:00 UTC) + time::Duration::minutes(minute);
    StoredSession {
        id_hash: id_hash(id),
        credential: credential.map(str::to_owned),
        csrf: format!("csrf-{id}"),
        opened_at: at,
        seen_at: at,
    }
}

async fn sessions_survive_a_reopen_by_hash_sealed_touched_and_pruned(h: Harness) {
    let store = h.open(Some(seal(3))).await;
    let a = session("id-a", Some("att_token_secret"), 0);
    let b = session("id-b", None, 5);
    store.save_session(&a).await.expect("save a");
    store.save_session(&b).await.expect("save b");
    // Saving again replaces.
    store.save_session(&a).await.expect("save a again");
    let later = datetime!(2026-01-01 10:30 UTC);
    store.touch_session(&a.id_hash, later).await.expect("touch");

    // A restarted att reads them back: most recently used first, the credential opened.
    let reopened = h.open(Some(seal(3))).await;
    let listed = reopened.list_sessions(10).await.expect("list");
    let touched = StoredSession {
        seen_at: later,
        ..a.clone()
    };
    assert_eq!(listed, vec![touched, b.clone()]);
    assert_eq!(reopened.list_sessions(1).await.expect("list").len(), 1);
    // Another att finds one by its hash (read through), and lists the hashes alone.
    assert_eq!(
        reopened.find_session(&b.id_hash).await.expect("find"),
        Some(b.clone())
    );
    assert_eq!(
        reopened.find_session(&id_hash("id-z")).await.expect("find"),
        None
    );
    assert_eq!(
        reopened.session_hashes(10).await.expect("hashes"),
        vec![a.id_hash, b.id_hash]
    );

    // At rest: the credential sealed (the row is keyed by the id's hash, never the id).
    let stored = h
        .raw(
            "SELECT credential FROM dashboard_sessions WHERE csrf = $1",
            &["csrf-id-a"],
        )
        .await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("enc:v1:"), "{stored:?}");
    // Another seal cannot open it: an error, not a wrong credential.
    let other = h.open(Some(seal(4))).await;
    assert!(other.list_sessions(10).await.is_err());

    // Pruning: b was last used before the idle cut; a was opened after the lifetime cut.
    let pruned = reopened
        .prune_sessions(
            datetime!(2026-01-01 09:59 UTC),
            datetime!(2026-01-01 10:20 UTC),
        )
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    let left = reopened.list_sessions(10).await.expect("list");
    assert_eq!(
        left.iter().map(|s| s.id_hash).collect::<Vec<_>>(),
        vec![a.id_hash]
    );
    // Opened before the lifetime cut, however recently used: gone too.
    let pruned = reopened
        .prune_sessions(
            datetime!(2026-01-01 10:01 UTC),
            datetime!(2026-01-01 10:20 UTC),
        )
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    reopened.save_session(&a).await.expect("save a again");
    reopened.delete_session(&a.id_hash).await.expect("delete");
    assert!(reopened.list_sessions(10).await.expect("list").is_empty());
}

super::both_engines!(sessions_survive_a_reopen_by_hash_sealed_touched_and_pruned);
