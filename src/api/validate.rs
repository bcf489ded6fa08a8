//! Requests checked against the OpenAPI document's own schemas, so that a 422
//! names every bad field at once in words a person understands. serde stops
//! at the first error and speaks Rust (`expected u32`); the schemas already
//! carry the server's limits (and schemathesis holds the two together), so
//! they say what each field should have been.
//!
//! Only the error path pays for this: a body that serde accepts is never
//! checked here.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, JsonType, Validator};
use serde_json::{Map, Value};

use crate::error::FieldError;

/// A schema with the components it references, compiled.
struct Checked {
    /// The schema document (the operation's schema plus `components`): error
    /// locations point into it.
    doc: Value,
    validator: Validator,
}

#[derive(Default)]
struct Operation {
    body: Option<Checked>,
    /// Query parameters: name, required, schema.
    query: Vec<(String, bool, Checked)>,
}

/// Every operation of the document, by `(method, path pattern)`, built once.
fn operations() -> &'static HashMap<(String, String), Operation> {
    static OPS: OnceLock<HashMap<(String, String), Operation>> = OnceLock::new();
    OPS.get_or_init(|| {
        let spec = serde_json::to_value(crate::openapi()).unwrap_or(Value::Null);
        build_operations(&spec)
    })
}

fn build_operations(spec: &Value) -> HashMap<(String, String), Operation> {
    let schemas = &spec["components"]["schemas"];
    let mut ops = HashMap::new();
    let Some(paths) = spec["paths"].as_object() else {
        return ops;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let mut operation = Operation {
                body: op
                    .pointer("/requestBody/content/application~1json/schema")
                    .and_then(|s| compile(s, schemas)),
                ..Operation::default()
            };
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" {
                    continue;
                }
                if let (Some(name), Some(checked)) =
                    (p["name"].as_str(), compile(&p["schema"], schemas))
                {
                    let required = p["required"].as_bool().unwrap_or(false);
                    operation.query.push((name.to_owned(), required, checked));
                }
            }
            ops.insert((method.to_ascii_lowercase(), path.clone()), operation);
        }
    }
    ops
}

/// `schema` with the components it reaches (and only those), compiled as
/// JSON Schema 2020-12, formats checked. Nothing is ever fetched.
fn compile(schema: &Value, schemas: &Value) -> Option<Checked> {
    if !schema.is_object() {
        return None;
    }
    let mut reached = BTreeMap::new();
    let mut todo = vec![schema];
    while let Some(s) = todo.pop() {
        for name in refs(s) {
            if !reached.contains_key(&name)
                && let Some(target) = schemas.get(&name)
            {
                reached.insert(name, target.clone());
                todo.push(target);
            }
        }
    }
    let mut doc = schema.clone();
    if let Value::Object(map) = &mut doc {
        let schemas: Map<String, Value> = reached.into_iter().collect();
        let mut components = Map::new();
        components.insert("schemas".into(), Value::Object(schemas));
        map.insert("components".into(), Value::Object(components));
    }
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&doc)
        .map_err(|e| tracing::warn!(error = %e, "a request schema does not compile"))
        .ok()?;
    Some(Checked { doc, validator })
}

/// The component names `schema` references directly or in its subschemas.
fn refs(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![schema];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    out
}

/// Every invalid field of `body` for the operation `method pattern`, or
/// `None` when the document has no JSON body schema for it.
pub fn body_errors(method: &str, pattern: &str, body: &Value) -> Option<Vec<FieldError>> {
    let op = operations().get(&(method.to_ascii_lowercase(), pattern.to_owned()))?;
    Some(errors_of(op.body.as_ref()?, body, ""))
}

