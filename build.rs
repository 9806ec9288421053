//! Parses the built-in Tera templates when nb2svc is built, and writes Rust code that builds
//! their syntax trees (`$OUT_DIR/prebuilt_templates.rs`, included by `src/render/prebuilt.rs`).
//!
//! Tera's parser costs about 1,250 instructions a byte of template, so parsing the built-ins
//! was a quarter of a conversion's work, in every run, for text that never changes between
//! runs. Tera has no serialized form of a parsed template, but its syntax tree is made of
//! public structs and enums, so the code written here constructs the same values directly.
//! `render::prebuilt`'s tests check that each prebuilt template equals what Tera parses from
//! the file at run time, which also catches a Tera release whose tree this code does not know.
//! Overrides given with `--templates` are still parsed at run time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use tera::ast::{
    Block, Expr, ExprVal, FilterSection, Forloop, FunctionCall, If, In, LogicExpr, LogicOperator,
    MacroCall, MacroDefinition, MathExpr, MathOperator, Node, Set, StringConcat, Test, WS,
};
use tera::Template;

include!("src/render/tera_names.rs");

fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=src/render/tera_names.rs");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let mut code = String::from(
        "// Written by build.rs from the built-in templates; do not edit.\n\n\
         /// The built-in Tera template `name`, as Tera parsed it when nb2svc was built.\n\
         pub(super) fn template(name: &str) -> Option<tera::Template> {\n    match name {\n",
    );
    let mut builders = String::new();
    for (index, name) in TERA_TEMPLATES.iter().enumerate() {
        let path = Path::new("templates").join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let template = Template::new(name, None, &text)
            .unwrap_or_else(|error| panic!("parsing {}: {error:?}", path.display()));
        writeln!(code, "        {name:?} => Some(template_{index}()),").unwrap();
        write!(
            builders,
            "\nfn template_{index}() -> tera::Template {{\n    "
        )
        .unwrap();
        template_value(&template, &mut builders);
        builders.push_str("\n}\n");
    }
    code.push_str("        _ => None,\n    }\n}\n");
    code.push_str(&builders);
    let target = Path::new(&out_dir).join("prebuilt_templates.rs");
    std::fs::write(&target, code)
        .unwrap_or_else(|error| panic!("writing {}: {error}", target.display()));
}

/// The fields `Template::new` fills; the inheritance ones are left to
/// `Tera::build_inheritance_chains`, as when Tera adds a template.
fn template_value(template: &Template, out: &mut String) {
    out.push_str("tera::Template {\n        name: ");
    template.name.emit(out);
    out.push_str(",\n        path: None,\n        ast: ");
    template.ast.emit(out);
    out.push_str(",\n        from_extend: false,\n        macros: ");
    template.macros.emit(out);
    out.push_str(",\n        imported_macro_files: ");
    template.imported_macro_files.emit(out);
    out.push_str(",\n        parent: ");
    template.parent.emit(out);
    out.push_str(",\n        blocks: ");
    template.blocks.emit(out);
    out.push_str(
        ",\n        parents: Vec::new(),\n        blocks_definitions: std::collections::HashMap::new(),\n    }",
    );
}

/// Writes the Rust expression that builds a value.
trait Emit {
    fn emit(&self, out: &mut String);
}

impl Emit for String {
    fn emit(&self, out: &mut String) {
        // `{:?}` of a string is a valid Rust string literal of the same text.
        write!(out, "String::from({self:?})").unwrap();
    }
}

impl Emit for bool {
    fn emit(&self, out: &mut String) {
        write!(out, "{self}").unwrap();
    }
}

impl Emit for i64 {
    fn emit(&self, out: &mut String) {
        write!(out, "{self}i64").unwrap();
    }
}

impl Emit for f64 {
    fn emit(&self, out: &mut String) {
        // Bit for bit, whatever the decimal form.
        write!(out, "f64::from_bits({:#x})", self.to_bits()).unwrap();
    }
}

impl<T: Emit> Emit for Vec<T> {
    fn emit(&self, out: &mut String) {
        if self.is_empty() {
            out.push_str("Vec::new()");
            return;
        }
        out.push_str("vec![");
        for item in self {
            item.emit(out);
            out.push_str(", ");
        }
        out.push(']');
    }
}

