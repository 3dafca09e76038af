//! A form per function, generated from the JSON Schema the host derives
//! from the function's WIT parameter types (`runtime::json::params_schema`,
//! the one OpenAPI publishes), and the JSON arguments read back from it.
//!
//! The mapping: strings are text inputs, integers number inputs with their
//! range, `bool` a checkbox, enums a select, records fieldsets, options
//! optional fields; lists, variants, tuples, flags and anything else a JSON
//! text area checked on the server.

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Map, Number, Value};

use crate::web::Visitor;

/// How one value is typed in.
#[derive(Debug, Clone, PartialEq)]
pub enum Widget {
    /// A text input; `chars` is set for a WIT `char` (exactly one).
    Text { chars: Option<u64> },
    /// A whole number in a range; 64-bit integers travel as strings.
    Integer {
        min: i128,
        max: i128,
        as_string: bool,
    },
    /// A floating-point number.
    Decimal,
    /// A checkbox.
    Bool,
    /// One of a fixed set of names (a WIT enum).
    Choice(Vec<String>),
    /// A record: one field per member.
    Record(Vec<Field>),
    /// Anything else, typed as JSON; the schema helps the visitor.
    Json(Value),
}

/// One field of a form: a parameter or a record member.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The WIT name.
    pub name: String,
    /// The form field name: names from the parameter down, joined by `.`.
    pub path: String,
    /// Whether it may be left out (a WIT `option`).
    pub optional: bool,
    /// How it is typed in.
    pub widget: Widget,
}

/// The fields of a function's arguments object, in the order its WIT
/// signature `wit` declares them (JSON objects do not keep an order).
pub fn fields(params_schema: &Value, wit: &str) -> Vec<Field> {
    let order = declared_order(wit);
    let mut out = members(params_schema, "");
    sort(&mut out, &order);
    out
}

fn sort(fields: &mut [Field], order: &HashMap<String, usize>) {
    fields.sort_by_key(|f| order.get(&f.path).copied().unwrap_or(usize::MAX));
    for f in fields {
        if let Widget::Record(children) = &mut f.widget {
            sort(children, order);
        }
    }
}

/// Where each parameter and record member (by path) is declared in a
/// signature such as `f: func(a: record { x: u32, y: u32 }, b: string) -> ..`.
fn declared_order(wit: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let Some(start) = wit.find("func(") else {
        return out;
    };
    let chars: Vec<char> = wit[start + "func(".len()..].chars().collect();
    // One entry per open bracket: the path of the record it opens, if any.
    let mut frames: Vec<Option<String>> = vec![Some(String::new())];
    let mut last_field = String::new();
    let mut word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch.is_ascii_alphanumeric() || ch == '-' || ch == '%' {
            word.push(ch);
        } else {
            if ch == ':'
                && !word.is_empty()
                && let Some(Some(prefix)) = frames.last()
            {
                let name = word.trim_start_matches('%');
                last_field = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                let n = out.len();
                out.entry(last_field.clone()).or_insert(n);
            }
            match ch {
                '{' => frames.push(
                    (word.is_empty() && record_before(&chars, i)).then(|| last_field.clone()),
                ),
                '(' | '<' => frames.push(None),
                ')' | '}' | '>' => {
                    frames.pop();
                    if frames.is_empty() {
                        break;
                    }
                }
                _ => {}
            }
            word.clear();
        }
        i += 1;
    }
    out
}

/// Whether the `{` at `at` opens a record (`record {`).
fn record_before(chars: &[char], at: usize) -> bool {
    let before: String = chars[..at].iter().collect();
    before.trim_end().ends_with("record")
}

fn members(object: &Value, prefix: &str) -> Vec<Field> {
    let required: Vec<&str> = object["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(props) = object["properties"].as_object() else {
        return vec![];
    };
    props
        .iter()
        .map(|(name, schema)| {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let (optional, inner) = match option_inner(schema) {
                Some(inner) => (true, inner),
                None => (!required.contains(&name.as_str()), schema),
            };
            Field {
                name: name.clone(),
                widget: widget(inner, &path),
                path,
                optional,
            }
        })
        .collect()
}