/// Every invalid query parameter of `query` (a raw query string) for the
/// operation, each named; `None` when the operation is unknown.
pub fn query_errors(method: &str, pattern: &str, query: &str) -> Option<Vec<FieldError>> {
    let op = operations().get(&(method.to_ascii_lowercase(), pattern.to_owned()))?;
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()?
        .into_inner();
    let mut out = Vec::new();
    for (name, required, checked) in &op.query {
        let mut sent = pairs.iter().filter(|(k, _)| k == name).peekable();
        if sent.peek().is_none() && *required {
            out.push(FieldError::new(name.as_str(), "is required"));
        }
        for (_, raw) in sent {
            let value = query_value(&checked.doc, raw);
            out.extend(errors_of(checked, &value, name));
        }
    }
    Some(merge(out))
}

/// A query parameter's text as the JSON value its schema expects (`20` for
/// an integer), or as a string when it is not one (so that the schema says
/// what was expected).
fn query_value(schema: &Value, raw: &str) -> Value {
    let types = types_of(schema);
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("integer")
        && let Ok(n) = raw.parse::<i64>()
    {
        return Value::from(n);
    }
    if has("number")
        && let Some(n) = raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return Value::Number(n);
    }
    if has("boolean") && (raw == "true" || raw == "false") {
        return Value::Bool(raw == "true");
    }
    Value::String(raw.to_owned())
}

