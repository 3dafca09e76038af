//! What a component asks for and offers, read from its types.

use serde::Serialize;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type};

use super::json;

/// A component's imports and exported interfaces.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Imported interfaces: the capabilities the plugin asks for.
    pub imports: Vec<String>,
    /// Exported interfaces with their functions.
    pub exports: Vec<ExportedInterface>,
}

/// One exported interface.
#[derive(Clone, Debug, Serialize)]
pub struct ExportedInterface {
    /// Name without version, e.g. `coop:examples/shift-board`: what clients
    /// address.
    pub name: String,
    /// Semantic version, if the package has one.
    pub version: Option<String>,
    /// Name as exported, e.g. `coop:examples/shift-board@0.1.0`.
    pub export_name: String,
    /// Its functions.
    pub functions: Vec<FunctionSig>,
}

/// One exported function.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionSig {
    /// Function name, e.g. `claim-shift`.
    pub name: String,
    /// The signature in WIT syntax (types written out structurally).
    pub wit: String,
    /// JSON Schema of the request body (an object keyed by parameter name).
    pub params_schema: serde_json::Value,
    /// JSON Schema of the response body.
    pub result_schema: serde_json::Value,
}

/// A function's parameter and result types, for dynamic calls.
#[derive(Clone)]
pub struct FuncTypes {
    /// Parameter names and types.
    pub params: Vec<(String, Type)>,
    /// Result types (zero or one).
    pub results: Vec<Type>,
}

/// An exported function: (interface export name, function name, types).
pub type ExportedFunc = (String, String, FuncTypes);

/// Split `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `Some("1.2.3")`).
pub fn split_version(name: &str) -> (String, Option<String>) {
    match name.split_once('@') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (name.to_string(), None),
    }
}

/// Read a component's imports and exports. Functions whose signatures use
/// resources, futures or streams are refused until supported.
pub fn inspect(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<(Inspection, Vec<ExportedFunc>), String> {
    let ty = component.component_type();
    let mut imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    imports.sort();
    let mut exports = Vec::new();
    let mut funcs = Vec::new();
    for (export_name, item) in ty.exports(engine) {
        let ComponentItem::ComponentInstance(inst) = item.ty else {
            continue;
        };
        let (name, version) = split_version(export_name);
        let mut functions = Vec::new();
        for (fname, item) in inst.exports(engine) {
            let ComponentItem::ComponentFunc(f) = item.ty else {
                continue;
            };
            let types = func_types(&f);
            for (pname, pty) in &types.params {
                if let Some(bad) = unsupported(pty) {
                    return Err(format!(
                        "{export_name}: function {fname} parameter {pname} uses a {bad}, which coophost cannot call yet"
                    ));
                }
            }
            for rty in &types.results {
                if let Some(bad) = unsupported(rty) {
                    return Err(format!(
                        "{export_name}: function {fname} returns a {bad}, which coophost cannot call yet"
                    ));
                }
            }
            functions.push(FunctionSig {
                name: fname.to_string(),
                wit: wit_signature(fname, &types),
                params_schema: json::params_schema(&types.params),
                result_schema: json::results_schema(&types.results),
            });
            funcs.push((export_name.to_string(), fname.to_string(), types));
        }
        exports.push(ExportedInterface {
            name,
            version,
            export_name: export_name.to_string(),
            functions,
        });
    }
    Ok((Inspection { imports, exports }, funcs))
}

fn func_types(f: &ComponentFunc) -> FuncTypes {
    FuncTypes {
        params: f.params().map(|(n, t)| (n.to_string(), t)).collect(),
        results: f.results().collect(),
    }
}

/// The first kind of type inside `ty` that dynamic calls cannot carry.
fn unsupported(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("resource"),
        Type::Future(_) => Some("future"),
        Type::Stream(_) => Some("stream"),
        Type::ErrorContext => Some("error-context"),
        Type::List(l) => unsupported(&l.ty()),
        Type::FixedLengthList(l) => unsupported(&l.ty()),
        Type::Map(m) => unsupported(&m.key()).or_else(|| unsupported(&m.value())),
        Type::Record(r) => r.fields().find_map(|f| unsupported(&f.ty)),
        Type::Tuple(t) => t.types().find_map(|t| unsupported(&t)),
        Type::Variant(v) => v.cases().find_map(|c| c.ty.as_ref().and_then(unsupported)),
        Type::Option(o) => unsupported(&o.ty()),
        Type::Result(r) => r
            .ok()
            .as_ref()
            .and_then(unsupported)
            .or_else(|| r.err().as_ref().and_then(unsupported)),
        _ => None,
    }
}

fn wit_signature(name: &str, t: &FuncTypes) -> String {
    let params: Vec<String> = t
        .params
        .iter()
        .map(|(n, ty)| format!("{n}: {}", wit_type(ty)))
        .collect();
    let mut s = format!("{name}: func({})", params.join(", "));
    if let Some(r) = t.results.first() {
        s.push_str(&format!(" -> {}", wit_type(r)));
    }
    s
}

/// A type in WIT syntax, written out structurally (components do not keep
/// type names).
pub fn wit_type(ty: &Type) -> String {
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
        Type::List(l) => format!("list<{}>", wit_type(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", wit_type(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", wit_type(&m.key()), wit_type(&m.value())),
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, wit_type(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => {
            let items: Vec<String> = t.types().map(|t| wit_type(&t)).collect();
            format!("tuple<{}>", items.join(", "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, wit_type(t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", wit_type(&ok)),
            (None, Some(err)) => format!("result<_, {}>", wit_type(&err)),
            (Some(ok), Some(err)) => format!("result<{}, {}>", wit_type(&ok), wit_type(&err)),
        },
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
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

    /// A component exporting an interface whose function takes a resource.
    const RESOURCE_COMPONENT: &str = r#"
(component
  (type $r0 (resource (rep i32)))
  (export $r "res" (type $r0))
  (core module $m (func (export "f") (param i32)))
  (core instance $i (instantiate $m))
  (component $inner
    (import "r" (type $r (sub resource)))
    (import "f" (func $f (param "x" (own $r))))
    (export "r" (type $r))
    (export "f" (func $f))
  )
  (func $f (param "x" (own $r)) (canon lift (core func $i "f")))
  (instance $inst (instantiate $inner (with "r" (type $r)) (with "f" (func $f))))
  (export "coop:test/res@0.1.0" (instance $inst))
)
"#;

    #[test]
    fn resource_signatures_are_refused_with_a_reason() {
        let engine = wasmtime::Engine::default();
        let component = Component::new(&engine, RESOURCE_COMPONENT).expect("valid component");
        let err = match inspect(&engine, &component) {
            Ok(_) => panic!("a resource-typed export must be refused"),
            Err(e) => e,
        };
        assert_eq!(
            err,
            "coop:test/res@0.1.0: function f parameter x uses a resource, which coophost cannot call yet"
        );
    }

    #[test]
    fn versions_split_from_names() {
        assert_eq!(
            split_version("coop:delivery/courier@0.1.0"),
            (
                "coop:delivery/courier".to_string(),
                Some("0.1.0".to_string())
            )
        );
        assert_eq!(split_version("a:b/c"), ("a:b/c".to_string(), None));
    }
}
