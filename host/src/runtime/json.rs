//! Mapping between JSON and component-model values, driven by the types a
//! component declares.
//!
//! The host calls plugin exports dynamically, so it cannot rely on generated
//! bindings: every argument arrives as JSON and is checked against the WIT type
//! here, and every result goes back out as JSON. The mapping is deliberately
//! close to protobuf's JSON mapping so that clients in any language can use it
//! without a WIT toolchain; `docs/json-mapping.md` is the user-facing
//! description and [`schema`] produces the matching JSON Schema for OpenAPI.
//!
//! Summary of the shapes (WIT -> JSON):
//!
//! - `bool` -> boolean; `u8`..`u32`, `s8`..`s32` -> number
//! - `u64`, `s64` -> decimal string (numbers accepted on input)
//! - `f32`, `f64` -> number, or `"NaN"`, `"Infinity"`, `"-Infinity"`
//! - `char` -> one-character string; `string` -> string
//! - `list<T>` -> array; `tuple<..>` -> array of exact length
//! - `record` -> object keyed by the WIT field names
//! - `variant` -> `{"tag": "case", "value": payload}` (bare `"case"` accepted)
//! - `enum` -> string; `flags` -> array of the set flag names
//! - `option<T>` -> `null` or the value; `option<option<T>>` wraps the outer
//!   `some` as `{"some": ..}` so that `none` and `some(none)` stay distinct
//! - `result` -> `{"ok": ..}` or `{"err": ..}`
//! - `map<K, V>` -> array of `[key, value]` pairs

use serde_json::{Map, Number, Value, json};
use wasmtime::component::{Type, Val};

/// Why a JSON value could not be turned into a component value.
///
/// `path` points into the JSON document the caller sent, starting with the
/// parameter name (`pickup.lat`, `items[2].name`), so the caller can find
/// the offending spot without knowing WIT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MapError {
    /// Location of the problem, e.g. `shift.title` or `items[2].name`.
    pub path: String,
    /// What was wrong, e.g. `expected u8 (0 to 255), got 300`.
    pub message: String,
}

/// Path used by [`to_val`] when the error is at the top-level value itself.
const ROOT: &str = "$";

/// Path used by [`params_from_json`] when the arguments as a whole are wrong.
const ARGS: &str = "args";

impl MapError {
    fn new(message: impl Into<String>) -> Self {
        MapError {
            path: String::new(),
            message: message.into(),
        }
    }

    /// Paths are built while the error travels back up the recursion, so the
    /// success path never allocates path strings.
    fn in_field(mut self, name: &str) -> Self {
        self.path = format!(".{name}{}", self.path);
        self
    }

    fn at_index(mut self, index: usize) -> Self {
        self.path = format!("[{index}]{}", self.path);
        self
    }

    fn rooted(mut self, root: &str) -> Self {
        self.path = match self.path.strip_prefix('.') {
            Some(rest) => rest.to_string(),
            None if self.path.is_empty() => root.to_string(),
            None => format!("{root}{}", self.path),
        };
        self
    }
}

/// Converts `json` into a value of type `ty`.
///
/// Error paths are relative to `json` (`pickup.lat`, `$[2].name`); an error at
/// the top-level value itself has the path `$`. Use [`params_from_json`] for
/// function arguments, whose paths start at the parameter name.
pub fn to_val(ty: &Type, json: &Value) -> Result<Val, MapError> {
    convert(ty, json).map_err(|e| e.rooted(ROOT))
}

/// Converts a component value into JSON.
///
/// The value alone is enough: nested options are recognised by the inner
/// value being an option too. Resources, futures, streams and error contexts
/// have no JSON form and become `null`; reject such types up front with
/// [`check_supported`].
pub fn from_val(val: &Val) -> Value {
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        // Strings even when small, so clients see one shape per type and
        // JavaScript never rounds a value above 2^53.
        Val::S64(n) => Value::String(n.to_string()),
        Val::U64(n) => Value::String(n.to_string()),
        Val::Float32(x) => f32_to_json(*x),
        Val::Float64(x) => f64_to_json(*x),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(from_val).collect())
        }
        Val::Map(entries) => Value::Array(
            entries
                .iter()
                .map(|(k, v)| Value::Array(vec![from_val(k), from_val(v)]))
                .collect(),
        ),
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), from_val(v)))
                .collect(),
        ),
        Val::Variant(tag, payload) => {
            let mut obj = Map::new();
            obj.insert("tag".to_string(), Value::String(tag.clone()));
            if let Some(payload) = payload {
                obj.insert("value".to_string(), from_val(payload));
            }
            Value::Object(obj)
        }
        Val::Enum(name) => Value::String(name.clone()),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match **inner {
            Val::Option(_) => json!({ "some": from_val(inner) }),
            _ => from_val(inner),
        },
        Val::Result(Ok(payload)) => {
            json!({ "ok": payload.as_deref().map_or(Value::Null, from_val) })
        }
        Val::Result(Err(payload)) => {
            json!({ "err": payload.as_deref().map_or(Value::Null, from_val) })
        }
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => Value::Null,
    }
}

/// Converts the JSON arguments of a call into the parameter values, in order.
///
/// `args` is an object keyed by parameter name. A missing parameter is an
/// error unless its type is an option; an unknown key is always an error, so
/// a typo never silently drops an argument. `null` counts as `{}`, which lets
/// callers of zero-parameter functions send nothing at all.
pub fn params_from_json(params: &[(String, Type)], args: &Value) -> Result<Vec<Val>, MapError> {
    let empty = Map::new();
    let obj = match args {
        Value::Null => &empty,
        Value::Object(obj) => obj,
        other => {
            return Err(MapError::new(format!(
                "expected object keyed by parameter name, got {}",
                json_kind(other)
            ))
            .rooted(ARGS));
        }
    };
    let names = params.iter().map(|(name, _)| name.as_str());
    if let Some(key) = obj.keys().find(|k| !names.clone().any(|n| n == *k)) {
        return Err(MapError {
            path: key.clone(),
            message: format!("unknown parameter (expected {})", one_of(names)),
        });
    }
    params
        .iter()
        .map(|(name, ty)| {
            let result = match obj.get(name) {
                Some(value) => convert(ty, value),
                None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
                None => Err(MapError::new(format!(
                    "missing parameter of type {}",
                    type_name(ty)
                ))),
            };
            result.map_err(|e| e.in_field(name).rooted(ARGS))
        })
        .collect()
}

/// Converts the results of a call into JSON: `null` for no result, the value
/// itself for one result, an array for several.
pub fn results_to_json(results: &[Val]) -> Value {
    match results {
        [] => Value::Null,
        [one] => from_val(one),
        many => Value::Array(many.iter().map(from_val).collect()),
    }
}

/// Fails if `ty` contains a type with no JSON form (resources, futures,
/// streams, error contexts), so the host can refuse to expose a function
/// before anyone calls it. `root` names the top of the error path, typically
/// the parameter name or `result`.
pub fn check_supported(root: &str, ty: &Type) -> Result<(), MapError> {
    check(ty).map_err(|e| e.in_field(root).rooted(root))
}