fn types_of(schema: &Value) -> Vec<String> {
    match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// The errors of `value` against `checked`, each field prefixed by `prefix`.
fn errors_of(checked: &Checked, value: &Value, prefix: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for error in checked.validator.iter_errors(value) {
        let path: Vec<String> = error
            .instance_path()
            .segments()
            .map(|s| s.to_string())
            .collect();
        let mut field = prefix.to_owned();
        for segment in &path {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(segment);
        }
        // The schema holding the failed keyword (its location minus the keyword).
        let location = error.schema_path().as_str();
        let holder = location
            .rsplit_once('/')
            .and_then(|(parent, _)| checked.doc.pointer(parent))
            .unwrap_or(&Value::Null);
        for (child, message) in messages(error.kind(), holder, &checked.doc) {
            let name = match child {
                Some(child) if field.is_empty() => child,
                Some(child) => format!("{field}.{child}"),
                None if field.is_empty() => "body".to_owned(),
                None => field.clone(),
            };
            out.push(FieldError::new(name, message));
        }
    }
    merge(out)
}

/// One error per field (its messages joined), sorted by field, indices in
/// numeric order (`records.2` before `records.10`).
fn merge(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut by_field: Vec<FieldError> = Vec::new();
    for e in errors {
        match by_field.iter_mut().find(|f| f.field == e.field) {
            Some(f) if !f.message.split("; ").any(|m| m == e.message) => {
                f.message = format!("{}; {}", f.message, e.message);
            }
            Some(_) => {}
            None => by_field.push(e),
        }
    }
    by_field.sort_by(|a, b| field_order(&a.field, &b.field));
    by_field
}

/// Fields in reading order: by segment, indices as numbers.
pub fn field_order(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// What one schema error means to a person: each message, with the child
/// field it is about when it is not the failing value itself (a missing or
/// an unknown field). Never quotes the value sent (it may be a card number).
fn messages(
    kind: &ValidationErrorKind,
    holder: &Value,
    doc: &Value,
) -> Vec<(Option<String>, String)> {
    use ValidationErrorKind as K;
    let own = |m: String| vec![(None, m)];
    match kind {
        K::Required { property } => vec![(
            Some(property.as_str().unwrap_or_default().to_owned()),
            "is required".to_owned(),
        )],
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            unexpected
                .iter()
                .map(|name| {
                    (
                        Some(name.clone()),
                        "is not a field of this request".to_owned(),
                    )
                })
                .collect()
        }
        K::Type { kind } => {
            if holder.is_object() {
                own(format!("must be {}", describe(holder, doc)))
            } else {
                own(format!("must be {}", type_kind_words(kind)))
            }
        }
        K::Minimum { .. }
        | K::Maximum { .. }
        | K::ExclusiveMinimum { .. }
        | K::ExclusiveMaximum { .. }
        | K::MultipleOf { .. }
        | K::AnyOf { .. }
        | K::OneOfNotValid { .. } => own(format!("must be {}", describe(holder, doc))),
        K::Enum { options } => own(format!("must be one of: {}", list(options))),
        K::Constant { expected_value } => own(format!("must be {}", plain(expected_value))),
        K::MinLength { .. } | K::MaxLength { .. } => own(format!(
            "must be {} long",
            count(holder, "minLength", "maxLength", "character")
        )),
        K::MinItems { .. } | K::MaxItems { .. } => own(format!(
            "must hold {}",
            count(holder, "minItems", "maxItems", "item")
        )),
        K::MinProperties { .. } | K::MaxProperties { .. } => own(format!(
            "must hold {}",
            count(holder, "minProperties", "maxProperties", "entry")
        )),
        K::UniqueItems => own("must not hold the same item twice".to_owned()),
        K::Pattern { pattern } => own(pattern_message(pattern, holder)),
        K::Format { format } => own(format!("must be {}", format_words(format))),
        _ => own("is invalid".to_owned()),
    }
}

/// What a value of `schema` is, for "must be ...": "a whole number between
/// 1 and 1000", "one of: admin, viewer", "a date such as 2026-05-01".
fn describe(schema: &Value, doc: &Value) -> String {
    if let Some(target) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| doc.pointer(pointer))
    {
        return describe(target, doc);
    }
    if let Some(options) = schema.get("enum") {
        return format!("one of: {}", list(options));
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(branches) = schema[combinator].as_array() {
            let mut nullable = false;
            let mut words: Vec<String> = Vec::new();
            for branch in branches {
                if branch["type"] == "null" {
                    nullable = true;
                    continue;
                }
                let w = describe(branch, doc);
                if !words.contains(&w) {
                    words.push(w);
                }
            }
            if nullable {
                words.push("null".to_owned());
            }
            return words.join(" or ");
        }
    }
    let types = types_of(schema);
    let nullable = types.iter().any(|t| t == "null");
    let mut words = types
        .iter()
        .filter(|t| t.as_str() != "null")
        .map(|t| match t.as_str() {
            "integer" => format!("a whole number{}", range(schema)),
            "number" => format!("a number{}", range(schema)),
            "string" => string_words(schema),
            "boolean" => "true or false".to_owned(),
            "array" => {
                let items = count(schema, "minItems", "maxItems", "item");
                if items.is_empty() {
                    "a list".to_owned()
                } else {
                    format!("a list of {items}")
                }
            }
            "object" => "an object".to_owned(),
            other => format!("a {other}"),
        })
        .collect::<Vec<_>>();
    if words.is_empty() {
        words.push("a valid value".to_owned());
    }
    if nullable {
        words.push("null".to_owned());
    }
    words.join(" or ")
}