impl<T: Emit> Emit for Option<T> {
    fn emit(&self, out: &mut String) {
        match self {
            Some(value) => {
                out.push_str("Some(");
                value.emit(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl<T: Emit> Emit for Box<T> {
    fn emit(&self, out: &mut String) {
        out.push_str("Box::new(");
        self.as_ref().emit(out);
        out.push(')');
    }
}

impl<A: Emit, B: Emit> Emit for (A, B) {
    fn emit(&self, out: &mut String) {
        out.push('(');
        self.0.emit(out);
        out.push_str(", ");
        self.1.emit(out);
        out.push(')');
    }
}

impl<A: Emit, B: Emit, C: Emit> Emit for (A, B, C) {
    fn emit(&self, out: &mut String) {
        out.push('(');
        self.0.emit(out);
        out.push_str(", ");
        self.1.emit(out);
        out.push_str(", ");
        self.2.emit(out);
        out.push(')');
    }
}

impl<T: Emit> Emit for HashMap<String, T> {
    fn emit(&self, out: &mut String) {
        if self.is_empty() {
            out.push_str("std::collections::HashMap::new()");
            return;
        }
        // Sorted, so that the same templates always give the same code.
        let mut entries: Vec<(&String, &T)> = self.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.push_str("std::collections::HashMap::from([");
        for (key, value) in entries {
            out.push('(');
            key.emit(out);
            out.push_str(", ");
            value.emit(out);
            out.push_str("), ");
        }
        out.push_str("])");
    }
}

/// `tera::ast::TYPE { field: value, ... }` for a struct of the syntax tree.
macro_rules! emit_struct {
    ($ty:ident { $($field:ident),+ }) => {
        impl Emit for $ty {
            fn emit(&self, out: &mut String) {
                out.push_str(concat!("tera::ast::", stringify!($ty), " { "));
                $(
                    out.push_str(concat!(stringify!($field), ": "));
                    self.$field.emit(out);
                    out.push_str(", ");
                )+
                out.push('}');
            }
        }
    };
}

emit_struct!(WS { left, right });
emit_struct!(FunctionCall { name, args });
emit_struct!(MathExpr { lhs, rhs, operator });
emit_struct!(LogicExpr { lhs, rhs, operator });
emit_struct!(StringConcat { values });
emit_struct!(In { lhs, rhs, negated });
emit_struct!(Expr {
    val,
    negated,
    filters
});
emit_struct!(Test {
    ident,
    negated,
    name,
    args
});
emit_struct!(FilterSection { filter, body });
emit_struct!(Set { key, value, global });
emit_struct!(MacroCall {
    namespace,
    name,
    args
});
emit_struct!(MacroDefinition { name, args, body });
emit_struct!(Block { name, body });
emit_struct!(Forloop {
    key,
    value,
    container,
    body,
    empty_body
});
emit_struct!(If {
    conditions,
    otherwise
});

impl Emit for MathOperator {
    fn emit(&self, out: &mut String) {
        // The variants' `Debug` names are their Rust names.
        write!(out, "tera::ast::MathOperator::{self:?}").unwrap();
    }
}

impl Emit for LogicOperator {
    fn emit(&self, out: &mut String) {
        write!(out, "tera::ast::LogicOperator::{self:?}").unwrap();
    }
}

/// `tera::ast::ENUM::VARIANT(field, ...)` for one variant.
fn variant(out: &mut String, path: &str, fields: &[&dyn Emit]) {
    out.push_str(path);
    if fields.is_empty() {
        return;
    }
    out.push('(');
    for field in fields {
        field.emit(out);
        out.push_str(", ");
    }
    out.push(')');
}

impl Emit for ExprVal {
    fn emit(&self, out: &mut String) {
        const E: &str = "tera::ast::ExprVal::";
        match self {
            ExprVal::String(v) => variant(out, &format!("{E}String"), &[v]),
            ExprVal::Int(v) => variant(out, &format!("{E}Int"), &[v]),
            ExprVal::Float(v) => variant(out, &format!("{E}Float"), &[v]),
            ExprVal::Bool(v) => variant(out, &format!("{E}Bool"), &[v]),
            ExprVal::Ident(v) => variant(out, &format!("{E}Ident"), &[v]),
            ExprVal::Math(v) => variant(out, &format!("{E}Math"), &[v]),
            ExprVal::Logic(v) => variant(out, &format!("{E}Logic"), &[v]),
            ExprVal::Test(v) => variant(out, &format!("{E}Test"), &[v]),
            ExprVal::MacroCall(v) => variant(out, &format!("{E}MacroCall"), &[v]),
            ExprVal::FunctionCall(v) => variant(out, &format!("{E}FunctionCall"), &[v]),
            ExprVal::Array(v) => variant(out, &format!("{E}Array"), &[v]),
            ExprVal::StringConcat(v) => variant(out, &format!("{E}StringConcat"), &[v]),
            ExprVal::In(v) => variant(out, &format!("{E}In"), &[v]),
        }
    }
}

impl Emit for Node {
    fn emit(&self, out: &mut String) {
        const N: &str = "tera::ast::Node::";
        match self {
            Node::Super => variant(out, &format!("{N}Super"), &[]),
            Node::Text(a) => variant(out, &format!("{N}Text"), &[a]),
            Node::VariableBlock(a, b) => variant(out, &format!("{N}VariableBlock"), &[a, b]),
            Node::MacroDefinition(a, b, c) => {
                variant(out, &format!("{N}MacroDefinition"), &[a, b, c]);
            }
            Node::Extends(a, b) => variant(out, &format!("{N}Extends"), &[a, b]),
            Node::Include(a, b, c) => variant(out, &format!("{N}Include"), &[a, b, c]),
            Node::ImportMacro(a, b, c) => variant(out, &format!("{N}ImportMacro"), &[a, b, c]),
            Node::Set(a, b) => variant(out, &format!("{N}Set"), &[a, b]),
            Node::Raw(a, b, c) => variant(out, &format!("{N}Raw"), &[a, b, c]),
            Node::FilterSection(a, b, c) => {
                variant(out, &format!("{N}FilterSection"), &[a, b, c]);
            }
            Node::Block(a, b, c) => variant(out, &format!("{N}Block"), &[a, b, c]),
            Node::Forloop(a, b, c) => variant(out, &format!("{N}Forloop"), &[a, b, c]),
            Node::If(a, b) => variant(out, &format!("{N}If"), &[a, b]),
            Node::Break(a) => variant(out, &format!("{N}Break"), &[a]),
            Node::Continue(a) => variant(out, &format!("{N}Continue"), &[a]),
            Node::Comment(a, b) => variant(out, &format!("{N}Comment"), &[a, b]),
        }
    }
}