fn check(ty: &Type) -> Result<(), MapError> {
    match ty {
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => Ok(()),
        Type::List(l) => check(&l.ty()).map_err(|e| e.at_index(0)),
        Type::FixedLengthList(l) => check(&l.ty()).map_err(|e| e.at_index(0)),
        Type::Map(m) => {
            check(&m.key()).map_err(|e| e.at_index(0).at_index(0))?;
            check(&m.value()).map_err(|e| e.at_index(1).at_index(0))
        }
        Type::Record(r) => r
            .fields()
            .try_for_each(|f| check(&f.ty).map_err(|e| e.in_field(f.name))),
        Type::Tuple(t) => t
            .types()
            .enumerate()
            .try_for_each(|(i, ty)| check(&ty).map_err(|e| e.at_index(i))),
        Type::Variant(v) => v.cases().try_for_each(|c| match &c.ty {
            Some(ty) => check(ty).map_err(|e| e.in_field("value")),
            None => Ok(()),
        }),
        Type::Option(o) => check(&o.ty()),
        Type::Result(r) => {
            if let Some(ty) = r.ok() {
                check(&ty).map_err(|e| e.in_field("ok"))?;
            }
            match r.err() {
                Some(ty) => check(&ty).map_err(|e| e.in_field("err")),
                None => Ok(()),
            }
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(unsupported(ty))
        }
    }
}

fn unsupported(ty: &Type) -> MapError {
    MapError::new(format!(
        "unsupported type {}: it has no JSON form, so this function cannot be called over JSON",
        type_name(ty)
    ))
}

/// JSON Schema (2020-12, as used by OpenAPI 3.1) describing exactly the JSON
/// that [`to_val`] accepts for `ty`; what [`from_val`] writes always matches it.
pub fn schema(ty: &Type) -> Value {
    match ty {
        Type::Bool => json!({ "type": "boolean" }),
        Type::U8 => int_schema(u8::MIN.into(), u8::MAX.into()),
        Type::S8 => int_schema(i8::MIN.into(), i8::MAX.into()),
        Type::U16 => int_schema(u16::MIN.into(), u16::MAX.into()),
        Type::S16 => int_schema(i16::MIN.into(), i16::MAX.into()),
        Type::U32 => int_schema(u32::MIN.into(), u32::MAX.into()),
        Type::S32 => int_schema(i32::MIN.into(), i32::MAX.into()),
        // `minimum`/`maximum` constrain only the number form and `pattern`
        // only the string form, so one schema covers both accepted shapes.
        Type::U64 => json!({
            "type": ["string", "integer"],
            "pattern": "^[0-9]+$",
            "minimum": 0,
            "maximum": u64::MAX,
            "description": "u64, written as a decimal string; numbers are accepted too",
        }),
        Type::S64 => json!({
            "type": ["string", "integer"],
            "pattern": "^-?[0-9]+$",
            "minimum": i64::MIN,
            "maximum": i64::MAX,
            "description": "s64, written as a decimal string; numbers are accepted too",
        }),
        Type::Float32 => float_schema("float"),
        Type::Float64 => float_schema("double"),
        // JSON Schema counts string length in code points, which is what a
        // WIT char is (a Unicode scalar value).
        Type::Char => json!({ "type": "string", "minLength": 1, "maxLength": 1 }),
        Type::String => json!({ "type": "string" }),
        Type::List(l) => json!({ "type": "array", "items": schema(&l.ty()) }),
        Type::FixedLengthList(l) => json!({
            "type": "array",
            "items": schema(&l.ty()),
            "minItems": l.len(),
            "maxItems": l.len(),
        }),
        Type::Map(m) => json!({
            "type": "array",
            "items": tuple_schema(&[m.key(), m.value()]),
        }),
        Type::Record(r) => object_schema(r.fields().map(|f| (f.name.to_string(), f.ty))),
        Type::Tuple(t) => tuple_schema(&t.types().collect::<Vec<_>>()),
        Type::Variant(v) => {
            let mut bare = Vec::new();
            let mut branches = Vec::new();
            for case in v.cases() {
                let value = case.ty.as_ref().map_or(json!({ "type": "null" }), schema);
                let mut required = vec!["tag"];
                match &case.ty {
                    None | Some(Type::Option(_)) => bare.push(case.name),
                    Some(_) => required.push("value"),
                }
                branches.push(json!({
                    "type": "object",
                    "properties": { "tag": { "const": case.name }, "value": value },
                    "required": required,
                    "additionalProperties": false,
                }));
            }
            if !bare.is_empty() {
                branches.insert(0, json!({ "type": "string", "enum": bare }));
            }
            json!({ "oneOf": branches })
        }
        Type::Enum(e) => json!({ "type": "string", "enum": e.names().collect::<Vec<_>>() }),
        Type::Option(o) => {
            let inner = o.ty();
            let some = match &inner {
                Type::Option(_) => json!({
                    "type": "object",
                    "properties": { "some": schema(&inner) },
                    "required": ["some"],
                    "additionalProperties": false,
                }),
                _ => schema(&inner),
            };
            json!({ "anyOf": [{ "type": "null" }, some] })
        }
        Type::Result(r) => {
            let arm = |key: &str, ty: Option<Type>| {
                json!({
                    "type": "object",
                    "properties": { key: ty.as_ref().map_or(json!({ "type": "null" }), schema) },
                    "required": [key],
                    "additionalProperties": false,
                })
            };
            json!({ "oneOf": [arm("ok", r.ok()), arm("err", r.err())] })
        }
        Type::Flags(f) => json!({
            "type": "array",
            "items": { "type": "string", "enum": f.names().collect::<Vec<_>>() },
        }),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            json!({
                "not": {},
                "description": format!("unsupported type {}: it has no JSON form", type_name(ty)),
            })
        }
    }
}

/// Schema of the arguments object that [`params_from_json`] accepts.
pub fn params_schema(params: &[(String, Type)]) -> Value {
    let mut schema = object_schema(params.iter().map(|(n, t)| (n.clone(), t.clone())));
    let all_optional = schema["required"].as_array().is_none_or(|r| r.is_empty());
    if all_optional {
        // `null` is read as `{}`, which is only valid when nothing is required.
        schema["type"] = json!(["object", "null"]);
    }
    schema
}

/// Schema of what [`results_to_json`] writes for a function with these
/// result types.
pub fn results_schema(results: &[Type]) -> Value {
    match results {
        [] => json!({ "type": "null" }),
        [one] => schema(one),
        many => tuple_schema(many),
    }
}

