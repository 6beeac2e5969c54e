//! Loading: sources, precedence, and errors that name the key and where it came from.

use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(f.path(), text).expect("write temp file");
    f
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

#[test]
fn no_file_and_no_env_gives_the_defaults() {
    let c = load(None, env(&[("PATH", "/bin")])).expect("defaults load");
    assert_eq!(c.listen, "127.0.0.1:8300".parse().expect("addr"));
    assert_eq!(c.data_dir, PathBuf::from(".att"));
    assert_eq!(c.http.request_timeout, Duration::from_secs(60));
}

#[test]
fn env_overrides_file_and_nested_keys_use_double_underscores() {
    let f = file("listen = \"127.0.0.1:9000\"\n[http]\nrequest_timeout = \"5s\"\n");
    let c = load(
        Some(f.path()),
        env(&[
            ("ATT_HTTP__REQUEST_TIMEOUT", "7s"),
            ("ATT_ACTORS__MAX_RESTARTS", "9"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.http.request_timeout, Duration::from_secs(7));
    assert_eq!(c.actors.max_restarts, 9);
}

#[test]
fn durations_outside_their_ranges_stop_att_naming_the_key() {
    let table = [
        (
            "ATT_HTTP__REQUEST_TIMEOUT",
            "0s",
            Some("http.request_timeout"),
        ),
        ("ATT_HTTP__REQUEST_TIMEOUT", "1h", None),
        ("ATT_HTTP__SHUTDOWN_GRACE", "0s", None),
        (
            "ATT_HTTP__SHUTDOWN_GRACE",
            "11m",
            Some("http.shutdown_grace"),
        ),
        (
            "ATT_ACTORS__RESTART_BACKOFF",
            "0s",
            Some("actors.restart_backoff"),
        ),
        (
            "ATT_ACTORS__RESTART_WINDOW",
            "99999999999h",
            Some("actors.restart_window"),
        ),
        (
            "ATT_ACTORS__STOP_TIMEOUT",
            "1h",
            Some("actors.stop_timeout"),
        ),
        (
            "ATT_GATEWAY__RETRY_BACKOFF_CAP",
            "2h",
            Some("gateway.retry_backoff_cap"),
        ),
        ("ATT_GATEWAY__RETRY_BACKOFF", "1ms", None),
        (
            "ATT_LAUNCH__CRASH_WINDOW",
            "10ms",
            Some("launch.crash_window"),
        ),
        ("ATT_LAUNCH__SWITCH_GRACE", "10m", None),
        ("ATT_LAUNCH__DRAIN", "1h", Some("launch.drain")),
    ];
    for (var, value, refused) in table {
        match (load(None, env(&[(var, value)])), refused) {
            (Ok(_), None) => {}
            (Err(e), Some(key)) => {
                let e = e.to_string();
                assert!(
                    e.contains(key) && e.contains("allowed from"),
                    "{var}={value}: {e}"
                );
            }
            (got, want) => panic!("{var}={value}: expected refusal {want:?}, got {got:?}"),
        }
    }
    let f = file(
        "[[upstreams]]\nname = \"a\"\nurl = \"http://h/mcp\"\nmax_init_age = \"99999999999h\"\n",
    );
    let e = load(Some(f.path()), env(&[]))
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("max_init_age") && e.contains("allowed from"),
        "{e}"
    );
    let e = load(None, env(&[("ATT_GATEWAY__MAX_UPSTREAMS", "0")]))
        .expect_err("refused")
        .to_string();
    assert!(e.contains("gateway.max_upstreams"), "{e}");
}

#[test]
fn unknown_key_in_file_is_named() {
    let f = file("[http]\nbody_limt = 5\n");
    let e = load(Some(f.path()), env(&[]))
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("http.body_limt"), "{e}");
    assert!(e.contains("config file"), "{e}");
}

#[test]
fn unknown_env_key_names_the_variable() {
    let e = load(None, env(&[("ATT_LISTNE", "x")]))
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("`listne`") && e.contains("ATT_LISTNE"), "{e}");
}