fn string_words(schema: &Value) -> String {
    if let Some(format) = schema["format"].as_str().filter(|f| *f != "binary") {
        return format_words(format);
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && is_amount(pattern)
    {
        return amount_words(pattern, schema);
    }
    let shaped = schema["pattern"]
        .as_str()
        .is_some_and(|p| !p.starts_with(r"^[^\x00-\x1F"));
    if let Some(example) = schema.get("example").filter(|_| shaped) {
        return format!("text such as {}", plain(example));
    }
    let length = count(schema, "minLength", "maxLength", "character");
    if length.is_empty() {
        "text".to_owned()
    } else {
        format!("text of {length}")
    }
}

fn format_words(format: &str) -> String {
    match format {
        "date" => "a date such as 2026-05-01".to_owned(),
        "date-time" => "a date and time such as 2026-05-01T09:30:00Z".to_owned(),
        "email" => "an email address".to_owned(),
        "uuid" => "a UUID".to_owned(),
        "uri" => "a URI".to_owned(),
        "int32" | "int64" => "a whole number".to_owned(),
        other => format!("a valid {other}"),
    }
}

/// Money patterns: digits, at most two decimals.
fn is_amount(pattern: &str) -> bool {
    pattern.contains(r"(\.[0-9]{1,2})?")
}

fn amount_words(pattern: &str, schema: &Value) -> String {
    let example = schema
        .get("example")
        .map(plain)
        .unwrap_or_else(|| "64.00".to_owned());
    let sign = if pattern.starts_with("^-?") {
        ""
    } else {
        " not negative,"
    };
    format!(
        "an amount written as a decimal string,{sign} with at most 2 decimals, such as \"{example}\""
    )
}

fn pattern_message(pattern: &str, schema: &Value) -> String {
    if pattern.contains(r"[^\s") {
        return "must not be blank nor hold control or invisible characters".to_owned();
    }
    if pattern.starts_with(r"^[^\x00-\x1F") {
        return "must not hold control or invisible characters".to_owned();
    }
    if is_amount(pattern) {
        return format!("must be {}", amount_words(pattern, schema));
    }
    match schema.get("example") {
        Some(example) => format!("must be written like {}", plain(example)),
        None => "is not in the expected format".to_owned(),
    }
}

/// " between 1 and 1000", " of at least 0", or nothing.
fn range(schema: &Value) -> String {
    let bound = |key: &str| schema.get(key).map(plain);
    match (
        bound("minimum"),
        bound("maximum"),
        bound("exclusiveMinimum"),
        bound("exclusiveMaximum"),
    ) {
        (Some(min), Some(max), _, _) => format!(" between {min} and {max}"),
        (Some(min), None, _, None) => format!(" of at least {min}"),
        (None, Some(max), None, _) => format!(" of at most {max}"),
        (Some(min), None, _, Some(max)) => format!(" of at least {min} and under {max}"),
        (None, Some(max), Some(min), _) => format!(" above {min} and at most {max}"),
        (None, None, Some(min), Some(max)) => format!(" above {min} and under {max}"),
        (None, None, Some(min), None) => format!(" above {min}"),
        (None, None, None, Some(max)) => format!(" under {max}"),
        (None, None, None, None) => String::new(),
    }
}

/// "1 to 200 characters", "at least 1 item", "at most 10,000 items", or "".
fn count(schema: &Value, min_key: &str, max_key: &str, unit: &str) -> String {
    let min = schema[min_key].as_u64();
    let max = schema[max_key].as_u64();
    let units = |n: u64| {
        if n == 1 {
            unit.to_owned()
        } else {
            format!("{unit}s")
        }
    };
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("exactly {} {}", number(a), units(b)),
        (Some(a), Some(b)) => format!("{} to {} {}", number(a), number(b), units(b)),
        (Some(a), None) => format!("at least {} {}", number(a), units(a)),
        (None, Some(b)) => format!("at most {} {}", number(b), units(b)),
        (None, None) => String::new(),
    }
}