fn int_schema(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

fn float_schema(format: &str) -> Value {
    json!({
        "oneOf": [
            { "type": "number", "format": format },
            { "type": "string", "enum": ["NaN", "Infinity", "-Infinity"] },
        ]
    })
}

fn tuple_schema(types: &[Type]) -> Value {
    json!({
        "type": "array",
        "prefixItems": types.iter().map(schema).collect::<Vec<_>>(),
        "items": false,
        "minItems": types.len(),
        "maxItems": types.len(),
    })
}

fn object_schema(fields: impl Iterator<Item = (String, Type)>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, ty) in fields {
        if !matches!(ty, Type::Option(_)) {
            required.push(Value::String(name.clone()));
        }
        properties.insert(name, schema(&ty));
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

fn convert(ty: &Type, json: &Value) -> Result<Val, MapError> {
    match ty {
        Type::Bool => match json {
            Value::Bool(b) => Ok(Val::Bool(*b)),
            other => Err(wrong_kind("bool", other)),
        },
        Type::U8 => small_int(json, "u8", u8::MIN.into(), u8::MAX.into())
            .map(|n| Val::U8(n.try_into().expect("range checked"))),
        Type::S8 => small_int(json, "s8", i8::MIN.into(), i8::MAX.into())
            .map(|n| Val::S8(n.try_into().expect("range checked"))),
        Type::U16 => small_int(json, "u16", u16::MIN.into(), u16::MAX.into())
            .map(|n| Val::U16(n.try_into().expect("range checked"))),
        Type::S16 => small_int(json, "s16", i16::MIN.into(), i16::MAX.into())
            .map(|n| Val::S16(n.try_into().expect("range checked"))),
        Type::U32 => small_int(json, "u32", u32::MIN.into(), u32::MAX.into())
            .map(|n| Val::U32(n.try_into().expect("range checked"))),
        Type::S32 => small_int(json, "s32", i32::MIN.into(), i32::MAX.into())
            .map(|n| Val::S32(n.try_into().expect("range checked"))),
        Type::U64 => u64_from_json(json).map(Val::U64),
        Type::S64 => s64_from_json(json).map(Val::S64),
        Type::Float32 => float_from_json(json, "f32").and_then(|x| {
            // Casting would quietly turn 1e300 into infinity; only an explicit
            // "Infinity" may produce one.
            let narrow = x as f32;
            if x.is_finite() && !narrow.is_finite() {
                Err(MapError::new(format!(
                    "expected f32 (magnitude at most {:e}), got {}",
                    f32::MAX,
                    json
                )))
            } else {
                Ok(Val::Float32(narrow))
            }
        }),
        Type::Float64 => float_from_json(json, "f64").map(Val::Float64),
        Type::Char => match json {
            Value::String(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Ok(Val::Char(c)),
                    _ => Err(MapError::new(format!(
                        "expected char (a string of exactly one character), got a string of {} characters",
                        s.chars().count()
                    ))),
                }
            }
            other => Err(wrong_kind("char", other)),
        },
        Type::String => match json {
            Value::String(s) => Ok(Val::String(s.clone())),
            other => Err(wrong_kind("string", other)),
        },
        Type::List(l) => {
            let items = array(json, "array")?;
            let elem = l.ty();
            convert_items(items.iter().map(|item| (&elem, item))).map(Val::List)
        }
        Type::FixedLengthList(l) => {
            let items = array(json, "array")?;
            let len = usize::try_from(l.len()).expect("u32 fits in usize");
            if items.len() != len {
                return Err(MapError::new(format!(
                    "expected array of exactly {len} elements, got {}",
                    describe_array(json)
                )));
            }
            let elem = l.ty();
            convert_items(items.iter().map(|item| (&elem, item))).map(Val::FixedLengthList)
        }
        Type::Map(m) => {
            let entries = array(json, "array of [key, value] pairs")?;
            let (key_ty, value_ty) = (m.key(), m.value());
            entries
                .iter()
                .enumerate()
                .map(|(i, entry)| {
                    let pair = match entry {
                        Value::Array(pair) if pair.len() == 2 => pair,
                        other => {
                            return Err(MapError::new(format!(
                                "expected [key, value] pair, got {}",
                                describe_array(other)
                            ))
                            .at_index(i));
                        }
                    };
                    let k = convert(&key_ty, &pair[0]).map_err(|e| e.at_index(0).at_index(i))?;
                    let v = convert(&value_ty, &pair[1]).map_err(|e| e.at_index(1).at_index(i))?;
                    Ok((k, v))
                })
                .collect::<Result<_, _>>()
                .map(Val::Map)
        }
        Type::Record(r) => {
            let obj = object(json, "object")?;
            if let Some(key) = obj.keys().find(|k| !r.fields().any(|f| f.name == *k)) {
                return Err(MapError::new(format!(
                    "unknown field (expected {})",
                    one_of(r.fields().map(|f| f.name))
                ))
                .in_field(key));
            }
            r.fields()
                .map(|field| {
                    let value = match obj.get(field.name) {
                        Some(value) => convert(&field.ty, value),
                        None if matches!(field.ty, Type::Option(_)) => Ok(Val::Option(None)),
                        None => Err(MapError::new(format!(
                            "missing field of type {}",
                            type_name(&field.ty)
                        ))),
                    };
                    value
                        .map(|v| (field.name.to_string(), v))
                        .map_err(|e| e.in_field(field.name))
                })
                .collect::<Result<_, _>>()
                .map(Val::Record)
        }
        Type::Tuple(t) => {
            let items = array(json, "array")?;
            if items.len() != t.types().len() {
                return Err(MapError::new(format!(
                    "expected array of exactly {} elements, got {}",
                    t.types().len(),
                    describe_array(json)
                )));
            }
            let types: Vec<Type> = t.types().collect();
            convert_items(types.iter().zip(items)).map(Val::Tuple)
        }
        Type::Variant(v) => variant_from_json(v, json),
        Type::Enum(e) => match json {
            Value::String(s) if e.names().any(|n| n == s) => Ok(Val::Enum(s.clone())),
            Value::String(s) => Err(MapError::new(format!(
                "unknown enum case \"{s}\" (expected {})",
                one_of(e.names())
            ))),
            other => Err(wrong_kind("enum case name (string)", other)),
        },
        Type::Option(o) => {
            let inner = o.ty();
            match (json, &inner) {
                (Value::Null, _) => Ok(Val::Option(None)),
                (_, Type::Option(_)) => {
                    let obj = object(json, r#"null or {"some": ...}"#)?;
                    match (obj.get("some"), obj.len()) {
                        (Some(value), 1) => convert(&inner, value)
                            .map(|v| Val::Option(Some(Box::new(v))))
                            .map_err(|e| e.in_field("some")),
                        _ => Err(MapError::new(format!(
                            r#"expected null or {{"some": ...}}, got {}"#,
                            key_list(obj)
                        ))),
                    }
                }
                _ => convert(&inner, json).map(|v| Val::Option(Some(Box::new(v)))),
            }
        }
        Type::Result(r) => {
            let obj = object(json, r#"{"ok": ...} or {"err": ...}"#)?;
            let mut keys = obj.iter();
            match (keys.next(), keys.next()) {
                (Some((key, value)), None) if key == "ok" => payload(r.ok(), value)
                    .map(|p| Val::Result(Ok(p)))
                    .map_err(|e| e.in_field("ok")),
                (Some((key, value)), None) if key == "err" => payload(r.err(), value)
                    .map(|p| Val::Result(Err(p)))
                    .map_err(|e| e.in_field("err")),
                _ => Err(MapError::new(format!(
                    r#"expected exactly one of the keys "ok" or "err", got {}"#,
                    key_list(obj)
                ))),
            }
        }
        Type::Flags(f) => {
            let items = array(json, "array of flag names")?;
            let mut set = vec![false; f.names().len()];
            for (i, item) in items.iter().enumerate() {
                let name = match item {
                    Value::String(s) => s,
                    other => return Err(wrong_kind("flag name (string)", other).at_index(i)),
                };
                match f.names().position(|n| n == name) {
                    Some(pos) => set[pos] = true,
                    None => {
                        return Err(MapError::new(format!(
                            "unknown flag \"{name}\" (expected {})",
                            one_of(f.names())
                        ))
                        .at_index(i));
                    }
                }
            }
            // Declaration order and no duplicates, whatever order the caller used.
            Ok(Val::Flags(
                f.names()
                    .zip(set)
                    .filter(|(_, on)| *on)
                    .map(|(n, _)| n.to_string())
                    .collect(),
            ))
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(unsupported(ty))
        }
    }
}

fn convert_items<'a>(
    items: impl Iterator<Item = (&'a Type, &'a Value)>,
) -> Result<Vec<Val>, MapError> {
    items
        .enumerate()
        .map(|(i, (ty, item))| convert(ty, item).map_err(|e| e.at_index(i)))
        .collect()
}

/// Payload of a variant case or result arm; `null` means "no payload" when the
/// case has none, and `none` when the payload is an option.
fn payload(ty: Option<Type>, json: &Value) -> Result<Option<Box<Val>>, MapError> {
    match (ty, json) {
        (None, Value::Null) => Ok(None),
        (None, other) => Err(MapError::new(format!(
            "expected null (this case has no payload), got {}",
            json_kind(other)
        ))),
        (Some(ty), json) => convert(&ty, json).map(|v| Some(Box::new(v))),
    }
}

fn variant_from_json(
    v: &wasmtime::component::types::Variant,
    json: &Value,
) -> Result<Val, MapError> {
    let (tag, value) = match json {
        Value::String(tag) => (tag, None),
        Value::Object(obj) => {
            if let Some(key) = obj.keys().find(|k| *k != "tag" && *k != "value") {
                return Err(
                    MapError::new(r#"unknown key (expected "tag" and "value")"#).in_field(key)
                );
            }
            match obj.get("tag") {
                Some(Value::String(tag)) => (tag, obj.get("value")),
                Some(other) => {
                    return Err(wrong_kind("case name (string)", other).in_field("tag"));
                }
                None => {
                    return Err(
                        MapError::new("missing field of type case name (string)").in_field("tag")
                    );
                }
            }
        }
        other => {
            return Err(wrong_kind(
                r#"variant ({"tag": ..., "value": ...} or a case name)"#,
                other,
            ));
        }
    };
    let Some(case) = v.cases().find(|c| c.name == tag) else {
        let err = MapError::new(format!(
            "unknown case \"{tag}\" (expected {})",
            one_of(v.cases().map(|c| c.name))
        ));
        return Err(if json.is_object() {
            err.in_field("tag")
        } else {
            err
        });
    };
    let payload = match (case.ty, value) {
        (ty, Some(value)) => payload(ty, value).map_err(|e| e.in_field("value"))?,
        (None, None) => None,
        // An option payload may be left out, like an option record field.
        (Some(Type::Option(_)), None) => Some(Box::new(Val::Option(None))),
        (Some(ty), None) => {
            let err = MapError::new(format!(
                "missing payload of type {} for case \"{tag}\"",
                type_name(&ty)
            ));
            return Err(if json.is_object() {
                err.in_field("value")
            } else {
                err
            });
        }
    };
    Ok(Val::Variant(tag.clone(), payload))
}

/// u8..u32 and s8..s32: numbers only, integral, within `min..=max`.
fn small_int(json: &Value, name: &str, min: i64, max: i64) -> Result<i64, MapError> {
    let Value::Number(n) = json else {
        return Err(wrong_kind(name, json));
    };
    let out_of_range = || MapError::new(format!("expected {name} ({min} to {max}), got {n}"));
    if let Some(i) = n.as_i64() {
        return if (min..=max).contains(&i) {
            Ok(i)
        } else {
            Err(out_of_range())
        };
    }
    if n.is_u64() {
        // Only values above i64::MAX land here, so always out of range.
        return Err(out_of_range());
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 {
        return Err(MapError::new(format!("expected {name}, got {n}")));
    }
    if f < min as f64 || f > max as f64 {
        return Err(out_of_range());
    }
    // `1e2` parses as a float; integral and in range, so the cast is exact.
    Ok(f as i64)
}

fn u64_from_json(json: &Value) -> Result<u64, MapError> {
    let out_of_range = |got: &dyn std::fmt::Display| {
        MapError::new(format!("expected u64 (0 to {}), got {got}", u64::MAX))
    };
    match json {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(u);
            }
            if n.is_i64() {
                return Err(out_of_range(n));
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 {
                return Err(MapError::new(format!("expected u64, got {n}")));
            }
            // 2^64 is exactly representable; anything at or above it overflows.
            if !(0.0..18_446_744_073_709_551_616.0).contains(&f) {
                return Err(out_of_range(n));
            }
            Ok(f as u64)
        }
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                if s.strip_prefix('-')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(out_of_range(&format!("\"{s}\"")));
                }
                return Err(MapError::new(format!(
                    "expected u64 (a decimal integer, as a string or number), got \"{s}\""
                )));
            }
            s.parse().map_err(|_| out_of_range(&format!("\"{s}\"")))
        }
        other => Err(wrong_kind("u64", other)),
    }
}