#[test]
fn bad_port_is_named_with_what_was_expected() {
    let f = file("listen = \"127.0.0.1:99999\"\n");
    let e = load(Some(f.path()), env(&[]))
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("`listen`") && e.contains("port from 0 to 65535"),
        "{e}"
    );
}

#[test]
fn bad_duration_and_bad_enum_are_named() {
    let e = load(None, env(&[("ATT_HTTP__REQUEST_TIMEOUT", "soon")]))
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("http.request_timeout") && e.contains("ATT_HTTP__REQUEST_TIMEOUT"),
        "{e}"
    );
    let e = load(None, env(&[("ATT_LOG_FORMAT", "xml")]))
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("log_format") && e.contains("human"), "{e}");
}

#[test]
fn the_clis_own_variables_and_a_numeric_token_do_not_stop_serve() {
    let c = load(
        None,
        env(&[
            ("ATT_URL", "http://127.0.0.1:8300"),
            ("ATT_API_TOKEN", "1234567890123456"),
            ("ATT_SECRET_KEY", "not a config key"),
            ("ATT_CA_FILE", "/etc/att/ca.pem"),
            ("ATT_CLIENT_CERT", "/etc/att/me.pem"),
            ("ATT_CLIENT_KEY", "/etc/att/me.key"),
            (
                "ATT_TEST_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
        ]),
    )
    .expect("loads");
    assert_eq!(c.api_token.as_deref(), Some("1234567890123456"));
    // A value of the wrong type for a key that is not text is still an error.
    let e = load(None, env(&[("ATT_ACTORS__MAX_RESTARTS", "many")]))
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("ATT_ACTORS__MAX_RESTARTS"), "{e}");
}

#[test]
fn non_loopback_listen_needs_a_token() {
    let e = load(None, env(&[("ATT_LISTEN", "0.0.0.0:8300")]))
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("api_token"), "{e}");
    let c = load(
        None,
        env(&[
            ("ATT_LISTEN", "0.0.0.0:8300"),
            ("ATT_API_TOKEN", "0123456789abcdef0123"),
        ]),
    )
    .expect("token makes it acceptable");
    assert!(!c.listen.ip().is_loopback());
}

#[test]
fn a_listener_certificate_needs_its_key_and_the_reverse() {
    for (set, missing) in [("TLS_CERT", "http.tls_key"), ("TLS_KEY", "http.tls_cert")] {
        let e = load(
            None,
            env(&[(&format!("ATT_HTTP__{set}"), "/etc/att/x.pem")]),
        )
        .expect_err("one of the pair is refused")
        .to_string();
        assert!(e.contains(missing) && e.contains("both"), "{e}");
    }
    let e = load(
        None,
        env(&[("ATT_HTTP__TLS_CLIENT_CA", "/etc/att/clients.pem")]),
    )
    .expect_err("a client CA without HTTPS is refused")
    .to_string();
    assert!(
        e.contains("http.tls_client_ca") && e.contains("tls_cert"),
        "{e}"
    );
}

