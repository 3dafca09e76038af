//! A backup restored into a fresh place holds every coop, member, plugin
//! and store record, and the restored host serves calls on it.

use std::sync::Arc;

use axum::http::StatusCode;
use coophost::app::App;
use coophost::backup;
use coophost::clock::SystemClock;
use coophost::db::Db;
use serde_json::json;

use crate::common::{Backend, TestHost, backends, engine, postgres_base_url};

const IFACE: &str = "coop:test-misbehave/misbehave";

#[tokio::test]
async fn a_restored_backup_has_everything() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("saved").await;
        host.install(&coop, "test-misbehave").await;
        host.install(&coop, "shift-board-rs").await;
        let token = host
            .member(&coop, "m@saved.coop", &["member", "admin"])
            .await;
        for i in 0..5 {
            let (s, _) = host
                .call(
                    "saved",
                    Some(&token),
                    IFACE,
                    "write-then-ok",
                    json!({"key": format!("k{i}")}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
        }
        let before = backup::census(&host.app.db).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("coophost.backup");
        backup::backup(&host.app.db, &host.url, &file)
            .await
            .unwrap();
        assert!(
            backup::backup(&host.app.db, &host.url, &file)
                .await
                .is_err(),
            "never overwrite a backup"
        );

        let (target, cleanup) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}",
                    dir.path().join("fresh/coophost.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let base = postgres_base_url();
                let name = format!("coophost_restore_{}_{}", std::process::id(), rand_u32());
                let admin = sqlx::AnyPool::connect(&base).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                let schema = backup::search_path(&host.url).unwrap();
                let (prefix, _) = base.rsplit_once('/').unwrap();
                let url = format!("{prefix}/{name}?options=-c%20search_path%3D{schema}");
                (url, Some((admin, name)))
            }
        };
        backup::restore(&file, &target).await.unwrap();
        let db = Db::connect(&target).await.unwrap();
        let after = backup::census(&db).await.unwrap();
        assert_eq!(before, after, "{backend:?}: the restore lost rows");
        assert!(after.iter().any(|(t, n)| t == "kv" && *n == 5), "{after:?}");

        // The restored database serves the same data through a new host.
        let restored = App::new(db, Arc::new(SystemClock), engine()).await.unwrap();
        let coop2 = coophost::identity::find_coop(&restored.db, "saved")
            .await
            .unwrap();
        let member = coophost::identity::list_members(&restored.db, coop2.id)
            .await
            .unwrap();
        assert_eq!(member[0].email, "m@saved.coop");
        let actor = coophost::identity::Actor {
            member_id: Some(member[0].id),
            roles: vec!["member".into()],
            ..coophost::identity::Actor::anonymous(coop2.id)
        };
        let v = restored
            .call(&coop2, actor, IFACE, "read", &json!({"key": "k3"}))
            .await
            .unwrap();
        assert_eq!(v, json!({"ok": "ok"}), "{backend:?}");
        restored.db.pool.close().await;
        if let Some((admin, name)) = cleanup {
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
        }
        host.finish().await;
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
