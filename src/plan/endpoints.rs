//! Notebook functions served as `POST` routes: their request bodies, from their signatures.
//!
//! A parameter becomes a pydantic field. Its annotation is kept when it only names JSON-shaped
//! types (`float`, `list[int]`, `Optional[str]`, ...), because the request model is declared in
//! `main.py`, where the notebook's own names do not exist; anything else is accepted as any JSON,
//! with a warning. A default is kept when it is a literal; otherwise the field is optional and
//! the function's own default applies when the caller leaves it out.

use ruff_python_ast::{Expr, UnaryOp};
use ruff_python_parser::parse_expression;
use ruff_text_size::Ranged;
use serde::Serialize;
use serde_json::{json, Value};

use crate::diagnostics::{CellRef, Location, Warning};
use crate::python::{Function, ParamKind};

/// One route of the generated service that calls a notebook function.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// The notebook function's name.
    pub function: String,
    /// `/NAME`.
    pub route: String,
    /// The route function's name in `main.py`.
    pub handler: String,
    /// The pydantic class of the request body.
    pub request_model: String,
    /// Field declarations of the request model, one Python line each.
    pub fields: Vec<String>,
    pub is_async: bool,
    /// Where the function is defined, as a person would say it.
    pub cell: String,
    pub summary: String,
    /// A request body that validates, for the README's curl example.
    pub example: Value,
    /// The `typing` names the fields use, sorted: `main.py` imports exactly these.
    pub typing_names: Vec<String>,
    /// A field is declared with pydantic's `Field` (an alias).
    pub uses_field: bool,
}

/// Fields that would shadow pydantic's own `BaseModel` attributes get a trailing `_` and an alias.
const BASEMODEL_ATTRIBUTES: &[&str] = &[
    "model_config",
    "model_fields",
    "model_computed_fields",
    "model_extra",
    "model_fields_set",
    "model_construct",
    "model_copy",
    "model_dump",
    "model_dump_json",
    "model_json_schema",
    "model_parametrized_name",
    "model_post_init",
    "model_rebuild",
    "model_validate",
    "model_validate_json",
    "model_validate_strings",
    "dict",
    "json",
    "copy",
    "parse_obj",
    "parse_raw",
    "parse_file",
    "from_orm",
    "construct",
    "schema",
    "schema_json",
    "validate",
    "update_forward_refs",
    "fields",
    "Config",
];

/// Names an annotation may use and still mean the same thing in `main.py`.
const JSON_TYPE_NAMES: &[&str] = &[
    "float",
    "int",
    "str",
    "bool",
    "list",
    "dict",
    "tuple",
    "set",
    "frozenset",
    "None",
    "Any",
    "Optional",
    "Union",
    "List",
    "Dict",
    "Tuple",
    "Set",
    "FrozenSet",
    "Literal",
];

