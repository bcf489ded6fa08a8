//! Checks on the project itself: the committed spec and the migrations.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn the_committed_openapi_spec_is_what_the_code_generates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == comptoir::openapi_json(),
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    );
}

fn migration_names(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_matching_names() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

#[test]
fn every_documented_operation_declares_its_error_responses() {
    let spec = comptoir::openapi();
    let json = serde_json::to_value(&spec).unwrap();
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{method} {path} lacks 500");
            let public = path == "/healthz" || path == "/readyz";
            assert_eq!(
                !public,
                responses.contains_key("401"),
                "{method} {path} and 401"
            );
        }
    }
}