fn s64_from_json(json: &Value) -> Result<i64, MapError> {
    let out_of_range = |got: &dyn std::fmt::Display| {
        MapError::new(format!(
            "expected s64 ({} to {}), got {got}",
            i64::MIN,
            i64::MAX
        ))
    };
    match json {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(i);
            }
            if n.is_u64() {
                return Err(out_of_range(n));
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 {
                return Err(MapError::new(format!("expected s64, got {n}")));
            }
            // -2^63 and 2^63 are exactly representable as f64.
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
                return Err(out_of_range(n));
            }
            Ok(f as i64)
        }
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MapError::new(format!(
                    "expected s64 (a decimal integer, as a string or number), got \"{s}\""
                )));
            }
            s.parse().map_err(|_| out_of_range(&format!("\"{s}\"")))
        }
        other => Err(wrong_kind("s64", other)),
    }
}

fn float_from_json(json: &Value, name: &str) -> Result<f64, MapError> {
    match json {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            // Same message as any other wrong kind: the schema and the docs
            // list the three accepted strings.
            _ => Err(wrong_kind(name, json)),
        },
        other => Err(wrong_kind(name, other)),
    }
}

fn f32_to_json(x: f32) -> Value {
    if !x.is_finite() {
        return non_finite(x.into());
    }
    // Go through the shortest decimal form so 0.1f32 is written as 0.1, not
    // as 0.10000000149011612 (its exact f64 widening).
    let widened = x.to_string().parse::<f64>().unwrap_or(x.into());
    f64_to_json(widened)
}

fn f64_to_json(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => non_finite(x),
    }
}

fn non_finite(x: f64) -> Value {
    let s = if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    Value::String(s.to_string())
}

fn array<'a>(json: &'a Value, expected: &str) -> Result<&'a Vec<Value>, MapError> {
    match json {
        Value::Array(items) => Ok(items),
        other => Err(wrong_kind(expected, other)),
    }
}

fn object<'a>(json: &'a Value, expected: &str) -> Result<&'a Map<String, Value>, MapError> {
    match json {
        Value::Object(obj) => Ok(obj),
        other => Err(wrong_kind(expected, other)),
    }
}

fn wrong_kind(expected: &str, got: &Value) -> MapError {
    MapError::new(format!("expected {expected}, got {}", json_kind(got)))
}