/// Builds the endpoint for `function`, defined in `cell`.
pub fn endpoint(
    function: &Function,
    cell: &CellRef,
    line_offset: usize,
    warnings: &mut Vec<Warning>,
) -> Endpoint {
    let location = Location {
        cell: cell.clone(),
        line: function.line + line_offset,
    };
    let mut fields = Vec::new();
    let mut typing_names = std::collections::BTreeSet::new();
    let mut uses_field = false;
    let mut example = serde_json::Map::new();
    for param in &function.params {
        if matches!(param.kind, ParamKind::VarArgs | ParamKind::VarKeywords) {
            warnings.push(Warning::at(
                location.clone(),
                format!(
                    "`{}` of `{}` collects extra arguments; the request body cannot fill it",
                    param.name, function.name
                ),
            ));
            continue;
        }
        let annotation = match param.annotation.as_deref() {
            Some(text) if is_json_type(text) => text.to_string(),
            Some(text) => {
                warnings.push(Warning::at(
                    location.clone(),
                    format!(
                        "parameter `{}` of `{}` is annotated `{text}`, which a JSON request cannot carry as such; it accepts any JSON",
                        param.name, function.name
                    ),
                ));
                "Any".to_string()
            }
            None => {
                warnings.push(Warning::at(
                    location.clone(),
                    format!(
                        "parameter `{}` of `{}` has no annotation; it accepts any JSON (annotate it for validation and docs)",
                        param.name, function.name
                    ),
                ));
                "Any".to_string()
            }
        };
        let literal_default = param.default.as_deref().and_then(literal_json);
        let (field_annotation, default) = match (&param.default, &literal_default) {
            (None, _) => (annotation.clone(), None),
            (Some(text), Some(value)) => (annotation.clone(), Some(default_text(text, value))),
            // The function's own default applies: the field is left unset.
            (Some(_), None) => (format!("Optional[{annotation}]"), Some("None".to_string())),
        };
        let (field_annotation, used) = normalized_annotation(&field_annotation);
        typing_names.extend(used);
        let field_name = if BASEMODEL_ATTRIBUTES.contains(&param.name.as_str()) {
            format!("{}_", param.name)
        } else {
            param.name.clone()
        };
        let declaration = match (field_name != param.name, default) {
            (false, None) => format!("{field_name}: {field_annotation}"),
            (false, Some(default)) => format!("{field_name}: {field_annotation} = {default}"),
            (true, None) => format!(
                "{field_name}: {field_annotation} = Field(alias={})",
                crate::escape::python_string(&param.name)
            ),
            (true, Some(default)) => {
                format!(
                    "{field_name}: {field_annotation} = Field({default}, alias={})",
                    crate::escape::python_string(&param.name)
                )
            }
        };
        uses_field |= field_name != param.name;
        fields.push(declaration);
        example.insert(
            param.name.clone(),
            literal_default.unwrap_or_else(|| example_for(&annotation)),
        );
    }
    let summary = match function.docstring.as_deref().and_then(|d| d.lines().next()) {
        Some(first) if !first.trim().is_empty() => first.trim().to_string(),
        _ => format!("Call `{}` from {cell}", function.name),
    };
    Endpoint {
        function: function.name.clone(),
        route: format!("/{}", function.name),
        handler: format!("{}_endpoint", function.name),
        request_model: format!("{}Request", camel_case(&function.name)),
        fields,
        is_async: function.is_async,
        cell: cell.to_string(),
        summary,
        example: Value::Object(example),
        typing_names: typing_names.into_iter().map(str::to_string).collect(),
        uses_field,
    }
}

/// `typing`'s names that the builtins replace since Python 3.9 (PEP 585).
const BUILTIN_GENERICS: &[(&str, &str)] = &[
    ("List", "list"),
    ("Dict", "dict"),
    ("Tuple", "tuple"),
    ("Set", "set"),
    ("FrozenSet", "frozenset"),
];

/// An annotation as `main.py` writes it, in the formatter's style, and the `typing` names it
/// then needs: `List[ int ]` becomes `list[int]`, `typing.Optional['a']` becomes
/// `Optional["a"]` (imported by name). The annotation passed [`is_json_type`], so it is made
/// of names, subscripts, tuples, `|` and literals only.
fn normalized_annotation(annotation: &str) -> (String, Vec<&'static str>) {
    let Ok(parsed) = parse_expression(annotation) else {
        return (annotation.to_string(), Vec::new());
    };
    let mut used = Vec::new();
    let text = print_annotation(parsed.expr(), annotation, &mut used);
    (text.unwrap_or_else(|| annotation.to_string()), used)
}

fn print_annotation(expr: &Expr, source: &str, used: &mut Vec<&'static str>) -> Option<String> {
    let name = |name: &str, used: &mut Vec<&'static str>| -> String {
        if let Some((_, builtin)) = BUILTIN_GENERICS.iter().find(|(alias, _)| *alias == name) {
            return builtin.to_string();
        }
        if let Some(typing) = ["Any", "Optional", "Union", "Literal"]
            .into_iter()
            .find(|typing| *typing == name)
        {
            used.push(typing);
        }
        name.to_string()
    };
    Some(match expr {
        Expr::Name(n) => name(n.id.as_str(), used),
        // `typing.Optional`: the module is not imported in `main.py`, the name is.
        Expr::Attribute(attribute) => name(attribute.attr.as_str(), used),
        Expr::Subscript(subscript) => {
            let value = print_annotation(&subscript.value, source, used)?;
            let inner = match subscript.slice.as_ref() {
                Expr::Tuple(tuple) => tuple
                    .elts
                    .iter()
                    .map(|e| print_annotation(e, source, used))
                    .collect::<Option<Vec<_>>>()?
                    .join(", "),
                other => print_annotation(other, source, used)?,
            };
            format!("{value}[{inner}]")
        }
        Expr::Tuple(tuple) => {
            let items = tuple
                .elts
                .iter()
                .map(|e| print_annotation(e, source, used))
                .collect::<Option<Vec<_>>>()?;
            format!("({})", items.join(", "))
        }
        Expr::BinOp(binary) => format!(
            "{} | {}",
            print_annotation(&binary.left, source, used)?,
            print_annotation(&binary.right, source, used)?
        ),
        Expr::StringLiteral(string) => crate::escape::python_string(string.value.to_str()),
        Expr::NoneLiteral(_) => "None".to_string(),
        _ => source
            .get(expr.range().start().to_usize()..expr.range().end().to_usize())?
            .to_string(),
    })
}

