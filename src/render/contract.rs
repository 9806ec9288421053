//! The contract with template authors, written once: the view structs are declared through
//! [`view_struct!`], which keeps each field's doc comment and type for `TEMPLATES.md`, and the
//! blocks of the built-in templates are listed in [`BLOCKS`]. `nb2svc templates DIR` writes
//! the document next to the templates; tests check it against the templates Tera parsed.
//!
//! A view field can only be a string, a number, a bool, an optional or a list of those, or
//! another view struct ([`ViewType`] is implemented for nothing else), so no plan struct reaches
//! a template, and every leaf a template prints is text or a number.

/// A type a view field may have, and how `TEMPLATES.md` names it.
pub trait ViewType {
    /// `string`, `number`, `list of ArtifactView`.
    fn kind() -> String;
    /// Adds the view structs this type is made of (itself first, when it is one) to `out`.
    fn structs(_out: &mut Vec<StructDoc>) {}
}

macro_rules! leaf {
    ($kind:literal: $($ty:ty),+) => {
        $(impl ViewType for $ty {
            fn kind() -> String {
                $kind.to_string()
            }
        })+
    };
}
leaf!("string": String, &'static str);
leaf!("number": u16, u32, usize);
leaf!("bool": bool);

impl<T: ViewType> ViewType for Vec<T> {
    fn kind() -> String {
        format!("list of {}", T::kind())
    }
    fn structs(out: &mut Vec<StructDoc>) {
        T::structs(out)
    }
}

impl<T: ViewType> ViewType for Option<T> {
    fn kind() -> String {
        format!("{} or nothing", T::kind())
    }
    fn structs(out: &mut Vec<StructDoc>) {
        T::structs(out)
    }
}

/// A view struct as `TEMPLATES.md` documents it.
#[derive(Debug)]
pub struct StructDoc {
    pub name: &'static str,
    pub doc: String,
    pub fields: Vec<FieldDoc>,
}

/// One field of a view struct: its name, its [`ViewType::kind`] and its doc comment.
#[derive(Debug)]
pub struct FieldDoc {
    pub name: &'static str,
    pub kind: String,
    pub doc: String,
}

/// A doc comment's lines (`#[doc = " text"]` each) as one paragraph.
pub fn joined(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Declares a view struct (`#[derive(Serialize)]`, every field `pub`) whose doc comments are
/// also its documentation in `TEMPLATES.md`. Every field must have a doc comment: the macro
/// does not match a field without one, so an undocumented field does not compile.
macro_rules! view_struct {
    (
        $(#[doc = $doc:literal])+
        pub struct $name:ident {
            $( $(#[doc = $field_doc:literal])+ $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, serde::Serialize)]
        pub struct $name {
            $( $(#[doc = $field_doc])+ pub $field: $ty, )*
        }

        impl $crate::render::contract::ViewType for $name {
            fn kind() -> String {
                stringify!($name).to_string()
            }
            fn structs(out: &mut Vec<$crate::render::contract::StructDoc>) {
                use $crate::render::contract::{joined, FieldDoc, StructDoc, ViewType};
                if out.iter().any(|known| known.name == stringify!($name)) {
                    return;
                }
                out.push(StructDoc {
                    name: stringify!($name),
                    doc: joined(&[$($doc),+]),
                    fields: vec![$(FieldDoc {
                        name: stringify!($field),
                        kind: <$ty as ViewType>::kind(),
                        doc: joined(&[$($field_doc),+]),
                    }),*],
                });
                $( <$ty as ViewType>::structs(out); )*
            }
        }
    };
}
pub(crate) use view_struct;

/// The blocks of the built-in templates, (template, block, the part of the file it holds): an
/// override can `{% extends "nb2svc/TEMPLATE" %}` and replace one of them. A test checks this
/// list against the blocks Tera finds in the templates.
pub const BLOCKS: &[(&str, &str, &str)] = &[
    ("README.md", "title", "the title and the paragraph under it"),
    (
        "README.md",
        "run",
        "\"Run it\": the compose and venv commands",
    ),
    (
        "README.md",
        "deploy",
        "\"Deploy to ...\" (only with `--kubernetes` or `--swarm`)",
    ),
    (
        "README.md",
        "when_code_runs",
        "\"When the notebook's code runs\": training and setup",
    ),
    ("README.md", "python", "\"Python and libraries\""),
    (
        "README.md",
        "endpoints",
        "\"Endpoints\": the table of routes and the curl lines",
    ),
    (
        "README.md",
        "prediction",
        "\"What a prediction takes\" (only when models are served)",
    ),
    (
        "README.md",
        "configuration",
        "\"Configuration\": the environment variables",
    ),
    (
        "README.md",
        "credentials",
        "\"Credentials\" (only when the service reads `.env`)",
    ),
    (
        "README.md",
        "paths",
        "\"Files and paths\": what the notebook's paths mean",
    ),
    (
        "README.md",
        "artifacts",
        "\"Artifacts\" (only when models are served)",
    ),
    (
        "README.md",
        "notebook_to_service",
        "\"From notebook to service\": what was left out or added",
    ),
    ("README.md", "dependencies", "\"Dependencies\": the lock"),
    (
        "README.md",
        "warnings",
        "\"Warnings\" (only when there are some)",
    ),
    ("README.md", "files", "\"Files\": the generated files"),
    ("Dockerfile", "header", "the comment lines at the top"),
    (
        "Dockerfile",
        "base",
        "`FROM`, the environment and the working folder",
    ),
    (
        "Dockerfile",
        "dependencies",
        "installing `requirements.txt` and creating the user",
    ),
    (
        "Dockerfile",
        "code",
        "copying the data and what training needs, and training in the build",
    ),
    (
        "Dockerfile",
        "serve",
        "the port, the health check and the command (before the layers)",
    ),
    ("Dockerfile", "user", "the user the service runs as"),
    (
        "Dockerfile",
        "serving_code",
        "copying `app/`, the serving code, last",
    ),
    (
        "docker-compose.yaml",
        "header",
        "the comment lines at the top",
    ),
    (
        "docker-compose.yaml",
        "environment",
        "the entries of `environment:`",
    ),
    (
        "docker-compose.prod.yaml",
        "header",
        "the comment lines at the top",
    ),
    (
        "docker-compose.prod.yaml",
        "environment",
        "the entries of `environment:`",
    ),
];

/// The name the document of the contract has, beside the exported templates.
pub const DOCUMENT: &str = "TEMPLATES.md";

/// The prefix under which every built-in template is also registered when `--templates` is
/// given: `nb2svc/README.md`.
pub const BUILTIN_PREFIX: &str = "nb2svc/";

/// What `TEMPLATES.md` says about a template's output.
fn output_of(template: &str) -> String {
    if template == "env.example" {
        return format!("`{}`, when the service reads `.env`", super::ENV_EXAMPLE);
    }
    if let Some((_, output)) = super::VERBATIM.iter().find(|(name, _)| *name == template) {
        return format!("`{output}`, copied as it is (not a Tera template: no fields, no blocks)");
    }
    super::OUTPUTS
        .iter()
        .find(|(name, _)| *name == template)
        .map(|(_, output)| format!("`{output}`"))
        .unwrap_or_default()
}

/// `TEMPLATES.md`: every template with its output and blocks, and every field of the views,
/// from the declarations above (the view structs' own doc comments).
pub fn document() -> String {
    let mut out = String::from(
        "# The templates of nb2svc

These are the templates nb2svc renders a service from, written by `nb2svc templates DIR`.
`nb2svc NOTEBOOK --templates DIR` uses a file of this folder in place of the built-in template
of the same name (any other name is an error; hidden files and this document are ignored).
The templates are [Tera](https://keats.github.io/tera/docs/) templates; nothing is
autoescaped, so escape user text with the filters nb2svc registers (`md_code`, `md_text`,
`md_line`, `md_cell`, `py_string`, `py_docstring`, `py_comment`, `yaml_string`,
`yaml_comment`, `dockerfile_comment`, `toml_string`, `wrap`, `wrap_docstring`).

## Changing one section

With `--templates`, every built-in template is also available as `nb2svc/NAME`. An override
that extends it and replaces one block changes that section only; the rest stays the built-in
one, and follows nb2svc's updates:

```jinja
{% extends \"nb2svc/README.md\" %}
{% block run %}## Run it

Run `make serve` in the course's VM.
{% endblock run %}
```

`{{ super() }}` inside a block renders the built-in section, to add before or after it.
Text outside the blocks of an extending template is ignored (Tera's inheritance).

## The templates

",
    );
    for (name, _) in super::BUILTIN_TEMPLATES {
        out.push_str(&format!("### `{name}`\n\nMakes {}.", output_of(name)));
        let blocks: Vec<_> = BLOCKS.iter().filter(|(t, _, _)| t == name).collect();
        if blocks.is_empty() {
            out.push_str("\n\n");
            continue;
        }
        out.push_str(" Its blocks:\n\n");
        for (_, block, what) in blocks {
            out.push_str(&format!("- `{block}`: {what}\n"));
        }
        out.push('\n');
    }
    out.push_str(
        "## The fields

Every template sees one variable, `service`, a `ServiceView`; a field of a view struct is
reached with a dot (`service.deploy.replicas`, `artifact.name` in a loop over
`service.artifacts`). Every value is a string, a number, a bool, a list or a view struct; a
field that is \"or nothing\" is tested with `{% if %}` before it is printed. Printing a view
struct itself prints `[object]`: print its fields.

",
    );
    let mut structs = Vec::new();
    <super::ServiceView as ViewType>::structs(&mut structs);
    for view in structs {
        out.push_str(&format!("### `{}`\n\n{}\n\n", view.name, view.doc));
        out.push_str("| Field | Type | Meaning |\n| --- | --- | --- |\n");
        for field in view.fields {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                field.name,
                field.kind,
                field.doc.replace('|', r"\|")
            ));
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_block_list_is_the_blocks_of_the_built_in_templates() {
        let mut found = BTreeSet::new();
        for (name, _) in super::super::BUILTIN_TEMPLATES {
            let Ok(tera) = super::super::builtin(name) else {
                continue; // written verbatim, not a Tera template
            };
            if let Ok(template) = tera.get_template(name) {
                found.extend(
                    template
                        .blocks
                        .keys()
                        .map(|b| (name.to_string(), b.clone())),
                );
            }
        }
        let listed: BTreeSet<(String, String)> = BLOCKS
            .iter()
            .map(|(t, b, _)| (t.to_string(), b.to_string()))
            .collect();
        assert_eq!(listed, found);
    }

    #[test]
    fn the_document_lists_every_field_of_every_view_under_its_struct() {
        let document = document();
        let mut structs = Vec::new();
        <super::super::ServiceView as ViewType>::structs(&mut structs);
        let names: Vec<&str> = structs.iter().map(|s| s.name).collect();
        for expected in ["ServiceView", "ArtifactView", "RouteView", "DeployView"] {
            assert!(names.contains(&expected), "{names:?}");
        }
        for view in &structs {
            let section = document
                .split(&format!("### `{}`\n", view.name))
                .nth(1)
                .unwrap_or_else(|| panic!("no section for {}", view.name));
            let section = section.split("\n### ").next().unwrap();
            for field in &view.fields {
                assert!(!field.doc.is_empty(), "{}.{}", view.name, field.name);
                assert!(
                    section.contains(&format!("| `{}` | {} |", field.name, field.kind)),
                    "{}.{} missing from TEMPLATES.md",
                    view.name,
                    field.name
                );
            }
        }
    }

    #[test]
    fn kinds_name_what_a_template_sees() {
        assert_eq!(
            <Vec<Option<String>> as ViewType>::kind(),
            "list of string or nothing"
        );
        assert_eq!(<Option<u16> as ViewType>::kind(), "number or nothing");
    }
}