#[test]
fn an_upstream_whose_ca_file_cannot_be_read_stops_att_naming_it() {
    let f = file(
        "[[upstreams]]\nname = \"hosted\"\nurl = \"https://127.0.0.1:9/mcp\"\ntls = { ca_file = \"/nonexistent/ca.pem\" }\n",
    );
    let e = load(Some(f.path()), env(&[]))
        .expect_err("an unreadable CA file is refused at start")
        .to_string();
    assert!(
        e.contains("upstreams.hosted.tls.ca_file") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn profiles_load_and_a_bad_one_is_named() {
    let f = file(
        "[[profiles]]\nname = \"ro\"\ntools = [\"gh__*\"]\natt_tools = \"read_only\"\nroles = [\"viewer\"]\n",
    );
    let c = load(Some(f.path()), env(&[])).expect("loads");
    assert_eq!(c.profiles.len(), 1);
    assert_eq!(c.profiles[0].tools, ["gh__*"]);
    let cases = [
        (
            "[[profiles]]\nname = \"a\"\n[[profiles]]\nname = \"a\"\n",
            "profiles[1].name",
        ),
        ("[[profiles]]\nname = \"A b\"\n", "profiles[0].name"),
        (
            "[[profiles]]\nname = \"a\"\nprompts = [\"\"]\n",
            "profiles[0].prompts",
        ),
        (
            "[[profiles]]\nname = \"a\"\nroles = [\"root\"]\n",
            "profiles",
        ),
    ];
    for (text, key) in cases {
        let f = file(text);
        let e = load(Some(f.path()), env(&[])).expect_err(text).to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}

#[test]
fn auth_oidc_loads_from_a_file_and_the_environment_and_its_errors_name_the_key() {
    let f = file(
        "[auth.oidc]\nissuer = \"https://id.example.com\"\naudience = \"att\"\nrole_claim = \"realm_access.roles\"\nrole_map = { mcp-admins = \"admin\" }\n",
    );
    let c = load(
        Some(f.path()),
        env(&[("ATT_AUTH__OIDC__CLOCK_SKEW", "30s")]),
    )
    .expect("loads");
    let oidc = c.auth.oidc.expect("[auth.oidc]");
    assert_eq!(oidc.issuer, "https://id.example.com");
    assert_eq!(oidc.clock_skew, Duration::from_secs(30));
    assert_eq!(oidc.role_map["mcp-admins"], crate::auth::Role::Admin);
    assert_eq!(oidc.jwks_refetch_min, Duration::from_secs(30));
    let cases = [
        ("[auth.oidc]\naudience = \"att\"\n", "auth.oidc"),
        (
            "[auth.oidc]\nissuer = \"https://id.example.com\"\naudience = \"att\"\nclock_skew = \"10m\"\n",
            "auth.oidc.clock_skew",
        ),
        (
            "[auth.oidc]\nissuer = \"https://id.example.com\"\naudience = \"att\"\ndefault_role = \"root\"\n",
            "auth.oidc.default_role",
        ),
        (
            "[auth.oidc]\nissuer = \"https://id.example.com\"\naudience = \"att\"\nsecret = 1\n",
            "auth.oidc.secret",
        ),
    ];
    for (text, key) in cases {
        let f = file(text);
        match load(Some(f.path()), env(&[])) {
            Err(ConfigError::Key { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn limits_load_with_overrides_and_are_off_by_default() {
    assert!(
        load(None, env(&[]))
            .expect("defaults")
            .limits
            .per_principal
            .is_none()
    );
    let f = file(
        "[limits]\nper_principal = { rate = 50, burst = 60, concurrent = 16 }\n[[limits.principals]]\nname = \"ci\"\nrate = 200\n",
    );
    let c = load(
        Some(f.path()),
        env(&[("ATT_LIMITS__MAX_PRINCIPALS", "500")]),
    )
    .expect("loads");
    let base = c.limits.per_principal.expect("per_principal");
    assert_eq!(
        (base.rate, base.burst, base.concurrent),
        (Some(50.0), Some(60), Some(16))
    );
    assert_eq!(c.limits.principals[0].name, "ci");
    assert_eq!(c.limits.principals[0].rate, Some(200.0));
    assert_eq!(c.limits.max_principals, 500);
}

#[test]
fn bad_limits_stop_att_naming_the_key() {
    let table = [
        (
            "[limits]\nper_principal = { rate = 0 }\n",
            "limits.per_principal.rate",
        ),
        (
            "[limits]\nper_principal = { rate = -1 }\n",
            "limits.per_principal.rate",
        ),
        (
            "[limits]\nper_principal = { burst = 5 }\n",
            "limits.per_principal.burst",
        ),
        (
            "[limits]\nper_principal = { rate = 5, burst = 0 }\n",
            "limits.per_principal.burst",
        ),
        (
            "[limits]\nper_principal = { concurrent = 0 }\n",
            "limits.per_principal.concurrent",
        ),
        (
            "[limits]\nper_principal = { rte = 5 }\n",
            "limits.per_principal.rte",
        ),
        ("[limits]\nmax_principals = 0\n", "limits.max_principals"),
        (
            "[[limits.principals]]\nname = \"ci\"\n",
            "limits.principals.ci",
        ),
        (
            "[[limits.principals]]\nname = \"ci\"\nburst = 4\n",
            "limits.principals.ci.burst",
        ),
        (
            "[[limits.principals]]\nname = \"ci\"\nconcurrent = 0\n",
            "limits.principals.ci.concurrent",
        ),
        (
            "[[limits.principals]]\nname = \"a b\"\nrate = 1\n",
            "limits.principals",
        ),
        (
            "[[limits.principals]]\nname = \"ci\"\nrate = 1\n[[limits.principals]]\nname = \"ci\"\nrate = 2\n",
            "limits.principals",
        ),
    ];
    for (text, key) in table {
        let f = file(text);
        let e = load(Some(f.path()), env(&[])).expect_err(text).to_string();
        assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
    }
    // An override's burst may refill at the default rate.
    let f = file(
        "[limits]\nper_principal = { rate = 5 }\n[[limits.principals]]\nname = \"ci\"\nburst = 4\n",
    );
    load(Some(f.path()), env(&[])).expect("burst over the default rate");
}

#[test]
fn database_url_selects_postgres_and_bad_ones_name_the_key_never_the_password() {
    let c = load(None, env(&[])).expect("defaults");
    assert!(c.database_url.is_none(), "SQLite is the default");
    let c = load(
        None,
        env(&[(
            "ATT_DATABASE_URL",
            "postgres://att:hunter2@db.internal:5433/att?options[search_path]=blue",
        )]),
    )
    .expect("loads");
    let url = c.database_url.as_ref().expect("set");
    let options = url.options();
    assert_eq!(
        (
            options.get_host(),
            options.get_port(),
            options.get_database()
        ),
        ("db.internal", 5433, Some("att"))
    );
    assert_eq!(format!("{url:?}"), "postgres://db.internal:5433/att");
    assert!(!format!("{c:?}").contains("hunter2"));
    let f = file("database_url = \"postgresql://localhost/att\"\n");
    assert!(
        load(Some(f.path()), env(&[]))
            .expect("file")
            .database_url
            .is_some()
    );
    for bad in [
        "sqlite://att.db",
        "mysql://root:hunter2@localhost/att",
        "db.internal:5432",
        "postgres://u:hunter2@host:notaport/db",
    ] {
        let e = load(None, env(&[("ATT_DATABASE_URL", bad)])).expect_err(bad);
        let text = e.to_string();
        assert!(
            text.contains("`database_url`") && text.contains("ATT_DATABASE_URL"),
            "{bad}: {text}"
        );
        assert!(!text.contains("hunter2"), "{bad}: {text}");
    }
}

#[test]
fn http_lanes_default_to_one_per_core_and_a_count_out_of_range_is_named() {
    assert_eq!(load(None, env(&[])).expect("defaults").http.lanes, None);
    let c = load(None, env(&[("ATT_HTTP__LANES", "3")])).expect("3 lanes");
    assert_eq!(c.http.lanes, Some(3));
    for bad in ["0", "257"] {
        let e = load(None, env(&[("ATT_HTTP__LANES", bad)]))
            .expect_err(bad)
            .to_string();
        assert!(
            e.contains("http.lanes") && e.contains("between 1 and 256"),
            "{e}"
        );
    }
}