/// 10000 as "10,000"; small numbers as they are.
fn number(n: u64) -> String {
    let digits = n.to_string();
    if n < 10_000 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A JSON value as a person reads it: strings without quotes, `3` not `3.0`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => number(u),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn list(options: &Value) -> String {
    options
        .as_array()
        .map(|items| items.iter().map(plain).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn type_kind_words(kind: &TypeKind) -> String {
    let word = |t: &JsonType| match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "an object",
        JsonType::String => "text",
    };
    match kind {
        TypeKind::Single(t) => word(t).to_owned(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| word(&t))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// A serde error's message in words, for the rare error that the schema does
/// not catch: "invalid type: string, expected u32" says "must be a whole
/// number", never the Rust type.
pub fn humanize_serde(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    if message.starts_with("missing field") {
        return "is required".to_owned();
    }
    if message.starts_with("unknown field") {
        return "is not a field of this request".to_owned();
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let options = rest
            .split_once("expected ")
            .map(|(_, e)| e)
            .unwrap_or_default()
            .trim_start_matches("one of ")
            .replace('`', "")
            .replace(" or ", ", ");
        return if options.is_empty() {
            "is not an accepted value".to_owned()
        } else {
            format!("must be one of: {options}")
        };
    }
    match message.split_once(", expected ") {
        Some((head, expected))
            if head.starts_with("invalid type")
                || head.starts_with("invalid value")
                || head.starts_with("invalid length") =>
        {
            format!("must be {}", expected_words(expected))
        }
        _ if message.starts_with("invalid digit") || message.starts_with("cannot parse") => {
            "must be a whole number".to_owned()
        }
        _ if message.contains("out of range") || message.contains("too large") => {
            "is out of range".to_owned()
        }
        _ => message.to_owned(),
    }
}

/// serde's "expected ..." as words: Rust integer types are "a whole number".
fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    let unsigned = ["u8", "u16", "u32", "u64", "usize"];
    let signed = ["i8", "i16", "i32", "i64", "isize"];
    if unsigned.contains(&e) {
        return "a whole number of at least 0".to_owned();
    }
    if signed.contains(&e) || e == "an integer" {
        return "a whole number".to_owned();
    }
    if e == "f32" || e == "f64" || e == "a number" {
        return "a number".to_owned();
    }
    if e == "a string" || e.starts_with("a string ") || e == "a borrowed string" {
        return "text".to_owned();
    }
    if e == "a boolean" {
        return "true or false".to_owned();
    }
    if e.starts_with("a sequence") {
        return "a list".to_owned();
    }
    if e.starts_with("struct ") || e.starts_with("a map") {
        return "an object".to_owned();
    }
    e.replace('`', "")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checked(schema: Value, components: Value) -> Checked {
        compile(&schema, &components).expect("compiles")
    }

    fn pairs(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect()
    }

    fn user_schema() -> Checked {
        checked(
            json!({"$ref": "#/components/schemas/NewUser"}),
            json!({
                "NewUser": {
                    "type": "object",
                    "required": ["name", "quantity"],
                    "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "quantity": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000},
                        "role": {"$ref": "#/components/schemas/Role"},
                        "team_id": {"type": ["string", "null"]},
                        "start": {"type": "string", "format": "date"},
                        "amount": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "example": "10.00"},
                        "records": {"type": "array", "items": {"$ref": "#/components/schemas/Rec"}}
                    }
                },
                "Role": {"type": "string", "enum": ["admin", "viewer"]},
                "Rec": {"type": "object", "required": ["cost"], "properties": {"cost": {"type": "integer", "minimum": 0}}},
                "Unused": {"type": "string"}
            }),
        )
    }

    #[test]
    fn every_bad_field_is_named_once_in_words() {
        let c = user_schema();
        assert!(c.doc["components"]["schemas"].get("Unused").is_none());
        let errors = errors_of(
            &c,
            &json!({
                "quantity": "lots",
                "role": "owner",
                "colour": "red",
                "team_id": 3,
                "start": "tomorrow",
                "amount": "1.234",
                "records": [{"cost": 1}, {"cost": 2}, {}, {"cost": -1}, {"cost": 1}, {"cost": 1},
                            {"cost": 1}, {"cost": 1}, {"cost": 1}, {"cost": 1}, {"cost": "x"}]
            }),
            "",
        );
        assert_eq!(
            pairs(&errors),
            vec![
                (
                    "amount",
                    "must be an amount written as a decimal string, not negative, with at most 2 decimals, such as \"10.00\""
                ),
                ("colour", "is not a field of this request"),
                ("name", "is required"),
                ("quantity", "must be a whole number between 1 and 1000"),
                ("records.2.cost", "is required"),
                ("records.3.cost", "must be a whole number of at least 0"),
                ("records.10.cost", "must be a whole number of at least 0"),
                ("role", "must be one of: admin, viewer"),
                ("start", "must be a date such as 2026-05-01"),
                ("team_id", "must be text or null"),
            ]
        );
        for e in &errors {
            assert!(
                !e.message.contains("u32") && !e.message.contains("lots"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn out_of_range_and_length_errors_say_the_limits() {
        let c = user_schema();
        let errors = errors_of(&c, &json!({"name": "", "quantity": 1001}), "");
        assert_eq!(
            pairs(&errors),
            vec![
                ("name", "must be 1 to 200 characters long"),
                ("quantity", "must be a whole number between 1 and 1000"),
            ]
        );
        let errors = errors_of(&c, &json!([1]), "");
        assert_eq!(pairs(&errors), vec![("body", "must be an object")]);
    }

    #[test]
    fn query_values_are_read_as_their_schema_type() {
        let limit = json!({"type": "integer", "minimum": 1, "maximum": 100});
        assert_eq!(query_value(&limit, "20"), json!(20));
        assert_eq!(query_value(&limit, "abc"), json!("abc"));
        let c = checked(limit, json!({}));
        let errors = errors_of(&c, &query_value(&c.doc, "abc"), "limit");
        assert_eq!(
            pairs(&errors),
            vec![("limit", "must be a whole number between 1 and 100")]
        );
    }

    #[test]
    fn free_text_patterns_and_lists_read_well() {
        let c = checked(
            json!({"type": "object", "properties": {
                "reason": {"type": "string", "pattern": r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$"},
                "period": {"type": "string", "pattern": "^2[0-9]{3}-(0[1-9]|1[0-2])$", "example": "2026-05"},
                "records": {"type": "array", "minItems": 1, "maxItems": 10000}
            }}),
            json!({}),
        );
        let errors = errors_of(
            &c,
            &json!({"reason": "   ", "period": "May", "records": []}),
            "",
        );
        assert_eq!(
            pairs(&errors),
            vec![
                ("period", "must be written like 2026-05"),
                (
                    "reason",
                    "must not be blank nor hold control or invisible characters"
                ),
                ("records", "must hold 1 to 10,000 items"),
            ]
        );
    }

    #[test]
    fn serde_messages_never_name_rust_types() {
        assert_eq!(
            humanize_serde("invalid type: string \"x\", expected u32"),
            "must be a whole number of at least 0"
        );
        assert_eq!(humanize_serde("missing field `name`"), "is required");
        assert_eq!(
            humanize_serde("unknown field `colour`, expected `name` or `currency`"),
            "is not a field of this request"
        );
        assert_eq!(
            humanize_serde("unknown variant `owner`, expected `admin` or `viewer`"),
            "must be one of: admin, viewer"
        );
        assert_eq!(
            humanize_serde("invalid type: integer `4242`, expected a string at line 1 column 3"),
            "must be text"
        );
        assert_eq!(
            humanize_serde("invalid digit found in string"),
            "must be a whole number"
        );
    }

    #[test]
    fn the_real_document_compiles_and_knows_its_operations() {
        let ops = operations();
        let ingest = &ops[&(
            "post".to_owned(),
            "/v1/accounts/{account_id}/consumption".to_owned(),
        )];
        assert!(ingest.body.is_some());
        let errors = body_errors(
            "POST",
            "/v1/accounts/{account_id}/consumption",
            &json!({"records": [{}]}),
        )
        .unwrap();
        assert!(
            errors.iter().all(|e| e.field.starts_with("records.0.")),
            "{errors:?}"
        );
        let errors = query_errors(
            "GET",
            "/v1/accounts/{account_id}/invoices",
            "status=late&limit=0&cursor=ok",
        )
        .unwrap();
        assert_eq!(
            pairs(&errors),
            vec![
                ("limit", "must be a whole number between 1 and 100"),
                (
                    "status",
                    "must be one of: draft, issued, paid, void, credited"
                ),
            ]
        );
    }
}
