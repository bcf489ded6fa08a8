//! The SQLite and PostgreSQL migrations describe one schema: the same files,
//! and in them the same tables with the same columns (types may differ: that
//! is what two folders are for).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn folder(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(name)
}

fn file_names(name: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder(name))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// SQL without `--` comments, lower case, one space between words.
fn normalized(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of `text` inside the parenthesis that opens at `open`.
fn parenthesized(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parenthesis")
}

/// Splits on the commas that are not inside parentheses.
fn top_level_items(body: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(body[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(body[start..].trim());
    items
}

const CONSTRAINTS: [&str; 5] = ["primary", "unique", "check", "foreign", "constraint"];

/// Table -> columns, after every migration of a folder.
fn schema(name: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in file_names(name) {
        let sql = normalized(&std::fs::read_to_string(folder(name).join(&file)).unwrap());
        for statement in sql.split(';') {
            let words: Vec<&str> = statement.split_whitespace().collect();
            match words.as_slice() {
                ["create", "table", rest @ ..] => {
                    let rest = rest.join(" ");
                    let rest = rest.strip_prefix("if not exists ").unwrap_or(&rest);
                    let table = rest.split(['(', ' ']).next().unwrap().to_owned();
                    let open = statement.find('(').expect("a column list");
                    let columns = top_level_items(parenthesized(statement, open))
                        .into_iter()
                        .filter_map(|item| item.split_whitespace().next())
                        .filter(|first| !CONSTRAINTS.contains(first))
                        .map(|c| c.trim_matches('"').to_owned())
                        .collect();
                    tables.insert(table, columns);
                }
                ["alter", "table", table, "add", "column", column, ..] => {
                    tables
                        .get_mut(*table)
                        .unwrap_or_else(|| panic!("{file}: no table {table}"))
                        .insert(column.to_string());
                }
                ["alter", "table", table, "drop", "column", column, ..] => {
                    tables.get_mut(*table).unwrap().remove(*column);
                }
                ["alter", "table", from, "rename", "to", to] => {
                    let columns = tables
                        .remove(*from)
                        .unwrap_or_else(|| panic!("{file}: no table {from}"));
                    tables.insert(to.to_string(), columns);
                }
                ["drop", "table", table, ..] => {
                    tables.remove(*table);
                }
                _ => {}
            }
        }
    }
    tables
}

#[test]
fn both_databases_have_the_same_migration_files() {
    let sqlite = file_names("sqlite");
    assert!(sqlite.len() >= 9, "{sqlite:?}");
    assert_eq!(sqlite, file_names("postgres"));
}

#[test]
fn both_databases_define_the_same_tables_and_columns() {
    let sqlite = schema("sqlite");
    let postgres = schema("postgres");
    assert!(
        sqlite["invoices"].contains("snapshot"),
        "{:?}",
        sqlite["invoices"]
    );
    assert!(sqlite.len() >= 20, "{:?}", sqlite.keys());
    assert_eq!(sqlite, postgres);
}

#[test]
fn the_schema_reader_sees_columns_constraints_and_later_changes() {
    let sql = normalized(
        "CREATE TABLE t (\n  id TEXT PRIMARY KEY, -- the id\n  n BIGINT CHECK (n IN (1, 2)),\n  \
         PRIMARY KEY (id, n)\n);",
    );
    let open = sql.find('(').unwrap();
    let items = top_level_items(parenthesized(&sql, open));
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items[1].starts_with("n bigint check"));
}