/// A literal default as the formatter writes it: strings double-quoted, others as written.
fn default_text(written: &str, value: &Value) -> String {
    match value {
        Value::String(text) => crate::escape::python_string(text),
        _ => written.to_string(),
    }
}

fn camel_case(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect::<String>()
        })
        .collect()
}

/// Whether an annotation only names types that mean the same in `main.py` as in the notebook.
fn is_json_type(annotation: &str) -> bool {
    let Ok(parsed) = parse_expression(annotation) else {
        return false;
    };
    fn allowed(expr: &Expr) -> bool {
        match expr {
            Expr::Name(name) => JSON_TYPE_NAMES.contains(&name.id.as_str()),
            Expr::NoneLiteral(_) => true,
            Expr::Attribute(attribute) => {
                matches!(&*attribute.value, Expr::Name(module) if module.id.as_str() == "typing")
                    && JSON_TYPE_NAMES.contains(&attribute.attr.as_str())
            }
            Expr::Subscript(subscript) => {
                allowed(&subscript.value) && allowed_argument(&subscript.slice)
            }
            Expr::Tuple(tuple) => tuple.elts.iter().all(allowed_argument),
            Expr::BinOp(binary) => allowed(&binary.left) && allowed(&binary.right), // `int | None`
            _ => false,
        }
    }
    // Inside `Literal[...]` and friends, literal values are fine too.
    fn allowed_argument(expr: &Expr) -> bool {
        allowed(expr) || literal_value(expr).is_some()
    }
    allowed(parsed.expr())
}

/// The JSON value of a Python literal default (`0.5`, `'adelie'`, `[1, 2]`, `None`), if it is one.
fn literal_json(source: &str) -> Option<Value> {
    parse_expression(source)
        .ok()
        .and_then(|parsed| literal_value(parsed.expr()))
}

fn literal_value(expr: &Expr) -> Option<Value> {
    match expr {
        Expr::NoneLiteral(_) => Some(Value::Null),
        Expr::BooleanLiteral(boolean) => Some(Value::Bool(boolean.value)),
        Expr::StringLiteral(string) => Some(Value::String(string.value.to_str().to_string())),
        Expr::NumberLiteral(number) => match &number.value {
            ruff_python_ast::Number::Int(int) => int.as_i64().map(Value::from),
            ruff_python_ast::Number::Float(float) => {
                serde_json::Number::from_f64(*float).map(Value::Number)
            }
            ruff_python_ast::Number::Complex { .. } => None,
        },
        Expr::UnaryOp(unary) if unary.op == UnaryOp::USub => match literal_value(&unary.operand)? {
            Value::Number(n) if n.is_i64() => Some(json!(-n.as_i64()?)),
            Value::Number(n) => serde_json::Number::from_f64(-n.as_f64()?).map(Value::Number),
            _ => None,
        },
        Expr::List(list) => list
            .elts
            .iter()
            .map(literal_value)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Expr::Tuple(tuple) => tuple
            .elts
            .iter()
            .map(literal_value)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Expr::Dict(dict) => {
            let mut map = serde_json::Map::new();
            for item in &dict.items {
                let Value::String(key) = literal_value(item.key.as_ref()?)? else {
                    return None;
                };
                map.insert(key, literal_value(&item.value)?);
            }
            Some(Value::Object(map))
        }
        _ => None,
    }
}