fn json_kind(json: &Value) -> &'static str {
    match json {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn describe_array(json: &Value) -> String {
    match json {
        Value::Array(items) if items.len() == 1 => "array of 1 element".to_string(),
        Value::Array(items) => format!("array of {} elements", items.len()),
        other => json_kind(other).to_string(),
    }
}

fn key_list(obj: &Map<String, Value>) -> String {
    if obj.is_empty() {
        return "an empty object".to_string();
    }
    // Sorted so the message does not depend on serde_json's `preserve_order`.
    let mut keys: Vec<String> = obj.keys().map(|k| format!("\"{k}\"")).collect();
    keys.sort();
    format!("object with keys {}", keys.join(", "))
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    match names.len() {
        0 => "none".to_string(),
        1 => names[0].clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}

/// Short WIT-like name of a type for error messages. Records, variants and
/// the like carry no name in the component's type information, so they are
/// described by their kind.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_name(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", type_name(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", type_name(&m.key()), type_name(&m.value())),
        Type::Record(_) => "record".into(),
        Type::Tuple(t) => {
            let parts: Vec<String> = t.types().map(|ty| type_name(&ty)).collect();
            format!("tuple<{}>", parts.join(", "))
        }
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Option(o) => format!("option<{}>", type_name(&o.ty())),
        Type::Result(r) => {
            let arm = |t: Option<Type>| t.map_or("_".to_string(), |t| type_name(&t));
            format!("result<{}, {}>", arm(r.ok()), arm(r.err()))
        }
        Type::Flags(_) => "flags".into(),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use wasmtime::component::Component;
    use wasmtime::component::types::ComponentItem;
    use wasmtime::{Config, Engine};

    /// Types come from a component that only exports type definitions, so the
    /// tests need no compiled guest. Nominal types (records, variants, ...)
    /// must be exported before other types may refer to them.
    const FIXTURE: &str = r#"
    (component
      (type $prims-d (record
        (field "b" bool) (field "u8" u8) (field "s8" s8) (field "u16" u16)
        (field "s16" s16) (field "u32" u32) (field "s32" s32) (field "u64" u64)
        (field "s64" s64) (field "f32" f32) (field "f64" f64) (field "c" char)
        (field "s" string)))
      (export $prims "prims" (type $prims-d))
      (type $point-d (record (field "lat" f64) (field "lon" f64)))
      (export $point "point" (type $point-d))
      (type $shift-d (record
        (field "title" string)
        (field "note" (option string))
        (field "pickup" $point)
        (field "start-at" u64)))
      (export $shift "shift" (type $shift-d))
      (type $item-d (record (field "name" string) (field "qty" u32)))
      (export $item "item" (type $item-d))
      (type $order-d (record (field "items" (list $item))))
      (export $order "order" (type $order-d))
      (type $color-d (enum "red" "green" "dark-blue"))
      (export $color "color" (type $color-d))
      (type $perms-d (flags "read" "write" "admin"))
      (export $perms "perms" (type $perms-d))
      (type $shape-d (variant
        (case "circle" f64)
        (case "empty")
        (case "label" (option string))
        (case "at" $point)))
      (export $shape "shape" (type $shape-d))
      (type $tup-d (record (field "t" (tuple u32 string))))
      (export "tup" (type $tup-d))
      (type $misc-d (record
        (field "bytes" (list u8))
        (field "opt" (option u32))
        (field "optopt" (option (option u32)))
        (field "opt3" (option (option (option string))))
        (field "res" (result u32 (error string)))
        (field "res-empty" (result))
        (field "res-err" (result (error string)))
        (field "colors" (list $color))
        (field "shapes" (list $shape))
        (field "maybe-shape" (option $shape))))
      (export "misc" (type $misc-d))
      (type $thing-d (resource (rep i32)))
      (export $thing "thing" (type $thing-d))
      (type $holder-d (record (field "h" (own $thing))))
      (export "holder" (type $holder-d))
    )"#;

    struct Fixture {
        named: HashMap<String, Type>,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE_TYPES: OnceLock<Fixture> = OnceLock::new();
        FIXTURE_TYPES.get_or_init(|| {
            let engine = Engine::default();
            let component = Component::new(&engine, FIXTURE).expect("fixture compiles");
            let mut named = HashMap::new();
            for (name, export) in component.component_type().exports(&engine) {
                if let ComponentItem::Type(ty) = export.ty {
                    named.insert(name.to_string(), ty);
                }
            }
            Fixture { named }
        })
    }

    /// A named export, or a field of one: `"misc.optopt"`.
    fn ty(name: &str) -> Type {
        let (export, field) = match name.split_once('.') {
            Some((export, field)) => (export, Some(field)),
            None => (name, None),
        };
        let ty = fixture()
            .named
            .get(export)
            .unwrap_or_else(|| panic!("no export {export}"));
        match field {
            None => ty.clone(),
            Some(field) => {
                ty.unwrap_record()
                    .fields()
                    .find(|f| f.name == field)
                    .unwrap_or_else(|| panic!("no field {field}"))
                    .ty
            }
        }
    }

    /// JSON -> Val -> JSON must give back the input unchanged.
    fn round_trip(ty_name: &str, input: Value) {
        check_normalized(ty_name, input.clone(), input);
    }

    /// JSON -> Val -> JSON must give `output`, and `output` must round-trip.
    fn check_normalized(ty_name: &str, input: Value, output: Value) {
        let t = ty(ty_name);
        let val = to_val(&t, &input).unwrap_or_else(|e| panic!("{ty_name} {input}: {e}"));
        assert_eq!(from_val(&val), output, "{ty_name} {input}");
        let again = to_val(&t, &output).unwrap_or_else(|e| panic!("{ty_name} {output}: {e}"));
        assert_eq!(from_val(&again), output, "{ty_name} {output}");
    }

    fn check_error(ty_name: &str, input: Value, expected: &str) {
        let err = to_val(&ty(ty_name), &input).expect_err(&format!("{ty_name} {input} accepted"));
        assert_eq!(err.to_string(), expected, "{ty_name} {input}");
    }

    #[test]
    fn fixture_exposes_types() {
        assert!(matches!(ty("point"), Type::Record(_)));
        assert!(matches!(ty("color"), Type::Enum(_)));
        assert!(matches!(ty("perms"), Type::Flags(_)));
        assert!(matches!(ty("shape"), Type::Variant(_)));
        assert!(matches!(ty("holder.h"), Type::Own(_)));
    }

    #[test]
    fn primitives_round_trip() {
        round_trip("prims.b", json!(true));
        round_trip("prims.u8", json!(255));
        round_trip("prims.s8", json!(-128));
        round_trip("prims.u16", json!(65535));
        round_trip("prims.s16", json!(-32768));
        round_trip("prims.u32", json!(4_294_967_295u32));
        round_trip("prims.s32", json!(-2_147_483_648i32));
        round_trip("prims.f64", json!(1.5));
        round_trip("prims.f32", json!(0.1));
        round_trip("prims.c", json!("é"));
        round_trip("prims.c", json!("🦀"));
        round_trip("prims.s", json!("hello"));
    }

    #[test]
    fn whole_record_of_primitives() {
        round_trip(
            "prims",
            json!({
                "b": false, "u8": 1, "s8": -1, "u16": 2, "s16": -2, "u32": 3,
                "s32": -3, "u64": "4", "s64": "-4", "f32": 0.5, "f64": -0.25,
                "c": "x", "s": "",
            }),
        );
    }

    #[test]
    fn integral_floats_accepted_for_integers() {
        check_normalized("prims.u8", json!(2.0), json!(2));
        check_normalized("prims.s32", json!(-1e3), json!(-1000));
        check_normalized("prims.u64", json!(1e3), json!("1000"));
    }

    #[test]
    fn small_ints_out_of_range() {
        check_error("prims.u8", json!(300), "$: expected u8 (0 to 255), got 300");
        check_error("prims.u8", json!(-1), "$: expected u8 (0 to 255), got -1");
        check_error(
            "prims.s8",
            json!(128),
            "$: expected s8 (-128 to 127), got 128",
        );
        check_error(
            "prims.u32",
            json!(u64::MAX),
            "$: expected u32 (0 to 4294967295), got 18446744073709551615",
        );
        check_error(
            "prims.s16",
            json!(1e10),
            "$: expected s16 (-32768 to 32767), got 10000000000.0",
        );
    }

    #[test]
    fn small_ints_reject_fractions_and_strings() {
        check_error("prims.u8", json!(1.5), "$: expected u8, got 1.5");
        check_error("prims.u32", json!("5"), "$: expected u32, got string");
        check_error("prims.s32", json!(null), "$: expected s32, got null");
    }

    #[test]
    fn u64_written_as_string_accepted_as_number() {
        let above_2_53 = 9_007_199_254_740_993u64;
        check_normalized("prims.u64", json!(above_2_53), json!("9007199254740993"));
        round_trip("prims.u64", json!("9007199254740993"));
        round_trip("prims.u64", json!("18446744073709551615"));
        round_trip("prims.u64", json!("0"));
        let val = to_val(&ty("prims.u64"), &json!("9007199254740993")).unwrap();
        assert!(matches!(val, Val::U64(n) if n == above_2_53));
    }

    #[test]
    fn s64_written_as_string_accepted_as_number() {
        round_trip("prims.s64", json!("-9223372036854775808"));
        round_trip("prims.s64", json!("9223372036854775807"));
        check_normalized("prims.s64", json!(-42), json!("-42"));
        check_normalized("prims.s64", json!(i64::MIN), json!("-9223372036854775808"));
    }

    #[test]
    fn u64_and_s64_errors() {
        check_error("prims.u64", json!(1.5), "$: expected u64, got 1.5");
        check_error("prims.s64", json!(-0.5), "$: expected s64, got -0.5");
        check_error(
            "prims.u64",
            json!(-1),
            "$: expected u64 (0 to 18446744073709551615), got -1",
        );
        check_error(
            "prims.u64",
            json!("-1"),
            "$: expected u64 (0 to 18446744073709551615), got \"-1\"",
        );
        check_error(
            "prims.u64",
            json!("18446744073709551616"),
            "$: expected u64 (0 to 18446744073709551615), got \"18446744073709551616\"",
        );
        check_error(
            "prims.u64",
            json!(2e19),
            "$: expected u64 (0 to 18446744073709551615), got 2e+19",
        );
        check_error(
            "prims.s64",
            json!(u64::MAX),
            "$: expected s64 (-9223372036854775808 to 9223372036854775807), got 18446744073709551615",
        );
        check_error(
            "prims.s64",
            json!("9223372036854775808"),
            "$: expected s64 (-9223372036854775808 to 9223372036854775807), got \"9223372036854775808\"",
        );
        check_error(
            "prims.u64",
            json!("12abc"),
            "$: expected u64 (a decimal integer, as a string or number), got \"12abc\"",
        );
        check_error(
            "prims.s64",
            json!("1.0"),
            "$: expected s64 (a decimal integer, as a string or number), got \"1.0\"",
        );
        check_error(
            "prims.u64",
            json!(""),
            "$: expected u64 (a decimal integer, as a string or number), got \"\"",
        );
        check_error("prims.u64", json!(true), "$: expected u64, got boolean");
    }

    #[test]
    fn non_finite_floats_as_strings() {
        for name in ["prims.f32", "prims.f64"] {
            round_trip(name, json!("NaN"));
            round_trip(name, json!("Infinity"));
            round_trip(name, json!("-Infinity"));
        }
        let val = to_val(&ty("prims.f64"), &json!("-Infinity")).unwrap();
        assert!(matches!(val, Val::Float64(x) if x == f64::NEG_INFINITY));
        assert_eq!(from_val(&Val::Float32(f32::NAN)), json!("NaN"));
    }

    #[test]
    fn float_errors() {
        check_error("prims.f64", json!("nan"), "$: expected f64, got string");
        check_error("prims.f64", json!([1.0]), "$: expected f64, got array");
        check_error(
            "prims.f32",
            json!(1e300),
            "$: expected f32 (magnitude at most 3.4028235e38), got 1e+300",
        );
        check_normalized("prims.f32", json!(3), json!(3.0));
    }

    #[test]
    fn char_errors() {
        check_error(
            "prims.c",
            json!("ab"),
            "$: expected char (a string of exactly one character), got a string of 2 characters",
        );
        check_error(
            "prims.c",
            json!(""),
            "$: expected char (a string of exactly one character), got a string of 0 characters",
        );
        check_error("prims.c", json!(65), "$: expected char, got number");
    }

    #[test]
    fn records() {
        round_trip(
            "shift",
            json!({ "title": "night", "note": "bring a lamp", "pickup": { "lat": 48.85, "lon": 2.35 }, "start-at": "1700000000000" }),
        );
        // A missing option field reads as none and is written back as null.
        check_normalized(
            "shift",
            json!({ "title": "night", "pickup": { "lat": 0.0, "lon": 0.0 }, "start-at": 1 }),
            json!({ "title": "night", "note": null, "pickup": { "lat": 0.0, "lon": 0.0 }, "start-at": "1" }),
        );
    }

    #[test]
    fn record_errors() {
        check_error(
            "shift",
            json!({ "title": "t", "pickup": { "lat": 1.0 }, "start-at": "1" }),
            "pickup.lon: missing field of type f64",
        );
        check_error(
            "shift",
            json!({ "pickup": { "lat": 1.0, "lon": 2.0 }, "start-at": "1" }),
            "title: missing field of type string",
        );
        check_error(
            "shift",
            json!({ "title": "t", "pickup": { "lat": "north", "lon": 2.0 }, "start-at": "1" }),
            "pickup.lat: expected f64, got string",
        );
        check_error(
            "shift",
            json!({ "title": "t", "colour": "red", "pickup": { "lat": 1.0, "lon": 2.0 }, "start-at": "1" }),
            "colour: unknown field (expected one of \"title\", \"note\", \"pickup\", \"start-at\")",
        );
        check_error(
            "shift",
            json!({ "title": "t", "pickup": { "lat": 1.0, "lon": 2.0 }, "start_at": "1" }),
            "start_at: unknown field (expected one of \"title\", \"note\", \"pickup\", \"start-at\")",
        );
        check_error("point", json!([1.0, 2.0]), "$: expected object, got array");
    }

    #[test]
    fn lists() {
        round_trip("order", json!({ "items": [] }));
        round_trip(
            "order",
            json!({ "items": [{ "name": "a", "qty": 1 }, { "name": "b", "qty": 2 }] }),
        );
        round_trip("misc.bytes", json!([0, 1, 255]));
        round_trip("misc.colors", json!(["red", "dark-blue"]));
        check_error(
            "order",
            json!({ "items": [{ "name": "a", "qty": 1 }, { "name": "b", "qty": 2 }, { "qty": 3 }] }),
            "items[2].name: missing field of type string",
        );
        check_error(
            "misc.bytes",
            json!([1, 256]),
            "$[1]: expected u8 (0 to 255), got 256",
        );
        check_error("misc.bytes", json!("AAEC"), "$: expected array, got string");
    }

    #[test]
    fn tuples() {
        round_trip("tup.t", json!([7, "seven"]));
        check_error(
            "tup.t",
            json!([7]),
            "$: expected array of exactly 2 elements, got array of 1 element",
        );
        check_error(
            "tup.t",
            json!([7, "a", 1]),
            "$: expected array of exactly 2 elements, got array of 3 elements",
        );
        check_error("tup.t", json!([7, 7]), "$[1]: expected string, got number");
        check_error("tup", json!({ "t": {} }), "t: expected array, got object");
    }

    #[test]
    fn variants() {
        round_trip("shape", json!({ "tag": "circle", "value": 2.5 }));
        round_trip(
            "shape",
            json!({ "tag": "at", "value": { "lat": 1.0, "lon": 2.0 } }),
        );
        round_trip("shape", json!({ "tag": "empty" }));
        round_trip("shape", json!({ "tag": "label", "value": "hi" }));
        round_trip("shape", json!({ "tag": "label", "value": null }));
        check_normalized("shape", json!("empty"), json!({ "tag": "empty" }));
        check_normalized(
            "shape",
            json!({ "tag": "empty", "value": null }),
            json!({ "tag": "empty" }),
        );
        // An option payload may be left out, like an option record field.
        check_normalized(
            "shape",
            json!("label"),
            json!({ "tag": "label", "value": null }),
        );
        check_normalized(
            "shape",
            json!({ "tag": "label" }),
            json!({ "tag": "label", "value": null }),
        );
    }

    #[test]
    fn variant_errors() {
        let cases = "one of \"circle\", \"empty\", \"label\", \"at\"";
        check_error(
            "shape",
            json!({ "tag": "square", "value": 1 }),
            &format!("tag: unknown case \"square\" (expected {cases})"),
        );
        check_error(
            "shape",
            json!("square"),
            &format!("$: unknown case \"square\" (expected {cases})"),
        );
        check_error(
            "shape",
            json!({ "tag": "circle" }),
            "value: missing payload of type f64 for case \"circle\"",
        );
        check_error(
            "shape",
            json!("circle"),
            "$: missing payload of type f64 for case \"circle\"",
        );
        check_error(
            "shape",
            json!({ "tag": "circle", "value": "big" }),
            "value: expected f64, got string",
        );
        check_error(
            "shape",
            json!({ "tag": "empty", "value": 1 }),
            "value: expected null (this case has no payload), got number",
        );
        check_error(
            "shape",
            json!({ "value": 1 }),
            "tag: missing field of type case name (string)",
        );
        check_error(
            "shape",
            json!({ "tag": 1 }),
            "tag: expected case name (string), got number",
        );
        check_error(
            "shape",
            json!({ "tag": "empty", "extra": 1 }),
            "extra: unknown key (expected \"tag\" and \"value\")",
        );
        check_error(
            "misc.shapes",
            json!([{ "tag": "at", "value": { "lat": 1.0, "lon": true } }]),
            "$[0].value.lon: expected f64, got boolean",
        );
        check_error(
            "shape",
            json!(3),
            "$: expected variant ({\"tag\": ..., \"value\": ...} or a case name), got number",
        );
    }

    #[test]
    fn enums() {
        round_trip("color", json!("dark-blue"));
        check_error(
            "color",
            json!("blue"),
            "$: unknown enum case \"blue\" (expected one of \"red\", \"green\", \"dark-blue\")",
        );
        check_error(
            "color",
            json!(0),
            "$: expected enum case name (string), got number",
        );
    }

    #[test]
    fn options() {
        round_trip("misc.opt", json!(null));
        round_trip("misc.opt", json!(5));
        round_trip("misc.maybe-shape", json!(null));
        round_trip("misc.maybe-shape", json!({ "tag": "circle", "value": 1.0 }));
        check_error("misc.opt", json!("5"), "$: expected u32, got string");
    }

    #[test]
    fn nested_options_keep_some_none_apart() {
        round_trip("misc.optopt", json!(null));
        round_trip("misc.optopt", json!({ "some": null }));
        round_trip("misc.optopt", json!({ "some": 3 }));
        let some_none = to_val(&ty("misc.optopt"), &json!({ "some": null })).unwrap();
        assert!(
            matches!(&some_none, Val::Option(Some(inner)) if matches!(**inner, Val::Option(None)))
        );

        round_trip("misc.opt3", json!(null));
        round_trip("misc.opt3", json!({ "some": null }));
        round_trip("misc.opt3", json!({ "some": { "some": null } }));
        round_trip("misc.opt3", json!({ "some": { "some": "x" } }));

        check_error(
            "misc.optopt",
            json!(3),
            "$: expected null or {\"some\": ...}, got number",
        );
        check_error(
            "misc.optopt",
            json!({ "some": 1, "none": 2 }),
            "$: expected null or {\"some\": ...}, got object with keys \"none\", \"some\"",
        );
        check_error(
            "misc.optopt",
            json!({ "some": "3" }),
            "some: expected u32, got string",
        );
        check_error(
            "misc.opt3",
            json!({ "some": { "some": 1 } }),
            "some.some: expected string, got number",
        );
    }

    #[test]
    fn results() {
        round_trip("misc.res", json!({ "ok": 1 }));
        round_trip("misc.res", json!({ "err": "nope" }));
        round_trip("misc.res-empty", json!({ "ok": null }));
        round_trip("misc.res-empty", json!({ "err": null }));
        round_trip("misc.res-err", json!({ "ok": null }));
        round_trip("misc.res-err", json!({ "err": "bad" }));
        check_error(
            "misc.res",
            json!({ "ok": 1, "err": "x" }),
            "$: expected exactly one of the keys \"ok\" or \"err\", got object with keys \"err\", \"ok\"",
        );
        check_error(
            "misc.res",
            json!({}),
            "$: expected exactly one of the keys \"ok\" or \"err\", got an empty object",
        );
        check_error(
            "misc.res",
            json!({ "error": "x" }),
            "$: expected exactly one of the keys \"ok\" or \"err\", got object with keys \"error\"",
        );
        check_error(
            "misc.res",
            json!({ "err": 1 }),
            "err: expected string, got number",
        );
        check_error(
            "misc.res-empty",
            json!({ "ok": 1 }),
            "ok: expected null (this case has no payload), got number",
        );
        check_error(
            "misc.res",
            json!(1),
            "$: expected {\"ok\": ...} or {\"err\": ...}, got number",
        );
    }

    #[test]
    fn flags() {
        round_trip("perms", json!([]));
        round_trip("perms", json!(["read", "admin"]));
        // Declaration order, duplicates folded.
        check_normalized(
            "perms",
            json!(["admin", "read", "admin"]),
            json!(["read", "admin"]),
        );
        check_error(
            "perms",
            json!(["read", "delete"]),
            "$[1]: unknown flag \"delete\" (expected one of \"read\", \"write\", \"admin\")",
        );
        check_error(
            "perms",
            json!([1]),
            "$[0]: expected flag name (string), got number",
        );
        check_error(
            "perms",
            json!("read"),
            "$: expected array of flag names, got string",
        );
    }

    #[test]
    fn resources_are_unsupported() {
        check_error(
            "holder",
            json!({ "h": 1 }),
            "h: unsupported type own<resource>: it has no JSON form, so this function cannot be called over JSON",
        );
        let err = check_supported("thing", &ty("holder")).unwrap_err();
        assert_eq!(err.path, "thing.h");
        assert!(check_supported("shift", &ty("shift")).is_ok());
        assert!(check_supported("misc", &ty("misc")).is_ok());
        assert_eq!(schema(&ty("holder.h"))["not"], json!({}));
    }

    fn params(names: &str) -> Vec<(String, Type)> {
        names
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|spec| {
                let (param, ty_name) = spec.split_once('=').unwrap();
                (param.to_string(), ty(ty_name))
            })
            .collect()
    }

    #[test]
    fn params_by_name() {
        let ps = params("shift=shift count=prims.u32 note=misc.opt");
        let args = json!({
            "count": 2,
            "shift": { "title": "t", "pickup": { "lat": 1.0, "lon": 2.0 }, "start-at": "1" },
        });
        let vals = params_from_json(&ps, &args).unwrap();
        assert_eq!(vals.len(), 3);
        assert!(matches!(vals[0], Val::Record(_)));
        assert!(matches!(vals[1], Val::U32(2)));
        assert!(matches!(vals[2], Val::Option(None)));
    }

    #[test]
    fn params_errors() {
        let ps = params("shift=shift count=prims.u32");
        let err = |args: Value| params_from_json(&ps, &args).unwrap_err().to_string();
        assert_eq!(
            err(json!({ "shift": { "title": 1 }, "count": 1 })),
            "shift.title: expected string, got number"
        );
        assert_eq!(
            err(
                json!({ "shift": { "title": "t", "pickup": { "lat": "n", "lon": 0 }, "start-at": 0 }, "count": 1 })
            ),
            "shift.pickup.lat: expected f64, got string"
        );
        assert_eq!(
            err(json!({ "shift": {} })),
            "shift.title: missing field of type string"
        );
        assert_eq!(
            err(json!({ "count": 1 })),
            "shift: missing parameter of type record"
        );
        assert_eq!(
            err(json!({ "count": 1, "cnt": 1 })),
            "cnt: unknown parameter (expected one of \"shift\", \"count\")"
        );
        assert_eq!(
            err(json!([1, 2])),
            "args: expected object keyed by parameter name, got array"
        );
        assert_eq!(err(json!(null)), "shift: missing parameter of type record");
    }

    #[test]
    fn zero_params_accept_null_and_empty_object() {
        assert!(params_from_json(&[], &json!(null)).unwrap().is_empty());
        assert!(params_from_json(&[], &json!({})).unwrap().is_empty());
        assert_eq!(
            params_from_json(&[], &json!({ "x": 1 }))
                .unwrap_err()
                .to_string(),
            "x: unknown parameter (expected none)"
        );
    }

    #[test]
    fn results_shapes() {
        assert_eq!(results_to_json(&[]), json!(null));
        assert_eq!(
            results_to_json(&[Val::U64(1 << 60)]),
            json!("1152921504606846976")
        );
        assert_eq!(
            results_to_json(&[Val::U8(1), Val::Bool(true)]),
            json!([1, true])
        );
    }

    #[test]
    fn root_error_path_is_value() {
        check_error("prims.b", json!(1), "$: expected bool, got number");
        let e = MapError {
            path: "pickup.lat".into(),
            message: "expected f64, got string".into(),
        };
        assert_eq!(e.to_string(), "pickup.lat: expected f64, got string");
    }

    #[test]
    fn schema_shapes() {
        assert_eq!(
            schema(&ty("prims.u8")),
            json!({ "type": "integer", "minimum": 0, "maximum": 255 })
        );
        let u64_schema = schema(&ty("prims.u64"));
        assert_eq!(u64_schema["type"], json!(["string", "integer"]));
        assert_eq!(u64_schema["pattern"], json!("^[0-9]+$"));
        assert_eq!(
            schema(&ty("point")),
            json!({
                "type": "object",
                "properties": {
                    "lat": { "oneOf": [{ "type": "number", "format": "double" }, { "type": "string", "enum": ["NaN", "Infinity", "-Infinity"] }] },
                    "lon": { "oneOf": [{ "type": "number", "format": "double" }, { "type": "string", "enum": ["NaN", "Infinity", "-Infinity"] }] },
                },
                "required": ["lat", "lon"],
                "additionalProperties": false,
            })
        );
        assert_eq!(
            schema(&ty("shift"))["required"],
            json!(["title", "pickup", "start-at"])
        );
        assert_eq!(
            schema(&ty("color")),
            json!({ "type": "string", "enum": ["red", "green", "dark-blue"] })
        );
        assert_eq!(
            schema(&ty("perms")),
            json!({ "type": "array", "items": { "type": "string", "enum": ["read", "write", "admin"] } })
        );
        assert_eq!(
            schema(&ty("misc.optopt")),
            json!({ "anyOf": [
                { "type": "null" },
                { "type": "object",
                  "properties": { "some": { "anyOf": [{ "type": "null" }, { "type": "integer", "minimum": 0, "maximum": 4_294_967_295u32 }] } },
                  "required": ["some"],
                  "additionalProperties": false },
            ] })
        );
        assert_eq!(
            schema(&ty("misc.res-err")),
            json!({ "oneOf": [
                { "type": "object", "properties": { "ok": { "type": "null" } }, "required": ["ok"], "additionalProperties": false },
                { "type": "object", "properties": { "err": { "type": "string" } }, "required": ["err"], "additionalProperties": false },
            ] })
        );
        assert_eq!(
            schema(&ty("tup.t")),
            json!({
                "type": "array",
                "prefixItems": [{ "type": "integer", "minimum": 0, "maximum": 4_294_967_295u32 }, { "type": "string" }],
                "items": false, "minItems": 2, "maxItems": 2,
            })
        );
        let shape = schema(&ty("shape"));
        let branches = shape["oneOf"].as_array().unwrap();
        assert_eq!(
            branches[0],
            json!({ "type": "string", "enum": ["empty", "label"] })
        );
        assert_eq!(branches.len(), 5);
        assert_eq!(branches[1]["required"], json!(["tag", "value"]));
        assert_eq!(
            branches[2]["properties"]["value"],
            json!({ "type": "null" })
        );
        assert_eq!(branches[3]["required"], json!(["tag"]));
        assert_eq!(
            schema(&ty("prims.c")),
            json!({ "type": "string", "minLength": 1, "maxLength": 1 })
        );
    }

    #[test]
    fn params_and_results_schemas() {
        let ps = params("shift=shift note=misc.opt");
        let s = params_schema(&ps);
        assert_eq!(s["type"], json!("object"));
        assert_eq!(s["required"], json!(["shift"]));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(params_schema(&[])["type"], json!(["object", "null"]));
        assert_eq!(
            params_schema(&params("note=misc.opt"))["type"],
            json!(["object", "null"])
        );
        assert_eq!(results_schema(&[]), json!({ "type": "null" }));
        assert_eq!(results_schema(&[ty("color")]), schema(&ty("color")));
    }

    #[test]
    fn params_of_a_real_function_type() {
        let engine = Engine::default();
        let wat = r#"
        (component
          (type $pt-d (record (field "lat" f64) (field "lon" f64)))
          (export $pt "point" (type $pt-d))
          (type $f (func (param "pickup" $pt) (param "weight-kg" u32) (param "note" (option string)) (result string)))
          (export "quote" (type $f)))"#;
        let component = Component::new(&engine, wat).expect("fixture compiles");
        let ctype = component.component_type();
        let export = ctype.get_export(&engine, "quote").expect("quote exported");
        let ComponentItem::ComponentFunc(func) = export.ty else {
            panic!("expected a function type, got {:?}", export.ty);
        };
        let ps: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_string(), t)).collect();
        let results: Vec<Type> = func.results().collect();
        let vals = params_from_json(
            &ps,
            &json!({ "pickup": { "lat": 1.0, "lon": 2.0 }, "weight-kg": 3 }),
        )
        .unwrap();
        assert_eq!(vals.len(), 3);
        assert_eq!(
            params_from_json(
                &ps,
                &json!({ "pickup": { "lat": "x", "lon": 2.0 }, "weight-kg": 3 })
            )
            .unwrap_err()
            .to_string(),
            "pickup.lat: expected f64, got string"
        );
        assert_eq!(
            params_schema(&ps)["required"],
            json!(["pickup", "weight-kg"])
        );
        assert_eq!(results_schema(&results), json!({ "type": "string" }));
    }

    #[test]
    fn maps_and_fixed_length_lists() {
        let mut config = Config::new();
        config.wasm_component_model_map(true);
        config.wasm_component_model_fixed_length_lists(true);
        let engine = Engine::new(&config).unwrap();
        let wat = r#"
        (component
          (type $r (record (field "m" (map string u32)) (field "fl" (list u8 3))))
          (export "r" (type $r)))"#;
        let component = Component::new(&engine, wat).expect("fixture compiles");
        let ctype = component.component_type();
        let ComponentItem::Type(ty) = ctype.get_export(&engine, "r").unwrap().ty else {
            panic!("expected a type");
        };
        let input = json!({ "m": [["a", 1], ["b", 2]], "fl": [1, 2, 3] });
        let val = to_val(&ty, &input).unwrap();
        assert_eq!(from_val(&val), input);
        assert_eq!(
            to_val(&ty, &json!({ "m": [], "fl": [1, 2] }))
                .unwrap_err()
                .to_string(),
            "fl: expected array of exactly 3 elements, got array of 2 elements"
        );
        assert_eq!(
            to_val(&ty, &json!({ "m": [["a"]], "fl": [1, 2, 3] }))
                .unwrap_err()
                .to_string(),
            "m[0]: expected [key, value] pair, got array of 1 element"
        );
        assert_eq!(
            to_val(&ty, &json!({ "m": [["a", "1"]], "fl": [1, 2, 3] }))
                .unwrap_err()
                .to_string(),
            "m[0][1]: expected u32, got string"
        );
        let s = schema(&ty);
        assert_eq!(s["properties"]["fl"]["minItems"], json!(3));
        assert_eq!(
            s["properties"]["m"]["items"]["prefixItems"][0],
            json!({ "type": "string" })
        );
    }
}