/// The `some` schema of an `option<T>`: `anyOf: [null, T]`.
fn option_inner(schema: &Value) -> Option<&Value> {
    match schema["anyOf"].as_array()?.as_slice() {
        [none, some] if none["type"] == "null" => Some(some),
        _ => None,
    }
}

fn bound(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

fn widget(schema: &Value, path: &str) -> Widget {
    let ty = &schema["type"];
    let range = || Some((bound(&schema["minimum"])?, bound(&schema["maximum"])?));
    if ty == "boolean" {
        return Widget::Bool;
    }
    if ty == "integer"
        && let Some((min, max)) = range()
    {
        return Widget::Integer {
            min,
            max,
            as_string: false,
        };
    }
    if *ty == serde_json::json!(["string", "integer"])
        && let Some((min, max)) = range()
    {
        return Widget::Integer {
            min,
            max,
            as_string: true,
        };
    }
    if schema["oneOf"][0]["type"] == "number" {
        return Widget::Decimal;
    }
    if ty == "string" {
        if let Some(names) = schema["enum"].as_array() {
            return Widget::Choice(
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
            );
        }
        return Widget::Text {
            chars: schema["maxLength"].as_u64(),
        };
    }
    if ty == "object" && schema["properties"].is_object() {
        return Widget::Record(members(schema, path));
    }
    Widget::Json(schema.clone())
}

/// An HTML id for a field of a function's form.
pub fn html_id(function: &str, path: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect()
    };
    format!("g-{}--{}", clean(function), clean(path))
}

/// What the visitor typed and what was wrong, by field path.
#[derive(Default)]
pub struct Filled<'a> {
    pub values: Option<&'a HashMap<String, String>>,
    pub errors: Option<&'a HashMap<String, String>>,
}

impl Filled<'_> {
    fn value(&self, path: &str) -> &str {
        self.values
            .and_then(|m| m.get(path))
            .map(String::as_str)
            .unwrap_or("")
    }
    fn error(&self, path: &str) -> Option<&str> {
        self.errors.and_then(|m| m.get(path)).map(String::as_str)
    }
}

fn hint(v: &Visitor, f: &Field) -> Option<String> {
    let kind = match &f.widget {
        Widget::Integer { min, max, .. } => Some(v.f(
            "generic.hint-int",
            &[("min", &min.to_string()), ("max", &max.to_string())],
        )),
        Widget::Decimal => Some(v.t("generic.hint-decimal").to_string()),
        Widget::Text { chars: Some(1) } => Some(v.t("generic.hint-char").to_string()),
        Widget::Json(_) => Some(v.t("generic.hint-json").to_string()),
        Widget::Record(_) if f.optional => Some(v.t("generic.hint-optional-record").to_string()),
        _ => None,
    };
    match (f.optional, kind) {
        (true, Some(k)) if !matches!(f.widget, Widget::Record(_)) => {
            Some(format!("{} {}", v.t("generic.hint-optional"), k))
        }
        (true, None) => Some(v.t("generic.hint-optional").to_string()),
        (_, k) => k,
    }
}

/// The inputs of a function's form.
pub fn render(v: &Visitor, function: &str, fields: &[Field], filled: &Filled) -> Markup {
    html! { @for f in fields { (render_field(v, function, f, filled)) } }
}