/// A value that fits the annotation, for documentation.
fn example_for(annotation: &str) -> Value {
    let base = annotation.trim();
    let inner = base
        .strip_prefix("Optional[")
        .map(|rest| rest.trim_end_matches(']'))
        .unwrap_or(base);
    match inner.split('[').next().unwrap_or(inner).trim() {
        "float" => json!(0.0),
        "int" => json!(0),
        "str" => json!("string"),
        "bool" => json!(false),
        "list" | "List" | "tuple" | "Tuple" | "set" | "Set" => json!([]),
        "dict" | "Dict" => json!({}),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::analyze;

    fn endpoint_for(source: &str) -> (Endpoint, Vec<Warning>) {
        let facts = analyze(source).unwrap();
        let mut warnings = Vec::new();
        let endpoint = endpoint(
            &facts.functions[0],
            &CellRef::new(4, Some("abc".into())),
            0,
            &mut warnings,
        );
        (endpoint, warnings)
    }

    #[test]
    fn builds_fields_from_annotations_and_defaults() {
        let (endpoint, warnings) = endpoint_for(
            "def predict(bill_length_mm: float, island: str = 'Biscoe', n: int = -2, tags: list[str] = [], extra: Optional[dict] = None):\n    return 1\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            endpoint.fields,
            vec![
                "bill_length_mm: float",
                "island: str = \"Biscoe\"",
                "n: int = -2",
                "tags: list[str] = []",
                "extra: Optional[dict] = None",
            ]
        );
        assert_eq!(
            endpoint.example,
            json!({"bill_length_mm": 0.0, "island": "Biscoe", "n": -2, "tags": [], "extra": null})
        );
        assert_eq!(endpoint.route, "/predict");
        assert_eq!(endpoint.request_model, "PredictRequest");
    }

    #[test]
    fn typing_aliases_become_builtins_and_the_typing_names_used_are_listed() {
        let (endpoint, _) = endpoint_for(
            "def f(a: List[int], b: typing.Dict[str, typing.Any], c: Literal['x', 'y'], d: FrozenSet[str] = frozenset(), e: Union[int, str] = 1):\n    return 1\n",
        );
        assert_eq!(
            endpoint.fields,
            vec![
                "a: list[int]",
                "b: dict[str, Any]",
                "c: Literal[\"x\", \"y\"]",
                "d: Optional[frozenset[str]] = None",
                "e: Union[int, str] = 1",
            ]
        );
        assert_eq!(
            endpoint.typing_names,
            ["Any", "Literal", "Optional", "Union"]
        );
        assert!(!endpoint.uses_field);
    }

    #[test]
    fn warns_for_unannotated_and_non_json_parameters() {
        let (endpoint, warnings) =
            endpoint_for("def score(x, frame: pd.DataFrame, *args, **kw):\n    pass\n");
        assert_eq!(endpoint.fields, vec!["x: Any", "frame: Any"]);
        assert_eq!(warnings.len(), 4);
        assert!(warnings[0]
            .to_string()
            .starts_with("cell 4 (id abc), line 1: parameter `x` of `score` has no annotation"));
    }

    #[test]
    fn non_literal_defaults_leave_the_field_unset() {
        let (endpoint, _) = endpoint_for("def f(threshold: float = THRESHOLD):\n    pass\n");
        assert_eq!(endpoint.fields, vec!["threshold: Optional[float] = None"]);
    }

    #[test]
    fn aliases_fields_that_shadow_basemodel() {
        let (endpoint, _) = endpoint_for("def f(json: str, schema: int = 1):\n    pass\n");
        assert_eq!(
            endpoint.fields,
            vec![
                r#"json_: str = Field(alias="json")"#,
                r#"schema_: int = Field(1, alias="schema")"#
            ]
        );
    }

    #[test]
    fn accepts_typing_forms_and_unions() {
        for annotation in [
            "Optional[int]",
            "typing.List[float]",
            "int | None",
            "Literal['a', 'b']",
            "Dict[str, float]",
        ] {
            assert!(is_json_type(annotation), "{annotation}");
        }
        for annotation in ["np.ndarray", "MyModel", "Callable[[int], int]"] {
            assert!(!is_json_type(annotation), "{annotation}");
        }
    }
}