fn render_field(v: &Visitor, function: &str, f: &Field, filled: &Filled) -> Markup {
    let id = html_id(function, &f.path);
    let hint_id = format!("{id}-hint");
    let err_id = format!("{id}-error");
    let hint = hint(v, f);
    let error = filled.error(&f.path);
    let described: Vec<&str> = [
        hint.as_ref().map(|_| hint_id.as_str()),
        error.map(|_| err_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = error.map(|_| "true");
    let value = filled.value(&f.path);
    let required = !f.optional;
    let hint_markup =
        html! { @if let Some(h) = &hint { p class="muted hint" id=(hint_id) { (h) } } };
    let error_markup =
        html! { @if let Some(e) = error { p class="field-error" id=(err_id) { (e) } } };
    match &f.widget {
        Widget::Record(children) => html! {
            fieldset aria-describedby=[described] {
                legend { (f.name) }
                (hint_markup)
                (error_markup)
                @for child in children { (render_field(v, function, child, filled)) }
            }
        },
        Widget::Bool if !f.optional => html! {
            div class="field" {
                input type="checkbox" id=(id) name=(f.path) value="true"
                    checked[matches!(value, "true" | "on")]
                    aria-invalid=[invalid] aria-describedby=[described];
                " "
                label for=(id) { (f.name) }
                (hint_markup)
                (error_markup)
            }
        },
        Widget::Bool | Widget::Choice(_) => {
            let options: Vec<(String, String)> = match &f.widget {
                Widget::Choice(names) => names.iter().map(|n| (n.clone(), n.clone())).collect(),
                _ => vec![
                    ("true".into(), v.t("common.yes").into()),
                    ("false".into(), v.t("common.no").into()),
                ],
            };
            html! {
                div class="field" {
                    label for=(id) { (f.name) }
                    (hint_markup)
                    select id=(id) name=(f.path) aria-invalid=[invalid] aria-describedby=[described] {
                        @if f.optional { option value="" selected[value.is_empty()] { (v.t("generic.none")) } }
                        @for (val, text) in &options {
                            option value=(val) selected[value == val] { (text) }
                        }
                    }
                    (error_markup)
                }
            }
        }
        Widget::Json(schema) => html! {
            div class="field" {
                label for=(id) { (f.name) }
                (hint_markup)
                textarea id=(id) name=(f.path) rows="4" spellcheck="false" required[required]
                    aria-invalid=[invalid] aria-describedby=[described] { (value) }
                (error_markup)
                details {
                    summary { (v.f("generic.shape", &[("field", &f.path)])) }
                    pre { (serde_json::to_string_pretty(schema).unwrap_or_default()) }
                }
            }
        },
        Widget::Integer { min, max, .. } => html! {
            div class="field" {
                label for=(id) { (f.name) }
                (hint_markup)
                input type="number" id=(id) name=(f.path) value=(value) step="1"
                    min=(min) max=(max) inputmode="numeric" required[required]
                    aria-invalid=[invalid] aria-describedby=[described];
                (error_markup)
            }
        },
        Widget::Decimal => html! {
            div class="field" {
                label for=(id) { (f.name) }
                (hint_markup)
                input type="text" id=(id) name=(f.path) value=(value) inputmode="decimal"
                    required[required] aria-invalid=[invalid] aria-describedby=[described];
                (error_markup)
            }
        },
        Widget::Text { chars } => html! {
            div class="field" {
                label for=(id) { (f.name) }
                (hint_markup)
                input type="text" id=(id) name=(f.path) value=(value)
                    maxlength=[chars.filter(|c| *c == 1)]
                    aria-invalid=[invalid] aria-describedby=[described];
                (error_markup)
            }
        },
    }
}

/// Read the arguments object from a posted form. Every problem is named
/// by its field path, in the visitor's language.
pub fn read(
    v: &Visitor,
    fields: &[Field],
    form: &HashMap<String, String>,
) -> Result<Value, HashMap<String, String>> {
    let mut errors = HashMap::new();
    let mut out = Map::new();
    for f in fields {
        if let Some(value) = read_field(v, f, form, &mut errors) {
            out.insert(f.name.clone(), value);
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

/// Whether nothing was typed anywhere in a field (records: in any member).
fn blank(f: &Field, form: &HashMap<String, String>) -> bool {
    match &f.widget {
        Widget::Record(children) => children.iter().all(|c| blank(c, form)),
        _ => form.get(&f.path).is_none_or(|s| s.trim().is_empty()),
    }
}

fn read_field(
    v: &Visitor,
    f: &Field,
    form: &HashMap<String, String>,
    errors: &mut HashMap<String, String>,
) -> Option<Value> {
    let raw = form.get(&f.path).map(String::as_str).unwrap_or("");
    let trimmed = raw.trim();
    let fail = |errors: &mut HashMap<String, String>, key: &str, extra: &[(&str, &str)]| {
        let mut args = vec![("field", f.path.as_str())];
        args.extend_from_slice(extra);
        errors.insert(f.path.clone(), v.f(key, &args));
        None
    };
    if f.optional && blank(f, form) {
        return Some(Value::Null);
    }
    match &f.widget {
        Widget::Text { chars } => {
            if *chars == Some(1) && raw.chars().count() != 1 {
                return fail(errors, "generic.err-char", &[]);
            }
            Some(Value::String(raw.to_string()))
        }
        Widget::Integer {
            min,
            max,
            as_string,
        } => match trimmed.parse::<i128>() {
            Ok(n) if n >= *min && n <= *max => Some(if *as_string {
                Value::String(n.to_string())
            } else {
                // In range of a 32-bit type, so it fits an i64.
                Value::Number(Number::from(n as i64))
            }),
            _ => fail(
                errors,
                "generic.err-int",
                &[("min", &min.to_string()), ("max", &max.to_string())],
            ),
        },
        Widget::Decimal => match trimmed
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
        {
            Some(n) => Some(Value::Number(n)),
            None => fail(errors, "generic.err-decimal", &[]),
        },
        Widget::Bool if !f.optional => Some(Value::Bool(matches!(trimmed, "true" | "on"))),
        Widget::Bool => match trimmed {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => fail(errors, "generic.err-choice", &[]),
        },
        Widget::Choice(names) => {
            if names.iter().any(|n| n == trimmed) {
                Some(Value::String(trimmed.to_string()))
            } else {
                fail(errors, "generic.err-choice", &[])
            }
        }
        Widget::Record(children) => {
            let mut out = Map::new();
            let mut ok = true;
            for c in children {
                match read_field(v, c, form, errors) {
                    Some(x) => {
                        out.insert(c.name.clone(), x);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(Value::Object(out))
        }
        Widget::Json(_) => {
            if trimmed.is_empty() {
                return fail(errors, "generic.err-required", &[]);
            }
            match serde_json::from_str::<Value>(trimmed) {
                Ok(x) => Some(x),
                Err(e) => fail(errors, "generic.err-json", &[("error", &e.to_string())]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wit_shapes_become_widgets() {
        // What `runtime::json::params_schema` writes for
        // `f(shift: new-shift, when: u64, note: option<string>, ok: bool,
        //   kind: vehicle, tags: list<string>, at: f64)`.
        let schema = json!({"type": "object", "additionalProperties": false,
        "required": ["shift", "when", "ok", "kind", "tags", "at"],
        "properties": {
            "shift": {"type": "object", "additionalProperties": false, "required": ["title", "n"],
                "properties": {"title": {"type": "string"}, "n": {"type": "integer", "minimum": 0, "maximum": 255}}},
            "when": {"type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 0, "maximum": u64::MAX},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "ok": {"type": "boolean"},
            "kind": {"type": "string", "enum": ["bike", "cargo-bike"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "at": {"oneOf": [{"type": "number", "format": "double"}, {"type": "string", "enum": ["NaN"]}]},
        }});
        let wit = "f: func(shift: record { title: string, n: u8 }, when: u64, note: option<string>, \
            ok: bool, kind: enum { bike, cargo-bike }, tags: list<string>, at: f64) -> result<record { z: u8 }>";
        let fs = fields(&schema, wit);
        let names: Vec<&str> = fs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["shift", "when", "note", "ok", "kind", "tags", "at"]);
        let by = |n: &str| fs.iter().find(|f| f.name == n).unwrap().clone();
        let Widget::Record(members) = by("shift").widget else {
            panic!("record")
        };
        assert_eq!(members[0].path, "shift.title");
        assert_eq!(members[1].path, "shift.n");
        assert_eq!(
            members[1].widget,
            Widget::Integer {
                min: 0,
                max: 255,
                as_string: false
            }
        );
        assert_eq!(
            by("when").widget,
            Widget::Integer {
                min: 0,
                max: u64::MAX.into(),
                as_string: true
            }
        );
        assert!(by("note").optional);
        assert_eq!(by("note").widget, Widget::Text { chars: None });
        assert_eq!(by("ok").widget, Widget::Bool);
        assert_eq!(
            by("kind").widget,
            Widget::Choice(vec!["bike".into(), "cargo-bike".into()])
        );
        assert!(matches!(by("tags").widget, Widget::Json(_)));
        assert_eq!(by("at").widget, Widget::Decimal);
    }
}
